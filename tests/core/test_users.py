"""The SQLite user store on damaged or unusable ground, and failing writes that never stop an answer."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ROOT
from bot.core.assistant import Assistant
from bot.core.models import Incoming
from bot.core.users import SqliteUserStore, StoreError, UserPrefs
from tests.conftest import CONTENT

QUESTION = "特定在留カードってなに？"


def a_store_with_data(path: Path) -> None:
    store = SqliteUserStore(path)
    for n in range(2000):
        store.put(f"line:U{n}", UserPrefs(lang="vi", last="vi"))
        store.first_time(f"line:event-{n}")
    store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()


def damaged(path: Path, how: str) -> None:
    if how == "random-bytes":
        path.write_bytes(os.urandom(64 * 1024))
    elif how == "truncated":
        a_store_with_data(path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    elif how == "garbage-pages":
        a_store_with_data(path)
        raw = bytearray(path.read_bytes())
        raw[8192:40960] = os.urandom(32768)  # pages 3 to 10 (4 KB pages): the header page is intact
        path.write_bytes(bytes(raw))
    elif how == "older-schema":
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE users (key TEXT PRIMARY KEY, lang TEXT)")
        db.execute("INSERT INTO users VALUES ('line:U1', 'vi')")
        db.commit()
        db.close()


@pytest.mark.parametrize("how", ["random-bytes", "truncated", "garbage-pages", "older-schema"])
def test_a_damaged_store_is_moved_aside_and_started_fresh(
    tmp_path: Path, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "tokutei-bot.sqlite3"
    damaged(path, how)
    before = path.read_bytes()
    with caplog.at_level(logging.ERROR):
        store = SqliteUserStore(path)
    store.put("line:U1", UserPrefs(lang="en"))
    assert store.get("line:U1").lang == "en" and store.first_time("line:e1") and not store.first_time("line:e1")
    store.close()
    [kept] = tmp_path.glob("tokutei-bot.sqlite3.damaged-*")
    assert kept.read_bytes() == before  # kept for inspection, as it was
    assert "is damaged" in caplog.text and str(kept) in caplog.text


def test_a_directory_in_place_of_the_store_stops_with_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "tokutei-bot.sqlite3"
    path.mkdir()
    with pytest.raises(StoreError) as error:
        SqliteUserStore(path)
    message = str(error.value)
    assert "\n" not in message and str(path) in message and "move it aside" in message


@pytest.mark.parametrize("where", ["/proc/self/tokutei-bot.sqlite3", "{tmp}/a-file/tokutei-bot.sqlite3"])
def test_a_place_where_no_file_can_be_kept_stops_with_one_clear_line(tmp_path: Path, where: str) -> None:
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    path = Path(where.format(tmp=tmp_path))
    with pytest.raises(StoreError) as error:
        SqliteUserStore(path)
    message = str(error.value)
    assert "\n" not in message and str(path) in message and "DATA_DIR" in message


def test_serve_on_an_unusable_data_dir_exits_with_that_line(tmp_path: Path, translations: Path) -> None:
    (tmp_path / "tokutei-bot.sqlite3").mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--port", "1"], capture_output=True, cwd=ROOT, timeout=120,
        env={**os.environ, "DATA_DIR": str(tmp_path), "INTENTS_DIR": str(CONTENT),
             "TRANSLATIONS_DIR": str(translations), "LOG_LEVEL": "WARNING"},
    )  # fmt: skip
    lines = result.stderr.decode().strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("cannot start: user store ")
    assert "Traceback" not in result.stderr.decode()


@pytest.mark.parametrize("failure", ["read-only", "full"])
def test_failing_writes_never_stop_an_answer(
    tmp_path: Path, assistant: Assistant, failure: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = SqliteUserStore(tmp_path / "tokutei-bot.sqlite3")
    assistant.users = store  # the fixture restores its own store afterwards
    if failure == "read-only":
        store._db.execute("PRAGMA query_only = 1")
    else:
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count = {pages}")
        for table, row in [("users", "(?, NULL, NULL, 0)"), ("events", "(?, 0)")]:  # fill what room is left
            for size in (500, 50, 0):
                with pytest.raises(sqlite3.Error, match="full"):
                    for n in range(10_000):
                        store._db.execute(f"INSERT INTO {table} VALUES {row}", (f"{size}-{n}-" + "x" * size,))
    with caplog.at_level(logging.ERROR):
        reply = assistant.handle(Incoming("line", "U1", text=QUESTION))
        chosen = assistant.handle(Incoming("line", "U1", text="English please"))
        new = assistant.first_time("line:event-1")
    store.close()
    assert reply.kind == "answer" and reply.intent == "card.about" and chosen.lang == "en"
    assert new is True and assistant.store_errors >= 2
    assert "user store put failed" in caplog.text and QUESTION not in caplog.text
