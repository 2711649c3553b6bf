"""The SQLite store's group commit: writes asked for together share a transaction, each caller gets
its own outcome, and none returns before its write is committed (another connection sees it)."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from pathlib import Path

import pytest

from bot.core.users import UserPrefs
from bot.store import RateLimit
from bot.store.pseudonym import Pseudonym
from bot.store.sqlite_store import FILE_NAME, SqliteStore
from tests.conftest import STORE_SECRET
from tests.store.keeping import count, keep_prefs


@pytest.fixture
async def store(tmp_path: Path) -> SqliteStore:
    return SqliteStore(tmp_path / FILE_NAME, Pseudonym(STORE_SECRET))


def other_connection(store: SqliteStore) -> sqlite3.Connection:
    """What another process opening the file sees: only what is committed."""
    return sqlite3.connect(store.path)


async def test_concurrent_writes_share_transactions_and_are_all_kept(store: SqliteStore) -> None:
    users = [f"line:U{n}" for n in range(40)]

    await asyncio.gather(
        *(keep_prefs(store, user, UserPrefs("en", "en")) for user in users),
        *(store.inbox.put(f"line:e{n}", "line", "{}") for n in range(40)),
        *(store.visit(user, RateLimit()) for user in users),
    )

    assert store.write.writes == 120 and store.write.transactions < store.write.writes
    db = other_connection(store)
    try:
        assert db.execute("SELECT count(*) FROM prefs WHERE lang = 'en'").fetchone()[0] == 40
        assert db.execute("SELECT count(*) FROM inbox").fetchone()[0] == 40
        assert db.execute("SELECT count(*) FROM rate").fetchone()[0] == 40
    finally:
        db.close()
    await store.close()


async def test_a_write_is_committed_before_its_caller_goes_on(store: SqliteStore) -> None:
    db = other_connection(store)
    try:
        for n in range(5):
            assert await store.inbox.put(f"line:e{n}", "line", "{}") == "new"
            # what the webhook does next is answer 200: the event must be in the file by then
            assert db.execute("SELECT count(*) FROM inbox WHERE id = ?", (f"line:e{n}",)).fetchone()[0] == 1
        await store.inbox.done("line:e0")
        assert db.execute("SELECT count(*) FROM processed WHERE id = 'line:e0'").fetchone()[0] == 1
    finally:
        db.close()
    await store.close()


async def test_a_failing_write_is_undone_alone_and_its_caller_told(store: SqliteStore) -> None:
    def half_done_then_fails() -> None:
        store._db.execute("INSERT INTO counts VALUES ('2026-01-01', 'line', 'en', 'answer', 'x', 1)")
        raise ValueError("a bug after a first statement")

    outcomes = await asyncio.gather(
        count(store, dt.date(2026, 1, 2), "line", "en", "answer", "card.about"),
        store.write(half_done_then_fails),
        store.inbox.put("line:e1", "line", "{}"),
        return_exceptions=True,
    )

    assert outcomes[0] is None and isinstance(outcomes[1], ValueError) and outcomes[2] == "new"
    assert store.write.transactions == 1  # the three shared one transaction
    db = other_connection(store)
    try:
        assert db.execute("SELECT day FROM counts").fetchall() == [("2026-01-02",)]
        assert db.execute("SELECT id FROM inbox").fetchall() == [("line:e1",)]
    finally:
        db.close()
    await store.close()


async def test_writes_that_cannot_be_kept_fail_and_later_ones_go_through(store: SqliteStore) -> None:
    await store.run(lambda: store._db.execute("PRAGMA query_only = 1"))

    outcomes = await asyncio.gather(
        store.inbox.put("line:e1", "line", "{}"), keep_prefs(store, "line:U1", UserPrefs("vi")), return_exceptions=True
    )

    assert all(isinstance(outcome, sqlite3.Error) for outcome in outcomes)
    await store.run(lambda: store._db.execute("PRAGMA query_only = 0"))
    assert await store.inbox.put("line:e1", "line", "{}") == "new"
    assert (await store.prefs("line:U1")) == UserPrefs()
    await store.close()
