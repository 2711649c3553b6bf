"""LINE Flex messages (JSON) for what plain text shows poorly: cards in a carousel, choices in a bubble.

Pure translation of a `Reply`'s cards and buttons; `bot.adapters.line.render` decides when to use
them. Every Flex message carries the plain answer as its alt text (notifications, the chat list,
screen readers), cut to LINE's 400 characters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.adapters.base import plain_cut, utf16_len
from bot.core.languages import is_rtl
from bot.core.models import Button, Card

MAX_ALT_TEXT = 400
MAX_BUBBLES = 12
"""Bubbles in one carousel (LINE's limit since 2020; it was 10 before)."""
MAX_LABEL = 20
"""Characters of an action's label LINE accepts everywhere (quick replies, buttons, rich menus)."""
MAX_DISPLAY_TEXT = 300
COLORS = {"city_office": "#1B7F4B", "immigration_office": "#1F5AA6"}
"""A card's colour by where the procedure is done; any other group is grey."""
OTHER_COLOR = "#555555"


def label(text: str, limit: int = MAX_LABEL) -> str:
    """An action label LINE accepts (at most `limit` characters, cut with "…")."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def alt_text(text: str) -> str:
    """The plain answer as a Flex message's alt text (at most 400, counted as LINE counts)."""
    text = text.strip() or "…"
    if utf16_len(text) <= MAX_ALT_TEXT:
        return text
    return text[: plain_cut(text, MAX_ALT_TEXT - 1)] + "…"


def postback(button: Button, shown: str | None = None) -> dict[str, Any]:
    """A postback action: the press goes back to the bot, and `shown` (default: the label) appears as
    the resident's own message."""
    display = (shown or button.label).strip() or button.label
    return {
        "type": "postback",
        "label": label(button.label),
        "data": button.data,
        "displayText": display[:MAX_DISPLAY_TEXT],
    }


def carousels(cards: Sequence[Card], alt: str, lang: str) -> list[dict[str, Any]]:
    """Cards as Flex carousels of at most 12 bubbles: its title, where to go, a button to its answer."""
    chunks = [cards[i : i + MAX_BUBBLES] for i in range(0, len(cards), MAX_BUBBLES)]
    return [
        {
            "type": "flex",
            "altText": alt_text(alt),
            "contents": {"type": "carousel", "contents": [card_bubble(card, lang) for card in chunk]},
        }
        for chunk in chunks
    ]


def card_bubble(card: Card, lang: str) -> dict[str, Any]:
    """One card: a coloured header saying where, the title, and the button to the answer."""
    color = COLORS.get(card.group, OTHER_COLOR)
    bubble: dict[str, Any] = {
        "type": "bubble",
        "size": "kilo",
        "header": {
            "type": "box",
            "layout": "vertical",
            "backgroundColor": color,
            "paddingAll": "md",
            "contents": [{"type": "text", "text": card.place, "color": "#FFFFFF", "size": "sm", "wrap": True}],
        },
        "body": {
            "type": "box",
            "layout": "vertical",
            "contents": [{"type": "text", "text": card.title, "weight": "bold", "size": "md", "wrap": True}],
        },
        "footer": {
            "type": "box",
            "layout": "vertical",
            "contents": [
                {
                    "type": "button",
                    "style": "primary",
                    "color": color,
                    "height": "sm",
                    "action": postback(card.button, shown=card.title.split("\n")[0]),
                }
            ],
        },
    }
    return _directed(bubble, lang)


def choices(texts: Sequence[str], buttons: Sequence[Button], alt: str, lang: str) -> dict[str, Any]:
    """A question and its answers as buttons in one bubble (a did-you-mean)."""
    body: list[dict[str, Any]] = []
    for n, text in enumerate(texts):
        if n:
            body.append({"type": "separator", "margin": "md"})
        body.append({"type": "text", "text": text, "wrap": True, **({"margin": "md"} if n else {})})
    bubble: dict[str, Any] = {
        "type": "bubble",
        "body": {"type": "box", "layout": "vertical", "contents": body},
        "footer": {
            "type": "box",
            "layout": "vertical",
            "spacing": "sm",
            "contents": [
                {"type": "button", "style": "secondary", "height": "sm", "action": postback(button)}
                for button in buttons
            ],
        },
    }
    return {"type": "flex", "altText": alt_text(alt), "contents": _directed(bubble, lang)}


def _directed(bubble: dict[str, Any], lang: str) -> dict[str, Any]:
    """Right to left for Urdu, so that the bubble reads the way its text does."""
    return {**bubble, "direction": "rtl"} if is_rtl(lang) else bubble
