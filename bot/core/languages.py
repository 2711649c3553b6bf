"""The languages we answer in: ISO 639-1 codes used everywhere (CLI, YAML keys, catalogs)."""

from __future__ import annotations

from functools import cache
from typing import Final

from babel import Locale

SOURCE_LANGS: Final = ("ja", "en")
"""Languages whose answers are written in the intents YAML; the others come from translations/."""

LANGS: Final = (
    "ja", "en", "zh", "ko", "es", "pt", "vi", "tl", "ne", "id",
    "th", "km", "my", "mn", "fr", "si", "ur", "bn", "tr", "uk",
)  # fmt: skip

_BABEL_IDS: Final = {"zh": "zh_Hans", "pt": "pt_BR", "tl": "fil"}
"""Babel locale for a code when it is not the code itself (Simplified Chinese, Brazilian Portuguese)."""


@cache
def babel_locale(code: str) -> Locale:
    """The Babel locale for one of our codes."""
    return Locale.parse(_BABEL_IDS.get(code, code))


@cache
def native_name(code: str) -> str:
    """The language's name in itself (Tiếng Việt, नेपाली), from Babel's CLDR data."""
    name: str = babel_locale(code).language_name or code
    return name[:1].upper() + name[1:]


def is_rtl(code: str) -> bool:
    """Whether the language is written right to left (Urdu)."""
    return bool(babel_locale(code).character_order == "right-to-left")
