"""The n-gram index: cosine similarities, and the postings budget that keeps large catalogs fast."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.cache_files import write_arrays
from bot.core.ngram_index import NgramIndex, gram_key, gram_keys, ngrams
from bot.core.normalize import normalize

TOPICS = [
    "when does the new card start",
    "where do i apply for the new card",
    "how much does the new card cost",
    "can i apply online",
    "what documents do i need",
    "do i have to get the new card",
    "the card start date",
    "apply at the city office",
]
TEXTS = TOPICS * 5 + [f"unrelated filler number {i}" for i in range(60)]


def cosine(a: str, b: str, index: NgramIndex) -> float:
    """The cosine the index should give, computed the slow and obvious way."""

    def vector(text: str) -> dict[str, float]:
        out = {}
        for gram, count in ngrams(text).items():
            where = int(np.searchsorted(index.keys, gram_key(gram)))
            known = where < len(index.keys) and index.keys[where] == gram_key(gram)
            out[gram] = (1 + math.log(count)) * (float(index.idf[where]) if known else index.unseen_idf)
        return out

    va, vb = vector(a), vector(b)
    dot = sum(w * vb[g] for g, w in va.items() if g in vb)
    return dot / math.sqrt(sum(w * w for w in va.values())) / math.sqrt(sum(w * w for w in vb.values()))


def test_the_closest_example_comes_first() -> None:
    index = NgramIndex(TEXTS)
    rows, similarities = index.search("when will the new card start?", k=5)
    assert TEXTS[int(rows[np.argmax(similarities)])] == "when does the new card start"
    assert len(rows) == 5 and np.all(similarities <= 1.0 + 1e-6)


def test_similarity_is_the_tf_idf_cosine() -> None:
    index = NgramIndex(TOPICS)  # so few examples that no gram counts as common
    query = "apply online for the card"
    rows, similarities = index.search(query, k=len(TOPICS))
    assert not index.common.any() and len(rows) == len(TOPICS)
    for row, similarity in zip(rows.tolist(), similarities.tolist(), strict=True):
        assert similarity == pytest.approx(cosine(query, TOPICS[row], index), abs=1e-5)


@pytest.mark.parametrize("query", ["when will the new card start?", "apply online", "documents needed for card"])
def test_a_small_budget_finds_candidates_with_exact_similarities(query: str) -> None:
    unlimited = NgramIndex(TEXTS)
    budgeted = NgramIndex(TEXTS, budget=10)
    all_rows, all_similarities = unlimited.search(query, k=len(TEXTS))
    exact = dict(zip(all_rows.tolist(), all_similarities.tolist(), strict=True))
    rows, similarities = budgeted.search(query, k=8)
    assert 0 < len(rows) <= 8
    for row, similarity in zip(rows.tolist(), similarities.tolist(), strict=True):
        assert similarity == pytest.approx(exact[row], abs=1e-5)
    # The best example overall is among the budgeted candidates: rare grams find it.
    assert int(all_rows[np.argmax(all_similarities)]) in rows.tolist()


def test_repeated_budgeted_searches_give_the_same_answer() -> None:
    index = NgramIndex(TEXTS, budget=10)
    first = index.search("how much is the new card", k=4)
    for _ in range(3):  # the query buffer is cleared after each search
        again = index.search("how much is the new card", k=4)
        assert again[0].tolist() == first[0].tolist() and np.allclose(again[1], first[1])


def test_nothing_shared_or_nothing_indexed_finds_nothing() -> None:
    assert len(NgramIndex(TEXTS).search("ξζψ", k=5)[0]) == 0
    assert len(NgramIndex([]).search("card", k=5)[0]) == 0


def test_a_kept_index_searches_the_same(tmp_path: Path) -> None:
    texts = ["とくていざいりゅうかーど なに", "what is the card", "いつから はじまる", "when does it start", "apply"]
    built = NgramIndex(texts)
    built.save(tmp_path / "index-x.npz")
    kept = NgramIndex.load(tmp_path / "index-x.npz")
    assert kept is not None
    for query in ("what card", "いつから", "apply now please", "☃"):
        rows, sims = built.search(query, 3)
        again_rows, again_sims = kept.search(query, 3)
        assert rows.tolist() == again_rows.tolist() and np.allclose(sims, again_sims)


def test_a_damaged_kept_index_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "index-x.npz"
    NgramIndex(["what is the card"]).save(path)
    path.write_bytes(path.read_bytes()[:-10])
    assert NgramIndex.load(path) is None and NgramIndex.load(tmp_path / "missing.npz") is None


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40).map(normalize))
def test_the_keys_of_a_text_are_the_keys_of_its_grams(text: str) -> None:
    keys, counts = gram_keys(text)
    expected: dict[int, int] = {}
    for gram, count in ngrams(text).items():
        expected[gram_key(gram)] = expected.get(gram_key(gram), 0) + count
    assert dict(zip(keys.tolist(), counts.tolist(), strict=True)) == expected


def test_an_index_keyed_another_way_is_not_read(tmp_path: Path) -> None:
    index = NgramIndex(TEXTS)
    index.save(tmp_path / "index.npz")
    assert NgramIndex.load(tmp_path / "index.npz") is not None
    arrays = {name: getattr(index, name) for name in NgramIndex._ARRAYS}
    arrays |= {"size": np.array([index.size, index.budget]), "unseen_idf": np.array([index.unseen_idf])}
    write_arrays(tmp_path / "older.npz", arrays, "an index from before the keys changed")
    assert NgramIndex.load(tmp_path / "older.npz") is None


def test_an_index_reusing_an_earlier_ones_grams_is_the_index_built_anew() -> None:
    earlier_texts = ["card start date", "visa renewal", "とくていざいりゅうかーど", "an example removed since"]
    texts = ["visa renewal", "a brand new example", "card start date", "とくていざいりゅうかーど"]
    earlier = NgramIndex(earlier_texts)

    reused, anew = NgramIndex(texts, earlier=(earlier, earlier_texts)), NgramIndex(texts)

    for name in (*NgramIndex._ARRAYS, "idf"):
        assert np.array_equal(getattr(reused, name), getattr(anew, name)), name
    rows, similarities = reused.search("card start day", 2)
    assert texts[int(rows[np.argmax(similarities)])] == "card start date"
