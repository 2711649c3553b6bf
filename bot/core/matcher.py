"""Which intent a message is about: character n-gram TF-IDF to find candidates, rapidfuzz to rank.

Residents write short, misspelt messages in many scripts, some without spaces. Character n-grams
need no word splitting; weighting them by rarity (TF-IDF) lets content words count more than
"ですか" or "how do I". The best candidate examples are then re-scored with rapidfuzz, which forgives
typos and word order, and an intent scores as its best example.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from rapidfuzz import fuzz

from bot.core.intents import Catalog
from bot.core.models import Alternative
from bot.core.normalize import normalize

Outcome = Literal["confident", "suggest", "fallback"]


@dataclass(frozen=True)
class Thresholds:
    """Where a score becomes an answer, a "did you mean", or the fallback (0–100)."""

    confident: float = 62.0
    suggest: float = 45.0
    margin: float = 4.0
    """A runner-up within this many points of the best makes the match a "did you mean"."""


@dataclass(frozen=True)
class Match:
    """The best intent for a message, with its score and the runners-up."""

    intent: str
    score: float
    alternatives: tuple[Alternative, ...]
    outcome: Outcome


def ngrams(norm: str) -> Counter[str]:
    """Character 2–4-grams of a normalised text, plus its words."""
    padded = f" {norm} "
    grams: Counter[str] = Counter()
    for n in (2, 3, 4):
        grams.update(padded[i : i + n] for i in range(len(padded) - n + 1))
    grams.update(f"w:{word}" for word in norm.split() if len(word) > 1)
    return grams


class IntentMatcher:
    """Scores a message against every example of every intent; pure and thread-safe after init."""

    CANDIDATES = 48
    """Examples re-scored with rapidfuzz after the TF-IDF pass."""

    def __init__(self, catalog: Catalog, thresholds: Thresholds | None = None) -> None:
        self.thresholds = thresholds or Thresholds()
        pairs = [
            (intent.id, normalize(text))
            for intent in catalog
            for texts in intent.examples.values()
            for text in texts
        ]
        self._build([(i, t) for i, t in pairs if t])

    @classmethod
    def from_examples(cls, examples: Iterable[tuple[str, str]], thresholds: Thresholds | None = None) -> IntentMatcher:
        """A matcher over (intent id, example text) pairs, e.g. for benchmarks."""
        self = cls.__new__(cls)
        self.thresholds = thresholds or Thresholds()
        pairs = [(i, normalize(t)) for i, t in examples]
        self._build([(i, t) for i, t in pairs if t])
        return self

    def _build(self, pairs: Sequence[tuple[str, str]]) -> None:
        unique = dict.fromkeys(pairs)  # the same text under one intent counts once
        self.intent_ids: list[str] = sorted({intent for intent, _ in unique})
        index_of = {intent: i for i, intent in enumerate(self.intent_ids)}
        self.example_intent = np.array([index_of[intent] for intent, _ in unique], dtype=np.int32)
        self.example_text = [text for _, text in unique]
        grams_per_example = [ngrams(text) for text in self.example_text]
        df: Counter[str] = Counter()
        for grams in grams_per_example:
            df.update(grams.keys())
        n = len(self.example_text)
        self.idf = {gram: math.log((n + 1) / (count + 1)) + 1.0 for gram, count in df.items()}
        self.unseen_idf = math.log(n + 1) + 1.0
        postings: dict[str, tuple[list[int], list[float]]] = {}
        for row, grams in enumerate(grams_per_example):
            weights = {g: (1.0 + math.log(c)) * self.idf[g] for g, c in grams.items()}
            norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
            for gram, w in weights.items():
                rows, values = postings.setdefault(gram, ([], []))
                rows.append(row)
                values.append(w / norm)
        self.postings = {
            gram: (np.array(rows, dtype=np.int32), np.array(values, dtype=np.float32))
            for gram, (rows, values) in postings.items()
        }

    def scores(self, text: str) -> list[tuple[str, float]]:
        """Every intent that shares anything with `text`, best first, scored 0–100."""
        norm = normalize(text)
        if not norm:
            return []
        grams = ngrams(norm)
        # n-grams no example has still count in the query's length: a message mostly about
        # something else must score low.
        weights = {g: (1.0 + math.log(c)) * self.idf.get(g, self.unseen_idf) for g, c in grams.items()}
        qnorm = math.sqrt(sum(w * w for w in weights.values()))
        weights = {g: w for g, w in weights.items() if g in self.postings}
        if not weights:
            return []
        cosine = np.zeros(len(self.example_text), dtype=np.float32)
        for gram, w in weights.items():
            rows, values = self.postings[gram]
            cosine[rows] += values * np.float32(w / qnorm)
        k = min(self.CANDIDATES, len(cosine))
        top = np.argpartition(-cosine, k - 1)[:k]
        best: dict[int, float] = {}
        for row in top.tolist():
            sim = float(cosine[row])
            if sim <= 0.0:
                continue
            fuzzy = fuzz.token_set_ratio(norm, self.example_text[row])
            score = 55.0 * min(sim, 1.0) + 0.45 * fuzzy
            intent = int(self.example_intent[row])
            if score > best.get(intent, 0.0):
                best[intent] = score
        ranked = sorted(best.items(), key=lambda item: -item[1])
        return [(self.intent_ids[i], round(s, 1)) for i, s in ranked]

    def match(self, text: str) -> Match | None:
        """The best intent for `text` and what to do with it; None when nothing is similar at all."""
        ranked = self.scores(text)
        if not ranked:
            return None
        (intent, score), rest = ranked[0], ranked[1:4]
        t = self.thresholds
        if score >= t.confident and not (rest and score - rest[0][1] < t.margin and rest[0][1] >= t.suggest):
            outcome: Outcome = "confident"
        elif score >= t.suggest:
            outcome = "suggest"
        else:
            outcome = "fallback"
        return Match(intent, score, tuple(Alternative(i, s) for i, s in rest), outcome)
