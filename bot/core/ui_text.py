"""Every fixed sentence the assistant says, in English; translations live in translations/.

`N_` only marks a string for `pybabel extract`; it is translated per message, never process-wide.
"""

from __future__ import annotations


def N_(message: str) -> str:
    """Mark `message` for extraction without translating it here."""
    return message


UNOFFICIAL = N_("Unofficial translation: the official Japanese page decides.")
FALLBACK = N_(
    "Sorry, I cannot answer that. I only know about the Specific Residence Card. "
    "Choose a topic below, or see the official page."
)
DID_YOU_MEAN = N_("Did you mean one of these?")
EMPTY = N_("Please type your question about the Specific Residence Card.")
NON_TEXT = N_("I can only read text. Please type your question, or choose a topic below.")
LANGUAGE_SET = N_("OK. I will answer in this language.")
CHOOSE_LANGUAGE = N_("Please choose your language.")
BILINGUAL_ON = N_("I will answer in your language and in easy Japanese.")
BILINGUAL_OFF = N_("I will answer in one language.")
GROUP_INTRO = N_(
    "Hello! I answer questions about the Specific Residence Card. Mention me or start your message with ? to ask."
)
ERROR = N_("Sorry, something went wrong. Please try again later.")
FOR_STAFF = N_("Answer in the resident's language and in easy Japanese:")
MENU = N_("Menu")
LANGUAGE = N_("Language")
BILINGUAL = N_("Two languages")
LINK_ISA = N_("Immigration Services Agency: Specific Residence Card")
LINK_MYNUMBER = N_("My Number Card contact (telephone)")
UNTRANSLATED = N_("This answer is not translated into your language yet.")
SIMPLIFIED_CHINESE = N_("Answers are in Simplified Chinese.")

LINK_LABELS = {
    "https://www.moj.go.jp/isa/tokutei.html": LINK_ISA,
    "https://www.kojinbango-card.go.jp/contact/tel/": LINK_MYNUMBER,
}

ALL = (
    UNOFFICIAL, FALLBACK, DID_YOU_MEAN, EMPTY, NON_TEXT, LANGUAGE_SET, CHOOSE_LANGUAGE, BILINGUAL_ON,
    BILINGUAL_OFF, GROUP_INTRO, ERROR, FOR_STAFF, MENU, LANGUAGE, BILINGUAL, LINK_ISA, LINK_MYNUMBER,
    UNTRANSLATED, SIMPLIFIED_CHINESE,
)  # fmt: skip
"""Every UI string, for coverage counts."""
