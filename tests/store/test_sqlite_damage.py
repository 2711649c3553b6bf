"""The SQLite store on damaged or unusable ground, and failing writes that never stop an answer."""

from __future__ import annotations

import asyncio
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
from bot.core.users import UserPrefs
from bot.metrics import Metrics
from bot.pipeline import Pipeline
from bot.store import RateLimit, StoreError
from bot.store.pseudonym import Pseudonym
from bot.store.sqlite_store import FILE_NAME, SqliteStore
from tests.conftest import CONTENT, STORE_SECRET
from tests.store.keeping import keep_prefs

QUESTION = "特定在留カードってなに？"


def a_store_with_data(path: Path) -> None:
    async def fill() -> None:
        store = SqliteStore(path, Pseudonym(STORE_SECRET))
        for n in range(500):
            await keep_prefs(store, f"line:U{n}", UserPrefs(lang="vi", last="vi"))
            await store.inbox.put(f"line:event-{n}", "line", "{}")
            await store.inbox.done(f"line:event-{n}")
        await store.run(lambda: store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)"))
        await store.close()

    asyncio.run(fill())


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
    elif how == "other-schema":  # a file of someone else's with our first release's table names
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE users (key TEXT PRIMARY KEY, lang TEXT)")
        db.execute("INSERT INTO users VALUES ('line:U1', 'vi')")
        db.commit()
        db.close()


@pytest.mark.parametrize("how", ["random-bytes", "truncated", "garbage-pages", "other-schema"])
def test_a_damaged_store_is_moved_aside_and_started_fresh(
    tmp_path: Path, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / FILE_NAME
    damaged(path, how)
    before = path.read_bytes()
    with caplog.at_level(logging.ERROR):
        store = SqliteStore(path, Pseudonym(STORE_SECRET))

    async def use() -> None:
        await keep_prefs(store, "line:U1", UserPrefs(lang="en"))
        assert (await store.prefs("line:U1")).lang == "en"
        assert await store.inbox.put("line:e1", "line", "{}") == "new"
        await store.close()

    asyncio.run(use())
    [kept] = tmp_path.glob(f"{FILE_NAME}.damaged-*")
    assert kept.read_bytes() == before  # kept for inspection, as it was
    assert "is damaged" in caplog.text and str(kept) in caplog.text


def test_a_directory_in_place_of_the_store_stops_with_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    path.mkdir()
    with pytest.raises(StoreError) as error:
        SqliteStore(path, Pseudonym(STORE_SECRET))
    message = str(error.value)
    assert "\n" not in message and str(path) in message and "move it aside" in message


@pytest.mark.parametrize("where", ["/proc/self/tokutei-bot.sqlite3", "{tmp}/a-file/tokutei-bot.sqlite3"])
def test_a_place_where_no_file_can_be_kept_stops_with_one_clear_line(tmp_path: Path, where: str) -> None:
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    path = Path(where.format(tmp=tmp_path))
    with pytest.raises(StoreError) as error:
        SqliteStore(path, Pseudonym(STORE_SECRET))
    message = str(error.value)
    assert "\n" not in message and str(path) in message and "DATA_DIR" in message


def test_serve_on_an_unusable_data_dir_exits_with_that_line(tmp_path: Path, translations: Path) -> None:
    (tmp_path / FILE_NAME).mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--port", "1"], capture_output=True, cwd=ROOT, timeout=120,
        env={**os.environ, "DATA_DIR": str(tmp_path), "INTENTS_DIR": str(CONTENT),
             "TRANSLATIONS_DIR": str(translations), "LOG_LEVEL": "WARNING"},
    )  # fmt: skip
    lines = result.stderr.decode().strip().splitlines()
    assert result.returncode == 2 and lines[-1].startswith("cannot start: store ")
    assert all(" WARNING " in line for line in lines[:-1])  # the pseudonyms' secret generated on a first start
    assert "Traceback" not in result.stderr.decode()


@pytest.mark.parametrize("failure", ["read-only", "full"])
async def test_failing_writes_never_stop_an_answer(
    tmp_path: Path, shared_assistant: Assistant, failure: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = SqliteStore(tmp_path / FILE_NAME, Pseudonym(STORE_SECRET))
    db = store._db
    if failure == "read-only":
        await store.run(lambda: db.execute("PRAGMA query_only = 1"))
    else:

        def fill() -> None:
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            db.execute(f"PRAGMA max_page_count = {pages}")
            rows = {"rate": "(?, 0, 0)", "prefs": "(?, NULL, NULL, 0, 0)", "counts": "(?, '', '', '', '', 0)"}
            for table, row in rows.items():  # fill what room is left in each table the pipeline writes
                for size in (500, 50, 0):
                    with pytest.raises(sqlite3.Error, match="full"):
                        for n in range(10_000):
                            db.execute(f"INSERT INTO {table} VALUES {row}", (f"{size}-{n}-" + "x" * size,))

        await store.run(fill)
    pipeline = Pipeline(lambda: shared_assistant, store, RateLimit(), Metrics())
    with caplog.at_level(logging.ERROR):
        reply = await pipeline.handle(Incoming("line", "U1", text=QUESTION))
        chosen = await pipeline.handle(Incoming("line", "U1", text="English please"))
    await store.close()
    assert reply is not None and reply.kind == "answer" and reply.intent == "card.about"
    assert chosen is not None and chosen.lang == "en"
    assert pipeline.store_errors >= 2
    assert "store visit failed" in caplog.text and QUESTION not in caplog.text
