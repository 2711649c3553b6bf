"""The analyser's reading of our own texts, kept on disk from one start to the next.

SudachiPy maps a 193 MB dictionary; loading it puts some 80 MB of it in memory, and every new
Japanese sentence read brings in more (docs/benchmarks.md). The bot's own texts (examples,
synonyms, easy-Japanese answers and messages) change only when an operator edits them, so their
analysis is kept in one JSON file in DATA_DIR. With it, later starts never load the dictionary:
the matcher reads residents' messages with the words of the catalog (`bot.core.kana`), and the
furigana of every fixed answer is already known. Residents' messages never go into the file:
recording stops once the bot's own texts are read (`save`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from pathlib import Path

from bot.core.cache_files import write_beside
from bot.core.furigana import Analyser, has_kanji

log = logging.getLogger(__name__)

FILE_NAME = "analysis-cache.json"
FORMAT = 2
"""Part of the version: raise it when what is stored changes (2: with a checksum)."""

Tokens = list[tuple[str, str]]


class AnalysisCache:
    """An analyser that remembers what it analysed, for the next start.

    `version` names the analyser and its dictionary: a file written by another one is ignored.
    Any problem with the file (missing, unreadable, not ours, not writable) only means analysing
    afresh; it never stops the bot.
    """

    def __init__(self, path: Path | None, analyser: Analyser, version: str) -> None:
        self.path = path
        self.name = analyser.name
        self._analyser = analyser
        self._version = f"{FORMAT}; {version}"
        self._saved = self._load()
        self._used: dict[str, Tokens] | None = {}
        self.misses = 0
        """Texts with kanji given to the analyser while recording (not found in the file)."""

    def _load(self) -> dict[str, Tokens]:
        try:
            stat = self.path.stat() if self.path is not None else None
        except OSError:
            stat = None
        if self.path is None or stat is None:
            return {}
        return _read(self.path, self._version, stat.st_mtime_ns, stat.st_size)

    def __call__(self, text: str) -> Tokens:
        if not has_kanji(text):  # no reading to find: not worth keeping
            return self._analyser(text)
        tokens = self._saved.get(text)
        if tokens is None and self._used is not None:
            tokens = self._used.get(text)
        if tokens is None:
            tokens = self._analyser(text)
            if self._used is not None:
                self.misses += 1
        if self._used is not None:
            self._used[text] = tokens
        return tokens

    def save(self) -> None:
        """Keep what was analysed so far (texts no longer used drop out); stop recording."""
        if self._used is None:  # saved already
            return
        used, self._used = self._used, None
        log.info(
            "analysis of the bot's own texts: %d from %s, %d read now", len(used) - self.misses, self.path, self.misses
        )
        if self.path is None or (used == self._saved and self.path.exists()):
            return
        content = {"version": self._version, "sha256": _checksum(used), "analyses": used}
        text = json.dumps(content, ensure_ascii=False, sort_keys=True).encode("utf-8")
        write_beside(self.path, lambda out: out.write(text), "the analysis cache")
        self._saved = used


@functools.lru_cache(maxsize=2)
def _read(path: Path, version: str, mtime_ns: int, size: int) -> dict[str, Tokens]:
    """The analyses kept at `path`, read once per version of the file (a hot reload reads it again
    unchanged); callers only read the result, which is shared."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        log.warning("ignoring the analysis cache %s: %s", path, error)
        return {}
    if not isinstance(data, dict) or data.get("version") != version:
        return {}
    analyses = data.get("analyses")
    if not isinstance(analyses, dict):
        return {}
    if data.get("sha256") != _checksum(analyses):  # damaged on disk, or edited by hand
        log.warning("ignoring the analysis cache %s: it fails its checksum (it is rebuilt)", path)
        return {}
    return {
        text: [(str(surface), str(reading)) for surface, reading in tokens]
        for text, tokens in analyses.items()
        if isinstance(tokens, list) and all(isinstance(t, list) and len(t) == 2 for t in tokens)
    }


def _checksum(analyses: object) -> str:
    """SHA-256 of the analyses in a canonical form."""
    canonical = json.dumps(analyses, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
