"""The languages we answer in: ISO 639-1 codes used everywhere (CLI, YAML keys, catalogs)."""

from __future__ import annotations

from typing import Final

from bot.core import cldr

SOURCE_LANGS: Final = ("ja", "en")
"""Languages whose answers are written in the intents YAML; the others come from translations/."""

LANGS: Final = (
    "ja", "en", "zh", "ko", "es", "pt", "vi", "tl", "ne", "id",
    "th", "km", "my", "mn", "fr", "si", "ur", "bn", "tr", "uk",
)  # fmt: skip


def native_name(code: str) -> str:
    """The language's name in itself (Tiếng Việt, नेपाली), from CLDR (kept: bot.core.cldr)."""
    return cldr.values(code)["native_name"]


def is_rtl(code: str) -> bool:
    """Whether the language is written right to left (Urdu)."""
    return cldr.values(code)["rtl"]
