"""Languages: catalogs per language, negotiation, dates, names; the fixture catalogs end to end."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.core import ui_text as ui
from bot.core.assistant import Assistant
from bot.core.i18n import Texts, is_traditional_chinese, long_date, negotiate
from bot.core.languages import is_rtl, native_name
from tests.conftest import AFTER_START, BEFORE_START, FIXTURE_TRANSLATIONS

ISA = "https://www.moj.go.jp/isa/tokutei.html"
START_DATE = dt.date(2026, 6, 14)
TRANSLATED = sorted(p.name for p in FIXTURE_TRANSLATIONS.iterdir() if p.name not in ("ja", "en"))


@pytest.mark.parametrize(
    ("tag", "code"),
    [
        ("pt-BR", "pt"), ("pt", "pt"), ("zh-TW", "zh"), ("zh-Hant", "zh"), ("zh-Hans-CN", "zh"), ("fil", "tl"),
        ("tl", "tl"), ("en-US", "en"), ("ja-JP", "ja"), ("vi", "vi"), ("ne-NP", "ne"), ("uk", "uk"),
        ("de", None), ("xx-YY", None), ("", None), (None, None), ("!!", None), ("en_US.UTF-8", "en"),
    ],
)  # fmt: skip
def test_negotiation_never_raises(tag: str | None, code: str | None) -> None:
    assert negotiate(tag) == code


def test_traditional_chinese_is_noticed() -> None:
    assert is_traditional_chinese("zh-TW") and is_traditional_chinese("zh-Hant")
    assert not is_traditional_chinese("zh-CN") and not is_traditional_chinese(None)


@pytest.mark.parametrize(
    ("lang", "text"),
    [("ja", "2026年6月14日"), ("en", "June 14, 2026"), ("vi", "14 tháng 6, 2026"), ("fr", "14 juin 2026"),
     ("pt", "14 de junho de 2026"), ("ko", "2026년 6월 14일"), ("uk", "14 червня 2026\u202fр.")],
)  # fmt: skip
def test_dates_in_each_locale(lang: str, text: str) -> None:
    assert long_date(START_DATE, lang) == text


def test_language_names_in_their_own_language() -> None:
    assert native_name("vi") == "Tiếng Việt" and native_name("ne") == "नेपाली" and native_name("tl") == "Filipino"
    assert is_rtl("ur") and not is_rtl("ja")


@pytest.mark.parametrize("lang", TRANSLATED)
def test_catalog_has_no_plurals(lang: str) -> None:
    with (FIXTURE_TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        catalog = read_po(fh)
    assert not any(m.pluralizable for m in catalog if m.id), "no plural entries: untranslated plurals leak English"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_intent_answered_in_every_language(shared_assistant: Assistant, lang: str) -> None:
    texts = shared_assistant.texts
    for intent in shared_assistant.catalog:
        for today in (BEFORE_START, AFTER_START):
            answer = texts.answer(intent, lang, today)
            assert answer, f"{intent.id} untranslated in {lang}"
            assert answer != texts.answer(intent, "en", today), f"{intent.id} in {lang} is English"
            assert "{" not in answer, f"{intent.id}: placeholder left in {lang}"
        reply = shared_assistant.replies.answer(intent, lang)
        assert ISA in [link.url for link in reply.links]
        assert reply.blocks[0].lang == lang and reply.blocks[0].note == texts.ui(lang, ui.UNOFFICIAL)


@pytest.mark.parametrize("lang", ["ja", "en", *TRANSLATED])
def test_start_date_in_the_locales_format(shared_assistant: Assistant, lang: str) -> None:
    answer = shared_assistant.texts.answer(shared_assistant.catalog["card.start_date"], lang, AFTER_START)
    assert answer is not None and long_date(START_DATE, lang) in answer


def test_missing_catalog_is_not_an_error(tmp_path: Path) -> None:
    texts = Texts(tmp_path, START_DATE)
    assert texts.lookup("vi", ui.MENU) is None and texts.ui("vi", ui.MENU) == ui.MENU


def test_each_language_served_at_once(shared_assistant: Assistant) -> None:
    """No process-wide language: two users, two languages, interleaved."""
    texts = shared_assistant.texts
    first = texts.ui("vi", ui.MENU)
    second = texts.ui("ne", ui.MENU)
    assert first != second and texts.ui("vi", ui.MENU) == first
