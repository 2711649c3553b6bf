"""What the assistant remembers per user: chosen language and two-language mode.

SQLite in DATA_DIR for the server (survives restarts, one file, no service to run); memory for the
console and for `ask`, where every line is a new user. A damaged file is moved aside and a fresh
one started (what it holds is convenience, not records); a place where no file can be kept stops
the start with one line saying what to fix (`StoreError`).
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

SCHEMA = {
    "users": "CREATE TABLE users (key TEXT PRIMARY KEY, lang TEXT, last TEXT, both_langs INTEGER NOT NULL)",
    "events": "CREATE TABLE events (key TEXT PRIMARY KEY, seen REAL NOT NULL)",
}
COLUMNS = {"users": ["key", "lang", "last", "both_langs"], "events": ["key", "seen"]}


class StoreError(Exception):
    """The user store cannot be opened; the message is one line: what, where, and how to fix it."""


class _Damaged(Exception):
    """The file is not a sound database of ours: safe to move aside (it holds preferences, not records)."""


@dataclass(frozen=True)
class UserPrefs:
    """A user's settings; `lang` None means not chosen yet."""

    lang: str | None = None
    """The language the user chose (explicit choice always wins)."""
    last: str | None = None
    """The language of the last reply: short messages ("ok") keep it."""
    both: bool = False
    """Answer in the user's language and in easy Japanese (for NPO staff)."""

    def with_(self, **changes: object) -> UserPrefs:
        """A copy with `changes` applied."""
        return replace(self, **changes)  # type: ignore[arg-type]


class UserStore(Protocol):
    """Keeps `UserPrefs` by user key ("platform:user id")."""

    def get(self, key: str) -> UserPrefs: ...

    def put(self, key: str, prefs: UserPrefs) -> None: ...

    def first_time(self, event_key: str) -> bool:
        """True the first time an event key is seen (platform redeliveries come again)."""
        ...


class MemoryUserStore:
    """Preferences in a dict: for the console, `ask` and tests."""

    def __init__(self) -> None:
        self._prefs: dict[str, UserPrefs] = {}
        self._events: set[str] = set()

    def get(self, key: str) -> UserPrefs:
        return self._prefs.get(key, UserPrefs())

    def put(self, key: str, prefs: UserPrefs) -> None:
        self._prefs[key] = prefs

    def first_time(self, event_key: str) -> bool:
        if event_key in self._events:
            return False
        self._events.add(event_key)
        return True


class OneUser:
    """One user's settings, read from the shared store before a message and written back after it.

    The server's assistant works on this (sync, in memory) while the store stays async
    (`bot.pipeline`); `changed` says whether there is anything to write.
    """

    def __init__(self, key: str, prefs: UserPrefs) -> None:
        self.key = key
        self.prefs = prefs
        self.changed = False

    def get(self, key: str) -> UserPrefs:
        self._check(key)
        return self.prefs

    def put(self, key: str, prefs: UserPrefs) -> None:
        self._check(key)
        self.changed = self.changed or prefs != self.prefs
        self.prefs = prefs

    def first_time(self, event_key: str) -> bool:
        raise NotImplementedError("events are the inbox's (bot.store)")

    def _check(self, key: str) -> None:
        if key != self.key:
            raise KeyError("OneUser holds another user's settings")


class SqliteUserStore:
    """Preferences and seen event ids in one SQLite file."""

    EVENT_TTL = 7 * 24 * 3600
    """Seen events older than this are forgotten; platforms stop redelivering long before."""

    def __init__(self, path: Path) -> None:
        """Open (or create) the store at `path`.

        Raises:
            StoreError: no database can be kept there (a directory in its place, a read-only or full
                disk); the message says where and what to do.
        """
        self.path = path
        self._lock = threading.Lock()
        self._db = open_database(path)
        try:
            self._db.execute("DELETE FROM events WHERE seen < ?", (time.time() - self.EVENT_TTL,))
        except sqlite3.Error as error:  # a full disk: answering needs no clean-up
            log.warning("user store %s: old event ids not removed (%s)", path, error)

    def get(self, key: str) -> UserPrefs:
        with self._lock:
            row = self._db.execute("SELECT lang, last, both_langs FROM users WHERE key = ?", (key,)).fetchone()
        return UserPrefs(row[0], row[1], bool(row[2])) if row else UserPrefs()

    def put(self, key: str, prefs: UserPrefs) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO users (key, lang, last, both_langs) VALUES (?, ?, ?, ?) ON CONFLICT(key) "
                "DO UPDATE SET lang = excluded.lang, last = excluded.last, both_langs = excluded.both_langs",
                (key, prefs.lang, prefs.last, int(prefs.both)),
            )

    def first_time(self, event_key: str) -> bool:
        with self._lock:
            cur = self._db.execute("INSERT OR IGNORE INTO events (key, seen) VALUES (?, ?)", (event_key, time.time()))
        return cur.rowcount == 1

    def close(self) -> None:
        """Close the database file."""
        with self._lock:
            self._db.close()


def open_database(path: Path) -> sqlite3.Connection:
    """The SQLite file at `path`, checked and with our tables; a damaged one is moved aside first.

    Raises:
        StoreError: no database can be kept at `path`.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(
            f"user store {path}: cannot create its folder ({error.strerror or error}); "
            "create it, or set DATA_DIR to a writable folder"
        ) from None
    if path.exists() and not path.is_file():
        raise StoreError(
            f"user store {path}: something other than a file is in its place; "
            f"move it aside (mv {path} {path}.old) or set DATA_DIR to another folder"
        )
    try:
        return _connect(path)
    except _Damaged as damage:
        moved = _move_aside(path)
        log.error("user store %s is damaged (%s): moved to %s; starting with an empty one", path, damage, moved)
    try:
        return _connect(path)
    except _Damaged as damage:  # pragma: no cover - a new file that is damaged at once
        raise StoreError(f"user store {path}: a new database is damaged at once ({damage}); check the disk") from None


def _connect(path: Path) -> sqlite3.Connection:
    db: sqlite3.Connection | None = None
    try:
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        # Checked before anything is written, so that a damaged file is moved aside as it was.
        problems = [row[0] for row in db.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise _Damaged("; ".join(str(p) for p in problems)[:200])
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table in tables & SCHEMA.keys():
            columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
            if columns != COLUMNS[table]:
                raise _Damaged(f"table {table} has columns {columns}, not {COLUMNS[table]} (another version's file)")
        db.execute("PRAGMA journal_mode=WAL")
        # In WAL mode, NORMAL syncs at checkpoints only: safe from corruption, and a crash loses no
        # commit; a power cut may lose the last ones (a language choice, a seen event id). FULL
        # would wait for the disk on every message (docs/benchmarks.md).
        db.execute("PRAGMA synchronous=NORMAL")
        for table in SCHEMA.keys() - tables:
            db.execute(SCHEMA[table])
        return db
    except sqlite3.DatabaseError as error:
        if db is not None:
            db.close()
        message = str(error)
        if "not a database" in message or "malformed" in message or "corrupt" in message:
            raise _Damaged(message) from None
        if "readonly" in message or "read-only" in message:
            fix = "make the file and its folder writable, or set DATA_DIR to a writable folder"
        elif "full" in message:
            fix = "free disk space, or set DATA_DIR to a disk with room"
        elif "locked" in message:
            fix = "stop the other process using it, or give each instance its own DATA_DIR"
        else:
            fix = "check that the folder exists and is writable, or set DATA_DIR to one that is"
        raise StoreError(f"user store {path}: {message}; {fix}") from None
    except _Damaged:
        if db is not None:
            db.close()
        raise


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
                    f"user store {path} is damaged and cannot be moved aside ({error.strerror or error}); "
                    f"move it yourself (mv {path} {target}) and start again"
                ) from None
    return target
