"""Builds the assistant from settings: the one place where the parts are wired together."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from bot.core.assistant import Assistant, today_in_japan
from bot.core.furigana import Furigana, Readings, SudachiAnalyser, kana_reader
from bot.core.i18n import Texts
from bot.core.intents import READINGS_FILE, SYNONYMS_FILE, load_catalog, load_out_of_scope
from bot.core.langdetect import LanguageDetector
from bot.core.matcher import IntentMatcher, Thresholds
from bot.core.synonyms import Synonyms
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
    synonyms = Synonyms.load(intents_dir / SYNONYMS_FILE)
    matcher = IntentMatcher(
        catalog, thresholds, kana_reader(analyser), synonyms, out_of_scope=load_out_of_scope(intents_dir)
    )
    return Assistant(
        catalog=catalog,
        matcher=matcher,
        texts=Texts(translations_dir),
        furigana=furigana,
        users=users or MemoryUserStore(),
        detector=LanguageDetector(),
        today=today,
    )
