"""An older SQLite file opens and is upgraded in place.

`tests/fixtures/store/release-1.sqlite3` was written by the first release's `SqliteUserStore`
(bot/core/users.py at commit bf73886): three users by raw "platform:id" and two seen events.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from bot.core.users import UserPrefs
from bot.store.pseudonym import Pseudonym
from bot.store.sqlite_store import FILE_NAME, VERSION, SqliteStore

HERE = Path(__file__).resolve().parent.parent
RELEASE_1 = HERE / "fixtures" / "store" / "release-1.sqlite3"
RELEASE_1_SEEN = 1796286943.9
"""When the fixture's events were seen (its `events.seen`)."""
SECRET = b"migration-secret-0123456789"


@pytest.fixture
def old_file(tmp_path: Path) -> Path:
    path = tmp_path / FILE_NAME
    shutil.copy(RELEASE_1, path)
    return path


def tables(path: Path) -> set[str]:
    db = sqlite3.connect(path)
    try:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        db.close()


async def test_release_1_file_is_upgraded_keeping_users_and_seen_events(old_file: Path) -> None:
    assert tables(old_file) == {"users", "events"}
    store = SqliteStore(old_file, Pseudonym(SECRET), clock=lambda: RELEASE_1_SEEN + 60)

    assert await store.prefs("line:U4af4980629b7a1e6a4c2f1d3e5b7c9d1") == UserPrefs("vi", "vi", False)
    assert await store.prefs("telegram:123456789") == UserPrefs(None, "ne", True)
    assert await store.prefs("web:5f2c9a7e") == UserPrefs("en", "en", False)
    assert await store.inbox.put("line:01HZY3K4Q8ZB6F0W2D7C9E1XRA", "line", "{}") == "done"
    assert await store.inbox.put("telegram:update:987654", "telegram", "{}") == "done"
    await store.close()

    db = sqlite3.connect(old_file)
    assert db.execute("PRAGMA user_version").fetchone()[0] == VERSION
    db.close()
    assert "users" not in tables(old_file) and "prefs" in tables(old_file)
    raw = b"".join(p.read_bytes() for p in old_file.parent.glob(FILE_NAME + "*"))
    assert b"U4af4980629b7a1e6a4c2f1d3e5b7c9d1" not in raw and b"123456789" not in raw


async def test_upgraded_file_opens_again_unchanged(old_file: Path) -> None:
    store = SqliteStore(old_file, Pseudonym(SECRET))
    await store.close()
    again = SqliteStore(old_file, Pseudonym(SECRET))

    assert await again.prefs("line:U4af4980629b7a1e6a4c2f1d3e5b7c9d1") == UserPrefs("vi", "vi", False)
    await again.close()


async def test_a_new_file_gets_the_current_schema(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / FILE_NAME, Pseudonym(SECRET))
    await store.close()

    assert {"prefs", "rate", "processed", "inbox", "questions", "counts"} <= tables(tmp_path / FILE_NAME)


async def test_a_file_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {VERSION + 1}")
    db.close()

    with pytest.raises(RuntimeError, match="newer"):
        SqliteStore(path, Pseudonym(SECRET))


async def test_an_old_file_needs_the_secret_to_be_upgraded(old_file: Path) -> None:
    with pytest.raises(RuntimeError, match="needs USER_ID_SECRET"):
        SqliteStore(old_file, None)
    assert tables(old_file) == {"users", "events"}  # nothing half done
