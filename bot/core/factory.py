"""Builds the assistant from settings: the one place where the parts are wired together."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from bot.core.assistant import Assistant, today_in_japan
from bot.core.furigana import Furigana, Readings, SudachiAnalyser, kana_reader
from bot.core.i18n import Texts
from bot.core.intents import READINGS_FILE, load_catalog
from bot.core.langdetect import LanguageDetector
from bot.core.matcher import IntentMatcher, Thresholds
from bot.core.users import MemoryUserStore, UserStore


def build_assistant(
    intents_dir: Path,
    translations_dir: Path,
    users: UserStore | None = None,
    thresholds: Thresholds | None = None,
    today: Callable[[], dt.date] = today_in_japan,
) -> Assistant:
    """Load intents, readings and catalogs and return a ready assistant.

    Raises:
        CatalogError, YamlError: the intents or readings are invalid (file and line in the message).
    """
    catalog = load_catalog(intents_dir)
    analyser = SudachiAnalyser()
    furigana = Furigana(Readings.load(intents_dir / READINGS_FILE), analyser)
    matcher = IntentMatcher(catalog, thresholds, reader=kana_reader(analyser))
    return Assistant(
        catalog=catalog,
        matcher=matcher,
        texts=Texts(translations_dir),
        furigana=furigana,
        users=users or MemoryUserStore(),
        detector=LanguageDetector(),
        today=today,
    )
