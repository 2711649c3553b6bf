"""The classifier scores a message exactly as scikit-learn would, and is kept in DATA_DIR safely."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from bot.core import gram_hash
from bot.core.cache_files import forget_older
from bot.core.classifier import NGRAMS, Classifier, fitted, ngram_keys

CORPUS = [
    "とくていざいりゅうかーど なに", "what is the card", "いつから はじまる", "when does it start",
    "how do i apply", "もうしこみ かた", "weather tomorrow", "あしたの てんき", "card what is",
    "apply how where", "start date card", "thẻ là gì", "카드 뭐예요", "what is it", "when start",
]  # fmt: skip
LABELS = ["about", "about", "start", "start", "apply", "apply", "-", "-", "about", "apply", "start", "about",
          "about", "about", "start"]  # fmt: skip

TEXT = st.text(alphabet=st.sampled_from(list("abc xyzあいう カード thẻ  \t")), max_size=40)


@given(TEXT)
@settings(max_examples=200, deadline=None)
def test_ngram_keys_are_the_keys_of_scikit_learns_char_wb_ngrams(text: str) -> None:
    analyzer = TfidfVectorizer(analyzer="char_wb", ngram_range=NGRAMS, lowercase=False).build_analyzer()
    assert sorted(ngram_keys(text).tolist()) == sorted(gram_hash.key(gram) for gram in analyzer(text))


def test_decision_values_are_scikit_learns() -> None:
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=NGRAMS, sublinear_tf=True, lowercase=False)
    vectorizer.fit(CORPUS)
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(len(vectorizer.vocabulary_), 3)).astype(np.float32)
    intercept = rng.normal(size=3).astype(np.float32)
    model = Classifier.from_vocabulary(("a", "b", "c"), dict(vectorizer.vocabulary_),
                                       vectorizer.idf_.astype(np.float32), weights, intercept, 1.0)  # fmt: skip
    for text in [*CORPUS, "unknown words only ☃", "card card card when", ""]:
        expected = vectorizer.transform([text]).toarray()[0].astype(np.float32) @ weights + intercept
        assert np.allclose(model.decision(text), expected, atol=1e-5), text


def test_training_ranks_and_calibrates() -> None:
    model = Classifier.train(CORPUS, LABELS)
    probabilities = model.probabilities("what is the tokutei card")
    assert abs(float(probabilities.sum()) - 1.0) < 1e-5
    assert model.classes[int(probabilities.argmax())] == "about"


def test_a_label_with_too_few_examples_is_left_out() -> None:
    model = Classifier.train([*CORPUS, "lonely"], [*LABELS, "rare"])
    assert "rare" not in model.classes


def test_kept_and_read_back(tmp_path: Path) -> None:
    trained = fitted(CORPUS, LABELS, tmp_path, "classifier")
    [kept] = tmp_path.glob("classifier-*.npz")
    again = Classifier.load(kept)
    assert again is not None and again.classes == trained.classes
    assert np.allclose(again.probabilities("when start"), trained.probabilities("when start"))


@pytest.mark.parametrize("damage", [b"", b"not a model", None])
def test_a_damaged_model_is_trained_again(tmp_path: Path, damage: bytes | None) -> None:
    trained = fitted(CORPUS, LABELS, tmp_path, "classifier")
    [kept] = tmp_path.glob("classifier-*.npz")
    raw = kept.read_bytes()
    kept.write_bytes(damage if damage is not None else raw[:32] + raw[33:] + b"x")  # checksum no longer matches
    assert Classifier.load(kept) is None
    assert fitted(CORPUS, LABELS, tmp_path, "classifier").classes == trained.classes
    assert Classifier.load(kept) is not None, "trained again, and kept again"


def test_a_new_content_leaves_one_file_of_each_kind(tmp_path: Path) -> None:
    fitted(CORPUS, LABELS, tmp_path, "classifier")
    fitted([*CORPUS, "how to apply now"], [*LABELS, "apply"], tmp_path, "classifier")
    (tmp_path / "classifiers-keep.npz").write_bytes(b"")  # another name: not ours to delete
    forget_older(next(tmp_path.glob("classifier-*.npz")))
    assert len(list(tmp_path.glob("classifier-*.npz"))) == 1
    assert (tmp_path / "classifiers-keep.npz").exists()
