"""Several instances on one store, as deployed: `python -m bot serve` processes on loopback ports.

Each test runs twice: on one Redis (REDIS_URL, a redis-server of the session's own) and on one
SQLite file in a DATA_DIR the instances share (several workers on one host). LINE and Telegram are
the fake APIs, served in threads; the instances reach them over loopback as they would the real ones.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from bot.adapters.telegram import render
from bot.config import ROOT
from bot.core.assistant import Assistant
from bot.core.models import Incoming
from bot.store.sqlite_store import FILE_NAME
from tests.adapters.line_support import SECRET, TOKEN, body, event, sign
from tests.adapters.test_telegram import SECRET as TG_SECRET
from tests.adapters.test_telegram import TOKEN as TG_TOKEN
from tests.adapters.test_telegram import update
from tests.conftest import CONTENT
from tests.fakes.faults import Fault
from tests.fakes.line_api import PUSH, REPLY, Delivery, FakeLineApi
from tests.fakes.server import serve_in_thread
from tests.fakes.telegram_api import Call, FakeTelegramAPI
from tests.instances import Instance, instances, start, wait_ready

LEASE = 2.0
"""INBOX_LEASE of these instances: an event left by a killed one is taken over within a few seconds."""
QUESTION = "Do I have to get the new card?"
MY_NUMBER = "1234 5678 9018"
"""A valid My Number (its check digit holds)."""
_ids = itertools.count(int(uuid.uuid4().int % 10**6) * 1000)


@dataclass
class Cluster:
    """Two instances on one store, the fake APIs they answer through, and how to start one more."""

    backend: str
    line: FakeLineApi
    telegram: FakeTelegramAPI
    one: Instance
    other: Instance
    env: dict[str, str]
    workdir: Path

    async def post_line(self, instance: Instance, *events: dict[str, Any]) -> int:
        raw = body(*events)
        async with httpx.AsyncClient(base_url=instance.url, timeout=10) as http:
            response = await http.post("/webhooks/line", content=raw, headers={"x-line-signature": sign(raw)})
        return response.status_code

    async def post_telegram(self, instance: Instance, data: dict[str, Any]) -> int:
        headers = {"X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
        async with httpx.AsyncClient(base_url=instance.url, timeout=10) as http:
            return (await http.post("/webhooks/telegram", json=data, headers=headers)).status_code

    def replies_to(self, token: str) -> list[Delivery]:
        return [d for d in list(self.line.deliveries) if d.to == token]

    def sent_to(self, chat: int) -> list[Call]:
        return [c for c in self.telegram.sent() if int(c.params["chat_id"]) == chat]

    async def inbox_depth(self) -> float:
        async with httpx.AsyncClient(base_url=self.one.url, timeout=10) as http:
            metrics = (await http.get("/metrics")).text
        return float(next(line.split()[1] for line in metrics.splitlines() if line.startswith("tokutei_inbox_depth ")))

    def store_text(self) -> str:
        """Everything the store holds, as text, to look for what must not be there."""
        if self.backend == "sqlite":
            files = sorted(Path(self.env["DATA_DIR"]).glob(FILE_NAME + "*"))
            return b"".join(path.read_bytes() for path in files).decode("latin-1")
        client = redis.Redis.from_url(self.env["REDIS_URL"], decode_responses=True)
        parts = []
        try:
            for key in client.scan_iter(match=self.env["REDIS_PREFIX"] + "*"):
                kind = str(client.type(key))
                value: object = {
                    "string": client.get,
                    "hash": client.hgetall,
                    "set": client.smembers,
                    "stream": lambda k: client.xrange(k),
                }[kind](key)
                parts.append(f"{key} {value}")
        finally:
            client.close()
        return "\n".join(parts)


async def until(condition: Callable[[], bool], within: float = 60.0) -> None:
    """Wait for `condition` (bounded, so that a failure ends the test), without asserting how long it took."""
    async with asyncio.timeout(within):
        for _ in itertools.count():
            if condition():
                return
            await asyncio.sleep(0.05)


def line_event(text: str = QUESTION, user: str | None = None) -> dict[str, Any]:
    return event("text_user", text, source={"type": "user", "userId": user or f"U{uuid.uuid4().hex}"})


def telegram_update(chat: int, text: str = QUESTION) -> dict[str, Any]:
    return update("private_text", next(_ids), text, id=chat, language_code="en")


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, translations: Path, warm_caches: Path
) -> Iterator[Cluster]:
    line, telegram = FakeLineApi(TOKEN), FakeTelegramAPI(TG_TOKEN)
    workdir = tmp_path_factory.mktemp(f"instances-{request.param}")
    shutil.copytree(warm_caches, workdir / "data")
    with serve_in_thread(line.app) as line_url, serve_in_thread(telegram.app) as telegram_url:
        env = {
            "LINE_CHANNEL_SECRET": SECRET, "LINE_CHANNEL_ACCESS_TOKEN": TOKEN, "LINE_API_BASE_URL": line_url,
            "TELEGRAM_BOT_TOKEN": TG_TOKEN, "TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
            "TELEGRAM_API_BASE_URL": f"{telegram_url}/bot", "INTENTS_DIR": str(CONTENT),
            "TRANSLATIONS_DIR": str(translations), "DATA_DIR": str(workdir / "data"),
            "USER_ID_SECRET": "instances-test-secret-0123456789", "INBOX_LEASE": str(LEASE),
            "LOG_FORMAT": "json", "LOG_MESSAGE_TEXT": "1", "LOG_LEVEL": "INFO",
        }  # fmt: skip
        if request.param == "redis":
            env |= {"REDIS_URL": request.getfixturevalue("redis_url"), "REDIS_PREFIX": f"inst-{uuid.uuid4().hex[:8]}:"}
        with instances(["one", "other"], env, workdir) as (one, other):
            yield Cluster(request.param, line, telegram, one, other, env, workdir)


# -- one store, two instances -----------------------------------------------------------------


async def test_the_same_event_to_both_instances_is_answered_once(cluster: Cluster, per_answer: int) -> None:
    events = [line_event() for _ in range(10)]
    updates = [telegram_update(6_100_000_000 + n) for n in range(10)]

    statuses = await asyncio.gather(
        *(cluster.post_line(instance, ev) for ev in events for instance in (cluster.one, cluster.other)),
        *(cluster.post_telegram(instance, up) for up in updates for instance in (cluster.one, cluster.other)),
    )
    await until(lambda: all(cluster.replies_to(ev["replyToken"]) for ev in events))
    await until(lambda: all(cluster.sent_to(up["message"]["chat"]["id"]) for up in updates))
    await until_idle(cluster)

    assert set(statuses) == {200}
    assert [len(cluster.replies_to(ev["replyToken"])) for ev in events] == [1] * 10
    counts = {len(cluster.sent_to(up["message"]["chat"]["id"])) for up in updates}
    assert counts == {per_answer}


async def test_a_language_chosen_on_one_holds_on_the_other(cluster: Cluster) -> None:
    user = f"U{uuid.uuid4().hex}"
    chosen = event("postback", postback={"data": "lang:en"}, source={"type": "user", "userId": user})
    asked = line_event("特定在留カードってなに？", user)

    assert await cluster.post_line(cluster.one, chosen) == 200
    await until(lambda: bool(cluster.replies_to(chosen["replyToken"])))
    assert await cluster.post_line(cluster.other, asked) == 200
    await until(lambda: bool(cluster.replies_to(asked["replyToken"])))

    [answer] = cluster.replies_to(asked["replyToken"])
    assert "Specific Residence Card" in answer.text and "(ざいりゅう)" not in answer.text  # English only


async def test_the_report_sees_questions_from_both_instances(cluster: Cluster) -> None:
    # Fixed words the fixture content cannot answer: a random marker in them (hex digits) made the matcher
    # answer one run in 250, and an answered question is rightly not logged. The cluster's store is its own.
    first, second = "xyzzy plugh frobnicate", "qwerty asdf zxcv"
    via_line = line_event(first)
    assert await cluster.post_line(cluster.one, via_line) == 200
    assert await cluster.post_telegram(cluster.other, telegram_update(6_200_000_000, second)) == 200
    await until(lambda: bool(cluster.replies_to(via_line["replyToken"])))
    await until(lambda: bool(cluster.sent_to(6_200_000_000)))

    report = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "report", "unanswered", "--format", "json",
        cwd=ROOT, env={**os.environ, **cluster.env}, stdout=subprocess.PIPE,
    )  # fmt: skip
    out, _ = await report.communicate()

    assert report.returncode == 0
    examples = {group["example"] for group in json.loads(out)}
    assert {first, second} <= examples


async def test_sigkill_after_acknowledging_loses_nothing_and_sends_nothing_twice(
    cluster: Cluster, per_answer: int
) -> None:
    """Killed with replies on their way (some reached the platform, some not) and more queued behind them."""
    victim = start("victim", cluster.env, cluster.workdir)
    wait_ready(victim)
    lost_on_the_way, arrived, queued, pushed = (
        [line_event() for _ in range(2)],
        [line_event() for _ in range(2)],
        [],
        [],
    )
    for ev in lost_on_the_way:  # LINE never gets the reply: after the hang it answers 503 without acting
        cluster.line.fault_next(REPLY, Fault(hang=6.0, status=503), when=matching(ev["replyToken"]))
    for ev in arrived:  # LINE delivers the reply, but its answer never reaches the victim
        cluster.line.fault_next(REPLY, Fault(hang=6.0, processed=True), when=matching(ev["replyToken"]))
    for ev in lost_on_the_way + arrived:  # a second message from each user waits behind the first
        queued.append(line_event(QUESTION, ev["source"]["userId"]))
    push_user = f"U{uuid.uuid4().hex}"
    pushed = [line_event(QUESTION, push_user)]  # its token refused: pushed, LINE acts, the answer is lost
    cluster.line.refused_tokens.add(pushed[0]["replyToken"])
    cluster.line.fault_next(PUSH, Fault(hang=6.0, processed=True), when=lambda b: b.get("to") == push_user)
    chats = [6_300_000_000 + n for n in range(3)]
    for chat in chats:  # Telegram delivers, the answer is lost; a second update waits behind it
        cluster.telegram.fault_next("sendMessage", Fault(hang=6.0, processed=True), chat_id=chat)
    first_updates = [telegram_update(chat) for chat in chats]
    second_updates = [telegram_update(chat) for chat in chats]

    statuses = [await cluster.post_line(victim, ev) for ev in lost_on_the_way + arrived + queued + pushed]
    statuses += [await cluster.post_telegram(victim, up) for up in first_updates + second_updates]
    assert set(statuses) == {200}  # every one acknowledged
    on_their_way = {ev["replyToken"] for ev in lost_on_the_way + arrived}
    await until(lambda: on_their_way <= {r.body.get("replyToken") for r in cluster.line.calls(REPLY)})
    await until(lambda: any(r.body.get("to") == push_user for r in cluster.line.calls(PUSH)))
    await until(lambda: all(any(int(c.params["chat_id"]) == chat for c in cluster.telegram.calls_to("sendMessage"))
                            for chat in chats))  # fmt: skip
    victim.kill()

    everything = lost_on_the_way + arrived + queued
    await until(lambda: all(cluster.replies_to(ev["replyToken"]) for ev in everything))
    await until(lambda: all(len(cluster.sent_to(chat)) >= 2 * per_answer for chat in chats))
    await until_idle(cluster)

    assert [len(cluster.replies_to(ev["replyToken"])) for ev in everything] == [1] * len(everything)
    users = {ev["source"]["userId"] for ev in everything}
    assert [d for d in cluster.line.deliveries if d.kind == "push" and d.to in users] == []  # none pushed as well
    assert len([d for d in cluster.line.deliveries if d.to == push_user]) == 1
    assert {r.status for r in cluster.line.calls(PUSH) if r.body.get("to") == push_user} >= {409}  # the key said so
    assert [len(cluster.sent_to(chat)) for chat in chats] == [2 * per_answer] * len(chats)


async def test_a_personal_number_leaves_no_trace_in_the_store_or_the_logs(cluster: Cluster) -> None:
    text = f"My number is {MY_NUMBER}, how do I renew the card?"
    ev = line_event(text)
    cluster.line.fault_next(REPLY, Fault(hang=1.0, status=503), when=matching(ev["replyToken"]))  # kept a while
    chat = 6_400_000_000

    assert await cluster.post_line(cluster.one, ev) == 200
    assert await cluster.post_telegram(cluster.other, telegram_update(chat, text)) == 200
    await until(lambda: any(r.body.get("replyToken") == ev["replyToken"] for r in cluster.line.calls(REPLY)))
    while_held = cluster.store_text()
    await until(lambda: bool(cluster.replies_to(ev["replyToken"])) and bool(cluster.sent_to(chat)))
    await until_idle(cluster)
    logs = cluster.one.logs() + cluster.other.logs()

    forms = (MY_NUMBER, MY_NUMBER.replace(" ", ""))
    for where, held in (("store while held", while_held), ("store", cluster.store_text()), ("logs", logs)):
        assert not any(form in held for form in forms), where
    assert "[my-number]" in logs  # LOG_MESSAGE_TEXT=1: the message was logged, redacted
    [answer] = cluster.replies_to(ev["replyToken"])
    assert MY_NUMBER not in answer.text


# -- helpers ----------------------------------------------------------------------------------


def matching(token: str) -> Callable[[Any], bool]:
    return lambda b: isinstance(b, dict) and b.get("replyToken") == token


async def until_idle(cluster: Cluster) -> None:
    """Until the store's inbox is empty: every acknowledged event answered and done, none in flight."""
    async with asyncio.timeout(60):
        for _ in itertools.count():
            if not await cluster.inbox_depth():
                return
            await asyncio.sleep(0.1)


@pytest.fixture
def per_answer(shared_assistant: Assistant) -> int:
    """How many Telegram messages one answer to QUESTION takes (one per language block): the instances run
    the same fixture content."""
    return len(render(shared_assistant.handle(Incoming("telegram", "probe", text=QUESTION, lang_hint="en"))))
