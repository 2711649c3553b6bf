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
from bot.core.replies import MAX_CHOICES


@dataclass(frozen=True)
class EvalItem:
    """One labeled message."""

    text: str
    intent: str | None
    lang: str
    source: str


def load_eval(path: Path) -> list[EvalItem]:
    """Every item of a set: one YAML file, or every *.yaml file in a directory."""
    items = []
    for file in sorted(path.glob("*.yaml")) if path.is_dir() else [path]:
        for raw in yaml.safe_load(file.read_text(encoding="utf-8")) or []:
            items.append(EvalItem(str(raw["text"]), raw.get("intent"), str(raw["lang"]), file.name))
    return items


@dataclass
class Report:
    """What the evaluation found, from the replies a resident would get."""

    in_scope: int = 0
    top1: int = 0
    """The right intent answered, or offered first."""
    answered: int = 0
    """The right intent answered directly (no did-you-mean)."""
    top3: int = 0
    """The right intent answered, or among the first three topics the reply offers as buttons (a
    did-you-mean's choices, or the runners-up beside an answer that is not sure)."""
    ranked3: int = 0
    """The right intent among the matcher's first three candidates."""
    wrong_answers: int = 0
    """Confidently wrong: another intent answered (in scope) or anything answered (out of scope)."""
    out_of_scope: int = 0
    rejected: int = 0
    fallback: int = 0
    lang_right: int = 0
    baseline_top1: int = 0
    baseline_rejected: int = 0
    baseline_cutoff: float = 0.0
    per_lang: dict[str, list[int]] = field(default_factory=dict)
    """Expected reply language → [in scope answered right, in scope, out of scope not answered, out of scope]."""
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)
    misses: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Every message."""
        return self.in_scope + self.out_of_scope

    def lines(self, details: bool = True) -> list[str]:
        """The report as text; without `details`, the figures only (no confusion table, no misses)."""
        pct = lambda n, d: f"{100 * n / d:5.1f} %  ({n}/{d})" if d else "  n/a"  # noqa: E731
        out = [
            f"in scope answered right        {pct(self.answered, self.in_scope)}",
            f"  right intent first           {pct(self.top1, self.in_scope)}",
            f"  right intent in the top 3    {pct(self.top3, self.in_scope)}",
            f"  … among 3 ranked candidates  {pct(self.ranked3, self.in_scope)}",
            f"out of scope not answered      {pct(self.rejected, self.out_of_scope)}",
            f"  with the plain fallback      {pct(self.fallback, self.out_of_scope)}",
            f"confidently wrong answers      {pct(self.wrong_answers, self.total)}",
            f"reply language right           {pct(self.lang_right, self.total)}",
            f"baseline extractOne(WRatio), cutoff {self.baseline_cutoff:.0f}:",
            f"  in-scope top-1               {pct(self.baseline_top1, self.in_scope)}",
            f"  out-of-scope rejected        {pct(self.baseline_rejected, self.out_of_scope)}",
        ]
        if self.per_lang:
            out.append("per language: in scope answered right, out of scope not answered")
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


def evaluate(assistant: Assistant, items: list[EvalItem], baseline: bool = True) -> Report:
    """Run every item through the assistant, each as a new user, and judge the reply."""
    report = Report()
    run = uuid.uuid4().hex[:8]  # users of an earlier run on the same assistant are not these
    for n, item in enumerate(items):
        reply = assistant.handle(Incoming(platform="eval", user_id=f"eval-{run}-{n}", text=item.text))
        report.lang_right += reply.lang == item.lang
        offered = [b.postback.value for b in reply.buttons if b.postback.kind == "intent"][:MAX_CHOICES]
        first = reply.intent if reply.kind == "answer" else (reply.candidates[0].intent if reply.candidates else None)
        tally = report.per_lang.setdefault(item.lang, [0, 0, 0, 0])
        score = f"{reply.score:.1f}"
        if item.intent is None:
            report.out_of_scope += 1
            tally[3] += 1
            if reply.kind == "answer" and reply.intent is not None and not reply.intent.startswith("chat."):
                report.wrong_answers += 1
                report.misses.append(f"[{item.source}] out of scope, ANSWERED {reply.intent} {score}: {item.text}")
            else:
                report.rejected += 1
                tally[2] += 1
            report.fallback += reply.kind in ("fallback", "info")
            continue
        report.in_scope += 1
        tally[1] += 1
        report.top1 += first == item.intent
        report.top3 += reply.intent == item.intent or item.intent in offered
        report.ranked3 += (
            item.intent in [c.intent for c in reply.candidates[:MAX_CHOICES]] or reply.intent == item.intent
        )
        if reply.kind == "answer" and reply.intent == item.intent:
            report.answered += 1
            tally[0] += 1
            continue
        got = reply.intent if reply.kind == "answer" else f"{reply.kind}({', '.join(offered)})"
        if reply.kind == "answer":
            report.wrong_answers += 1
            got = f"ANSWERED {got}"
        report.confusion[(item.intent, str(reply.intent) if reply.kind == "answer" else reply.kind)] += 1
        report.misses.append(f"[{item.source}] {item.intent}, got {got} {score}: {item.text}")
    if baseline:
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
