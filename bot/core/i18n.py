"""Texts in the user's language: gettext catalogs per locale (Babel), answers from the intents.

One cached `babel.support.Translations` per language, chosen per message: a Vietnamese and a Nepali
user are served at the same time. A missing translation is reported as None so the caller can
answer in English and easy Japanese instead of leaking the English msgid as if translated.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.support import NullTranslations, Translations

from bot.core.cldr import long_date
from bot.core.intents import Intent
from bot.core.languages import LANGS

log = logging.getLogger(__name__)

DOMAIN = "messages"


def answer_context(intent_id: str, key: str = "answers") -> str:
    """The gettext msgctxt of an intent's answer ('answers'), earlier answer or title."""
    return intent_id if key == "answers" else f"{intent_id}|{key}"


class Texts:
    """Looks up UI strings, intent titles and answers in one language at a time."""

    def __init__(self, directory: Path, start_date: dt.date) -> None:
        self.directory = directory
        self.start_date = start_date
        """What {start_date} in an answer stands for (intents/dates.yaml)."""
        self._catalogs: dict[str, NullTranslations] = {}

    def catalog(self, lang: str) -> NullTranslations:
        """The compiled catalog of `lang` (empty when there is none)."""
        if lang not in self._catalogs:
            mo = self.directory / lang / "LC_MESSAGES" / f"{DOMAIN}.mo"
            if mo.exists():
                with mo.open("rb") as fh:
                    self._catalogs[lang] = Translations(fh, domain=DOMAIN)
            else:
                self._catalogs[lang] = NullTranslations()
        return self._catalogs[lang]

    def lookup(self, lang: str, message: str, context: str | None = None) -> str | None:
        """`message` translated into `lang`, or None when the catalog has no translation."""
        if lang == "en":
            return message
        # Look in the compiled catalog itself: a translation may rightly equal the English
        # ("Menu" in Filipino), and only entries missing from the .mo are untranslated.
        entries: dict[str, str] = getattr(self.catalog(lang), "_catalog", {})
        found = entries.get(f"{context}\x04{message}" if context else message)
        return found or None

    def ui(self, lang: str, message: str) -> str:
        """A UI string in `lang`, English when untranslated (never an exception)."""
        found = self.lookup(lang, message)
        if found is None:
            log.info("untranslated UI string for %s: %.40s", lang, message)
            return message
        return found

    def title(self, intent: Intent, lang: str) -> str:
        """An intent's button label in `lang` (English when untranslated)."""
        if lang in intent.title:
            return intent.title[lang]
        return self.lookup(lang, intent.title["en"], answer_context(intent.id, "title")) or intent.title["en"]

    def answer(self, intent: Intent, lang: str, today: dt.date) -> str | None:
        """The answer of `intent` in `lang` for `today`, dates in the locale's format; None if untranslated."""
        key = intent.answer_key(today)
        source = intent.answers_before if key == "answers_before" and intent.answers_before else intent.answers
        text = source.get(lang) or self.lookup(lang, source["en"], answer_context(intent.id, key))
        if text is None:
            log.info("untranslated answer %s for %s", intent.id, lang)
            return None
        return text.replace("{start_date}", long_date(self.start_date, lang))


def negotiate(tag: str | None, default: str | None = None) -> str | None:
    """One of our codes for a platform language tag (pt-BR → pt, zh-Hant → zh, fil → tl).

    Unknown or malformed tags give `default`; never raises.
    """
    locale = _parse_tag(tag)
    if locale is None:
        return default
    code = {"fil": "tl"}.get(locale.language, locale.language)
    return code if code in LANGS else default


def is_traditional_chinese(tag: str | None) -> bool:
    """Whether a platform tag asks for Traditional Chinese, which we answer in Simplified (with a note)."""
    locale = _parse_tag(tag)
    return (
        locale is not None
        and locale.language == "zh"
        and (locale.script == "Hant" or locale.territory in {"TW", "HK", "MO"})
    )


def _parse_tag(tag: str | None) -> Locale | None:
    """A Babel locale for a platform tag (en-US, zh_Hant), or None when it is empty or malformed."""
    if not tag:
        return None
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        return None
