"""Which intent a message is about: a classifier to rank, the closest examples to vouch.

Every text is compared in one form: normalised, Japanese read into kana (so 特定在留カード and
とくていざいりゅうかーど meet), synonyms folded. Two signals then decide:

- the classifier (`bot.core.classifier`), trained on the examples, ranks the intents and gives a
  calibrated probability; the out-of-scope phrasings are a class of their own;
- the closest examples (`bot.core.ngram_index` finds them, rapidfuzz re-scores them) say how near
  the message is to anything we were taught, per intent. An intent's `not:` phrasings that come
  nearer than its examples take that intent's nearness away.

A confident answer needs both: a probable intent and an example near enough. A probable intent
without a near example, or a near example of an improbable one, gets a did-you-mean; nothing
probable and nothing near gets the fallback. Without a classifier (a catalog too large to train on
at start, see `MAX_TRAINING_EXAMPLES`) the nearness ranks alone, as before.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
from rapidfuzz import fuzz, process

from bot.core.cache_files import forget_older, kept_forms
from bot.core.classifier import Classifier, fitted, kept
from bot.core.intents import Catalog
from bot.core.models import Candidate
from bot.core.ngram_index import NgramIndex
from bot.core.normalize import normalize
from bot.core.synonyms import Synonyms

log = logging.getLogger(__name__)

Outcome = Literal["confident", "suggest", "fallback"]
OUT_OF_SCOPE = "-"
"""Pseudo intent of the known out-of-scope phrasings: matching it means the fallback."""
NOT = "!"
"""Prefix of the pseudo intent of an intent's `not:` phrasings (`!faq.mandatory`)."""
Reader = Callable[[str], str]
"""Turns Japanese into its kana reading (see `bot.core.kana.KanaReader`)."""
MAX_TRAINING_EXAMPLES = 200_000
"""Above this many examples the classifier is not trained (minutes, and memory per intent × n-gram)."""
MAX_CANDIDATES = 5
"""Candidates a match reports."""
_LETTER = re.compile(r"[^\W\d_]")
"""A letter of any script (kana and kanji included): a message with none has no word."""
_CODE = re.compile(r"\b(?=[a-z]*\d)[a-z\d]+\b", re.ASCII | re.IGNORECASE)
"""A code or number in Latin letters and digits ("100d805c", "R123456"): not a word either."""
FORMS_VERSION = "1"
"""Bumped when `IntentMatcher.form` changes, so forms kept in DATA_DIR are made again."""


@dataclass(frozen=True)
class Thresholds:
    """Where a match becomes an answer, a "did you mean", or the fallback (0–100)."""

    confident: float = 40.0
    """With the classifier: the least probability (%) to answer; without it, the least nearness."""
    suggest: float = 15.0
    """With the classifier: the least probability (%) to offer a did-you-mean; without it, nearness."""
    similar: float = 20.0
    """With the classifier: how near (0–100) an example of the intent must be to answer."""
    margin: float = 20.0
    """A runner-up within this many points of the best makes a "did you mean" (probability points with
    the classifier, nearness points without it)."""


@dataclass(frozen=True)
class Match:
    """The best intent for a message, with its score and the ranking."""

    intent: str
    score: float
    """How sure (0–100): the classifier's calibrated probability, or the nearness without it."""
    candidates: tuple[Candidate, ...]
    """Intents ranked, best first (the first is `intent`)."""
    outcome: Outcome
    lang: str | None = None
    """The language of the closest example of `intent`."""
    nearness: float = 0.0
    """How near (0–100) the closest example of `intent` is."""


class Scored(NamedTuple):
    """An intent's nearness and the example that gave it (a tuple: each message makes one for each intent
    near it, and a frozen dataclass took twice as long to make)."""

    intent: str
    score: float
    lang: str


def _no_reading(text: str) -> str:
    return text


class IntentMatcher:
    """Scores a message against the examples of every intent; pure after construction."""

    CANDIDATES = 48
    """Examples re-scored with rapidfuzz after the TF-IDF pass."""
    COSINE_WEIGHT = 0.55
    """Share of the TF-IDF cosine in an example's nearness; the rest is rapidfuzz's ratio."""

    def __init__(
        self,
        catalog: Catalog,
        thresholds: Thresholds | None = None,
        reader: Reader | None = None,
        synonyms: Synonyms | None = None,
        out_of_scope: dict[str, tuple[str, ...]] | None = None,
        cache_dir: Path | None = None,
        classify: bool = True,
        previous: IntentMatcher | None = None,
    ) -> None:
        """With `previous` (a hot reload: the matcher of the content before), the classifier is not trained
        now: the previous one answers until `trained()` (the exact examples, `exact`, are new already);
        and the grams of the examples it had are taken from its index."""
        examples = [(i.id, lang, text) for i in catalog for lang, texts in i.examples.items() for text in texts]
        examples += [(OUT_OF_SCOPE, lang, text) for lang, texts in (out_of_scope or {}).items() for text in texts]
        negatives = [
            (NOT + i.id, lang, text) for i in catalog for lang, texts in i.not_examples.items() for text in texts
        ]
        cache = cache_dir if classify else None
        self._build(examples, negatives, thresholds, reader, synonyms, cache, classify, previous)

    @classmethod
    def from_examples(
        cls,
        examples: Iterable[tuple[str, str, str]],
        thresholds: Thresholds | None = None,
        reader: Reader | None = None,
        synonyms: Synonyms | None = None,
        classify: bool = False,
        cache_dir: Path | None = None,
        previous: IntentMatcher | None = None,
    ) -> IntentMatcher:
        """A matcher over (intent id, language, example text) triples, e.g. for benchmarks."""
        self = cls.__new__(cls)
        self._build(list(examples), [], thresholds, reader, synonyms, cache_dir, classify, previous)
        return self

    def _build(
        self,
        examples: list[tuple[str, str, str]],
        negatives: list[tuple[str, str, str]],
        thresholds: Thresholds | None,
        reader: Reader | None,
        synonyms: Synonyms | None,
        cache_dir: Path | None,
        classify: bool,
        previous: IntentMatcher | None = None,
    ) -> None:
        self.thresholds = thresholds or Thresholds()
        self.reader = reader or _no_reading
        words = synonyms or Synonyms({})
        self._fold = words.folder(self._read, self._cache_file("synonyms", words.groups, cache_dir))
        every = [*examples, *negatives]
        forms = self._forms([text for _, _, text in every], synonyms, cache_dir)
        unique: dict[tuple[str, str], str] = {}  # the same text under one intent counts once
        for (intent, lang, _), form in zip(every, forms, strict=True):
            if form:
                unique.setdefault((intent, form), lang)
        self.intent_ids: list[str] = sorted({intent for intent, _ in unique})
        index_of = {intent: i for i, intent in enumerate(self.intent_ids)}
        self.example_intent = np.array([index_of[intent] for intent, _ in unique], dtype=np.int32)
        self.example_text = [text for _, text in unique]
        self.example_lang = list(unique.values())
        self.index: NgramIndex = self._index(cache_dir, (previous.index, previous.example_text) if previous else None)
        self.intents = frozenset(i for i in self.intent_ids if i != OUT_OF_SCOPE and not i.startswith(NOT))
        """The intents it may answer (a classifier kept from older content may know others)."""
        owners: dict[str, set[str]] = {}
        for intent, form in unique:
            owners.setdefault(form, set()).add(intent)
        self.exact = {form: min(ids) for form, ids in owners.items() if len(ids) == 1 and ids <= self.intents}
        """Forms taught to one intent only: a message of that form is that intent, whatever the classifier says."""
        self.cache_dir = cache_dir
        self.classifier: Classifier | None = None
        self.interim = False
        """Whether `classifier` is an earlier content's, kept until `trained()` makes this content's."""
        if classify and previous is not None and previous.classifier is not None:
            taught = self.taught()
            self.classifier = kept([f for f, _ in taught], [label for _, label in taught], cache_dir, "classifier")
            self.interim = self.classifier is None
            self.classifier = self.classifier or previous.classifier
        elif classify:
            self.classifier = self.train(self.taught(), cache_dir)

    def trained(self) -> IntentMatcher:
        """This matcher with the classifier of its own examples (trained now: slow, keep it off the event loop)."""
        matcher = copy.copy(self)
        matcher.classifier = self.train(self.taught(), self.cache_dir)
        matcher.interim = False
        return matcher

    def taught(self) -> list[tuple[str, str]]:
        """(form, label) pairs the classifier is trained on: the examples and out-of-scope phrasings."""
        labels = [self.intent_ids[i] for i in self.example_intent.tolist()]
        pairs = zip(self.example_text, labels, strict=True)
        return [(form, label) for form, label in pairs if not label.startswith(NOT)]

    @staticmethod
    def train(taught: list[tuple[str, str]], cache_dir: Path | None) -> Classifier | None:
        """The classifier of these examples: kept in `cache_dir` from an earlier start, or trained now."""
        if len(taught) > MAX_TRAINING_EXAMPLES or len({label for _, label in taught}) < 2:
            return None
        return fitted([f for f, _ in taught], [label for _, label in taught], cache_dir, "classifier")

    def _cache_file(self, name: str, what: object, cache_dir: Path | None) -> Path | None:
        """A file in `cache_dir` named after `what` and everything the examples' forms depend on."""
        if cache_dir is None:
            return None
        words = getattr(self.reader, "words", {})
        data = json.dumps([FORMS_VERSION, what, words], ensure_ascii=False).encode()
        return cache_dir / f"{name}-{hashlib.sha256(data).hexdigest()[:16]}.json"

    def _forms(self, texts: list[str], synonyms: Synonyms | None, cache_dir: Path | None) -> list[str]:
        """The forms of the examples; kept in `cache_dir` under the hash of everything they depend on."""
        path = self._cache_file("forms", (synonyms or Synonyms({})).groups, cache_dir)
        return kept_forms(texts, self.form, path, "the examples' forms")

    def _index(self, cache_dir: Path | None, earlier: tuple[NgramIndex, list[str]] | None) -> NgramIndex:
        """The n-gram index of the examples' forms: kept in `cache_dir` under their hash, or built now."""
        if cache_dir is None:
            return NgramIndex(self.example_text, earlier=earlier)
        key = hashlib.sha256("\n".join([FORMS_VERSION, *self.example_text]).encode()).hexdigest()[:16]
        path = cache_dir / f"index-{key}.npz"
        index = NgramIndex.load(path)
        if index is None:
            index = NgramIndex(self.example_text, earlier=earlier)
            index.save(path)
            forget_older(path)
        return index

    def _read(self, text: str) -> str:
        norm = normalize(text)
        return normalize(self.reader(norm)) if norm else ""

    def form(self, text: str) -> str:
        """The form that is compared: normalised, Japanese read into kana, synonyms folded."""
        return " ".join(self._fold(self._read(text)).split())

    # -- nearness ---------------------------------------------------------------------------------

    def rank(self, text: str) -> list[Scored]:
        """Every intent (and pseudo intent) that shares anything with `text`, nearest first, 0–100."""
        return self._rank(self.form(text))

    def _rank(self, form: str) -> list[Scored]:
        if not form:
            return []
        rows, similarities = self.index.search(form, self.CANDIDATES)
        if not len(rows):
            return []
        texts = [self.example_text[row] for row in rows.tolist()]
        fuzzy = process.cdist([form], texts, scorer=fuzz.ratio, dtype=np.float64)[0]
        scores = self.COSINE_WEIGHT * 100.0 * np.minimum(similarities, 1.0) + (1.0 - self.COSINE_WEIGHT) * fuzzy
        # Each intent's nearest example (on a tie, the one found first), nearest intent first.
        order = np.argsort(-scores, kind="stable")
        intents = self.example_intent[rows[order]]
        _, first = np.unique(intents, return_index=True)
        chosen = order[np.sort(first)]
        return [
            Scored(self.intent_ids[intent], round(score, 1), self.example_lang[row])
            for intent, score, row in zip(
                self.example_intent[rows[chosen]].tolist(), scores[chosen].tolist(), rows[chosen].tolist(), strict=True
            )
        ]

    def scores(self, text: str) -> list[tuple[str, float]]:
        """(intent, nearness) pairs, nearest first."""
        return [(s.intent, s.score) for s in self.rank(text)]

    # -- the decision -----------------------------------------------------------------------------

    def match(self, text: str) -> Match | None:
        """The best intent for `text` and what to do with it; None when nothing is similar at all."""
        form = self.form(text)
        near = {s.intent: s for s in self._rank(form)}
        for intent in [i for i in near if i.startswith(NOT)]:
            target = intent[len(NOT) :]
            if target in near and near[intent].score >= near[target].score:
                del near[target]  # a known confusion is nearer than anything the intent was taught
        if not form or not any(i in self.intents for i in near):
            return None
        match = self._by_nearness(near) if self.classifier is None else self._by_classifier(form, near)
        exact = self.exact.get(form)
        if exact is None and match.outcome == "confident" and not _LETTER.search(_CODE.sub(" ", text)):
            # Numbers or codes alone ("09001004", "2026 6 14", "100d805c") made the classifier sure of
            # intents whose examples hold numbers (a phone number answered faq.always_issued at 84 %):
            # no word, no outright answer.
            return replace(match, outcome="suggest")
        if exact is None or (match.intent == exact and match.outcome == "confident"):
            return match
        # An operator who adds a phrasing expects exactly that phrasing to be answered (and until the
        # classifier is retrained after a reload, only this rule knows the new example).
        closest = near.get(exact)
        others = tuple(c for c in match.candidates if c.intent != exact)
        candidates = (Candidate(exact, 100.0), *others)[:MAX_CANDIDATES]
        return Match(exact, 100.0, candidates, "confident", closest.lang if closest else None, 100.0)

    def _by_classifier(self, form: str, near: dict[str, Scored]) -> Match:
        assert self.classifier is not None
        t = self.thresholds
        probabilities = (100.0 * self.classifier.probabilities(form).astype(np.float64)).tolist()
        classes = self.classifier.classes
        in_scope: list[tuple[str, float]] = []  # the most probable intents of the content, MAX_CANDIDATES at most
        for i in sorted(range(len(classes)), key=probabilities.__getitem__, reverse=True):
            if classes[i] in self.intents:
                in_scope.append((classes[i], round(probabilities[i], 1)))
                if len(in_scope) == MAX_CANDIDATES:
                    break
        if not in_scope:  # a classifier of older content, whose intents are all gone
            return self._by_nearness(near)
        intent, probability = in_scope[0]
        closest = near.get(intent)
        nearness = closest.score if closest else 0.0
        out_of_scope = round(probabilities[classes.index(OUT_OF_SCOPE)], 1) if OUT_OF_SCOPE in classes else 0.0
        nearest_is_out_of_scope = OUT_OF_SCOPE in near and near[OUT_OF_SCOPE].score > nearness
        runner_up = in_scope[1][1] if len(in_scope) > 1 else 0.0
        clear = probability - runner_up >= t.margin
        if probability >= t.confident and clear and nearness >= t.similar and not nearest_is_out_of_scope:
            outcome: Outcome = "confident"
        elif (
            probability >= t.suggest
            and probability > out_of_scope
            and (nearness >= t.similar or probability >= t.confident)
        ):
            outcome = "suggest"  # something near, or something probable: a choice is worth offering
        else:
            outcome = "fallback"
        candidates = tuple(Candidate(i, p) for i, p in in_scope[:MAX_CANDIDATES])
        return Match(intent, probability, candidates, outcome, closest.lang if closest else None, nearness)

    def _by_nearness(self, near: dict[str, Scored]) -> Match:
        t = self.thresholds
        ranked = sorted(near.values(), key=lambda s: -s.score)
        known_out_of_scope = ranked[0].intent == OUT_OF_SCOPE
        ranked = [s for s in ranked if s.intent != OUT_OF_SCOPE and not s.intent.startswith(NOT)]
        first, rest = ranked[0], ranked[1 : MAX_CANDIDATES + 1]
        close = bool(rest) and first.score - rest[0].score < t.margin and rest[0].score >= t.suggest
        if known_out_of_scope:
            outcome: Outcome = "fallback"
        elif first.score >= t.confident and not close:
            outcome = "confident"
        elif first.score >= t.suggest:
            outcome = "suggest"
        else:
            outcome = "fallback"
        candidates = tuple(Candidate(s.intent, s.score) for s in [first, *rest][:MAX_CANDIDATES])
        return Match(first.intent, first.score, candidates, outcome, first.lang, first.score)
