"""The operators' reports: grouping by similarity, usage sums, formats, and `python -m bot report` on both stores."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from bot.config import ROOT
from bot.core.models import Candidate
from bot.report import group_questions, unanswered_report, usage_report
from bot.store import Question, Tally
from bot.store.pseudonym import Pseudonym
from bot.store.redis_store import RedisStore
from bot.store.sqlite_store import FILE_NAME, SqliteStore
from tests.store.keeping import count, keep_question

T0 = 1_800_000_000.0


def q(text: str, lang: str = "en", kind: str = "fallback", at: float = T0, intent: str = "card.renew") -> Question:
    return Question(at, "line", lang, kind, text, (Candidate(intent, 40.0),))  # type: ignore[arg-type]


QUESTIONS = [
    q("How much does the card cost?"),
    q("how much does the card cost"),
    q("How much does the card cost ?", "vi", "did_you_mean"),
    q("how much does this card cost?", at=T0 + 10),
    q("Can I use it as a health insurance card?", intent="card.about"),
    q("Where is the city office", "ne", at=T0 + 20),
    q("where is the city office", "ne", at=T0 + 30),
]


def test_similar_questions_are_one_group_most_frequent_first() -> None:
    groups = group_questions(QUESTIONS)

    assert [g.count for g in groups] == [4, 2, 1]
    cost = groups[0]
    assert cost.langs == {"en": 3, "vi": 1} and cost.kinds == {"fallback": 3, "did_you_mean": 1}
    assert cost.example in {x.text for x in QUESTIONS[:4]} and cost.candidates == {"card.renew": 4}
    assert groups[1].langs == {"ne": 2} and groups[2].candidates == {"card.about": 1}


def test_different_questions_stay_apart() -> None:
    groups = group_questions([q("How much does the card cost?"), q("How long is the card valid?")])
    assert [g.count for g in groups] == [1, 1]


def test_unanswered_report_formats() -> None:
    table = unanswered_report(QUESTIONS, "table").splitlines()
    assert table[0].split()[:2] == ["count", "languages"] and table[1].startswith("4 ")

    rows = list(csv.DictReader(io.StringIO(unanswered_report(QUESTIONS, "csv"))))
    assert [r["count"] for r in rows] == ["4", "2", "1"] and rows[0]["languages"] == "en 3, vi 1"

    data = json.loads(unanswered_report(QUESTIONS, "json"))
    assert data[1]["languages"] == "ne 2" and data[1]["unanswered"] == 2
    assert data[1]["first_seen"] == "2027-01-15T17:00:20+09:00"


def test_usage_report_adds_up_intents() -> None:
    day = dt.date(2026, 11, 27)
    tallies = [
        Tally(day, "line", "vi", "answer", "card.renew", 3),
        Tally(day, "line", "vi", "answer", "card.about", 2),
        Tally(day, "telegram", "ne", "fallback", "", 1),
    ]
    data = json.loads(usage_report(tallies, "json"))
    assert data == [
        {"day": "2026-11-27", "platform": "line", "lang": "vi", "outcome": "answer", "messages": 5},
        {"day": "2026-11-27", "platform": "telegram", "lang": "ne", "outcome": "fallback", "messages": 1},
    ]


# -- the command, on the store the server writes ---------------------------------------------


def report(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "report", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "LOG_LEVEL": "WARNING", **env},
        check=False,
    )


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_report_command_reads_the_servers_store(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    secret = "cli-secret-0123456789abcdef"
    env = {"DATA_DIR": str(tmp_path), "REDIS_URL": "", "USER_ID_SECRET": ""}
    if backend == "sqlite":
        store: SqliteStore | RedisStore = SqliteStore(tmp_path / FILE_NAME, Pseudonym(secret.encode()))
    else:
        prefix = f"cli-{uuid.uuid4().hex[:8]}:"
        store = await RedisStore.connect(
            request.getfixturevalue("redis_url"), Pseudonym(secret.encode()), prefix=prefix
        )
        env["REDIS_URL"] = request.getfixturevalue("redis_url")
        env["REDIS_PREFIX"] = prefix
    for question in QUESTIONS:
        await keep_question(store, question, dt.date(2027, 1, 14))  # counted the day before the answer below
    await count(store, dt.date(2027, 1, 15), "line", "en", "answer", "card.about")
    await store.close()

    result = report("unanswered", "--lang", "ne", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    assert [g["count"] for g in json.loads(result.stdout)] == [2]

    result = report("unanswered", "--since", "2027-01-16", "--format", "json", env=env)
    assert json.loads(result.stdout) == []

    result = report("usage", "--since", "2027-01-15", "--format", "csv", env=env)
    assert result.stdout.splitlines() == ["day,platform,lang,outcome,messages", "2027-01-15,line,en,answer,1"]


def test_report_without_a_store_says_why(tmp_path: Path) -> None:
    result = report("usage", env={"DATA_DIR": str(tmp_path), "REDIS_URL": "redis://127.0.0.1:1/0"})
    assert result.returncode == 2 and "cannot read the store: ConnectionError" in result.stderr
