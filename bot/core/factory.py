"""Builds the assistant from settings: the one place where the parts are wired together."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from bot.core import ui_text as ui
from bot.core.analysis_cache import FILE_NAME as ANALYSIS_CACHE_FILE
from bot.core.analysis_cache import AnalysisCache
from bot.core.assistant import Assistant, today_in_japan
from bot.core.content import Content, load_content
from bot.core.furigana import Furigana, SudachiAnalyser
from bot.core.i18n import Texts
from bot.core.kana import KanaReader
from bot.core.langdetect import LanguageDetector
from bot.core.language_policy import REQUEST_INTENT, LanguagePolicy
from bot.core.languages import native_name
from bot.core.matcher import IntentMatcher, Thresholds
from bot.core.replies import ReplyBuilder
from bot.core.training import train_elsewhere
from bot.core.users import MemoryUserStore, UserStore


def build_assistant(
    intents_dir: Path,
    translations_dir: Path,
    users: UserStore | None = None,
    thresholds: Thresholds | None = None,
    today: Callable[[], dt.date] = today_in_japan,
    cache_dir: Path | None = None,
    previous: Assistant | None = None,
) -> Assistant:
    """Load the content and catalogs and return a ready assistant.

    With `cache_dir`, the analysis of the bot's own Japanese is kept there for the next start, which
    then needs no SudachiPy at all (`bot.core.analysis_cache`), and so is our part of the language
    model, unpacked (`bot.core.langdetect`). With `previous` (a hot reload), its matcher and language
    detector are kept when what they are built from is unchanged (an edited answer; not an edited
    example): they are pure, and they are most of the build. When the examples changed, the
    assistant is interim: its matcher has the new examples but answers with the previous classifier,
    and the previous language detector serves, until `Assistant.finish` trains both (`bot.reload`).

    Raises:
        ContentError: the content is invalid (every problem with file and line).
    """
    content = load_content(intents_dir)
    sudachi = SudachiAnalyser()
    analyser = AnalysisCache(cache_dir / ANALYSIS_CACHE_FILE if cache_dir else None, sudachi, sudachi.version)
    reader = KanaReader.from_texts(analyser, content.texts_for_analysis())
    furigana = Furigana(content.readings, analyser)
    texts = Texts(translations_dir, content.start_date)
    for text in easy_japanese(content, texts, today()):  # their furigana, ready (and kept in the cache)
        furigana.segments(text)
    analyser.save()
    # The dictionary was loaded only if something was not in the cache, and is rarely needed again:
    # unmapped before the matcher is built, the two never add up in memory.
    sudachi.release()
    matcher_key = _key(
        [(i.id, i.examples, i.not_examples) for i in content.catalog],
        content.out_of_scope, content.synonyms.groups, reader.words, thresholds or Thresholds(), str(cache_dir),
    )  # fmt: skip
    if previous is not None and previous.built_from.get("matcher") == matcher_key:
        matcher = previous.matcher
    else:  # on a reload, the classifier is trained later (`IntentMatcher.trained`, `bot.reload`)
        matcher = IntentMatcher(
            content.catalog, thresholds, reader, content.synonyms, out_of_scope=content.out_of_scope,
            cache_dir=cache_dir, previous=previous.matcher if previous else None,
        )  # fmt: skip
    replies = ReplyBuilder(
        content.catalog, texts, furigana, content.menu, content.link_labels, today,
        procedures=content.procedures, rich_menu=content.rich_menu,
    )  # fmt: skip
    request = content.catalog.intents.get(REQUEST_INTENT)
    request_examples = [t for ts in request.examples.values() for t in ts] if request else []
    detector_key = _key(content.examples_by_language(), str(cache_dir))
    stale_detector = previous is not None and previous.built_from.get("detector") != detector_key
    if previous is not None:  # kept as it is, or until `finish` trains this content's (a reload)
        detector = previous.policy.detector
    else:
        detector = LanguageDetector(cache_dir, content.examples_by_language())
    assistant = Assistant(
        catalog=content.catalog,
        matcher=matcher,
        texts=texts,
        replies=replies,
        policy=LanguagePolicy(detector, request_examples),
        users=users or MemoryUserStore(),
    )
    assistant.built_from = {"matcher": matcher_key, "detector": detector_key}
    if previous is not None and (matcher.interim or stale_detector):
        assistant.built_from["detector"] = previous.built_from.get("detector", "") if stale_detector else detector_key

        def finish() -> Assistant:
            if cache_dir is not None:  # trained in a child process, read back from the cache
                taught = matcher.taught() if matcher.interim else None
                languages = content.examples_by_language() if stale_detector else None
                train_elsewhere(cache_dir, taught, languages, assistant.superseded)
            whole = assistant.with_parts(assistant)
            whole.matcher = matcher.trained() if matcher.interim else matcher
            if stale_detector:
                whole.policy.detector = LanguageDetector(cache_dir, content.examples_by_language())
            whole.built_from["detector"] = detector_key
            return whole

        assistant.finish = finish
    return assistant


def _key(*parts: object) -> str:
    """A digest of what a part is built from (content, settings), to tell whether a reload may keep it."""
    data = json.dumps(parts, ensure_ascii=False, sort_keys=True, default=repr).encode()
    return hashlib.sha256(data).hexdigest()


def easy_japanese(content: Content, texts: Texts, today: dt.date) -> list[str]:
    """Every fixed text the bot may say in easy Japanese today: the answers, the UI messages, and the
    labels of buttons and links (the web chat shows them with furigana too)."""
    answers = [texts.answer(intent, "ja", today) for intent in content.catalog]
    messages = [texts.lookup("ja", message) for message in ui.ALL]
    labels = [intent.title["ja"] for intent in content.catalog] + [label.ja for label in content.link_labels.values()]
    areas = content.rich_menu.areas if content.rich_menu else ()
    labels += [area.label.ja for area in areas if not isinstance(area.label, str)]
    return [text for text in answers + messages + labels + [native_name("ja")] if text]
