"""The one message model every adapter speaks: an `Incoming` in, a `Reply` out.

Adapters build an `Incoming` from a platform event and render a `Reply` back; the core never sees
a platform payload.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ReplyKind = Literal["answer", "did_you_mean", "fallback", "info"]


@dataclass(frozen=True)
class Incoming:
    """A message from a resident (or a button press), whatever the platform."""

    platform: str
    user_id: str
    text: str = ""
    postback: str | None = None
    """Data of a pressed button (see `bot.core.postback`), instead of text."""
    lang_hint: str | None = None
    """The platform's idea of the user's language (Telegram language_code, LINE profile)."""
    forwarded: bool = False
    """Forwarded by NPO staff: answer in the text's language and in easy Japanese."""


@dataclass(frozen=True)
class Segment:
    """A piece of Japanese text with its reading when it has kanji (furigana)."""

    base: str
    reading: str | None = None


@dataclass(frozen=True)
class Block:
    """One language's part of a reply."""

    lang: str
    text: str
    segments: tuple[Segment, ...] | None = None
    """Furigana segments of `text`, for easy Japanese only."""
    note: str | None = None
    """One-line notice, e.g. that a translation is unofficial."""


@dataclass(frozen=True)
class Button:
    """A quick reply / inline keyboard button: a label and the postback data it sends."""

    label: str
    data: str


@dataclass(frozen=True)
class Link:
    """An official page to open."""

    url: str
    label: str


@dataclass(frozen=True)
class Alternative:
    """A runner-up intent and its score."""

    intent: str
    score: float


@dataclass(frozen=True)
class Reply:
    """What the assistant answers; adapters only render it."""

    kind: ReplyKind
    lang: str
    blocks: tuple[Block, ...]
    links: tuple[Link, ...] = ()
    buttons: tuple[Button, ...] = ()
    intent: str | None = None
    score: float = 0.0
    alternatives: tuple[Alternative, ...] = ()
