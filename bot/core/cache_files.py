"""Files in DATA_DIR that only save work at start-up: written whole or not at all, never fatal."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

log = logging.getLogger(__name__)


def write_beside(path: Path, write: Callable[[IO[bytes]], object], what: str) -> None:
    """Write `path` through a temporary file beside it, then rename it into place.

    A process starting meanwhile reads the old file or the new one, never half of one. Any
    failure only logs a warning naming `what`: the bot runs on without the file.
    """
    written: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.stem}-", delete=False) as out:
            written = out.name
            write(out)
        os.replace(written, path)
    except OSError as error:
        log.warning("could not write %s %s: %s", what, path, error)
        if written:
            Path(written).unlink(missing_ok=True)


def write_arrays(path: Path, arrays: dict[str, Any], what: str) -> None:
    """Keep numpy arrays at `path` as an .npz behind its SHA-256, so a damaged file is never read."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    data = buffer.getvalue()
    write_beside(path, lambda out: out.write(hashlib.sha256(data).digest() + data), what)


def read_arrays(path: Path, what: str) -> dict[str, Any] | None:
    """The arrays `write_arrays` kept at `path`; None when missing, damaged or unreadable (logged)."""
    # Read twice from the file rather than once whole: the whole file, a copy past its checksum and
    # the arrays were three copies at once (an 80 MB peak at start-up for the 27 MB n-gram index).
    try:
        file = path.open("rb")
    except OSError:
        return None
    with file:
        try:
            digest = file.read(32)
            if hashlib.file_digest(file, "sha256").digest() != digest:
                log.warning("ignoring %s %s: checksum does not match", what, path)
                return None
            file.seek(32)
            with np.load(file, allow_pickle=False) as arrays:  # a zip: read past the checksum in front
                return {name: arrays[name] for name in arrays.files}
        except (OSError, ValueError, zipfile.BadZipFile) as error:
            log.warning("ignoring %s %s: %s", what, path, error)
            return None


def forget_older(path: Path) -> None:
    """Delete the files beside `path` that an earlier content kept under another key (`name-<key>.ext`).

    Each content change keys its fitted files anew; without this, DATA_DIR would grow with every edit.
    """
    name, _, _ = path.stem.rpartition("-")
    for other in path.parent.glob(f"{name}-*{path.suffix}"):
        if other != path and other.stem.rpartition("-")[0] == name:
            other.unlink(missing_ok=True)


def kept_forms(texts: list[str], form: Callable[[str], str], path: Path | None, what: str) -> list[str]:
    """`form` of every text: read from `path` for the texts it holds, computed for the others (and kept).

    `path` must be named after everything `form` depends on but the texts (its key): a file of
    another key is never read, and an older one is deleted once the new one is written. Within the
    file each text has its form, so an edit that adds an example computes the form of that one only.
    """
    kept: dict[str, str] = {}
    if path is not None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                kept = {text: f for text, f in data.items() if isinstance(f, str)}
        except (OSError, ValueError):
            pass
    forms = [kept[text] if text in kept else form(text) for text in texts]
    if path is not None and kept.keys() != set(texts):
        data = json.dumps(dict(zip(texts, forms, strict=True)), ensure_ascii=False).encode()
        write_beside(path, lambda out: out.write(data), what)
        forget_older(path)
    return forms
