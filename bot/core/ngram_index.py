"""Character n-gram TF-IDF over the examples: finds the examples closest to a message, fast.

Residents write short, misspelt messages in many scripts, some without spaces. Character n-grams
need no word splitting; weighting them by rarity (TF-IDF) lets content words count more than
"ですか" or "how do I". The index is flat numpy arrays, not Python objects, so a catalog a hundred
times ours still fits in memory and answers in milliseconds (docs/benchmarks.md).
"""

from __future__ import annotations

import hashlib
import math
import threading
from array import array
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from itertools import repeat
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bot.core import gram_hash
from bot.core.cache_files import read_arrays, write_arrays

COMMON_SHARE = 0.2
"""Grams found in more than this share of the examples are left out: they weigh little, cost much."""
POSTINGS_BUDGET = 30_000
"""Postings read to find candidates; beyond it, a message's most common grams are left out of the search.

Only long messages in large catalogs reach it (docs/benchmarks.md); the candidates found are then
scored again over all their grams, so their similarities stay exact.
"""

Rows = npt.NDArray[np.int64]
Similarities = npt.NDArray[np.float64]


KEYS = 2
"""The way grams are keyed (`gram_keys`); an index kept with another way is built again."""


def ngrams(norm: str) -> Counter[str]:
    """Character 2–4-grams of a normalised text, plus its words (what `gram_keys` keys, as strings)."""
    padded = f" {norm} "
    grams: Counter[str] = Counter()
    for n in (2, 3, 4):
        grams.update(padded[i : i + n] for i in range(len(padded) - n + 1))
    grams.update(f"w:{word}" for word in norm.split() if len(word) > 1)
    return grams


def gram_key(gram: str) -> int:
    """A gram's 64-bit key (`bot.core.gram_hash`); a word ("w:…": normalised text has no colon) is keyed
    by a hash of its text."""
    return _word_key(gram) if gram.startswith("w:") else gram_hash.key(gram)


@lru_cache(maxsize=1 << 16)
def _word_key(gram: str) -> int:
    return int.from_bytes(hashlib.blake2b(gram.encode(), digest_size=8).digest(), "little", signed=True)


def gram_keys(norm: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The keys of `ngrams(norm)` (`gram_key` of each) and their counts, computed over whole arrays.

    Hashing each gram in Python cost more than the rest of a search; this is a few array operations.
    """
    points = gram_hash.code_points(f" {norm} ")
    parts = gram_hash.window_keys(points, 2, 4)
    words = [_word_key(f"w:{word}") for word in norm.split() if len(word) > 1]
    if words:
        parts.append(np.array(words, dtype=np.int64))
    keys, counts = np.unique(np.concatenate(parts), return_counts=True)
    return keys, counts


def _ranges(starts: npt.NDArray[np.int64], sizes: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Every position start..start+size of each (start, size), concatenated, in one vector."""
    return np.repeat(starts - np.cumsum(sizes) + sizes, sizes) + np.arange(int(sizes.sum()))


def _with_reused(
    earlier: NgramIndex,
    reused: npt.NDArray[np.int64],
    rows: npt.NDArray[np.int32],
    keys: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int32],
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64], npt.NDArray[np.int32]]:
    """The (row, gram key, count) triples computed, with those of the `reused` (row, earlier row) pairs
    taken from `earlier`, grouped by row in row order as the index keeps them."""
    here, there = reused[:, 0], reused[:, 1]
    sizes = earlier.row_start[there + 1] - earlier.row_start[there]
    offsets = _ranges(earlier.row_start[there], sizes)
    all_rows = np.concatenate((np.repeat(here, sizes).astype(np.int32), rows))
    all_keys = np.concatenate((earlier.keys[earlier.row_grams[offsets]], keys))
    all_counts = np.concatenate((earlier.row_counts[offsets].astype(np.int32), counts))
    order = np.argsort(all_rows, kind="stable")
    return all_rows[order], all_keys[order], all_counts[order]


class NgramIndex:
    """Cosine similarity between a text and every indexed example, over TF-IDF weighted n-grams.

    A gram is known by a 64-bit hash (`gram_key`): 8 bytes in a sorted array, not a string in a dict
    (for the 100× catalog, millions of them). The hash is stable across processes, so a built index
    can be kept in DATA_DIR (`save`/`load`) and a later start reads it instead of building it.
    """

    _ARRAYS = (
        "keys",
        "idf",
        "row_start",
        "row_grams",
        "row_values",
        "row_counts",
        "post_rows",
        "post_values",
        "post_start",
        "common",
    )

    def __init__(
        self,
        texts: Sequence[str],
        budget: int = POSTINGS_BUDGET,
        earlier: tuple[NgramIndex, Sequence[str]] | None = None,
    ) -> None:
        """With `earlier` (an index and the texts it was built from: a hot reload), the grams of the texts
        both have are taken from it rather than computed again."""
        self.budget = budget
        kept = {text: row for row, text in enumerate(earlier[1])} if earlier else {}
        reused: list[tuple[int, int]] = []  # (row here, row in the earlier index)
        # array, not list: a 100× catalog has tens of millions of (row, gram) pairs.
        rows, keys, counts = array("i"), array("q"), array("i")
        for row, text in enumerate(texts):
            if text in kept:
                reused.append((row, kept[text]))
                continue
            text_keys, text_counts = gram_keys(text)
            rows.extend(repeat(row, len(text_keys)))
            keys.frombytes(text_keys.tobytes())
            counts.extend(text_counts.tolist())
        row_of = np.frombuffer(rows, dtype=np.int32)
        key_of = np.frombuffer(keys, dtype=np.int64)
        count_of = np.frombuffer(counts, dtype=np.int32)
        if earlier is not None and reused:
            row_of, key_of, count_of = _with_reused(earlier[0], np.array(reused), row_of, key_of, count_of)
        n = len(texts)
        self.size = n
        self.keys, inverse = np.unique(key_of, return_inverse=True)
        del keys, key_of  # the build's intermediates go as soon as they are used: its peak is the bot's
        gram_of = inverse.astype(np.int32)
        del inverse
        df = np.bincount(gram_of, minlength=len(self.keys))
        self.idf = np.log((n + 1) / (df + 1)) + 1.0
        self.unseen_idf = math.log(n + 1) + 1.0
        self.row_counts = count_of.astype(np.int16)
        """How often each gram is in its example (`row_grams`): what a later index reuses."""
        weight = (1.0 + np.log(count_of, dtype=np.float32)) * self.idf[gram_of]
        del counts, count_of
        length = np.sqrt(np.bincount(row_of, weights=weight * weight, minlength=n))
        value = (weight / length[row_of]).astype(np.float32)
        del weight, length
        # By example (as built): the grams of row r are row_grams[row_start[r]:row_start[r + 1]].
        self.row_start = np.concatenate(([0], np.cumsum(np.bincount(row_of, minlength=n)))).astype(np.int64)
        self.row_grams, self.row_values = gram_of, value
        # By gram: the rows of gram g are post_rows[post_start[g]:post_start[g + 1]].
        order = np.argsort(gram_of, kind="stable")
        self.post_rows, self.post_values = row_of[order], value[order]
        self.post_start = np.concatenate(([0], np.cumsum(df))).astype(np.int64)
        self.common = df > max(COMMON_SHARE * n, 50)
        self._ready()

    def _ready(self) -> None:
        self._query = np.zeros(len(self.keys), dtype=np.float32)
        self._lock = threading.Lock()

    def save(self, path: Path) -> None:
        """Keep the index at `path` (written beside, then renamed, with a checksum; a failure only logs)."""
        arrays = {name: getattr(self, name) for name in self._ARRAYS}
        arrays |= {"size": np.array([self.size, self.budget]), "unseen_idf": np.array([self.unseen_idf])}
        arrays["keyed"] = np.array([KEYS])
        write_arrays(path, arrays, "the n-gram index")

    @classmethod
    def load(cls, path: Path) -> NgramIndex | None:
        """The index kept at `path`; None when it is missing, damaged or keyed another way."""
        arrays = read_arrays(path, "the n-gram index")
        if arrays is None or "keyed" not in arrays or int(arrays["keyed"][0]) != KEYS:
            return None
        self = cls.__new__(cls)
        try:
            self.size, self.budget = (int(v) for v in arrays["size"])
            self.unseen_idf = float(arrays["unseen_idf"][0])
            for name in cls._ARRAYS:
                setattr(self, name, arrays[name])
        except (KeyError, IndexError, ValueError):
            return None
        self._ready()
        return self

    def search(self, text: str, k: int) -> tuple[Rows, Similarities]:
        """Up to `k` examples most similar to `text` (a form as indexed), and their cosines."""
        keys, counts = gram_keys(text)
        if not self.size or not len(keys):
            return np.empty(0, dtype=np.int64), np.empty(0)
        where, known = gram_hash.look_up(self.keys, keys)
        # Grams no example has still count in the message's length: a message mostly about
        # something else must score low.
        weights = (1.0 + np.log(counts)) * np.where(known, self.idf[where], self.unseen_idf)
        ids, weights = where[known], weights[known] / math.sqrt(float(weights @ weights))
        rare = ~self.common[ids]
        if rare.any():  # only common grams ("特定在留カード" alone): search with them after all
            ids, weights = ids[rare], weights[rare]
        if not len(ids):
            return np.empty(0, dtype=np.int64), np.empty(0)
        starts, sizes = self.post_start[ids], self.post_start[ids + 1] - self.post_start[ids]
        rarest_first = np.argsort(sizes, kind="stable")
        within = np.cumsum(sizes[rarest_first]) <= self.budget
        within[0] = True
        searched = rarest_first[within]
        offsets = _ranges(starts[searched], sizes[searched])
        rows = self.post_rows[offsets]
        products = self.post_values[offsets] * np.repeat(weights[searched].astype(np.float32), sizes[searched])
        if len(rows) * 4 >= self.size:
            # Many postings for the catalog's size: one dense sum over every example is cheapest.
            sums: Similarities = np.bincount(rows, weights=products, minlength=self.size).astype(np.float64, copy=False)
            touched = np.flatnonzero(sums > 0)  # a boolean array: several times faster than on the floats
            sums = sums[touched]
        else:
            # Few postings in a large catalog: sum over the touched rows only, so the cost follows
            # the postings read, not the catalog's size.
            touched, inverse = np.unique(rows, return_inverse=True)
            sums = np.bincount(inverse, weights=products).astype(np.float64, copy=False)
        k = min(k, len(touched))
        top = np.argpartition(-sums, k - 1)[:k]
        found, similarities = touched[top].astype(np.int64), sums[top]
        if not within.all():  # some grams were left out of the search: score the candidates on all
            similarities = self._cosines(found, ids, weights)
        return found, similarities

    def _cosines(self, rows: Rows, ids: npt.NDArray[np.int64], weights: Similarities) -> Similarities:
        """Exact cosine of each row with the query grams `ids` weighted `weights` (normalised)."""
        starts, sizes = self.row_start[rows], self.row_start[rows + 1] - self.row_start[rows]
        offsets = _ranges(starts, sizes)
        with self._lock:  # the query as a dense vector, in a buffer kept at zero between calls
            self._query[ids] = weights
            products = self.row_values[offsets] * self._query[self.row_grams[offsets]]
            self._query[ids] = 0.0
        return np.bincount(np.repeat(np.arange(len(rows)), sizes), weights=products, minlength=len(rows)).astype(
            np.float64, copy=False
        )
