"""The embedded store: one SQLite file in DATA_DIR (WAL), the default when REDIS_URL is unset.

Every call runs on one thread of its own with one connection, so the event loop never waits on the
disk and calls never contend inside the process; several worker processes on one host may share the
file (WAL, a busy timeout, write transactions taken at once with BEGIN IMMEDIATE). Deleted rows are
overwritten (secure_delete): what the retention period removes is gone from the file.

Schema versions live in `PRAGMA user_version` and `MIGRATIONS` brings any older file up to date:
version 1 is the file of the first release (`users` by raw "platform:id", seen `events`); version 2
pseudonymises the users, turns seen events into processed ids, and adds the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from bot.core.models import Candidate
from bot.core.users import UserPrefs
from bot.store.base import (
    EVENT_TTL,
    LEASE,
    RETENTION_DAYS,
    Admission,
    InboxEvent,
    Question,
    RateLimit,
    Tally,
    Visit,
    rate_of,
)
from bot.store.pseudonym import Pseudonym

log = logging.getLogger(__name__)

FILE_NAME = "tokutei-bot.sqlite3"
T = TypeVar("T")

V1 = """
CREATE TABLE IF NOT EXISTS users (key TEXT PRIMARY KEY, lang TEXT, last TEXT, both_langs INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (key TEXT PRIMARY KEY, seen REAL NOT NULL);
"""
V2 = """
CREATE TABLE prefs (
    user TEXT PRIMARY KEY, lang TEXT, last TEXT, both_langs INTEGER NOT NULL DEFAULT 0, seen REAL NOT NULL
);
CREATE INDEX prefs_seen ON prefs (seen);
CREATE TABLE rate (user TEXT PRIMARY KEY, window_end REAL NOT NULL, count INTEGER NOT NULL);
CREATE TABLE processed (id TEXT PRIMARY KEY, expires REAL NOT NULL);
CREATE TABLE inbox (
    id TEXT PRIMARY KEY, platform TEXT NOT NULL, payload TEXT NOT NULL, received REAL NOT NULL,
    taken REAL NOT NULL, attempts INTEGER NOT NULL
);
CREATE TABLE questions (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, platform TEXT NOT NULL, lang TEXT, kind TEXT NOT NULL,
    text TEXT NOT NULL, candidates TEXT NOT NULL
);
CREATE INDEX questions_at ON questions (at);
CREATE TABLE counts (
    day TEXT NOT NULL, platform TEXT NOT NULL, lang TEXT NOT NULL, outcome TEXT NOT NULL, intent TEXT NOT NULL,
    n INTEGER NOT NULL, PRIMARY KEY (day, platform, lang, outcome, intent)
) WITHOUT ROWID;
INSERT INTO prefs (user, lang, last, both_langs, seen)
    SELECT pseudonym(key), lang, last, both_langs, now() FROM users;
INSERT INTO processed (id, expires) SELECT key, seen + event_ttl() FROM events;
DROP TABLE users;
DROP TABLE events;
"""
MIGRATIONS = (V1, V2)
"""Migration n brings a file from version n to n + 1 (version 0: a new, empty file)."""
VERSION = len(MIGRATIONS)


class SqliteStore:
    """The `Store` in one SQLite file."""

    def __init__(
        self,
        path: Path,
        pseudonym: Pseudonym | None,
        retention_days: float = RETENTION_DAYS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Open (creating or upgrading) the file; without `pseudonym`, only the reports' reads work."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.retention = retention_days * 86400
        self._pseudonym = pseudonym
        self._clock = clock
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across a process kill, fast
        self._db.execute("PRAGMA secure_delete=ON")
        self._migrate()
        self.inbox = SqliteInbox(self)

    # -- schema ------------------------------------------------------------------------------

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > VERSION:
            raise RuntimeError(f"{self.path} has schema version {version}, newer than this release's {VERSION}")
        if version == VERSION:
            return
        if self._pseudonym is None and version < 2 and self._has_users():
            raise RuntimeError(f"{self.path} needs USER_ID_SECRET to be upgraded (start the server once)")
        self._db.create_function("pseudonym", 1, self._user, deterministic=True)
        self._db.create_function("event_ttl", 0, lambda: EVENT_TTL)
        self._db.create_function("now", 0, self._clock)
        with self._transaction():
            version = self._db.execute("PRAGMA user_version").fetchone()[0]  # another worker may have done it
            for number in range(version, VERSION):
                for statement in _statements(MIGRATIONS[number]):
                    self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {VERSION}")
        log.info("store: %s at schema version %d (was %d)", self.path.name, VERSION, version)
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # old rows out of the log too

    def _has_users(self) -> bool:
        exists = self._db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'users'").fetchone()
        return bool(exists and self._db.execute("SELECT 1 FROM users LIMIT 1").fetchone())

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE … COMMIT (ROLLBACK on error): the write lock from the start, no upgrade deadlock."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _user(self, user: str) -> str:
        if self._pseudonym is None:
            raise RuntimeError("this store was opened for reports only (no USER_ID_SECRET)")
        return self._pseudonym(user)

    async def run(self, call: Callable[[], T]) -> T:
        """Run `call` on the store's thread."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, call)

    # -- users -------------------------------------------------------------------------------

    async def visit(self, user: str, limit: RateLimit) -> Visit:
        key = self._user(user)

        def call() -> Visit:
            now = self._clock()
            with self._transaction():
                row = self._db.execute("SELECT window_end, count FROM rate WHERE user = ?", (key,)).fetchone()
                count = row[1] + 1 if row and row[0] > now else 1
                end = row[0] if row and row[0] > now else now + limit.window
                self._db.execute(
                    "INSERT INTO rate (user, window_end, count) VALUES (?, ?, ?) ON CONFLICT (user) DO UPDATE "
                    "SET window_end = excluded.window_end, count = excluded.count",
                    (key, end, count),
                )
                self._db.execute("UPDATE prefs SET seen = ? WHERE user = ?", (now, key))
                prefs = self._db.execute("SELECT lang, last, both_langs FROM prefs WHERE user = ?", (key,)).fetchone()
            return Visit(_prefs(prefs), rate_of(count, limit))

        return await self.run(call)

    async def prefs(self, user: str) -> UserPrefs:
        key = self._user(user)
        return await self.run(
            lambda: _prefs(
                self._db.execute("SELECT lang, last, both_langs FROM prefs WHERE user = ?", (key,)).fetchone()
            )
        )

    async def save_prefs(self, user: str, prefs: UserPrefs) -> None:
        key = self._user(user)
        await self.run(
            lambda: self._db.execute(
                "INSERT INTO prefs (user, lang, last, both_langs, seen) VALUES (?, ?, ?, ?, ?) ON CONFLICT (user) "
                "DO UPDATE SET lang = excluded.lang, last = excluded.last, both_langs = excluded.both_langs, "
                "seen = excluded.seen",
                (key, prefs.lang, prefs.last, int(prefs.both), self._clock()),
            )
        )

    # -- the operators' loop -----------------------------------------------------------------

    async def log_question(self, question: Question) -> None:
        candidates = json.dumps([[c.intent, c.score] for c in question.candidates])
        await self.run(
            lambda: self._db.execute(
                "INSERT INTO questions (at, platform, lang, kind, text, candidates) VALUES (?, ?, ?, ?, ?, ?)",
                (question.at, question.platform, question.lang, question.kind, question.text, candidates),
            )
        )

    async def count(self, day: dt.date, platform: str, lang: str, outcome: str, intent: str) -> None:
        await self.run(
            lambda: self._db.execute(
                "INSERT INTO counts (day, platform, lang, outcome, intent, n) VALUES (?, ?, ?, ?, ?, 1) "
                "ON CONFLICT DO UPDATE SET n = n + 1",
                (day.isoformat(), platform, lang, outcome, intent),
            )
        )

    async def questions(self, since: float | None = None, lang: str | None = None) -> list[Question]:
        sql = "SELECT at, platform, lang, kind, text, candidates FROM questions WHERE at >= ?"
        args: list[object] = [since or 0.0]
        if lang:
            sql += " AND lang = ?"
            args.append(lang)
        rows = await self.run(lambda: self._db.execute(sql + " ORDER BY at, id", args).fetchall())
        return [
            Question(at, platform, lang, kind, text, tuple(Candidate(i, s) for i, s in json.loads(candidates)))
            for at, platform, lang, kind, text, candidates in rows
        ]

    async def usage(self, since: dt.date | None = None) -> list[Tally]:
        rows = await self.run(
            lambda: self._db.execute(
                "SELECT day, platform, lang, outcome, intent, n FROM counts WHERE day >= ? ORDER BY day",
                ((since or dt.date.min).isoformat(),),
            ).fetchall()
        )
        return [Tally(dt.date.fromisoformat(day), *rest) for day, *rest in rows]

    async def forget_idle(self, now: float | None = None) -> int:
        def call() -> int:
            at = self._clock() if now is None else now
            with self._transaction():
                gone = self._db.execute("DELETE FROM prefs WHERE seen < ?", (at - self.retention,)).rowcount
                gone += self._db.execute("DELETE FROM rate WHERE window_end < ?", (at,)).rowcount
                gone += self._db.execute("DELETE FROM questions WHERE at < ?", (at - self.retention,)).rowcount
                gone += self._db.execute("DELETE FROM processed WHERE expires < ?", (at,)).rowcount
            return gone

        return await self.run(call)

    async def close(self) -> None:
        await self.run(self._db.close)
        self._thread.shutdown()


class SqliteInbox:
    """The inbox as a table: a row per acknowledged event, when it was last taken, how often."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self._db = store._db

    async def put(self, event_id: str, platform: str, payload: str, lease: float = LEASE) -> Admission:
        def call() -> Admission:
            now = self._store._clock()
            with self._store._transaction():
                done = self._db.execute(
                    "SELECT 1 FROM processed WHERE id = ? AND expires >= ?", (event_id, now)
                ).fetchone()
                if done:
                    return "done"
                row = self._db.execute("SELECT taken FROM inbox WHERE id = ?", (event_id,)).fetchone()
                if row is None:
                    self._db.execute(
                        "INSERT INTO inbox (id, platform, payload, received, taken, attempts) "
                        "VALUES (?, ?, ?, ?, ?, 1)",
                        (event_id, platform, payload, now, now),
                    )
                    return "new"
                if row[0] > now - lease:
                    return "busy"
                self._db.execute("UPDATE inbox SET taken = ?, attempts = attempts + 1 WHERE id = ?", (now, event_id))
                return "retaken"

        return await self._store.run(call)

    async def done(self, event_id: str, ttl: float = EVENT_TTL) -> None:
        def call() -> None:
            now = self._store._clock()
            with self._store._transaction():
                self._db.execute("DELETE FROM inbox WHERE id = ?", (event_id,))
                self._db.execute(
                    "INSERT INTO processed (id, expires) VALUES (?, ?) ON CONFLICT DO UPDATE SET expires = "
                    "excluded.expires",
                    (event_id, now + ttl),
                )

        await self._store.run(call)

    async def claim(self, lease: float = LEASE, limit: int = 100) -> list[InboxEvent]:
        def call() -> list[InboxEvent]:
            now = self._store._clock()
            with self._store._transaction():
                rows = self._db.execute(
                    "UPDATE inbox SET taken = ?, attempts = attempts + 1 WHERE id IN (SELECT id FROM inbox "
                    "WHERE taken <= ? ORDER BY received LIMIT ?) RETURNING id, platform, payload, received, attempts",
                    (now, now - lease, limit),
                ).fetchall()
            return sorted((InboxEvent(*row) for row in rows), key=lambda e: e.received)

        return await self._store.run(call)

    async def depth(self) -> int:
        count: int = await self._store.run(lambda: self._db.execute("SELECT count(*) FROM inbox").fetchone()[0])
        return count


def _prefs(row: tuple[Any, ...] | None) -> UserPrefs:
    return UserPrefs(row[0], row[1], bool(row[2])) if row else UserPrefs()


def _statements(script: str) -> list[str]:
    """A migration's statements, one by one (executescript would commit our transaction)."""
    return [s.strip() for s in script.split(";") if s.strip()]
