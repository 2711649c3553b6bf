"""The operators' loop: what residents asked that the bot could not answer surely, and how much it is used.

`python -m bot report unanswered` groups the logged questions (fallbacks and did-you-means,
redacted) by similarity, most frequent first: each group is an intent to write, or examples to
add. `python -m bot report usage` counts messages per day, platform, language and outcome. Both read
the store the server writes (Redis when REDIS_URL is set).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz, process

from bot.core.assistant import JST
from bot.core.normalize import normalize
from bot.store import Question, Tally

SIMILAR = 80.0
"""rapidfuzz token_sort_ratio (0–100) on the matcher's normalisation, from which two questions are one group."""


@dataclass
class Group:
    """Questions asked in nearly the same words."""

    example: str
    """The group's most frequent phrasing, as logged (redacted)."""
    count: int = 0
    langs: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    """fallback (unanswered) or did_you_mean."""
    candidates: Counter[str] = field(default_factory=Counter)
    """Intents the matcher ranked first: where the missing examples may belong."""
    first: float = float("inf")
    last: float = 0.0

    def add(self, question: Question) -> None:
        self.count += 1
        self.langs[question.lang or "?"] += 1
        self.kinds[question.kind] += 1
        if question.candidates:
            self.candidates[question.candidates[0].intent] += 1
        self.first, self.last = min(self.first, question.at), max(self.last, question.at)

    def row(self) -> dict[str, Any]:
        """The group as one flat record (csv, json)."""
        return {
            "count": self.count,
            "languages": _counts(self.langs),
            "unanswered": self.kinds["fallback"],
            "did_you_mean": self.kinds["did_you_mean"],
            "nearest_intents": _counts(self.candidates, 3),
            "example": self.example,
            "first_seen": _time(self.first),
            "last_seen": _time(self.last),
        }


def group_questions(questions: Iterable[Question], similar: float = SIMILAR) -> list[Group]:
    """Questions in groups of similar wording, the largest first (ties: the latest first)."""
    by_text: dict[str, list[Question]] = {}
    for question in questions:
        by_text.setdefault(normalize(question.text) or question.text, []).append(question)
    # The most asked phrasings first: each later one joins the nearest group above the threshold.
    phrasings = sorted(by_text.items(), key=lambda item: -len(item[1]))
    keys: list[str] = []
    groups: list[Group] = []
    for text, asked in phrasings:
        best = process.extractOne(text, keys, scorer=fuzz.token_sort_ratio, score_cutoff=similar) if keys else None
        if best is None:
            keys.append(text)
            groups.append(Group(example=Counter(q.text for q in asked).most_common(1)[0][0]))
            group = groups[-1]
        else:
            group = groups[best[2]]
        for question in asked:
            group.add(question)
    return sorted(groups, key=lambda g: (-g.count, -g.last))


@dataclass(frozen=True)
class UsageRow:
    """Messages of one day, platform, language and outcome (every intent together)."""

    day: dt.date
    platform: str
    lang: str
    outcome: str
    messages: int


def usage_rows(tallies: Iterable[Tally]) -> list[UsageRow]:
    """Tallies added up over intents, by day, platform, language, outcome."""
    totals: Counter[tuple[dt.date, str, str, str]] = Counter()
    for t in tallies:
        totals[(t.day, t.platform, t.lang, t.outcome)] += t.count
    return [UsageRow(*key, n) for key, n in sorted(totals.items(), key=lambda item: (item[0], -item[1]))]


# -- output ----------------------------------------------------------------------------------


def render(rows: Sequence[dict[str, Any]], fmt: str, columns: Sequence[str]) -> str:
    """Rows as an aligned table, CSV or JSON (a list of objects)."""
    if fmt == "json":
        return json.dumps(list(rows), ensure_ascii=False, indent=2)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue().rstrip("\n")
    cells = [[str(row[c]).replace("\n", " ") for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


UNANSWERED_COLUMNS = (
    "count", "languages", "unanswered", "did_you_mean", "nearest_intents", "example", "first_seen", "last_seen",
)  # fmt: skip
TABLE_UNANSWERED_COLUMNS = ("count", "languages", "unanswered", "did_you_mean", "nearest_intents", "example")
USAGE_COLUMNS = ("day", "platform", "lang", "outcome", "messages")


def unanswered_report(questions: Iterable[Question], fmt: str) -> str:
    """The unanswered report in `fmt` (table, csv, json)."""
    rows = [g.row() for g in group_questions(questions)]
    return render(rows, fmt, TABLE_UNANSWERED_COLUMNS if fmt == "table" else UNANSWERED_COLUMNS)


def usage_report(tallies: Iterable[Tally], fmt: str) -> str:
    """The usage report in `fmt` (table, csv, json)."""
    rows = [{**r.__dict__, "day": r.day.isoformat()} for r in usage_rows(tallies)]
    return render(rows, fmt, USAGE_COLUMNS)


def _counts(counter: Counter[str], top: int | None = None) -> str:
    return ", ".join(f"{key} {n}" for key, n in counter.most_common(top))


def _time(at: float) -> str:
    return dt.datetime.fromtimestamp(at, JST).isoformat(timespec="seconds") if at != float("inf") else ""
