"""Training after a hot reload, in a process of its own: the classifier and the language detector.

In a thread of the server, training (scikit-learn's vectorisers run Python) holds the GIL against
the answers and the next reload for tens of seconds (docs/benchmarks.md, "Hot reload"); a child
process only shares the cores. It keeps the fitted models in DATA_DIR under the hash of what they
were trained on, where the server then reads them instead of training (`fitted`, `fitted_on`).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)


class Superseded(Exception):
    """The training was stopped: newer content needs another."""


def train_elsewhere(
    cache_dir: Path,
    taught: list[tuple[str, str]] | None,
    languages: list[tuple[str, str]] | None,
    superseded: threading.Event | None = None,
) -> None:
    """Fit, in a child process, the classifier on `taught` (form, label) and the language detector on
    `languages` (text, language), each unless None, and keep them in `cache_dir`.

    A failure only logs: the caller then trains in its own process, as without `cache_dir`.

    Raises:
        Superseded: `superseded` was set meanwhile; the child was killed (its cores go to newer content).
    """
    job = json.dumps({"taught": taught, "languages": languages}, ensure_ascii=False)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=cache_dir, prefix=".training-", suffix=".json") as out:
        out.write(job)
        out.flush()
        command = [sys.executable, "-m", "bot.core.training", out.name, str(cache_dir)]
        with (
            tempfile.TemporaryFile() as errors,
            subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=errors) as child,
        ):
            while child.poll() is None:
                if superseded is None:
                    child.wait()
                elif superseded.wait(0.1):
                    child.kill()
                    child.wait()
                    raise Superseded
            errors.seek(0)
            said = errors.read().decode("utf-8", "replace")
    if child.returncode != 0:
        log.warning("training in a child process failed (%d); training here:\n%s", child.returncode, said[-2000:])


def main(argv: Sequence[str]) -> int:
    """`python -m bot.core.training JOB CACHE_DIR` (what `train_elsewhere` runs)."""
    os.nice(10)  # the answers, and the next reload, come first
    from bot.core.langdetect import LanguageDetector
    from bot.core.matcher import IntentMatcher

    job, cache_dir = json.loads(Path(argv[0]).read_text(encoding="utf-8")), Path(argv[1])
    if job["taught"] is not None:
        IntentMatcher.train([(form, label) for form, label in job["taught"]], cache_dir)
    if job["languages"] is not None:
        LanguageDetector(cache_dir, [(text, lang) for text, lang in job["languages"]])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
