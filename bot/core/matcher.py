"""Which intent a message is about: n-gram TF-IDF to find candidates, rapidfuzz to rank them.

Japanese is read into kana first, so 特定在留カード and とくていざいりゅうかーど meet, and synonyms
fold to one token. The closest examples (`bot.core.ngram_index`) are then re-scored with
rapidfuzz, which forgives typos and word order, and an intent scores as its best example.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from rapidfuzz import fuzz

from bot.core.intents import Catalog
from bot.core.models import Candidate
from bot.core.ngram_index import NgramIndex
from bot.core.normalize import normalize
from bot.core.synonyms import Synonyms

Outcome = Literal["confident", "suggest", "fallback"]
OUT_OF_SCOPE = "-"
"""Pseudo intent of the known out-of-scope phrasings: matching it means the fallback."""
Reader = Callable[[str], str]
"""Turns Japanese into its kana reading (see `bot.core.kana.KanaReader`)."""


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
    candidates: tuple[Candidate, ...]
    """Every intent ranked, best first (the first is `intent`)."""
    outcome: Outcome
    lang: str | None = None
    """The language of the example that matched best."""


@dataclass(frozen=True)
class Scored:
    """An intent's score and the example that gave it."""

    intent: str
    score: float
    lang: str


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
        self.index = NgramIndex(self.example_text)

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
        rows, similarities = self.index.search(form, self.CANDIDATES)
        best: dict[int, tuple[float, int]] = {}
        for row, similarity in zip(rows.tolist(), similarities.tolist(), strict=True):
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
        candidates = tuple(Candidate(s.intent, s.score) for s in [first, *rest])
        return Match(first.intent, first.score, candidates, outcome, first.lang)
