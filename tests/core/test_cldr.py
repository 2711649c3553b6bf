"""The kept CLDR values (bot/core/cldr_table.py) are Babel's, and answering loads no Babel locale."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from babel import Locale
from babel.dates import format_date

from bot.core import cldr, cldr_table
from bot.core.languages import LANGS
from tests.conftest import CONTENT

_DAYS = [dt.date(year, month, day) for year in (2009, 2026, 2100) for month in range(1, 13) for day in (1, 9, 28)]


@pytest.mark.parametrize("lang", LANGS)
def test_kept_values_are_babels(lang: str) -> None:
    assert lang in cldr_table.LOCALES, "a new language: python -m bot.core.cldr"
    assert cldr.values(lang) == cldr.babel_values(lang), "Babel changed: python -m bot.core.cldr"


def test_the_table_has_no_other_language() -> None:
    assert cldr.stale_languages() == []


@pytest.mark.parametrize("lang", LANGS)
def test_dates_as_babel_writes_them(lang: str) -> None:
    locale = Locale.parse(cldr._BABEL_IDS.get(lang, lang))
    form = cldr.DATE_FORMATS.get(lang, "long")
    assert [cldr.long_date(day, lang) for day in _DAYS] == [format_date(day, form, locale=locale) for day in _DAYS]


def test_a_language_missing_from_the_table_comes_from_babel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cldr_table, "LOCALES", {k: v for k, v in cldr_table.LOCALES.items() if k != "vi"})
    cldr.long_date.cache_clear()
    try:
        assert cldr.values("vi") == cldr.babel_values("vi")
        assert cldr.long_date(dt.date(2026, 6, 14), "vi") == format_date(dt.date(2026, 6, 14), "long", locale="vi")
    finally:
        cldr.long_date.cache_clear()


_ANSWER_EVERYWHERE = """
import json, sys
from pathlib import Path

import babel.core, babel.localedata

from bot.core import render
from bot.core.factory import build_assistant
from bot.core.languages import LANGS, native_name
from bot.core.models import Incoming
from bot.core.postback import Postback

assistant = build_assistant(Path(sys.argv[1]), Path(sys.argv[2]))
replies = []
for lang in LANGS:
    user = "u-" + lang
    for msg in (
        Incoming("web", user, postback=Postback.language(lang)),
        Incoming("web", user, text="residence card"),
        Incoming("web", user, text="menu"),
        Incoming("web", user, text="answer in " + native_name(lang)),
    ):
        reply = assistant.handle(msg)
        replies.append((reply.lang, render.plain_text(reply), render.html_blocks(reply), render.direction(lang)))
print(json.dumps({"locales": sorted(babel.localedata._cache), "langs": sorted({r[0] for r in replies})}))
"""


def test_answering_in_every_language_loads_no_babel_locale(translations: Path) -> None:
    # A process of its own: the tests around have loaded Babel's locales into this one.
    run = subprocess.run(
        [sys.executable, "-c", _ANSWER_EVERYWHERE, str(CONTENT), str(translations)],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    seen = json.loads(run.stdout.splitlines()[-1])
    assert seen["langs"] == sorted(LANGS)  # every language was answered in
    assert seen["locales"] == []
