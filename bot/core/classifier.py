"""A discriminative model of the intents: a linear SVM over character n-grams of the examples.

Trained with scikit-learn on the matcher's forms of the examples (normalised, Japanese read into
kana, synonyms folded) and of the out-of-scope phrasings, which form a class of their own. Its
decision values are turned into probabilities by a softmax whose temperature is fitted on
held-back folds of the examples, so a score of 80 means about four answers in five are right.

Scoring a message needs no scikit-learn: the n-grams, their TF-IDF weights and the dot product with
the weights are computed here (a test checks they equal scikit-learn's), so the server neither
imports scikit-learn nor trains after the first start: the fitted model is kept in DATA_DIR under
the hash of what it was trained on (`save`/`load`), with a checksum.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.core import gram_hash
from bot.core.cache_files import forget_older, read_arrays, write_arrays

log = logging.getLogger(__name__)

NGRAMS = (1, 4)
"""Character n-gram lengths, inside word boundaries (scikit-learn's char_wb)."""
C = 1.0
"""The SVM's regularisation: measured in docs/benchmarks.md (the matcher alternatives table)."""
FOLDS = 3
"""Folds of held-back examples the softmax temperature is fitted on."""
MIN_DF = 2
"""An n-gram found in one example only is left out: half the vocabulary and memory, the same accuracy
(docs/benchmarks.md, classifier variants)."""
VERSION = "3"
"""Bumped when the model's layout or training changes, so older saved models are not read."""
_SPACES = re.compile(r"\s\s+")

Floats = npt.NDArray[np.float32]


def ngram_keys(text: str) -> gram_hash.Keys:
    """The key (`bot.core.gram_hash`) of each character n-gram of each word padded with spaces, as
    scikit-learn's `char_wb` analyzer makes them (a word shorter than n counts once, whole), in one pass
    of array operations over the padded words."""
    words = _SPACES.sub(" ", text).split()
    if not words:
        return np.empty(0, dtype=np.int64)
    points = gram_hash.code_points("\0".join(f" {word} " for word in words))
    breaks = np.concatenate(([0], np.cumsum(points == 0)))
    low, high = NGRAMS
    parts = []
    for n, keys in enumerate(gram_hash.window_keys(points, low, high), start=low):
        within = breaks[n:] == breaks[:-n] if n <= len(points) else np.zeros(0, dtype=bool)
        parts.append(keys[within])  # windows across two words are not grams
    return np.concatenate(parts)


@dataclass(frozen=True)
class Classifier:
    """Scores every class (intent ids and the out-of-scope class) for a message's form."""

    classes: tuple[str, ...]
    keys: gram_hash.Keys
    """The vocabulary: each n-gram's key (`bot.core.gram_hash`), sorted; `idf` and `weights` rows follow it."""
    idf: Floats
    weights: Floats
    """One row per n-gram of the vocabulary, one column per class (rows are what a message touches)."""
    intercept: Floats
    temperature: float

    @classmethod
    def from_vocabulary(
        cls, classes: tuple[str, ...], vocabulary: dict[str, int], idf: Floats, weights: Floats,
        intercept: Floats, temperature: float,
    ) -> Classifier:  # fmt: skip
        """The model of a fitted vocabulary (gram → row of `idf` and `weights`, as scikit-learn gives it)."""
        grams = sorted(vocabulary, key=vocabulary.__getitem__)
        keys = np.fromiter(map(gram_hash.key, grams), dtype=np.int64, count=len(grams))
        order = np.argsort(keys, kind="stable")
        if len(keys) and np.any(keys[order][1:] == keys[order][:-1]):
            raise ValueError("two n-grams of the vocabulary share a key")
        rows = np.array([vocabulary[gram] for gram in grams], dtype=np.int64)[order]
        return cls(classes, keys[order], idf[rows], np.ascontiguousarray(weights[rows]), intercept, temperature)

    @classmethod
    def train(cls, forms: Sequence[str], labels: Sequence[str]) -> Classifier:
        """Fit on (form, label) pairs; labels are intent ids or the out-of-scope class.

        A label with fewer examples than `FOLDS` is left out: one or two examples teach nothing
        reliable (and cannot be spread over the folds the temperature is fitted on).
        """
        counts = Counter(labels)
        kept = [(form, label) for form, label in zip(forms, labels, strict=True) if counts[label] >= FOLDS]
        forms, labels = [form for form, _ in kept], [label for _, label in kept]
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.model_selection import StratifiedKFold
        from sklearn.svm import LinearSVC

        def fit(texts: Sequence[str], targets: Sequence[str]) -> tuple[Any, Any]:
            vectorizer = TfidfVectorizer(
                analyzer="char_wb", ngram_range=NGRAMS, sublinear_tf=True, lowercase=False, min_df=MIN_DF
            )
            matrix = vectorizer.fit_transform(texts)
            model = LinearSVC(C=C).fit(matrix, targets)
            return vectorizer, model

        labels_array = np.array(labels)
        folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=0)
        held_back: list[npt.NDArray[np.float64]] = []
        truth: list[npt.NDArray[np.int64]] = []
        classes = sorted(set(labels))
        index = {label: i for i, label in enumerate(classes)}
        forms_array = np.array(forms, dtype=object)
        for train, test in folds.split(forms_array, labels_array):
            vectorizer, model = fit(forms_array[train].tolist(), labels_array[train].tolist())
            scores = np.full((len(test), len(classes)), -10.0)
            scores[:, [index[c] for c in model.classes_]] = model.decision_function(
                vectorizer.transform(forms_array[test].tolist())
            )
            held_back.append(scores)
            truth.append(np.array([index[label] for label in labels_array[test]]))
        temperature = _fit_temperature(np.concatenate(held_back), np.concatenate(truth))
        vectorizer, model = fit(list(forms), list(labels))
        vocabulary = {str(gram): int(i) for gram, i in vectorizer.vocabulary_.items()}
        return cls.from_vocabulary(
            classes=tuple(str(c) for c in model.classes_),
            vocabulary=vocabulary,
            idf=vectorizer.idf_.astype(np.float32),
            weights=np.ascontiguousarray(model.coef_.T, dtype=np.float32),
            intercept=model.intercept_.astype(np.float32),
            temperature=temperature,
        )

    def decision(self, form: str) -> Floats:
        """The SVM's decision value for every class (scikit-learn's `decision_function`)."""
        keys, counts = np.unique(ngram_keys(form), return_counts=True)
        rows, known = gram_hash.look_up(self.keys, keys)
        if not known.any():
            return self.intercept.copy()
        rows = rows[known]
        tf = (1.0 + np.log(counts[known])).astype(np.float32)
        values = tf * self.idf[rows]
        result: Floats = (values / np.linalg.norm(values)).astype(np.float32) @ self.weights[rows] + self.intercept
        return result

    def probabilities(self, form: str) -> Floats:
        """Calibrated probability of every class, summing to 1."""
        return _softmax(self.decision(form) * self.temperature)

    # -- kept in DATA_DIR -------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Keep the model at `path` (written beside, then renamed, with a checksum; a failure only logs)."""
        arrays = {
            "classes": np.array(self.classes),
            "keys": self.keys,
            "idf": self.idf,
            "weights": self.weights,
            "intercept": self.intercept,
            "temperature": np.array([self.temperature]),
        }
        write_arrays(path, arrays, "the fitted classifier")

    @classmethod
    def load(cls, path: Path) -> Classifier | None:
        """The model kept at `path`; None when it is missing, damaged or of another layout."""
        arrays = read_arrays(path, "the fitted classifier")
        if arrays is None:
            return None
        try:
            return cls(
                classes=tuple(arrays["classes"].tolist()),
                keys=arrays["keys"],
                idf=arrays["idf"],
                weights=arrays["weights"],
                intercept=arrays["intercept"],
                temperature=float(arrays["temperature"][0]),
            )
        except (KeyError, IndexError, ValueError) as error:
            log.warning("ignoring the fitted classifier %s: %s", path, error)
            return None


def kept(forms: Sequence[str], labels: Sequence[str], cache_dir: Path | None, name: str) -> Classifier | None:
    """The classifier of these pairs if `cache_dir` keeps one (an earlier start, or content edited back)."""
    return Classifier.load(cache_dir / f"{name}-{model_key(forms, labels)}.npz") if cache_dir else None


def fitted(forms: Sequence[str], labels: Sequence[str], cache_dir: Path | None, name: str) -> Classifier:
    """The classifier of these pairs: kept in `cache_dir` from an earlier start, or trained now (and kept)."""
    path = cache_dir / f"{name}-{model_key(forms, labels)}.npz" if cache_dir else None
    model = kept(forms, labels, cache_dir, name)
    if model is None:
        log.info("training the %s on %d examples", name, len(forms))
        model = Classifier.train(forms, labels)
        if path:
            model.save(path)
            forget_older(path)
    return model


def model_key(forms: Sequence[str], labels: Sequence[str]) -> str:
    """A name for a model trained on exactly these pairs with this code (its file name in DATA_DIR)."""
    digest = hashlib.sha256(f"{VERSION} {NGRAMS} {C} {FOLDS} {MIN_DF}".encode())
    for form, label in zip(forms, labels, strict=True):
        digest.update(f"{label}\t{form}\n".encode())
    return digest.hexdigest()[:16]


def _softmax(values: Floats) -> Floats:
    shifted = np.exp(values - values.max())
    result: Floats = shifted / shifted.sum()
    return result


def _fit_temperature(scores: npt.NDArray[np.float64], truth: npt.NDArray[np.int64]) -> float:
    """The softmax temperature that best predicts held-back labels (least log loss, a line search)."""
    best, best_loss = 1.0, math.inf
    for temperature in np.geomspace(0.5, 50.0, 60):
        scaled = scores * temperature
        scaled -= scaled.max(axis=1, keepdims=True)
        log_probs = scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))
        loss = -float(log_probs[np.arange(len(truth)), truth].mean())
        if loss < best_loss:
            best, best_loss = float(temperature), loss
    return best
