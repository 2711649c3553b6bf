"""What a button sends back: one typed `Postback`, and the short string every platform carries.

The wire form (`intent:card.about`, `lang:vi`, `both:off`, `langs:1`, `menu`, `menu:faq`) fits Telegram's
64-byte callback data and LINE's postback data; the web page sends it as is. Decoding never raises:
data we do not understand (an old button, a forged press) is simply not a postback we act on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bot.core.languages import LANGS

PostbackKind = Literal["intent", "lang", "both", "langs", "menu"]

_INTENT_ID = re.compile(r"[a-z]+(\.[a-z_]+)+")
_SECTION = re.compile(r"[a-z][a-z_]{0,29}")
"""A menu section's id (an area of LINE's rich menu, `intents/rich_menu.yaml`)."""
_PAGE = re.compile(r"[0-9]{1,2}")
"""ASCII digits only: `str.isdigit` accepts '²', which `int` refuses."""


@dataclass(frozen=True)
class Postback:
    """A button press: answer an intent, choose a language, two-language mode, a menu or one of its sections."""

    kind: PostbackKind
    value: str = ""

    @classmethod
    def intent(cls, intent_id: str) -> Postback:
        """Answer `intent_id`."""
        return cls("intent", intent_id)

    @classmethod
    def language(cls, code: str) -> Postback:
        """Answer in `code` from now on."""
        return cls("lang", code)

    @classmethod
    def bilingual(cls, on: bool) -> Postback:
        """Answer in the user's language and in easy Japanese (on), or in one language (off)."""
        return cls("both", "on" if on else "off")

    @classmethod
    def language_menu(cls, page: int = 0) -> Postback:
        """A page of the language menu."""
        return cls("langs", str(page))

    @classmethod
    def menu(cls, section: str = "") -> Postback:
        """The topic menu, or one section of it (its topics as buttons)."""
        return cls("menu", section)

    @property
    def page(self) -> int:
        """The language menu page (0 for any other kind)."""
        return int(self.value) if self.kind == "langs" and _PAGE.fullmatch(self.value) else 0

    @property
    def section(self) -> str:
        """The menu section a menu press opens ("" for the whole menu, and for any other kind)."""
        return self.value if self.kind == "menu" else ""

    @property
    def on(self) -> bool:
        """Whether a two-language press turns the mode on."""
        return self.kind == "both" and self.value == "on"

    def encode(self) -> str:
        """The string a platform carries for this press."""
        return self.kind if self.kind == "menu" and not self.value else f"{self.kind}:{self.value}"

    @classmethod
    def decode(cls, data: str) -> Postback | None:
        """The press behind `data`, or None when it is not one of ours."""
        kind, sep, value = data.partition(":")
        if kind == "menu" and not sep:
            return cls.menu()
        if kind == "menu" and _SECTION.fullmatch(value):
            return cls.menu(value)
        if kind == "intent" and _INTENT_ID.fullmatch(value):
            return cls.intent(value)
        if kind == "lang" and value in LANGS:
            return cls.language(value)
        if kind == "both" and value in ("on", "off"):
            return cls.bilingual(value == "on")
        if kind == "langs" and _PAGE.fullmatch(value):
            return cls.language_menu(int(value))
        return None
