"""What the assistant remembers per user: chosen language and two-language mode.

SQLite in DATA_DIR for the server (survives restarts, one file, no service to run); memory for the
console and for `ask`, where every line is a new user.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol


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


class SqliteUserStore:
    """Preferences and seen event ids in one SQLite file."""

    EVENT_TTL = 7 * 24 * 3600
    """Seen events older than this are forgotten; platforms stop redelivering long before."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # In WAL mode, NORMAL syncs at checkpoints only: safe from corruption, and a crash loses no
        # commit; a power cut may lose the last ones (a language choice, a seen event id). FULL
        # would wait for the disk on every message (docs/benchmarks.md).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS users (key TEXT PRIMARY KEY, lang TEXT, last TEXT, both_langs INTEGER NOT NULL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS events (key TEXT PRIMARY KEY, seen REAL NOT NULL)")
        self._db.execute("DELETE FROM events WHERE seen < ?", (time.time() - self.EVENT_TTL,))

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
