"""Which language to answer in, and when a message asks for another one.

The order (issue 8): an explicit choice (button, command, "Please answer in English") > a confident
detection of a full sentence in another language > the conversation's language > the platform's
hint > easy Japanese with English. One word, a number, a URL, a card name, a loanword or a kanji term
shared by Chinese and Japanese never moves a conversation to another language.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

from bot.core import cldr
from bot.core.i18n import negotiate
from bot.core.langdetect import Detection, LanguageDetector
from bot.core.languages import LANGS
from bot.core.matcher import Match
from bot.core.normalize import normalize
from bot.core.users import UserPrefs
from bot.core.word_tree import tree_pattern

PROBABLE = 0.5
"""A first message's detected language from this probability on beats the closest example's and the hint."""
LIKELY = 0.4
"""An unconfident detection still beats the default for a first message when at least this likely."""
MAX_REQUEST = 60
"""A language request is short; a longer message that names a language is a question."""
REQUEST_INTENT = "chat.language"
"""The intent of messages about the reply language: its examples teach the words of a request."""

_ROMANISED_NAMES = {
    "ja": [
        "nihongo",
        "やさしいにほんご",
        "やさしい日本語",
        "easy japanese",
        "japani",
        "japanese ma",
        "японоор",
        "япон хэлээр",
    ],
    "en": ["eigo", "えいご", "angrezi", "angreji", "ingreji", "inglish", "англиар", "англи хэлээр"],
    "zh": ["chugokugo", "普通话", "汉语", "華語", "中国话"],
    "vi": ["tieng viet", "vietnamese"],
    "ne": ["nepali", "nepalima", "नेपालीमा"],
    "tl": ["tagalog", "filipino", "taglish", "tagalog po"],
    "pt": ["portugues", "portuguese"],
    "id": ["bahasa indonesia", "indonesia"],
    "mn": ["монголоор", "монгол хэлээр"],
    "my": ["burmese", "myanmar", "မြန်မာ"],
    "km": ["khmer", "ខ្មែរ"],
}
"""Names Babel's CLDR data does not give: romaji, common spellings, the case forms of a request."""

_REQUEST_WORDS = (
    "please pls plz in answer reply respond speak talk write use language lang can you could "
    "switch to change only just bitte por favor sil vous plait po ma मा ही मै mein ni de で おねがい "
    "ください はなして 話して こたえて 答えて で話して でおねがいします 用 回答 请 請 说"
)
"""Words of a language request in any language, besides those the request intent's examples teach."""


class LanguagePolicy:
    """Decides the reply language of each message; pure apart from the detector's model."""

    def __init__(self, detector: LanguageDetector, request_examples: Iterable[str] = ()) -> None:
        self.detector = detector
        self._names = _language_names()
        # Names in spaced scripts stand as words; the others (日本語, ภาษาไทย) anywhere. As a tree,
        # the 368 names are one pass over a message, not one try each (docs/benchmarks.md).
        self._name_pattern = re.compile(
            tree_pattern(self._names, _spaced, _spaced, before=r"(?<![^\W\d_])", after=r"(?![^\W\d_])")
        )
        self._request_words = set(_REQUEST_WORDS.split())
        for example in request_examples:
            self._request_words.update(self._name_pattern.sub(" ", normalize(example)).split())

    # -- explicit requests --------------------------------------------------------------------

    def requested(self, text: str, match: Match | None = None) -> str | None:
        """The language a message asks for ("English please", "日本語で話してください", "tiếng Việt").

        A message that names one language and says nothing else than a request asks for it; so
        does one that names one language and matches the request intent.
        """
        norm = normalize(text)
        if not norm or len(norm) > MAX_REQUEST:
            return None
        named = {self._names[found.group(0)] for found in self._name_pattern.finditer(norm)}
        if len(named) != 1:
            return None
        (code,) = named
        rest = self._name_pattern.sub(" ", norm).split()
        if all(self._is_request_word(word) for word in rest):
            return code
        if match is not None and match.intent == REQUEST_INTENT and match.outcome != "fallback":
            return code
        return None

    def _is_request_word(self, word: str) -> bool:
        """Whether `word` is made only of request words ("で話してください" is で + 話して + ください)."""
        if word in self._request_words:
            return True
        if _spaced(word):
            return False
        reachable = [True] + [False] * len(word)  # unspaced scripts: split into known words
        for end in range(1, len(word) + 1):
            reachable[end] = any(
                reachable[start] and word[start:end] in self._request_words for start in range(max(0, end - 12), end)
            )
        return reachable[-1]

    # -- the reply language -------------------------------------------------------------------

    def clear_language(self, text: str) -> str | None:
        """The language `text` is confidently written in, or None (too short, or ambiguous)."""
        detected = self.detector.detect(text)
        return detected.lang if detected.confident else None

    def reply_language(
        self, text: str, prefs: UserPrefs, hint: str | None, forwarded: bool, match: Match | None
    ) -> str | None:
        """The language to answer `text` in; None means easy Japanese with English."""
        if prefs.lang and not forwarded:
            return prefs.lang
        detected = self.detector.detect(text)
        if detected.confident and detected.lang and (detected.sentence or prefs.last is None or forwarded):
            return detected.lang
        if prefs.last and not forwarded:
            return prefs.last
        if detected.lang and detected.probability >= PROBABLE:
            return detected.lang
        guessed = self._from_match(text, detected, match)
        if guessed:
            return guessed
        hinted = negotiate(hint)
        if hinted:
            return hinted
        if detected.lang and detected.probability >= LIKELY:
            return detected.lang
        return None

    @staticmethod
    def _from_match(text: str, detected: Detection, match: Match | None) -> str | None:
        """A first message's language from the example it matched ("the cu tru la gi" → vi).

        Romaji under a Japanese example does not make a Latin-only message Japanese.
        """
        if match is None or not match.lang:
            return None
        if not (match.outcome == "confident" or (match.outcome == "suggest" and detected.lang == match.lang)):
            return None
        if match.lang == "ja" and not _JAPANESE_SCRIPT.search(text):
            return None
        return match.lang


_JAPANESE_SCRIPT = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def _spaced(text: str) -> bool:
    """Whether `text` is written in a script that separates words with spaces."""
    return not re.search(r"[\u3040-\u30ff\u3400-\u9fff\u0e00-\u0e7f\u1780-\u17ff\u1000-\u109f]", text)


@cache
def _language_names() -> dict[str, str]:
    """Normalised language name → our code: each language's name in each of our languages, and more."""
    names: dict[str, str] = {}
    for code in LANGS:
        for shown_in in LANGS:
            name = cldr.values(shown_in)["names"].get(code)
            if name:
                names.setdefault(normalize(name), code)
        for extra in _ROMANISED_NAMES.get(code, []):
            names.setdefault(normalize(extra), code)
    return names
