"""Measure speed, memory, furigana analysers and language detectors; write docs/benchmarks.md.

Run with `make bench` (installs the `bench` extra: fugashi + unidic-lite, lingua). Figures are
measurements on this machine, not assertions: the tests never time anything.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bot.config import ROOT
from bot.core.evaluation import load_eval
from bot.core.factory import build_assistant
from bot.core.furigana import FugashiAnalyser, Furigana, Readings, SudachiAnalyser, kana_reader
from bot.core.intents import SYNONYMS_FILE, load_catalog, load_out_of_scope
from bot.core.langdetect import LanguageDetector
from bot.core.languages import LANGS
from bot.core.matcher import IntentMatcher
from bot.core.synonyms import Synonyms

DATA = ROOT / "tests" / "data"
OUT = ROOT / "docs" / "benchmarks.md"


def machine() -> str:
    """A one-line description of this machine."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )


def percentiles(samples: Sequence[float]) -> tuple[float, float]:
    """(p50, p99) of samples."""
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def time_each(fn: Callable[[str], object], texts: Sequence[str], rounds: int = 3) -> list[float]:
    """Milliseconds per call, every text `rounds` times (after one warm-up pass)."""
    for text in texts:
        fn(text)
    samples = []
    for _ in range(rounds):
        for text in texts:
            start = time.perf_counter()
            fn(text)
            samples.append((time.perf_counter() - start) * 1000)
    return samples


def synthetic(examples: list[tuple[str, str, str]], factor: int) -> list[tuple[str, str, str]]:
    """The real examples plus `factor - 1` look-alike catalogs about other things.

    Each extra copy maps every character through its own shuffle of the catalog's characters,
    so it has the real catalog's shape (lengths, scripts, n-gram spread) but a vocabulary of its
    own, like a catalog that grew to more topics.
    """
    rng = random.Random(factor)
    alphabet = sorted({ch for _, _, text in examples for ch in text if not ch.isspace()})
    out = list(examples)
    for copy in range(1, factor):
        shuffled = alphabet[:]
        rng.shuffle(shuffled)
        table = str.maketrans(dict(zip(alphabet, shuffled, strict=True)))
        out += [(f"{intent}#{copy}", lang, text.translate(table)) for intent, lang, text in examples]
    return out


def matcher_section(lines: list[str]) -> None:
    catalog = load_catalog(ROOT / "intents")
    analyser = SudachiAnalyser()
    reader = kana_reader(analyser)
    synonyms = Synonyms.load(ROOT / "intents" / SYNONYMS_FILE)
    out_of_scope = load_out_of_scope(ROOT / "intents")
    texts = [item.text for item in load_eval(DATA / "eval")]
    base = [(i.id, lang, t) for i in catalog for lang, ts in i.examples.items() for t in ts]
    lines += [
        "## Matcher latency per message",
        "",
        f"Over the {len(texts)} messages of the evaluation set (tests/data/eval), after a warm-up.",
        "",
        "| catalog | intents | examples | build (s) | p50 (ms) | p99 (ms) |",
        "|---|---|---|---|---|---|",
    ]
    for factor in (1, 10, 100):
        examples = base if factor == 1 else synthetic(base, factor)
        start = time.perf_counter()
        if factor == 1:
            matcher = IntentMatcher(catalog, reader=reader, synonyms=synonyms, out_of_scope=out_of_scope)
        else:  # the copies are not Japanese or synonyms any more: no reader needed to build them
            matcher = IntentMatcher.from_examples(examples, synonyms=synonyms)
        build = time.perf_counter() - start
        rounds = 3 if factor < 100 else 1
        p50, p99 = percentiles(time_each(matcher.match, texts, rounds))
        lines.append(
            f"| {'real (+ out-of-scope)' if factor == 1 else f'{factor}× synthetic'} | {len(matcher.intent_ids)} | "
            f"{len(matcher.example_text)} | {build:.1f} | {p50:.3f} | {p99:.3f} |"
        )
        print(f"matcher {factor}x: p50 {p50:.3f} ms, p99 {p99:.3f} ms", file=sys.stderr)
    lines += ["", "Targets: ≤ 1 ms p99 at the real catalog, ≤ 5 ms at 100×.", ""]


def startup_section(lines: list[str]) -> None:
    """`ask` start-up (process start to first answer) and peak RSS, as a user runs it."""
    times, rss, anon, mapped = [], [], [], []
    for _ in range(5):
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", _RSS_PROBE, "ask", "--json", "特定在留カードってなに？"],
            capture_output=True, cwd=ROOT, env={**os.environ, "LOG_LEVEL": "WARNING"}, check=True,
        )  # fmt: skip
        times.append(time.perf_counter() - start)
        probe = json.loads(result.stderr.decode().strip().splitlines()[-1])
        rss.append(probe["max_rss_mb"])
        anon.append(probe["anon_mb"])
        mapped.append(probe["file_mb"])
    batch = "\n".join(["特定在留カードってなに？", "do i have to get it", "thẻ cư trú đặc định là gì"] * 3334)
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, "ask", "--json"], input=batch.encode(), capture_output=True, cwd=ROOT,
        env={**os.environ, "LOG_LEVEL": "WARNING"}, check=True,
    )  # fmt: skip
    batch_time = time.perf_counter() - start
    batch = json.loads(result.stderr.decode().strip().splitlines()[-1])
    lines += [
        "## Start-up and memory", "",
        "`python -m bot ask --json \"特定在留カードってなに？\"`: process start to answer, 5 runs.", "",
        f"- start-up: median {statistics.median(times):.2f} s, max {max(times):.2f} s (target ≤ 2 s)",
        f"- peak RSS (VmHWM): {max(rss):.0f} MB for one question; {batch['max_rss_mb']:.0f} MB after 10,002 lines"
        f" in one process ({batch_time:.1f} s, {1000 * batch_time / 10002:.2f} ms a line) (target ≤ 200 MB)",
        f"- of which at the end: process memory (RssAnon) {max(anon):.0f} MB / {batch['anon_mb']:.0f} MB; pages of"
        f" mapped files (RssFile, mostly the SudachiPy dictionary, shared and reclaimable)"
        f" {max(mapped):.0f} MB / {batch['file_mb']:.0f} MB", "",
    ]  # fmt: skip


# Peak RSS from /proc/self/status (VmHWM): getrusage's ru_maxrss survives exec on Linux and would
# report the benchmark's own peak, not the child's.
_RSS_PROBE = (
    "import json, re, sys\n"
    "from bot.cli import main\n"
    "sys.argv[0] = 'bot'\n"
    "code = main(sys.argv[1:])\n"
    "status = open('/proc/self/status').read()\n"
    "mb = lambda key: int(re.search(key + r':\\s+(\\d+) kB', status).group(1)) / 1024\n"
    "figures = {'max_rss_mb': mb('VmHWM'), 'anon_mb': mb('RssAnon'), 'file_mb': mb('RssFile')}\n"
    "print(json.dumps(figures), file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def furigana_section(lines: list[str]) -> None:
    gold_path = DATA / "furigana" / "gold.tsv"
    with gold_path.open(encoding="utf-8") as fh:
        gold = [(row["text"], row["expected"]) for row in csv.DictReader(fh, delimiter="\t")]
    readings = Readings.load(ROOT / "intents" / "readings.yaml")
    lines += ["## Furigana: analysers on the gold set", "",
              f"{len(gold)} sentences (tests/data/furigana/gold.tsv): share rendered exactly right.", "",
              "| analyser | raw | with intents/readings.yaml | ms per sentence |", "|---|---|---|---|"]  # fmt: skip
    for make in (SudachiAnalyser, FugashiAnalyser):
        analyser = make()
        scores = []
        for words in (Readings({}), readings):
            furigana = Furigana(words, analyser)
            scores.append(sum(furigana.render(text) == expected for text, expected in gold) / len(gold))
        timed = Furigana(readings, analyser)
        ms = statistics.median(time_each(timed._segments, [t for t, _ in gold]))
        lines.append(f"| {analyser.name} | {100 * scores[0]:.1f} % | {100 * scores[1]:.1f} % | {ms:.3f} |")
    lines += ["", "Chosen: SudachiPy + sudachidict-core, split mode A (better raw, smaller install).", ""]


def langdetect_section(lines: list[str]) -> None:
    with (DATA / "langdetect" / "messages.tsv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    ours = LanguageDetector()
    detectors: dict[str, Callable[[str], str | None]] = {
        "script rules + py3langid (ours)": lambda t: ours.detect(t).lang
    }
    try:
        from lingua import Language, LanguageDetectorBuilder

        wanted = {lang.iso_code_639_1.name.lower(): lang for lang in Language.all()}
        lingua = LanguageDetectorBuilder.from_languages(*[wanted[c] for c in LANGS if c in wanted]).build()

        def with_lingua(text: str) -> str | None:
            scripted = ours.detect(text)
            if scripted.probability == 1.0:  # a script rule decided
                return scripted.lang
            found = lingua.detect_language_of(text)
            return found.iso_code_639_1.name.lower() if found else None

        detectors["script rules + lingua"] = with_lingua
    except ImportError:
        lines.append("(lingua not installed: `make bench` installs it)")
    lines += [
        "## Language detection",
        "",
        f"{len(rows)} short resident messages, {len(rows) // len(LANGS)} per language (tests/data/langdetect).",
        "",
        "| detector | accuracy | " + " | ".join(LANGS) + " |",
        "|---|---|" + "---|" * len(LANGS),
    ]
    for name, detect in detectors.items():
        right = {lang: 0 for lang in LANGS}
        total = {lang: 0 for lang in LANGS}
        for row in rows:
            total[row["lang"]] += 1
            right[row["lang"]] += detect(row["text"]) == row["lang"]
        cells = " | ".join(f"{100 * right[c] / max(total[c], 1):.0f}" for c in LANGS)
        lines.append(f"| {name} | {100 * sum(right.values()) / len(rows):.1f} % | {cells} |")
    lines += ["", "Chosen: script rules + py3langid (lingua has no model for Nepali, Khmer, Burmese or Sinhala;"
              " short or uncertain messages keep the conversation's language).", ""]  # fmt: skip


def accuracy_section(lines: list[str]) -> None:
    from bot.core.evaluation import evaluate

    assistant = build_assistant(ROOT / "intents", ROOT / "translations")
    report = evaluate(assistant, load_eval(DATA / "eval"))
    lines += ["## Matching accuracy (python -m bot intents test)", "", "```"]
    text = report.lines()
    lines += (
        text[: text.index("confusion (expected -> got: count):")]
        if "confusion (expected -> got: count):" in text
        else text
    )
    lines += ["```", ""]


def holdout_section(lines: list[str]) -> None:
    from bot.core.evaluation import evaluate

    assistant = build_assistant(ROOT / "intents", ROOT / "translations")
    report = evaluate(assistant, load_eval(DATA / "holdout"))
    lines += [
        "## Held-out set (tests/data/holdout)",
        "",
        "Written by someone who saw neither the examples nor the evaluation set, after the tuning; never used",
        "to tune. This is the honest figure for messages the bot has not been shaped around.",
        "",
        "```",
    ]
    lines += report.lines()[:8]
    lines += ["```", ""]


def main() -> int:
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` on {dt.date.today().isoformat()}; machine: {machine()}.",
        "",
    ]
    # Start-up first, before this process holds the large synthetic catalogs.
    for section in (
        startup_section,
        accuracy_section,
        holdout_section,
        matcher_section,
        furigana_section,
        langdetect_section,
    ):
        section(lines)
    OUT.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {OUT}", file=sys.stderr)
    return 0


raise SystemExit(main())
