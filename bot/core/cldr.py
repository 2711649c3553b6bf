"""The few CLDR values the bot shows, kept in `cldr_table.py` so a running bot loads no Babel locale.

Loading a locale loads all of it: the names of twenty languages in twenty languages, one direction
and one date format took 22 MB of the server's heap (issue 10), for a few hundred strings. They
depend only on Babel's version and on `LANGS`, both code, so they are a table in the repo rather
than a file in DATA_DIR: nothing to compute, write or read at start-up. A date is not kept but
formatted from the locale's date pattern and month names, so an operator who changes the start date
(intents/dates.yaml) regenerates nothing. A Babel upgrade that changes a value, or a new language,
fails `tests/core/test_cldr.py` and `intents check` until `python -m bot.core.cldr` writes the
table again; meanwhile a language missing from the table is still served right, from Babel.

Babel's gettext catalogs (`babel.support.Translations`, bot.core.i18n) are another thing and stay.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any, Final, Literal, TypedDict

from bot.core import cldr_table

TABLE: Final = Path(__file__).with_name("cldr_table.py")

DATE_FORMATS: Final[dict[str, Literal["long", "short"]]] = {"si": "short"}
"""CLDR's Sinhala months are the traditional ones (June is පොසොන්, Poson), which readers need not map
to the Gregorian month (translation review, docs/translation-review/si.md): digits instead."""

_BABEL_IDS: Final = {"zh": "zh_Hans", "pt": "pt_BR", "tl": "fil"}
"""Babel locale for a code when it is not the code itself (Simplified Chinese, Brazilian Portuguese)."""

_FIELD = re.compile(r"%\((\w+)\)s")
"""A field of a date pattern as Babel's `DateTimePattern.format` writes it: %(MMMM)s."""


class LocaleValues(TypedDict):
    """What the bot shows of one language's CLDR data."""

    native_name: str
    """The language's name in itself, capitalised (Tiếng Việt, नेपाली)."""
    rtl: bool
    names: dict[str, str]
    """Our codes → their names in this language (only those CLDR has)."""
    date_pattern: str
    """The long date (short for Sinhala) as a %-format over fields: '%(d)s de %(MMMM)s de %(y)s'."""
    date_names: dict[str, list[str]]
    """The fields that are words: a month's name (12, January first) or the era (1, AD)."""


def values(code: str) -> LocaleValues:
    """The kept values of `code`; from Babel when the table lacks it (a language added since)."""
    kept: dict[str, Any] = cldr_table.LOCALES
    return kept[code] if code in kept else _from_babel(code)


@cache
def _from_babel(code: str) -> LocaleValues:
    return babel_values(code)


@cache
def long_date(day: dt.date, lang: str) -> str:
    """`day` as the locale writes it (2026年6月14日, June 14, 2026, 14 tháng 6, 2026), as Babel would."""
    kept = values(lang)
    fields: dict[str, str] = {}
    for field in _FIELD.findall(kept["date_pattern"]):
        char, num = field[0], len(field)
        if field in kept["date_names"]:
            names = kept["date_names"][field]
            fields[field] = names[day.month - 1] if len(names) == 12 else names[0]
        elif char == "y":
            year = f"{day.year:0{num}d}"
            fields[field] = year[-2:] if num == 2 else year
        elif char in "ML":
            fields[field] = f"{day.month:0{num}d}"
        else:  # "d": babel_values kept no other field
            fields[field] = f"{day.day:0{num}d}"
    return kept["date_pattern"] % fields


def babel_values(code: str) -> LocaleValues:
    """`code`'s values from Babel: this loads its locale data (the tests, the generator, a new language).

    Raises:
        ValueError: the date pattern has a field `long_date` cannot write (a weekday, say).
    """
    from babel import Locale
    from babel.dates import DateTimeFormat, get_date_format

    from bot.core.languages import LANGS  # here: languages imports this module for its values

    locale = Locale.parse(_BABEL_IDS.get(code, code))
    name = locale.language_name or code
    names = {}
    for other in LANGS:
        shown = locale.languages.get("fil" if other == "tl" else other)  # CLDR names Filipino, not Tagalog
        if shown:
            names[other] = str(shown)
    pattern = get_date_format(DATE_FORMATS.get(code, "long"), locale=locale)
    date_pattern = str(pattern.format)  # a str: Babel annotates it as a DateTimeFormat
    date_names: dict[str, list[str]] = {}
    for field in _FIELD.findall(date_pattern):
        char, num = field[0], len(field)
        if char in "ML" and num >= 3:
            date_names[field] = [DateTimeFormat(dt.date(2001, m, 1), locale)[field] for m in range(1, 13)]
        elif char == "G":
            date_names[field] = [DateTimeFormat(dt.date(2001, 1, 1), locale)[field]]
        elif char not in "yMLd" or (char == "y" and field != char * num):
            raise ValueError(f"{code}: the date pattern {pattern.pattern!r} has a field {field!r} not kept")
    return {
        "native_name": name[:1].upper() + name[1:],
        "rtl": locale.character_order == "right-to-left",
        "names": names,
        "date_pattern": date_pattern,
        "date_names": date_names,
    }


def stale_languages() -> list[str]:
    """Our languages whose kept values differ from what this Babel gives (empty when the table is right)."""
    from bot.core.languages import LANGS

    kept: dict[str, Any] = cldr_table.LOCALES
    return [code for code in LANGS if kept.get(code) != babel_values(code)] + [c for c in kept if c not in LANGS]


def write_table(path: Path = TABLE) -> None:
    """Write the table of every language in `LANGS` from the installed Babel."""
    import babel

    from bot.core.languages import LANGS

    table = {code: babel_values(code) for code in LANGS}
    path.write_text(
        f'"""Generated by `python -m bot.core.cldr` from Babel {babel.__version__}: do not edit (bot.core.cldr)."""\n'
        "\n"
        "from typing import Any\n"
        "\n"
        f"LOCALES: dict[str, Any] = {table!r}\n",
        encoding="utf-8",
    )
    # ruff's layout, so that `ruff format --check` passes; without ruff the table is right, only long.
    subprocess.run([sys.executable, "-m", "ruff", "format", "--quiet", str(path)], check=False)


if __name__ == "__main__":
    write_table()
    print(f"wrote {TABLE}")
