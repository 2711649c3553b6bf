"""The embedded store: one SQLite file in DATA_DIR (WAL), the default when REDIS_URL is unset.

Every call runs on one thread of its own with one connection, so the event loop never waits on the
disk and calls never contend inside the process; several worker processes on one host may share the
file (WAL, a busy timeout, write transactions taken at once with BEGIN IMMEDIATE). Writes are
committed in groups (`GroupCommit`): the writes asked for while a transaction is being committed go
together into the next one, each in a savepoint of its own, and each caller returns only once the
transaction holding its write is committed. Under load one commit serves many events (an inbox
event, a visit, a count...) instead of one each. Deleted rows are overwritten (secure_delete): what
the retention period removes is gone from the file.

Schema versions live in `PRAGMA user_version` and `MIGRATIONS` brings any older file up to date:
version 1 is the file of the first release (`users` by raw "platform:id", seen `events`); version 2
pseudonymises the users, turns seen events into processed ids, and adds the rest; version 3 notes
who holds an inbox event and how its reply began to go out.

A damaged file is moved aside and a fresh one started (it holds settings and counts, not records);
a place where no file can be kept stops the start with one line saying what to fix (`StoreError`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import secrets
import socket
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator
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
    Answered,
    Channel,
    InboxEvent,
    Question,
    RateLimit,
    Sending,
    StoreError,
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
V3 = """
ALTER TABLE inbox ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE inbox ADD COLUMN sending TEXT;
"""
MIGRATIONS = (V1, V2, V3)
"""Migration n brings a file from version n to n + 1 (version 0: a new, empty file)."""
VERSION = len(MIGRATIONS)
RELEASE_1_COLUMNS = {"users": ["key", "lang", "last", "both_langs"], "events": ["key", "seen"]}
"""The first release's tables: a file with other columns under these names is not one of ours."""


class GroupCommit:
    """Writes run on the store's thread in shared transactions, each caller waiting for its own commit.

    A write asked for while none is under way starts a transaction at once; those asked for
    meanwhile wait and go together into the next. Each runs in a savepoint: one that fails is
    undone alone and its caller gets its exception, the others are committed. A transaction that
    cannot be begun or committed (the file locked too long, a full disk) fails every write in it:
    none of them was kept.
    """

    def __init__(self, db: sqlite3.Connection, thread: ThreadPoolExecutor) -> None:
        self._db = db
        self._thread = thread
        self._waiting: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []
        self._committing: asyncio.Task[None] | None = None
        self.transactions = 0
        """Transactions committed or tried (with `writes`: how much grouping there was)."""
        self.writes = 0

    async def __call__(self, call: Callable[[], T]) -> T:
        """Run `call` (statements, no transaction of its own) in the next transaction; its result once committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._waiting.append((call, future))
        if self._committing is None:
            self._committing = loop.create_task(self._commit_all(), name="sqlite-group-commit")
        return await future

    async def finish(self) -> None:
        """Wait until every write asked for so far is committed (or failed)."""
        if self._committing is not None:
            await asyncio.shield(self._committing)

    async def _commit_all(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                batch, self._waiting = self._waiting, []
                self.transactions += 1
                self.writes += len(batch)
                try:
                    outcomes = await loop.run_in_executor(self._thread, self._transaction, [c for c, _ in batch])
                except asyncio.CancelledError:
                    for _, future in batch + self._waiting:
                        future.cancel()
                    raise
                except Exception as exc:  # not begun, or not committed: nothing of the batch was kept
                    outcomes = [(False, exc)] * len(batch)
                for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                    if future.done():  # its caller was cancelled: the write is kept all the same
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
        finally:
            self._committing = None

    def _transaction(self, calls: list[Callable[[], Any]]) -> list[tuple[bool, Any]]:
        """On the store's thread: BEGIN IMMEDIATE, each call in a savepoint, COMMIT (ROLLBACK if that fails)."""
        db = self._db
        outcomes: list[tuple[bool, Any]] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            for call in calls:
                db.execute("SAVEPOINT one")
                try:
                    outcomes.append((True, call()))
                except Exception as exc:
                    db.execute("ROLLBACK TO one")
                    outcomes.append((False, exc))
                db.execute("RELEASE one")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            raise
        return outcomes


class SqliteStore:
    """The `Store` in one SQLite file."""

    def __init__(
        self,
        path: Path,
        pseudonym: Pseudonym | None,
        retention_days: float = RETENTION_DAYS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Open (creating or upgrading) the file; without `pseudonym`, only the reports' reads work.

        Raises:
            StoreError: no database can be kept at `path` (the message says where and what to do).
        """
        self.path = path
        self.retention = retention_days * 86400
        self._pseudonym = pseudonym
        self._clock = clock
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        self._db = open_file(path)
        try:
            self._migrate()
        except sqlite3.DatabaseError as error:
            self._db.close()
            raise StoreError(f"store {path}: cannot be upgraded ({error}); {_fix(str(error))}") from None
        self.write = GroupCommit(self._db, self._thread)
        """Writes (and reads that decide a write) go through here: committed in groups."""
        self.inbox = SqliteInbox(self)

    async def open(self) -> None:
        """Nothing to wait for: the file was opened (and upgraded) by the constructor."""

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
        """Run `call` on the store's thread, outside any transaction (reads; `write` for writes)."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, call)

    # -- users -------------------------------------------------------------------------------

    async def visit(self, user: str, limit: RateLimit) -> Visit:
        key = self._user(user)

        def call() -> Visit:
            now = self._clock()
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

        return await self.write(call)

    async def prefs(self, user: str) -> UserPrefs:
        key = self._user(user)
        return await self.run(
            lambda: _prefs(
                self._db.execute("SELECT lang, last, both_langs FROM prefs WHERE user = ?", (key,)).fetchone()
            )
        )

    def _save_prefs(self, key: str, prefs: UserPrefs) -> None:
        self._db.execute(
            "INSERT INTO prefs (user, lang, last, both_langs, seen) VALUES (?, ?, ?, ?, ?) ON CONFLICT (user) "
            "DO UPDATE SET lang = excluded.lang, last = excluded.last, both_langs = excluded.both_langs, "
            "seen = excluded.seen",
            (key, prefs.lang, prefs.last, int(prefs.both), self._clock()),
        )

    # -- the operators' loop -----------------------------------------------------------------

    def _log_question(self, question: Question) -> None:
        candidates = json.dumps([[c.intent, c.score] for c in question.candidates])
        self._db.execute(
            "INSERT INTO questions (at, platform, lang, kind, text, candidates) VALUES (?, ?, ?, ?, ?, ?)",
            (question.at, question.platform, question.lang, question.kind, question.text, candidates),
        )

    def _count(self, day: dt.date, platform: str, lang: str, outcome: str, intent: str) -> None:
        self._db.execute(
            "INSERT INTO counts (day, platform, lang, outcome, intent, n) VALUES (?, ?, ?, ?, ?, 1) "
            "ON CONFLICT DO UPDATE SET n = n + 1",
            (day.isoformat(), platform, lang, outcome, intent),
        )

    async def record(self, answered: Answered) -> None:
        key = self._user(answered.user) if answered.prefs is not None else ""

        def call() -> None:
            if answered.prefs is not None:
                self._save_prefs(key, answered.prefs)
            self._count(answered.day, answered.platform, answered.lang, answered.outcome, answered.intent)
            if answered.question is not None:
                self._log_question(answered.question)

        await self.write(call)

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
            gone = self._db.execute("DELETE FROM prefs WHERE seen < ?", (at - self.retention,)).rowcount
            gone += self._db.execute("DELETE FROM rate WHERE window_end < ?", (at,)).rowcount
            gone += self._db.execute("DELETE FROM questions WHERE at < ?", (at - self.retention,)).rowcount
            gone += self._db.execute("DELETE FROM processed WHERE expires < ?", (at,)).rowcount
            return gone

        return await self.write(call)

    async def close(self) -> None:
        await self.write.finish()
        await self.run(self._db.close)
        self._thread.shutdown()


class SqliteInbox:
    """The inbox as a table: a row per acknowledged event, who took it when, how often, how its reply began."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self._db = store._db
        self.owner = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        """This instance's name on the events it holds."""

    async def put(self, event_id: str, platform: str, payload: str, lease: float = LEASE) -> Admission:
        def call() -> Admission:
            now = self._store._clock()
            done = self._db.execute("SELECT 1 FROM processed WHERE id = ? AND expires >= ?", (event_id, now)).fetchone()
            if done:
                return "done"
            row = self._db.execute("SELECT taken FROM inbox WHERE id = ?", (event_id,)).fetchone()
            if row is None:
                self._db.execute(
                    "INSERT INTO inbox (id, platform, payload, received, taken, attempts, owner) "
                    "VALUES (?, ?, ?, ?, ?, 1, ?)",
                    (event_id, platform, payload, now, now, self.owner),
                )
                return "new"
            if row[0] > now - lease:
                return "busy"
            self._db.execute(
                "UPDATE inbox SET taken = ?, attempts = attempts + 1, owner = ? WHERE id = ?",
                (now, self.owner, event_id),
            )
            return "retaken"

        return await self._store.write(call)

    async def done(self, event_id: str, ttl: float = EVENT_TTL) -> None:
        def call() -> None:
            now = self._store._clock()
            self._db.execute("DELETE FROM inbox WHERE id = ?", (event_id,))
            self._db.execute(
                "INSERT INTO processed (id, expires) VALUES (?, ?) "
                "ON CONFLICT DO UPDATE SET expires = excluded.expires",
                (event_id, now + ttl),
            )

        await self._store.write(call)

    async def claim(self, lease: float = LEASE, limit: int = 100) -> list[InboxEvent]:
        def call() -> list[InboxEvent]:
            now = self._store._clock()
            rows = self._db.execute(
                "UPDATE inbox SET taken = ?, attempts = attempts + 1, owner = ? WHERE id IN (SELECT id FROM "
                "inbox WHERE taken <= ? ORDER BY received LIMIT ?) "
                "RETURNING id, platform, payload, received, attempts",
                (now, self.owner, now - lease, limit),
            ).fetchall()
            return sorted((InboxEvent(*row) for row in rows), key=lambda e: e.received)

        return await self._store.write(call)

    async def renew(self, event_ids: Collection[str]) -> set[str]:
        wanted = list(dict.fromkeys(event_ids))

        def call() -> set[str]:
            now = self._store._clock()
            kept: set[str] = set()
            for at in range(0, len(wanted), 500):  # under SQLite's limit of bound values
                chunk = wanted[at : at + 500]
                marks = ", ".join("?" * len(chunk))
                rows = self._db.execute(
                    f"UPDATE inbox SET taken = ? WHERE owner = ? AND id IN ({marks}) RETURNING id",
                    (now, self.owner, *chunk),
                ).fetchall()
                kept.update(row[0] for row in rows)
            return set(wanted) - kept

        return await self._store.write(call) if wanted else set()

    async def sending(self, event_id: str, channel: Channel) -> Sending:
        def call() -> Sending:
            row = self._db.execute("SELECT owner, sending FROM inbox WHERE id = ?", (event_id,)).fetchone()
            if row is None or row[0] != self.owner:
                return Sending(ours=False)
            self._db.execute(
                "UPDATE inbox SET sending = ?, taken = ? WHERE id = ?", (channel, self._store._clock(), event_id)
            )
            return Sending(ours=True, earlier=row[1])

        return await self._store.write(call)

    async def depth(self) -> int:
        count: int = await self._store.run(lambda: self._db.execute("SELECT count(*) FROM inbox").fetchone()[0])
        return count


def _prefs(row: tuple[Any, ...] | None) -> UserPrefs:
    return UserPrefs(row[0], row[1], bool(row[2])) if row else UserPrefs()


def _statements(script: str) -> list[str]:
    """A migration's statements, one by one (executescript would commit our transaction)."""
    return [s.strip() for s in script.split(";") if s.strip()]


# -- the file ---------------------------------------------------------------------------------


class _Damaged(Exception):
    """The file is not a sound database of ours: safe to move aside (it holds settings and counts, not records)."""


def open_file(path: Path) -> sqlite3.Connection:
    """The SQLite file at `path`, checked, in WAL mode; a damaged one is moved aside first.

    Raises:
        StoreError: no database can be kept at `path` (the message says where and what to do).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(
            f"store {path}: cannot create its folder ({error.strerror or error}); "
            "create it, or set DATA_DIR to a writable folder"
        ) from None
    if path.exists() and not path.is_file():
        raise StoreError(
            f"store {path}: something other than a file is in its place; "
            f"move it aside (mv {path} {path}.old) or set DATA_DIR to another folder"
        )
    try:
        return _connect(path)
    except _Damaged as damage:
        moved = _move_aside(path)
        log.error("store %s is damaged (%s): moved to %s; starting with an empty one", path, damage, moved)
    try:
        return _connect(path)
    except _Damaged as damage:  # pragma: no cover - a new file that is damaged at once
        raise StoreError(f"store {path}: a new database is damaged at once ({damage}); check the disk") from None


def _connect(path: Path) -> sqlite3.Connection:
    db: sqlite3.Connection | None = None
    try:
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
        # Checked before anything is written, so that a damaged file is moved aside as it was.
        problems = [row[0] for row in db.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise _Damaged("; ".join(str(p) for p in problems)[:200])
        if db.execute("PRAGMA user_version").fetchone()[0] < 2:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            for table in tables & RELEASE_1_COLUMNS.keys():
                columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
                if columns != RELEASE_1_COLUMNS[table]:
                    raise _Damaged(f"table {table} has columns {columns}, not {RELEASE_1_COLUMNS[table]}")
        db.execute("PRAGMA journal_mode=WAL")
        # In WAL mode, NORMAL syncs at checkpoints only: a process killed loses no commit (an acknowledged
        # event is kept); a power cut may lose the last ones. FULL would wait for the disk on every message.
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA secure_delete=ON")
        return db
    except sqlite3.DatabaseError as error:
        if db is not None:
            db.close()
        message = str(error)
        if "not a database" in message or "malformed" in message or "corrupt" in message:
            raise _Damaged(message) from None
        raise StoreError(f"store {path}: {message}; {_fix(message)}") from None
    except _Damaged:
        if db is not None:
            db.close()
        raise


def _fix(message: str) -> str:
    """What to do about an SQLite error that is not damage."""
    if "readonly" in message or "read-only" in message:
        return "make the file and its folder writable, or set DATA_DIR to a writable folder"
    if "full" in message:
        return "free disk space, or set DATA_DIR to a disk with room"
    if "locked" in message:
        return "stop the other process holding it, or set DATA_DIR to another folder"
    return "check that the folder exists and is writable, or set DATA_DIR to one that is"


def _move_aside(path: Path) -> Path:
    """Rename the file (and its WAL files) to `<name>.damaged-<time>`, keeping it for inspection."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        part = path.with_name(path.name + suffix)
        if part.exists():
            try:
                part.rename(target.with_name(target.name + suffix))
            except OSError as error:
                raise StoreError(
                    f"store {path} is damaged and cannot be moved aside ({error.strerror or error}); "
                    f"move it yourself (mv {path} {target}) and start again"
                ) from None
    return target
