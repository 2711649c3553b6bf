"""The matcher's report card: `python -m bot intents test` over tests/data/eval/*.yaml.

Each item is a realistic resident message that is NOT an example in the intents, labeled with the
intent it should reach (or null: out of scope) and the language the reply should be in.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from rapidfuzz import fuzz, process

from bot.core.assistant import Assistant
from bot.core.models import Incoming
from bot.core.normalize import normalize


@dataclass(frozen=True)
class EvalItem:
    """One labeled message."""

    text: str
    intent: str | None
    lang: str
    source: str


def load_eval(directory: Path) -> list[EvalItem]:
    """Every item of every *.yaml file in `directory`."""
    items = []
    for path in sorted(directory.glob("*.yaml")):
        for raw in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            items.append(EvalItem(str(raw["text"]), raw.get("intent"), str(raw["lang"]), path.name))
    return items


@dataclass
class Report:
    """What the evaluation found."""

    in_scope: int = 0
    top1: int = 0
    answered: int = 0
    out_of_scope: int = 0
    rejected: int = 0
    fallback: int = 0
    lang_right: int = 0
    baseline_top1: int = 0
    baseline_rejected: int = 0
    baseline_cutoff: float = 0.0
    per_lang: dict[str, list[int]] = field(default_factory=dict)
    """Expected reply language → [in-scope right, in-scope total, out-of-scope rejected, out-of-scope total]."""
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    misses: list[str] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """In-scope top-1: the right intent answered or offered first."""
        return self.top1 / self.in_scope if self.in_scope else 0.0

    @property
    def rejection(self) -> float:
        """Out of scope not answered (fallback or "did you mean")."""
        return self.rejected / self.out_of_scope if self.out_of_scope else 0.0

    @property
    def lang_accuracy(self) -> float:
        """Replies in the expected language, over all items."""
        total = self.in_scope + self.out_of_scope
        return self.lang_right / total if total else 0.0

    def lines(self, details: bool = True) -> list[str]:
        """The report as text; without `details`, the figures only (no confusion table, no misses)."""
        pct = lambda n, d: f"{100 * n / d:5.1f} %  ({n}/{d})" if d else "  n/a"  # noqa: E731
        out = [
            f"in-scope top-1 accuracy        {pct(self.top1, self.in_scope)}",
            f"  answered directly            {pct(self.answered, self.in_scope)}",
            f"out-of-scope rejected          {pct(self.rejected, self.out_of_scope)}",
            f"  with the plain fallback      {pct(self.fallback, self.out_of_scope)}",
            f"reply language right           {pct(self.lang_right, self.in_scope + self.out_of_scope)}",
            f"baseline extractOne(WRatio), cutoff {self.baseline_cutoff:.0f}:",
            f"  in-scope top-1               {pct(self.baseline_top1, self.in_scope)}",
            f"  out-of-scope rejected        {pct(self.baseline_rejected, self.out_of_scope)}",
        ]
        if self.per_lang:
            out.append("per language: in-scope top-1, out-of-scope rejected")
            out += [
                f"  {lang:<3} {pct(right, total)}   {pct(rejected, oos)}"
                for lang, (right, total, rejected, oos) in sorted(self.per_lang.items())
            ]
        if not details:
            return out
        if self.confusion:
            out.append("confusion (expected -> got: count):")
            out += [f"  {a} -> {b}: {n}" for (a, b), n in self.confusion.most_common()]
        if self.misses:
            out.append("misses:")
            out += [f"  {m}" for m in self.misses]
        return out


def evaluate(assistant: Assistant, items: list[EvalItem]) -> Report:
    """Run every item through the matcher and the assistant (each as a new user)."""
    report = Report()
    run = uuid.uuid4().hex[:8]  # users of an earlier run on the same assistant are not these
    matcher = assistant.matcher
    for n, item in enumerate(items):
        match = matcher.match(item.text)
        reply = assistant.handle(Incoming(platform="eval", user_id=f"eval-{run}-{n}", text=item.text))
        report.lang_right += reply.lang == item.lang
        got = match.intent if match and match.outcome != "fallback" else None
        tally = report.per_lang.setdefault(item.lang, [0, 0, 0, 0])
        if item.intent is None:
            report.out_of_scope += 1
            rejected = match is None or match.outcome != "confident"
            report.rejected += rejected
            tally[2] += rejected
            tally[3] += 1
            report.fallback += got is None
            if match is not None and match.outcome == "confident":
                report.misses.append(
                    f"[{item.source}] out of scope, answered {match.intent} {match.score}: {item.text}"
                )
            continue
        report.in_scope += 1
        tally[1] += 1
        if got == item.intent:
            report.top1 += 1
            tally[0] += 1
            report.answered += match is not None and match.outcome == "confident"
        else:
            report.confusion[(item.intent, got or "none")] += 1
            score = f"{match.intent} {match.score}" if match else "nothing"
            report.misses.append(f"[{item.source}] {item.intent}, got {score}: {item.text}")
    _baseline(assistant, items, report)
    return report


def _baseline(assistant: Assistant, items: list[EvalItem], report: Report) -> None:
    """Plain rapidfuzz.process.extractOne(scorer=WRatio) over the same (normalised) examples.

    Its cutoff is the one that serves it best on this set, so the comparison is fair to it.
    """
    choices: list[str] = []
    labels: list[str] = []
    for intent in assistant.catalog:
        for texts in intent.examples.values():
            for text in texts:
                choices.append(text)
                labels.append(intent.id)
    folded = [normalize(choice) for choice in choices]  # once, not once per message
    results = []
    for item in items:
        best = process.extractOne(normalize(item.text), folded, scorer=fuzz.WRatio)
        results.append((item, labels[best[2]] if best else None, best[1] if best else 0.0))
    best_sum, best_cut, best_counts = -1.0, 0.0, (0, 0)
    for cut in range(0, 101, 5):
        top1 = sum(1 for item, label, score in results if item.intent and label == item.intent and score >= cut)
        rejected = sum(1 for item, _, score in results if item.intent is None and score < cut)
        total = top1 / max(report.in_scope, 1) + rejected / max(report.out_of_scope, 1)
        if total > best_sum:
            best_sum, best_cut, best_counts = total, float(cut), (top1, rejected)
    report.baseline_cutoff = best_cut
    report.baseline_top1, report.baseline_rejected = best_counts
