"""The one message model every adapter speaks: an `Incoming` in, a `Reply` out.

Adapters build an `Incoming` from a platform event and render a `Reply` back; the core never sees
a platform payload.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.core.postback import Postback

ReplyKind = Literal["answer", "did_you_mean", "fallback", "info"]


@dataclass(frozen=True)
class Incoming:
    """A message from a resident (or a button press), whatever the platform."""

    platform: str
    user_id: str
    text: str = ""
    postback: Postback | None = None
    """A pressed button, instead of text (adapters decode the platform's data with `Postback.decode`)."""
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
    """A quick reply / inline keyboard button: a label and the press it sends back."""

    label: str
    postback: Postback

    @property
    def data(self) -> str:
        """The press as the platform carries it."""
        return self.postback.encode()


@dataclass(frozen=True)
class Link:
    """An official page to open."""

    url: str
    label: str


@dataclass(frozen=True)
class Card:
    """A topic shown as a card (LINE's carousel): what it is, where it is done, the button to its answer.

    Texts are in the reply's languages, one line each (easy Japanese with inline furigana).
    """

    title: str
    place: str
    group: str
    """Where, as a key ("city_office", "immigration_office"): cards of one group look alike."""
    button: Button


@dataclass(frozen=True)
class Candidate:
    """An intent the matcher ranked, with its score (0–100)."""

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
    """The intent answered (kind "answer" only)."""
    score: float = 0.0
    """How sure the matcher was of its first candidate (0–100); 100 for a pressed button."""
    candidates: tuple[Candidate, ...] = ()
    """The matcher's ranking, best first, whatever the kind (a did-you-mean offers the first ones)."""
    cards: tuple[Card, ...] = ()
    """Topics to show as cards where the platform can (LINE); the blocks say the same as text, which
    is what other platforms show."""
    language_set: bool = False
    """The resident has just chosen `lang` as their language (LINE links its menu in that language)."""
