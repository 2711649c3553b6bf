"""Many words in one pass: the dict tree replaces exactly what the regex tree would."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.word_tree import WordSet, tree_pattern

LATIN = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
ALPHABET = "ab1 カード-"
"""Few characters, so that words overlap, nest and meet word boundaries often."""


def latin_word_start(char: str) -> bool:
    return char.isascii() and char.isalnum()


def both(words: list[str]) -> tuple[WordSet, re.Pattern[str], dict[str, str]]:
    replacement = {word: f"<{i}>" for i, word in enumerate(words)}
    tree = WordSet(replacement, str.isascii, latin_word_start, LATIN.__contains__)
    pattern = re.compile(
        tree_pattern(words, str.isascii, latin_word_start, before="(?<![a-z0-9])", after="(?![a-z0-9])")
    )
    return tree, pattern, replacement


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.text(ALPHABET, min_size=1, max_size=4), min_size=1, max_size=8, unique=True),
    st.text(ALPHABET, max_size=30),
)
def test_the_tree_replaces_what_the_pattern_finds(words: list[str], text: str) -> None:
    tree, pattern, replacement = both(words)

    assert tree.sub(text) == pattern.sub(lambda found: replacement[found.group()], text)


def test_latin_words_stand_whole_and_the_longest_that_fits_wins() -> None:
    tree, _, _ = both(["card", "card reader", "カード", "カードリーダー"])

    assert tree.sub("cardigan") == "cardigan"
    assert tree.sub("a card reader") == "a <1>"
    assert tree.sub("a card readers") == "a <0> readers"  # the longer one is not whole: the shorter is
    assert tree.sub("マイカードリーダーです") == "マイ<3>です"  # other scripts: anywhere
    assert tree.sub("マイカードリーです") == "マイ<2>リーです"


def test_no_words_leave_the_text_as_it_is() -> None:
    assert WordSet({}, str.isascii, latin_word_start, LATIN.__contains__).sub("card") == "card"
