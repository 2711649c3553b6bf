"""Kana readings of the catalog's own texts, kept on disk from one start to the next.

The matcher reads every example and synonym with kanji into kana. Done with SudachiPy at every
start, that costs about half a second and brings some 65 MB of its dictionary into memory
(docs/benchmarks.md). The readings change only when the texts or the analyser do, so they are
kept in one JSON file in DATA_DIR. Residents' messages never go into it: recording stops once the
catalog is read (`save`).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from bot.core.furigana import has_kanji

log = logging.getLogger(__name__)

FILE_NAME = "readings-cache.json"
FORMAT = 1
"""Part of the version: raise it when the reader's output changes for the same analyser."""


class ReadingCache:
    """A reader (text → kana) that remembers what it read, for the next start.

    `version` names the analyser and its dictionary: a file written by another one is ignored.
    Any problem with the file (missing, unreadable, not ours, not writable) only means reading
    afresh; it never stops the bot.
    """

    def __init__(self, path: Path | None, read: Callable[[str], str], version: str) -> None:
        self.path = path
        self._read = read
        self._version = f"{FORMAT}; {version}"
        self._saved = self._load()
        self._used: dict[str, str] | None = {}
        self.misses = 0
        """Texts with kanji read by the analyser, not found in the file, while recording."""

    def _load(self) -> dict[str, str]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            log.warning("ignoring the readings cache %s: %s", self.path, error)
            return {}
        if not isinstance(data, dict) or data.get("version") != self._version:
            return {}
        readings = data.get("readings")
        if not isinstance(readings, dict):
            return {}
        return {k: v for k, v in readings.items() if isinstance(k, str) and isinstance(v, str)}

    def __call__(self, text: str) -> str:
        if not has_kanji(text):  # nothing to read: not worth keeping
            return text
        reading = self._saved.get(text)
        if reading is None and self._used is not None:
            reading = self._used.get(text)
        if reading is None:
            reading = self._read(text)
            if self._used is not None:
                self.misses += 1
        if self._used is not None:
            self._used[text] = reading
        return reading

    def save(self) -> None:
        """Keep the readings used so far (texts no longer in the catalog drop out); stop recording."""
        if self._used is None:  # saved already
            return
        used, self._used = self._used, None
        log.info(
            "kana readings of the catalog: %d from %s, %d read now", len(used) - self.misses, self.path, self.misses
        )
        if self.path is None or (used == self._saved and self.path.exists()):
            return
        written: str | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Write beside, then rename: a process starting meanwhile reads the old file or the new.
            with tempfile.NamedTemporaryFile(
                "w", encoding="utf-8", dir=self.path.parent, prefix=".readings-", delete=False
            ) as out:
                written = out.name
                json.dump({"version": self._version, "readings": used}, out, ensure_ascii=False, sort_keys=True)
            os.replace(written, self.path)
        except OSError as error:
            log.warning("could not write the readings cache %s: %s", self.path, error)
            if written:
                Path(written).unlink(missing_ok=True)
        self._saved = used
