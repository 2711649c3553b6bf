"""One suite for both backends: every test runs on a SQLite file and on a real redis-server.

"Two instances" are two store objects opened on the same file or the same Redis, as two server
processes would.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import uuid
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot.core.models import Candidate
from bot.core.users import UserPrefs
from bot.store import Answered, Question, RateLimit, Sending, Store
from bot.store.pseudonym import Pseudonym
from bot.store.redis_store import RedisStore
from bot.store.sqlite_store import FILE_NAME, SqliteStore
from tests.conftest import STORE_SECRET as SECRET
from tests.conftest import Opener
from tests.store.keeping import count, keep_prefs, keep_question

USER = "line:U4af4980629b7a1e6a4c2f1d3e5b7c9d1"
OTHER = "telegram:123456789"


@pytest.fixture
async def store(stores: Opener) -> Store:
    return await stores()


async def everything(store: Store) -> str:
    """All a backend holds, as text: to look for what must not be there."""
    if isinstance(store, SqliteStore):
        db = sqlite3.connect(store.path)
        try:
            dump = "\n".join(db.iterdump())
        finally:
            db.close()
        raw = b"".join(p.read_bytes() for p in store.path.parent.glob(store.path.name + "*"))
        return dump + raw.decode("latin-1")
    assert isinstance(store, RedisStore)
    parts = []
    async for key in store.redis.scan_iter(match=store.prefix + "*"):
        parts.append(key)
        parts.append(repr(await store.redis.dump(key)))
    return "\n".join(parts)


# -- users -----------------------------------------------------------------------------------


async def test_an_unknown_user_has_default_settings(store: Store) -> None:
    assert await store.prefs(USER) == UserPrefs()
    assert (await store.visit(USER, RateLimit())).prefs == UserPrefs()


async def test_settings_saved_on_one_instance_are_read_on_another(stores: Opener) -> None:
    one, other = await stores(), await stores()
    await keep_prefs(one, USER, UserPrefs(lang="vi", last="vi", both=True))

    assert await other.prefs(USER) == UserPrefs("vi", "vi", True)
    assert (await other.visit(USER, RateLimit())).prefs == UserPrefs("vi", "vi", True)
    assert await other.prefs(OTHER) == UserPrefs()


async def test_settings_can_be_cleared(store: Store) -> None:
    await keep_prefs(store, USER, UserPrefs(lang="vi", last="vi", both=True))
    await keep_prefs(store, USER, UserPrefs(lang=None, last="en", both=False))

    assert await store.prefs(USER) == UserPrefs(None, "en", False)


async def test_platform_user_ids_are_never_stored(store: Store) -> None:
    await keep_prefs(store, USER, UserPrefs(lang="vi"))
    await store.visit(USER, RateLimit())
    await store.visit(OTHER, RateLimit())

    held = await everything(store)
    assert "U4af4980629b7a1e6a4c2f1d3e5b7c9d1" not in held and "123456789" not in held
    assert Pseudonym(SECRET)(USER) in held


# -- rate limit ------------------------------------------------------------------------------


async def test_rate_limit_notifies_once_then_is_silent_across_instances(stores: Opener) -> None:
    one, other = await stores(), await stores()
    limit = RateLimit(messages=3, window=60)

    rates = [(await (one if n % 2 else other).visit(USER, limit)).rate for n in range(6)]

    assert rates == ["ok", "ok", "ok", "notify", "silent", "silent"]
    assert (await one.visit(OTHER, limit)).rate == "ok"  # per user


async def test_rate_limit_window_passes(store: Store) -> None:
    limit = RateLimit(messages=1, window=0.2)
    assert [(await store.visit(USER, limit)).rate for _ in range(3)] == ["ok", "notify", "silent"]

    await asyncio.sleep(0.3)  # the window has certainly passed

    assert (await store.visit(USER, limit)).rate == "ok"


async def test_concurrent_visits_are_all_counted(stores: Opener) -> None:
    one, other = await stores(), await stores()
    limit = RateLimit(messages=10, window=60)

    visits = await asyncio.gather(*((one, other)[n % 2].visit(USER, limit) for n in range(14)))

    assert sorted(v.rate for v in visits) == ["notify"] + ["ok"] * 10 + ["silent"] * 3


# -- inbox -----------------------------------------------------------------------------------


async def test_inbox_takes_an_event_once_until_done(store: Store) -> None:
    assert await store.inbox.put("line:e1", "line", "{}") == "new"
    assert await store.inbox.put("line:e1", "line", "{}") == "busy"
    assert await store.inbox.depth() == 1

    await store.inbox.done("line:e1")

    assert await store.inbox.put("line:e1", "line", "{}") == "done"
    assert await store.inbox.depth() == 0


async def test_same_event_to_two_instances_is_taken_by_one(stores: Opener) -> None:
    one, other = await stores(), await stores()

    admissions = await asyncio.gather(*((one, other)[n % 2].inbox.put("line:e2", "line", "{}") for n in range(20)))

    assert sorted(admissions) == ["busy"] * 19 + ["new"]


async def test_an_unfinished_event_is_claimed_after_its_lease(stores: Opener) -> None:
    crashed, survivor = await stores(), await stores()
    await crashed.inbox.put("telegram:update:7", "telegram", '{"update_id": 7}')
    assert await survivor.inbox.claim(lease=60) == []
    await asyncio.sleep(3.0)
    await crashed.inbox.put("telegram:update:8", "telegram", '{"update_id": 8}')

    claimed = await survivor.inbox.claim(lease=1.5)  # held 3 s: taken; held a moment: left

    assert [(e.id, e.platform, e.payload, e.attempts) for e in claimed] == [
        ("telegram:update:7", "telegram", '{"update_id": 7}', 2)
    ]
    assert await crashed.inbox.claim(lease=1.5) == []  # the survivor has just taken it
    await survivor.inbox.done("telegram:update:7")
    assert await survivor.inbox.depth() == 1


async def test_a_redelivered_unanswered_event_is_retaken(stores: Opener) -> None:
    crashed, other = await stores(), await stores()
    await crashed.inbox.put("line:e3", "line", "{}")

    await asyncio.sleep(0.3)

    assert await other.inbox.put("line:e3", "line", "{}", lease=0.2) == "retaken"
    assert await crashed.inbox.put("line:e3", "line", "{}", lease=60) == "busy"


async def test_renewed_events_are_not_taken_over_and_lost_ones_are_named(stores: Opener) -> None:
    holder, other = await stores(), await stores()
    await holder.inbox.put("line:r1", "line", "{}")
    await holder.inbox.put("line:r2", "line", "{}")
    await asyncio.sleep(1.5)

    assert await holder.inbox.renew(["line:r1"]) == set()
    [taken] = await other.inbox.claim(lease=1.0)  # r1 was renewed a moment ago; r2 was not

    assert taken.id == "line:r2"
    assert await holder.inbox.renew(["line:r1", "line:r2", "line:unknown"]) == {"line:r2", "line:unknown"}
    assert await other.inbox.put("line:r1", "line", "{}", lease=1.0) == "busy"


async def test_sending_says_whose_event_it_is_and_how_a_reply_had_begun(stores: Opener) -> None:
    crashed, survivor = await stores(), await stores()
    await crashed.inbox.put("line:s1", "line", "{}")
    await crashed.inbox.put("line:s2", "line", "{}")
    assert await crashed.inbox.sending("line:s1", "reply") == Sending(ours=True, earlier=None)
    assert await survivor.inbox.sending("line:s1", "push") == Sending(ours=False)
    await asyncio.sleep(0.3)

    taken = {e.id for e in await survivor.inbox.claim(lease=0.2)}

    assert taken == {"line:s1", "line:s2"}
    assert await survivor.inbox.sending("line:s1", "push") == Sending(ours=True, earlier="reply")
    assert await survivor.inbox.sending("line:s2", "reply") == Sending(ours=True, earlier=None)
    assert await crashed.inbox.sending("line:s1", "reply") == Sending(ours=False)  # it lost the event
    await survivor.inbox.done("line:s1")
    assert await survivor.inbox.sending("line:s1", "push") == Sending(ours=False)  # done: nobody's


async def test_claim_returns_the_oldest_first_within_the_limit(store: Store) -> None:
    for n in range(5):
        await store.inbox.put(f"line:o{n}", "line", str(n))
    await asyncio.sleep(1.2)

    first = await store.inbox.claim(lease=1.0, limit=3)  # the next claim comes well within their new lease
    rest = await store.inbox.claim(lease=1.0, limit=3)

    assert [e.payload for e in first] == ["0", "1", "2"] and [e.payload for e in rest] == ["3", "4"]


async def test_a_processed_id_is_forgotten_after_its_ttl(store: Store) -> None:
    await store.inbox.put("line:e4", "line", "{}")
    await store.inbox.done("line:e4", ttl=0.1)

    await asyncio.sleep(0.2)

    assert await store.inbox.put("line:e4", "line", "{}") == "new"


# -- operators' log and counts ---------------------------------------------------------------


def question(text: str, lang: str | None = "en", at: float = 0.0) -> Question:
    return Question(at or 1_800_000_000.0, "line", lang, "fallback", text, (Candidate("card.renew", 41.5),))


async def test_questions_are_read_back_filtered_by_time_and_language(stores: Opener) -> None:
    one, other = await stores(), await stores()
    await keep_question(one, question("how much is [phone]", at=1_800_000_000.0))
    await keep_question(other, question("tiền phí bao nhiêu", "vi", at=1_800_000_100.0))
    await keep_question(one, question("where is it", None, at=1_800_000_200.0))

    everything_ = await other.questions()
    assert [q.text for q in everything_] == ["how much is [phone]", "tiền phí bao nhiêu", "where is it"]
    assert everything_[0] == question("how much is [phone]", at=1_800_000_000.0)
    assert [q.text for q in await one.questions(since=1_800_000_050.0)] == ["tiền phí bao nhiêu", "where is it"]
    assert [q.text for q in await one.questions(lang="vi")] == ["tiền phí bao nhiêu"]


async def test_counts_add_up_across_instances(stores: Opener) -> None:
    one, other = await stores(), await stores()
    day, next_day = dt.date(2026, 11, 27), dt.date(2026, 11, 28)
    await asyncio.gather(*(count(s, day, "line", "vi", "answer", "card.renew") for s in (one, other, one)))
    await count(other, day, "telegram", "ne", "fallback", "")
    await count(one, next_day, "line", "vi", "answer", "card.renew")

    tallies = {(t.day, t.platform, t.lang, t.outcome, t.intent): t.count for t in await other.usage()}
    assert tallies == {
        (day, "line", "vi", "answer", "card.renew"): 3,
        (day, "telegram", "ne", "fallback", ""): 1,
        (next_day, "line", "vi", "answer", "card.renew"): 1,
    }
    assert {t.day for t in await one.usage(since=next_day)} == {next_day}


async def test_what_an_answer_leaves_is_kept_in_one_record(stores: Opener) -> None:
    one, other = await stores(), await stores()
    day = dt.date(2026, 11, 27)
    asked = question("tiền phí bao nhiêu", "vi", at=1_800_000_000.0)
    await one.record(Answered(USER, day, "line", "vi", "fallback", "", UserPrefs(last="vi"), asked))
    await other.record(Answered(OTHER, day, "telegram", "en", "answer", "card.renew"))  # settings unchanged

    assert await other.prefs(USER) == UserPrefs(last="vi") and await one.prefs(OTHER) == UserPrefs()
    assert await other.questions() == [asked]
    tallies = {(t.platform, t.lang, t.outcome, t.intent): t.count for t in await one.usage()}
    assert tallies == {("line", "vi", "fallback", ""): 1, ("telegram", "en", "answer", "card.renew"): 1}


# -- retention -------------------------------------------------------------------------------


async def test_old_questions_are_deleted_after_the_retention_period(store: Store) -> None:
    now = dt.datetime.now().timestamp()
    await keep_question(store, question("recent", at=now))

    await store.forget_idle(now=now + 179 * 86400)
    assert [q.text for q in await store.questions()] == ["recent"]
    await store.forget_idle(now=now + 181 * 86400)
    assert await store.questions() == []


async def test_sqlite_forgets_users_idle_for_the_retention_period(tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    store = SqliteStore(tmp_path / FILE_NAME, Pseudonym(SECRET), clock=lambda: now[0])
    await keep_prefs(store, USER, UserPrefs(lang="vi"))
    await keep_prefs(store, OTHER, UserPrefs(lang="ne"))
    now[0] += 100 * 86400
    await store.visit(USER, RateLimit())  # a message keeps the user

    now[0] += 100 * 86400
    await store.forget_idle()

    assert await store.prefs(USER) == UserPrefs(lang="vi")
    assert await store.prefs(OTHER) == UserPrefs()
    await store.close()


async def test_redis_user_settings_expire_after_the_retention_period(redis_url: str) -> None:
    store = await RedisStore.connect(redis_url, Pseudonym(SECRET), prefix=f"t-{uuid.uuid4().hex[:8]}:")
    await keep_prefs(store, USER, UserPrefs(lang="vi"))
    await store.visit(USER, RateLimit())

    ttl = await store.redis.ttl(store.key("user", Pseudonym(SECRET)(USER)))

    assert 179 * 86400 < ttl <= 180 * 86400
    await store.close()


async def test_reports_only_store_refuses_user_operations(tmp_path: Path, redis_url: str) -> None:
    for store in (
        SqliteStore(tmp_path / FILE_NAME, None),
        await RedisStore.connect(redis_url, None, prefix=f"t-{uuid.uuid4().hex[:8]}:"),
    ):
        assert await store.questions() == []
        with pytest.raises(RuntimeError, match="reports only"):
            await store.prefs(USER)
        await store.close()


async def test_redis_connection_error_is_raised_at_connect() -> None:
    with pytest.raises(aioredis.ConnectionError):
        await RedisStore.connect("redis://127.0.0.1:1/0", Pseudonym(SECRET))
