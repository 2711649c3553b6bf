"""The shared store: Redis (redis-py asyncio) when REDIS_URL is set, for several instances at once.

Keys (all under one prefix, "tokutei:" by default, so one Redis can serve several bots):

| key | type | what |
|---|---|---|
| `user:<pseudonym>` | hash | lang, last, both; expires after the retention period without a message |
| `rate:<pseudonym>` | counter | messages in the current window; expires with the window |
| `done:<event id>` | string | a processed event id; expires after `EVENT_TTL` |
| `inbox` | stream, group `bot` | acknowledged events not yet answered (XADD, XAUTOCLAIM, XACK + XDEL) |
| `inbox:ids` | hash | event id → its stream entry, to recognise a redelivery |
| `inbox:sending` | hash | event id → how its reply began to go out (reply, push, send) |
| `questions` | stream | unanswered and did-you-mean questions (redacted); trimmed to the retention period |
| `counts:<day>`, `counts:days` | hash, set | message counts of a day (Japan), and which days have counts |

Every step that must not interleave with another instance's is one Lua script or one MULTI, so
two instances given the same event never both take it. Needs Redis 7 (XAUTOCLAIM's deleted-entry
list).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import socket
import time
from collections.abc import Callable, Collection
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

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
    Tally,
    Visit,
    rate_of,
)
from bot.store.pseudonym import Pseudonym

GROUP = "bot"
POOL_SIZE = 64
"""Connections to Redis per instance at most: a burst waits for one rather than opening hundreds."""
POOL_WAIT = 10.0
"""Seconds a call waits for a free connection before it fails (and is counted as a store error)."""
STALE_CONSUMER_MS = 24 * 3600 * 1000
"""A consumer (an instance that has gone) with nothing pending is removed from the group after a day idle."""

PUT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 'done' end
local sid = redis.call('HGET', KEYS[2], ARGV[1])
if sid then
  local pending = redis.call('XPENDING', KEYS[3], ARGV[2], sid, sid, 1)
  if #pending == 1 then
    if pending[1][3] < tonumber(ARGV[4]) then return 'busy' end
    redis.call('XCLAIM', KEYS[3], ARGV[2], ARGV[3], 0, sid)
    return 'retaken'
  end
end
local id = redis.call('XADD', KEYS[3], '*', 'event', ARGV[1], 'platform', ARGV[5], 'payload', ARGV[6],
  'received', ARGV[7])
redis.call('HSET', KEYS[2], ARGV[1], id)
-- Every entry is read in the script that adds it, so the one undelivered entry is this one: it
-- becomes pending for this instance, as if handed to it.
redis.call('XREADGROUP', 'GROUP', ARGV[2], ARGV[3], 'COUNT', 1, 'STREAMS', KEYS[3], '>')
return 'new'
"""
"""KEYS: done key, ids hash, stream. ARGV: event id, group, consumer, lease ms, platform, payload, received."""

DONE = """
redis.call('SET', KEYS[1], '1', 'PX', ARGV[3])
local sid = redis.call('HGET', KEYS[2], ARGV[1])
if sid then
  redis.call('XACK', KEYS[3], ARGV[2], sid)
  redis.call('XDEL', KEYS[3], sid)
  redis.call('HDEL', KEYS[2], ARGV[1])
end
redis.call('HDEL', KEYS[4], ARGV[1])
return 1
"""
"""KEYS: done key, ids hash, stream, sending hash. ARGV: event id, group, ttl ms."""

HELD = """
local function held(event)
  local sid = redis.call('HGET', KEYS[1], event)
  if not sid then return nil end
  local pending = redis.call('XPENDING', KEYS[2], ARGV[1], sid, sid, 1)
  if #pending == 1 and pending[1][2] == ARGV[2] then return sid end
  return nil
end
"""
"""Lua: the stream entry of an event if this consumer holds it (KEYS: ids hash, stream; ARGV: group, consumer)."""

RENEW = (
    HELD
    + """
local lost = {}
for i = 3, #ARGV do
  local sid = held(ARGV[i])
  if sid then redis.call('XCLAIM', KEYS[2], ARGV[1], ARGV[2], 0, sid, 'JUSTID') else table.insert(lost, ARGV[i]) end
end
return lost
"""
)
"""KEYS: ids hash, stream. ARGV: group, consumer, event ids... Returns the ids no longer held. XCLAIM to
oneself with JUSTID sets the entry's idle time back to 0 and leaves its delivery count as it was."""

SENDING = (
    HELD
    + """
local sid = held(ARGV[3])
if not sid then return {0, false} end
redis.call('XCLAIM', KEYS[2], ARGV[1], ARGV[2], 0, sid, 'JUSTID')
local earlier = redis.call('HGET', KEYS[3], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
return {1, earlier}
"""
)
"""KEYS: ids hash, stream, sending hash. ARGV: group, consumer, event id, channel. Returns [ours, earlier]."""

CLAIM = """
local claimed = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], '0-0', 'COUNT', ARGV[4])
local out = {}
for _, entry in ipairs(claimed[2]) do
  local pending = redis.call('XPENDING', KEYS[1], ARGV[1], entry[1], entry[1], 1)
  table.insert(out, {entry[2], pending[1][4]})
end
for _, gone in ipairs(claimed[3]) do redis.call('XACK', KEYS[1], ARGV[1], gone) end
return out
"""
"""KEYS: stream. ARGV: group, consumer, lease ms, count. Returns [fields, times delivered] per entry."""


class RedisStore:
    """The `Store` in Redis."""

    def __init__(
        self,
        client: aioredis.Redis,
        pseudonym: Pseudonym | None,
        prefix: str = "tokutei:",
        retention_days: float = RETENTION_DAYS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Use `client` (decode_responses=True); without `pseudonym`, only the reports' reads work."""
        self.redis: Any = client
        """Typed Any: redis-py's hints cannot say that decode_responses=True makes every reply a str."""
        self.prefix = prefix
        self.retention = retention_days * 86400
        self._pseudonym = pseudonym
        self._clock = clock
        self.inbox = RedisInbox(self)

    @classmethod
    def at(cls, url: str, pseudonym: Pseudonym | None, **options: Any) -> RedisStore:
        """The store at `url`, not connected yet (`open` connects).

        Calls wait for a free connection (up to `POOL_WAIT` seconds) rather than fail when a burst
        has all `POOL_SIZE` in use.
        """
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=POOL_SIZE, timeout=POOL_WAIT, decode_responses=True
        )
        return cls(aioredis.Redis.from_pool(pool), pseudonym, **options)

    @classmethod
    async def connect(cls, url: str, pseudonym: Pseudonym | None, **options: Any) -> RedisStore:
        """Connect to `url`, check the server answers, make sure the inbox's group exists."""
        store = cls.at(url, pseudonym, **options)
        await store.open()
        return store

    async def open(self) -> None:
        """Check the server answers; make the inbox's group unless it exists."""
        await self.redis.ping()
        await self.inbox.create_group()

    def key(self, *parts: str) -> str:
        """A key under the store's prefix."""
        return self.prefix + ":".join(parts)

    def _user(self, user: str) -> str:
        if self._pseudonym is None:
            raise RuntimeError("this store was opened for reports only (no USER_ID_SECRET)")
        return self._pseudonym(user)

    # -- users -------------------------------------------------------------------------------

    async def visit(self, user: str, limit: RateLimit) -> Visit:
        name = self._user(user)
        rate, prefs = self.key("rate", name), self.key("user", name)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(rate, 0, px=max(1, int(limit.window * 1000)), nx=True)
            pipe.incr(rate)
            pipe.expire(prefs, int(self.retention))
            pipe.hmget(prefs, "lang", "last", "both")
            _, count, _, fields = await pipe.execute()
        return Visit(_prefs(fields), rate_of(count, limit))

    async def prefs(self, user: str) -> UserPrefs:
        return _prefs(await self.redis.hmget(self.key("user", self._user(user)), "lang", "last", "both"))

    def _save_prefs(self, pipe: Any, user: str, prefs: UserPrefs) -> None:
        key = self.key("user", self._user(user))
        pipe.hset(key, mapping={"lang": prefs.lang or "", "last": prefs.last or "", "both": int(prefs.both)})
        pipe.expire(key, int(self.retention))

    # -- the operators' loop -----------------------------------------------------------------

    def _log_question(self, pipe: Any, question: Question) -> None:
        fields = {
            "at": repr(question.at),
            "platform": question.platform,
            "lang": question.lang or "",
            "kind": question.kind,
            "text": question.text,
            "candidates": json.dumps([[c.intent, c.score] for c in question.candidates]),
        }
        cutoff = int((self._clock() - self.retention) * 1000)
        pipe.xadd(self.key("questions"), fields, minid=max(cutoff, 0), approximate=True)

    def _count(self, pipe: Any, day: dt.date, platform: str, lang: str, outcome: str, intent: str) -> None:
        pipe.hincrby(self.key("counts", day.isoformat()), json.dumps([platform, lang, outcome, intent]), 1)
        pipe.sadd(self.key("counts", "days"), day.isoformat())

    async def record(self, answered: Answered) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            if answered.prefs is not None:
                self._save_prefs(pipe, answered.user, answered.prefs)
            self._count(pipe, answered.day, answered.platform, answered.lang, answered.outcome, answered.intent)
            if answered.question is not None:
                self._log_question(pipe, answered.question)
            await pipe.execute()

    async def questions(self, since: float | None = None, lang: str | None = None) -> list[Question]:
        # The whole stream, filtered on each question's own time: entry ids are the Redis server's clock,
        # which need not agree with the instances'. The retention period bounds the stream.
        start = "-"
        out = []
        while True:
            entries = await self.redis.xrange(self.key("questions"), min=start, count=1000)
            for _, f in entries:
                question = Question(
                    at=float(f["at"]),
                    platform=f["platform"],
                    lang=f["lang"] or None,
                    kind=f["kind"],
                    text=f["text"],
                    candidates=tuple(Candidate(i, s) for i, s in json.loads(f["candidates"])),
                )
                if (since is None or question.at >= since) and (lang is None or question.lang == lang):
                    out.append(question)
            if len(entries) < 1000:
                return out
            start = "(" + entries[-1][0]

    async def usage(self, since: dt.date | None = None) -> list[Tally]:
        days = sorted(d for d in await self.redis.smembers(self.key("counts", "days")) if not since or d >= str(since))
        out = []
        for day in days:
            for field, n in (await self.redis.hgetall(self.key("counts", day))).items():
                platform, lang, outcome, intent = json.loads(field)
                out.append(Tally(dt.date.fromisoformat(day), platform, lang, outcome, intent, int(n)))
        return out

    async def forget_idle(self, now: float | None = None) -> int:
        """Users, rate windows and processed ids expire by themselves; old questions and gone consumers go here."""
        at = self._clock() if now is None else now
        gone: int = await self.redis.xtrim(self.key("questions"), minid=max(0, int((at - self.retention) * 1000)))
        for consumer in await self.redis.xinfo_consumers(self.inbox.stream, GROUP):
            if consumer["pending"] == 0 and consumer["idle"] > STALE_CONSUMER_MS:
                await self.redis.xgroup_delconsumer(self.inbox.stream, GROUP, consumer["name"])
        return gone

    async def close(self) -> None:
        await self.redis.aclose()


class RedisInbox:
    """The inbox as a Redis Stream with a consumer group; each instance is one consumer."""

    def __init__(self, store: RedisStore) -> None:
        self._store = store
        self.redis: Any = store.redis
        self.stream = store.key("inbox")
        self.ids = store.key("inbox", "ids")
        self.marks = store.key("inbox", "sending")
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        """This instance's name in the group: events it took are pending under it until done."""
        self._put = self.redis.register_script(PUT)
        self._done = self.redis.register_script(DONE)
        self._claim = self.redis.register_script(CLAIM)
        self._renew = self.redis.register_script(RENEW)
        self._sending = self.redis.register_script(SENDING)

    async def create_group(self) -> None:
        """The consumer group (and the stream), unless they exist."""
        try:
            await self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def put(self, event_id: str, platform: str, payload: str, lease: float = LEASE) -> Admission:
        keys = [self._store.key("done", event_id), self.ids, self.stream]
        args = [event_id, GROUP, self.consumer, int(lease * 1000), platform, payload, repr(self._store._clock())]
        admission: Admission = await self._put(keys=keys, args=args)
        return admission

    async def done(self, event_id: str, ttl: float = EVENT_TTL) -> None:
        keys = [self._store.key("done", event_id), self.ids, self.stream, self.marks]
        await self._done(keys=keys, args=[event_id, GROUP, int(ttl * 1000)])

    async def claim(self, lease: float = LEASE, limit: int = 100) -> list[InboxEvent]:
        claimed = await self._claim(keys=[self.stream], args=[GROUP, self.consumer, int(lease * 1000), limit])
        events = []
        for flat, delivered in claimed:
            f = dict(zip(flat[::2], flat[1::2], strict=True))
            events.append(InboxEvent(f["event"], f["platform"], f["payload"], float(f["received"]), int(delivered)))
        return events

    async def renew(self, event_ids: Collection[str]) -> set[str]:
        wanted = list(dict.fromkeys(event_ids))
        lost: set[str] = set()
        for at in range(0, len(wanted), 500):  # one script run stays short for the server
            chunk = wanted[at : at + 500]
            lost.update(await self._renew(keys=[self.ids, self.stream], args=[GROUP, self.consumer, *chunk]))
        return lost

    async def sending(self, event_id: str, channel: Channel) -> Sending:
        keys = [self.ids, self.stream, self.marks]
        ours, earlier = await self._sending(keys=keys, args=[GROUP, self.consumer, event_id, channel])
        return Sending(ours=bool(ours), earlier=earlier or None)

    async def depth(self) -> int:
        depth: int = await self.redis.xlen(self.stream)
        return depth


def _prefs(fields: list[str | None]) -> UserPrefs:
    lang, last, both = fields
    return UserPrefs(lang or None, last or None, both == "1")
