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
from bot.core.reading_cache import FILE_NAME as READINGS_CACHE_FILE
from bot.core.reading_cache import ReadingCache
from bot.core.synonyms import Synonyms
from bot.core.users import MemoryUserStore, UserStore


def build_assistant(
    intents_dir: Path,
    translations_dir: Path,
    users: UserStore | None = None,
    thresholds: Thresholds | None = None,
    today: Callable[[], dt.date] = today_in_japan,
    cache_dir: Path | None = None,
) -> Assistant:
    """Load intents, readings and catalogs and return a ready assistant.

    With `cache_dir`, the kana readings of the catalog's texts are kept there for the next start
    (`bot.core.reading_cache`).

    Raises:
        CatalogError, YamlError: the intents or readings are invalid (file and line in the message).
    """
    catalog = load_catalog(intents_dir)
    analyser = SudachiAnalyser()
    furigana = Furigana(Readings.load(intents_dir / READINGS_FILE), analyser)
    synonyms = Synonyms.load(intents_dir / SYNONYMS_FILE)
    cache_file = cache_dir / READINGS_CACHE_FILE if cache_dir else None
    reader = ReadingCache(cache_file, kana_reader(analyser), analyser.version)
    matcher = IntentMatcher(catalog, thresholds, reader, synonyms, out_of_scope=load_out_of_scope(intents_dir))
    reader.save()
    return Assistant(
        catalog=catalog,
        matcher=matcher,
        texts=Texts(translations_dir),
        furigana=furigana,
        users=users or MemoryUserStore(),
        detector=LanguageDetector(),
        today=today,
    )
