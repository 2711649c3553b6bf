"""64-bit keys of character n-grams, computed for a whole text in a few array operations.

The n-gram index and the classifier look grams up in sorted arrays of keys instead of dicts of
strings: 8 bytes a gram instead of a Python string and a dict entry (the classifier's vocabulary
took 9.6 MB as a dict), and keying a message is vectorised instead of a hash call per gram. A key
is a polynomial over the gram's code points, seeded with its length, so it is the same in every
process (Python's `hash()` is salted per process) and a kept index or model stays valid.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

MULTIPLIER = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1
_MULTIPLIER = np.uint64(MULTIPLIER)
_SEEDS = [np.uint64((n * pow(MULTIPLIER, n, 1 << 64)) & _MASK) for n in range(9)]
"""What a window's length adds to its key: n × MULTIPLIER**n (`key` starts from n)."""

Keys = npt.NDArray[np.int64]
Points = npt.NDArray[np.uint64]


def key(gram: str) -> int:
    """The key of one gram (what `window_keys` gives for it inside a text)."""
    value = len(gram)
    for char in gram:
        value = (value * MULTIPLIER + ord(char)) & _MASK
    return value - (1 << 64) if value >> 63 else value


def code_points(text: str) -> Points:
    """The text's code points (lone surrogates included), ready for `window_keys`."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)


def window_keys(points: Points, low: int, high: int) -> list[Keys]:
    """The key of every window of n code points, in order, for each n from `low` to `high` (an array
    each, empty when the text is shorter).

    A window of n + 1 is its first n times the multiplier plus the next point, then seeded with its
    length (`key`): each n costs two array operations on top of the one before.
    """
    found: list[Keys] = []
    prefix = points  # the unseeded polynomial of the windows of n, for n = 1, 2, …
    for n in range(1, high + 1):
        if n > 1:
            prefix = prefix[:-1] * _MULTIPLIER + points[n - 1 :]  # arithmetic modulo 2**64, as in `key`
        if n >= low:
            found.append((prefix + _SEEDS[n]).view(np.int64))
    return found


def look_up(vocabulary: Keys, keys: Keys) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Where each of `keys` is in the sorted `vocabulary`, and whether it is there at all."""
    if not len(vocabulary):
        return np.zeros(len(keys), dtype=np.int64), np.zeros(len(keys), dtype=bool)
    where = np.minimum(np.searchsorted(vocabulary, keys), len(vocabulary) - 1)
    return where, vocabulary[where] == keys
