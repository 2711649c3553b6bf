"""Which intent a message is about: character n-gram TF-IDF to find candidates, rapidfuzz to rank.

Residents write short, misspelt messages in many scripts, some without spaces. Character n-grams
need no word splitting; weighting them by rarity (TF-IDF) lets content words count more than
"ですか" or "how do I". Japanese is read into kana first, so 特定在留カード and とくていざいりゅうかーど
meet. The best candidate examples are then re-scored with rapidfuzz, which forgives typos and word
order, and an intent scores as its best example.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from rapidfuzz import fuzz

from bot.core.intents import Catalog
from bot.core.models import Alternative
from bot.core.normalize import normalize
from bot.core.synonyms import Synonyms

Outcome = Literal["confident", "suggest", "fallback"]
OUT_OF_SCOPE = "-"
"""Pseudo intent of the known out-of-scope phrasings: matching it means the fallback."""
COMMON_SHARE = 0.2
"""Grams found in more than this share of the examples are left out of candidate search."""
Reader = Callable[[str], str]
"""Turns Japanese into its kana reading (see `bot.core.furigana.kana_reader`)."""


@dataclass(frozen=True)
class Thresholds:
    """Where a score becomes an answer, a "did you mean", or the fallback (0–100)."""

    confident: float = 52.0
    suggest: float = 35.0
    margin: float = 3.0
    """A runner-up within this many points of the best makes the match a "did you mean"."""


@dataclass(frozen=True)
class Match:
    """The best intent for a message, with its score and the runners-up."""

    intent: str
    score: float
    alternatives: tuple[Alternative, ...]
    outcome: Outcome
    lang: str | None = None
    """The language of the example that matched best."""


@dataclass(frozen=True)
class Scored:
    """An intent's score and the example that gave it."""

    intent: str
    score: float
    lang: str


def ngrams(norm: str) -> Counter[str]:
    """Character 2–4-grams of a normalised text, plus its words."""
    padded = f" {norm} "
    grams: Counter[str] = Counter()
    for n in (2, 3, 4):
        grams.update(padded[i : i + n] for i in range(len(padded) - n + 1))
    grams.update(f"w:{word}" for word in norm.split() if len(word) > 1)
    return grams


def _no_reading(text: str) -> str:
    return text


class IntentMatcher:
    """Scores a message against every example of every intent; pure after construction."""

    CANDIDATES = 48
    """Examples re-scored with rapidfuzz after the TF-IDF pass."""
    COSINE_WEIGHT = 0.55
    """Share of the TF-IDF cosine in the score; the rest is rapidfuzz's ratio to the example."""

    def __init__(
        self,
        catalog: Catalog,
        thresholds: Thresholds | None = None,
        reader: Reader | None = None,
        synonyms: Synonyms | None = None,
        out_of_scope: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        examples = [
            (intent.id, lang, text) for intent in catalog for lang, texts in intent.examples.items() for text in texts
        ]
        examples += [(OUT_OF_SCOPE, lang, text) for lang, texts in (out_of_scope or {}).items() for text in texts]
        self._build(examples, thresholds, reader, synonyms)

    @classmethod
    def from_examples(
        cls,
        examples: Iterable[tuple[str, str, str]],
        thresholds: Thresholds | None = None,
        reader: Reader | None = None,
        synonyms: Synonyms | None = None,
    ) -> IntentMatcher:
        """A matcher over (intent id, language, example text) triples, e.g. for benchmarks."""
        self = cls.__new__(cls)
        self._build(examples, thresholds, reader, synonyms)
        return self

    def _build(
        self,
        examples: Iterable[tuple[str, str, str]],
        thresholds: Thresholds | None,
        reader: Reader | None,
        synonyms: Synonyms | None,
    ) -> None:
        self.thresholds = thresholds or Thresholds()
        self.reader = reader or _no_reading
        self._fold = (synonyms or Synonyms({})).folder(self._read)
        unique: dict[tuple[str, str], str] = {}  # the same text under one intent counts once
        for intent, lang, text in examples:
            form = self.form(text)
            if form:
                unique.setdefault((intent, form), lang)
        self.intent_ids: list[str] = sorted({intent for intent, _ in unique})
        index_of = {intent: i for i, intent in enumerate(self.intent_ids)}
        self.example_intent = np.array([index_of[intent] for intent, _ in unique], dtype=np.int32)
        self.example_text = [text for _, text in unique]
        self.example_lang = list(unique.values())
        self._index(self.example_text)

    def _index(self, texts: list[str]) -> None:
        """TF-IDF postings in flat arrays: for gram id g, rows[start[g]:start[g+1]] and values likewise."""
        gram_id: dict[str, int] = {}
        # array, not list: a 100× catalog has tens of millions of (row, gram) pairs.
        rows, grams, counts = array("i"), array("i"), array("i")
        for row, text in enumerate(texts):
            for gram, count in ngrams(text).items():
                rows.append(row)
                grams.append(gram_id.setdefault(gram, len(gram_id)))
                counts.append(count)
        row_of = np.frombuffer(rows, dtype=np.int32)
        gram_of = np.frombuffer(grams, dtype=np.int32)
        n = len(texts)
        df = np.bincount(gram_of, minlength=len(gram_id))
        idf = np.log((n + 1) / (df + 1)) + 1.0
        weight = (1.0 + np.log(np.frombuffer(counts, dtype=np.int32).astype(np.float64))) * idf[gram_of]
        length = np.sqrt(np.bincount(row_of, weights=weight * weight, minlength=n))
        value = (weight / length[row_of]).astype(np.float32)
        order = np.argsort(gram_of, kind="stable")
        self.gram_id = gram_id
        self.idf = idf
        self.unseen_idf = math.log(n + 1) + 1.0
        self.post_rows = row_of[order]
        self.post_values = value[order]
        self.post_start = np.concatenate(([0], np.cumsum(df))).astype(np.int64)
        # Grams in more than this share of examples weigh little and cost much at query time.
        self.common = df > max(COMMON_SHARE * n, 50)

    def _read(self, text: str) -> str:
        norm = normalize(text)
        return normalize(self.reader(norm)) if norm else ""

    def form(self, text: str) -> str:
        """The form that is compared: normalised, Japanese read into kana, synonyms folded."""
        return " ".join(self._fold(self._read(text)).split())

    def rank(self, text: str) -> list[Scored]:
        """Every intent that shares anything with `text`, best first, scored 0–100."""
        form = self.form(text)
        if not form:
            return []
        # n-grams no example has still count in the query's length: a message mostly about
        # something else must score low.
        known: list[int] = []
        known_weights: list[float] = []
        common: list[tuple[int, float]] = []
        squares = 0.0
        for gram, count in ngrams(form).items():
            gid = self.gram_id.get(gram)
            w = (1.0 + math.log(count)) * (self.unseen_idf if gid is None else float(self.idf[gid]))
            squares += w * w
            if gid is not None:
                if self.common[gid]:
                    common.append((gid, w))
                else:
                    known.append(gid)
                    known_weights.append(w)
        if not known:  # only common grams ("特定在留カード" alone): search with them after all
            known, known_weights = [g for g, _ in common], [w for _, w in common]
        if not known:
            return []
        ids = np.array(known, dtype=np.int64)
        starts, ends = self.post_start[ids], self.post_start[ids + 1]
        sizes = ends - starts
        # All postings of the query's grams in one gather: positions start..end of each gram.
        offsets = np.repeat(starts - np.cumsum(sizes) + sizes, sizes) + np.arange(int(sizes.sum()))
        weights = np.repeat(np.array(known_weights, dtype=np.float32) / np.float32(math.sqrt(squares)), sizes)
        rows, products = self.post_rows[offsets], self.post_values[offsets] * weights
        if len(rows) * 4 >= len(self.example_text):
            # Many postings for the catalog's size: one dense sum over every example is cheapest.
            sums = np.bincount(rows, weights=products, minlength=len(self.example_text))
            touched = np.flatnonzero(sums)
            sums = sums[touched]
        else:
            # Few postings in a large catalog: sum over the touched rows only, so the cost follows
            # the postings read, not the catalog's size.
            touched, where = np.unique(rows, return_inverse=True)
            sums = np.bincount(where, weights=products)
        k = min(self.CANDIDATES, len(touched))
        top = np.argpartition(-sums, k - 1)[:k]
        best: dict[int, tuple[float, int]] = {}
        for row, similarity in zip(touched[top].tolist(), sums[top].tolist(), strict=True):
            fuzzy = fuzz.ratio(form, self.example_text[row])
            score = self.COSINE_WEIGHT * 100.0 * min(similarity, 1.0) + (1.0 - self.COSINE_WEIGHT) * fuzzy
            intent = int(self.example_intent[row])
            if score > best.get(intent, (0.0, 0))[0]:
                best[intent] = (score, row)
        ranked = sorted(best.items(), key=lambda item: -item[1][0])
        return [Scored(self.intent_ids[i], round(s, 1), self.example_lang[row]) for i, (s, row) in ranked]

    def scores(self, text: str) -> list[tuple[str, float]]:
        """(intent, score) pairs, best first."""
        return [(s.intent, s.score) for s in self.rank(text)]

    def match(self, text: str) -> Match | None:
        """The best intent for `text` and what to do with it; None when nothing is similar at all."""
        ranked = self.rank(text)
        if not ranked:
            return None
        known_out_of_scope = ranked[0].intent == OUT_OF_SCOPE
        ranked = [s for s in ranked if s.intent != OUT_OF_SCOPE]
        if not ranked:
            return None
        first, rest = ranked[0], ranked[1:4]
        t = self.thresholds
        close = bool(rest) and first.score - rest[0].score < t.margin and rest[0].score >= t.suggest
        if known_out_of_scope:
            outcome: Outcome = "fallback"
        elif first.score >= t.confident and not close:
            outcome = "confident"
        elif first.score >= t.suggest:
            outcome = "suggest"
        else:
            outcome = "fallback"
        alternatives = tuple(Alternative(s.intent, s.score) for s in rest)
        return Match(first.intent, first.score, alternatives, outcome, first.lang)
