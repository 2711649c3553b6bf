"""Builds the assistant from settings: the one place where the parts are wired together."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from bot.core import ui_text as ui
from bot.core.analysis_cache import FILE_NAME as ANALYSIS_CACHE_FILE
from bot.core.analysis_cache import AnalysisCache
from bot.core.assistant import Assistant, today_in_japan
from bot.core.furigana import Furigana, Readings, SudachiAnalyser
from bot.core.i18n import Texts
from bot.core.intents import READINGS_FILE, SYNONYMS_FILE, Catalog, load_catalog, load_out_of_scope
from bot.core.kana import KanaReader
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
    cache_dir: Path | None = None,
) -> Assistant:
    """Load intents, readings and catalogs and return a ready assistant.

    With `cache_dir`, the analysis of the bot's own Japanese is kept there for the next start, which
    then needs no SudachiPy at all (`bot.core.analysis_cache`), and so is our part of the language
    model, unpacked (`bot.core.langdetect`).

    Raises:
        CatalogError, YamlError: the intents or readings are invalid (file and line in the message).
    """
    catalog = load_catalog(intents_dir)
    sudachi = SudachiAnalyser()
    analyser = AnalysisCache(cache_dir / ANALYSIS_CACHE_FILE if cache_dir else None, sudachi, sudachi.version)
    synonyms = Synonyms.load(intents_dir / SYNONYMS_FILE)
    out_of_scope = load_out_of_scope(intents_dir)
    own_texts = [t for i in catalog for ts in i.examples.values() for t in ts]
    own_texts += [v for vs in synonyms.groups.values() for v in vs] + [t for ts in out_of_scope.values() for t in ts]
    reader = KanaReader.from_texts(analyser, own_texts)
    furigana = Furigana(Readings.load(intents_dir / READINGS_FILE), analyser)
    texts = Texts(translations_dir)
    for text in easy_japanese(catalog, texts, today()):  # their furigana, ready (and kept in the cache)
        furigana.segments(text)
    analyser.save()
    # The dictionary was loaded only if something was not in the cache, and is rarely needed again:
    # unmapped before the matcher is built, the two never add up in memory.
    sudachi.release()
    matcher = IntentMatcher(catalog, thresholds, reader, synonyms, out_of_scope=out_of_scope)
    return Assistant(
        catalog=catalog,
        matcher=matcher,
        texts=texts,
        furigana=furigana,
        users=users or MemoryUserStore(),
        detector=LanguageDetector(cache_dir),
        today=today,
    )


def easy_japanese(catalog: Catalog, texts: Texts, today: dt.date) -> list[str]:
    """Every fixed text the bot may say in easy Japanese today: the answers and the UI messages."""
    answers = [texts.answer(intent, "ja", today) for intent in catalog]
    messages = [texts.lookup("ja", message) for message in ui.ALL]
    return [text for text in answers + messages if text]
