"""Training after a reload in a child process: the models it fits are kept for the server to read."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from bot.core.classifier import kept
from bot.core.training import Superseded, train_elsewhere


def test_a_child_process_trains_and_keeps_the_models(tmp_path: Path) -> None:
    taught = [(f"card {w}", "a.card") for w in ("what", "about", "meaning")]
    taught += [(f"visa {w}", "b.visa") for w in ("extend", "renew", "expired")]
    languages = [(t, "en") for t in ("what is the card", "how do i renew", "where is the office")]
    languages += [(t, "ja") for t in ("kado wa nan desu ka", "doko de koshin suru", "yakusho wa doko")]
    forms, labels = [f for f, _ in taught], [label for _, label in taught]
    assert kept(forms, labels, tmp_path, "classifier") is None

    train_elsewhere(tmp_path, taught, languages)

    classifier = kept(forms, labels, tmp_path, "classifier")
    assert classifier is not None and classifier.classes == ("a.card", "b.visa")
    assert len(list(tmp_path.glob("languages-*.npz"))) == 1
    assert not list(tmp_path.glob(".training-*"))  # the job file is gone


def test_a_superseded_training_is_stopped(tmp_path: Path) -> None:
    taught = [(f"card {w}", "a.card") for w in ("what", "about", "meaning")]
    taught += [(f"visa {w}", "b.visa") for w in ("extend", "renew", "expired")]
    superseded = threading.Event()
    superseded.set()

    with pytest.raises(Superseded):
        train_elsewhere(tmp_path, taught, None, superseded)

    assert not list(tmp_path.glob("classifier-*.npz")) and not list(tmp_path.glob(".training-*"))
