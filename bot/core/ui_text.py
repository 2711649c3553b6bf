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
TELEGRAM_GROUP_INTRO = N_(
    "Hello! I answer questions about the Specific Residence Card. In a group, mention me or reply to one of "
    "my messages to ask."
)
ERROR = N_("Sorry, something went wrong. Please try again later.")
FOR_STAFF = N_("Answer in the resident's language and in easy Japanese:")
MENU = N_("Menu")
LANGUAGE = N_("Language")
BILINGUAL = N_("Two languages")
MONOLINGUAL = N_("One language")
UNTRANSLATED = N_("This answer is not translated into your language yet.")
SIMPLIFIED_CHINESE = N_("Answers are in Simplified Chinese.")
PERSONAL_NUMBER = N_(
    "Please do not send card numbers, your My Number or other personal numbers in a chat."
    " This bot did not save the number."
)
RATE_LIMITED = N_("You are sending many messages. Please wait a minute, then ask again.")
GENERAL_INFORMATION = N_(
    "Answers are general information. The official page of the Immigration Services Agency decides."
)
WHERE_CITY_OFFICE = N_("At the city office")
WHERE_IMMIGRATION_OFFICE = N_("At the regional immigration bureau")
READ_ANSWER = N_("Read the answer")
# Telegram's command menu and profile texts.
COMMAND_START = N_("Start and choose a topic")
COMMAND_HELP = N_("Topics I can answer")
COMMAND_LANG = N_("Change the language")
BOT_DESCRIPTION = N_(
    "I answer questions about the Specific Residence Card (the Residence Card and the My Number Card in one "
    "card), in easy Japanese or in your language, with links to the official pages."
)
BOT_SHORT_DESCRIPTION = N_("Questions about the Specific Residence Card, in your language.")
# The web chat page.
WEB_PLACEHOLDER = N_("Type your question")
WEB_SEND = N_("Send")
WEB_RETRY = N_("Retry")
WEB_CLEAR = N_("Clear the conversation")
WEB_TYPING = N_("Typing…")
WEB_UNREACHABLE = N_("The assistant could not be reached. Your question is kept: press Retry.")
WEB_BUSY = N_("Many people are asking right now. Please try again in a moment.")

LINK_CONTEXT = "link"
"""The msgctxt of link labels (intents/links.yaml) in the catalogs."""

ALL = (
    UNOFFICIAL, FALLBACK, DID_YOU_MEAN, EMPTY, NON_TEXT, LANGUAGE_SET, CHOOSE_LANGUAGE, BILINGUAL_ON,
    BILINGUAL_OFF, GROUP_INTRO, TELEGRAM_GROUP_INTRO, ERROR, FOR_STAFF, MENU, LANGUAGE, BILINGUAL, MONOLINGUAL,
    UNTRANSLATED, SIMPLIFIED_CHINESE, PERSONAL_NUMBER, RATE_LIMITED, GENERAL_INFORMATION, WHERE_CITY_OFFICE,
    WHERE_IMMIGRATION_OFFICE, READ_ANSWER, COMMAND_START, COMMAND_HELP, COMMAND_LANG, BOT_DESCRIPTION,
    BOT_SHORT_DESCRIPTION, WEB_PLACEHOLDER, WEB_SEND, WEB_RETRY, WEB_CLEAR, WEB_TYPING, WEB_UNREACHABLE, WEB_BUSY,
)  # fmt: skip
"""Every UI string, for coverage counts."""
