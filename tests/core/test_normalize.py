"""Normalisation folds the many ways residents type one thing."""

from __future__ import annotations

import pytest

from bot.core.normalize import MAX_CHARS, clean, normalize


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("ＺＡＩＲＹＵ　ｶｰﾄﾞ", "zairyu かど"),
        ("特定在留カード！？", "特定在留かど"),
        ("とくていざいりゅうかーど", "とくていざいりゅうかど"),
        ("Thẻ cư trú đặc định là gì?", "the cu tru dac dinh la gi"),
        ("¿Qué es la tarjeta?", "que es la tarjeta"),
        ("नेपालीमा 🙏", "नेपालीमा"),
        ("😀😀😀", ""),
        ("What   IS\tit", "what is it"),
    ],
)
def test_normalize(raw: str, folded: str) -> None:
    assert normalize(raw) == folded


def test_long_messages_are_cut() -> None:
    assert len(normalize("あ" * 10_000)) == MAX_CHARS


def test_clean_removes_control_characters_and_replacement_chars() -> None:
    assert clean("a\x00b\x1bc\u202e\ufffd d ") == "a b c   d"
