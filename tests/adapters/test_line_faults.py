"""LINE faults, each call and each kind: the real app over HTTP against the fake LINE API's scripted faults.

Cosmetic calls (profile, loading animation) are contained: the answer comes all the same. Reply and
push are retried within bounds and delivered once, never twice. One chat's trouble never holds up
another chat; a full backlog makes LINE deliver again instead of the process growing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.adapters.base import RetryPolicy
from bot.app import create_app
from bot.config import Secret, Settings
from bot.core.assistant import Assistant
from tests.adapters.line_support import (
    ISA,
    QUESTION_JA,
    SECRET,
    TOKEN,
    USER,
    Line,
    body,
    event,
    only,
    running,
    sign,
)
from tests.fakes.faults import Fault
from tests.fakes.line_api import LOADING, PROFILE, PUSH, REPLY, FakeLineApi
from tests.fakes.server import free_port, serve

GARBAGE = b'{"sentMessages": [{"id": '
ODD = b'["not", "what", "LINE", "sends"]'

COSMETIC_FAULTS = {
    "500": Fault(status=500),
    "429": Fault(status=429, retry_after=30),
    "hang": Fault(hang=1.0),
    "reset": Fault(reset=True),
    "garbage": Fault(body=GARBAGE),
    "unexpected-body": Fault(body=ODD),
    "odd-language": Fault(body=b'{"userId": "U1", "language": {"nested": ["x"]}}'),
}


def user_event(user: str, text: str = "ok") -> dict[str, Any]:
    """A 1:1 text event from `user`."""
    return event("text_user", text, source={"type": "user", "userId": user})


# -- cosmetic calls ---------------------------------------------------------------------------


@pytest.mark.parametrize("fault", COSMETIC_FAULTS.values(), ids=COSMETIC_FAULTS.keys())
async def test_profile_fault_never_costs_the_answer(line: Line, fault: Fault) -> None:
    line.adapter.cosmetic_timeout = 0.3
    line.api.fault_next(PROFILE + USER, fault)
    reply = only(await line.send(event("text_user", "ok")))  # "ok" says nothing of its language: profile asked

    assert reply.kind == "reply" and reply.text
    assert len(line.api.calls(PROFILE)) == 1  # tried once, never retried: it is only a hint


@pytest.mark.parametrize("fault", COSMETIC_FAULTS.values(), ids=COSMETIC_FAULTS.keys())
async def test_loading_animation_fault_never_costs_the_answer(line: Line, fault: Fault) -> None:
    line.adapter.cosmetic_timeout, line.adapter.loading_delay = 0.3, 0.0
    line.api.slow_next(PROFILE + USER, 0.5)  # a slow answer: the dots are asked for
    line.api.fault_next(LOADING, fault)
    reply = only(await line.send(event("text_user", "ok")))

    assert reply.kind == "reply" and reply.text
    assert len(line.api.calls(LOADING)) == 1


async def test_profile_is_not_asked_when_the_language_is_clear(line: Line) -> None:
    only(await line.send(event("text_user", "Do I have to get the new card?")))  # clearly English
    only(await line.send(event("text_user", "ok")))  # short, but the conversation's language is known
    only(await line.send(event("postback", postback={"data": "menu"})))

    assert line.api.calls(PROFILE) == []
    assert (await line.prefs()).last == "en"


# -- reply ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [Fault(status=500), Fault(status=503, body=GARBAGE), Fault(status=429, retry_after=1), Fault(hang=1.0)],
    ids=["500", "503-garbage", "429-retry-after", "hang-before-delivery"],
)
async def test_reply_fault_is_retried_and_delivered_once(line: Line, fault: Fault) -> None:
    line.adapter.retry = dataclasses.replace(line.adapter.retry, timeout=0.5)
    line.api.fault_next(REPLY, fault)
    reply = only(await line.send(event("text_user", QUESTION_JA)))
    async with asyncio.timeout(5):
        await line.api.wait_for(lambda: all(r.status for r in line.api.calls(REPLY)))

    assert reply.kind == "reply" and ISA in reply.text
    assert [r.status for r in line.api.calls(REPLY)][-1] == 200 and line.api.calls(PUSH) == []


@pytest.mark.parametrize(
    "fault",
    [Fault(processed=True, reset=True), Fault(processed=True, status=500), Fault(processed=True, hang=1.0)],
    ids=["reset-after-delivery", "500-after-delivery", "hang-after-delivery"],
)
async def test_reply_delivered_but_answered_badly_is_never_sent_twice(line: Line, fault: Fault) -> None:
    line.adapter.retry = dataclasses.replace(line.adapter.retry, timeout=0.5)
    line.api.fault_next(REPLY, fault)
    only(await line.send(event("text_user", QUESTION_JA)))
    async with asyncio.timeout(5):
        await line.api.wait_for(lambda: all(r.status for r in line.api.calls(REPLY)))

    # The retry found the token used (400): the reply had arrived, so nothing was pushed.
    assert [r.status for r in line.api.calls(REPLY)][1:] == [400]
    assert line.api.calls(PUSH) == [] and len(line.api.deliveries) == 1
    assert line.adapter.delivered == 1 and line.adapter.failed == 0


async def test_failed_attempts_are_counted_in_the_metrics(line: Line) -> None:
    line.api.fault_next(REPLY, Fault(status=500), Fault(status=429, retry_after=0))
    only(await line.send(event("text_user", QUESTION_JA)))
    metrics = (await line.http.get("/metrics")).text

    for status in ("500", "429"):
        assert f'tokutei_platform_api_errors_total{{call="reply",platform="line",status="{status}"}} 1.0' in metrics


@pytest.mark.parametrize("answer", [GARBAGE, ODD, b""], ids=["garbage", "unexpected-body", "empty"])
async def test_reply_accepted_with_an_odd_answer_counts_as_delivered(line: Line, answer: bytes) -> None:
    line.api.fault_next(REPLY, Fault(processed=True, body=answer))
    only(await line.send(event("text_user", QUESTION_JA)))

    assert len(line.api.calls(REPLY)) == 1 and line.adapter.delivered == 1


# -- push -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [Fault(status=500), Fault(status=429, retry_after=1), Fault(hang=1.0), Fault(status=502, body=GARBAGE)],
    ids=["500", "429-retry-after", "hang-before-delivery", "502-garbage"],
)
async def test_push_fault_is_retried_and_delivered_once(line: Line, fault: Fault) -> None:
    line.adapter.retry = dataclasses.replace(line.adapter.retry, timeout=0.5)
    ev = event("text_user", QUESTION_JA)
    line.api.refused_tokens.add(ev["replyToken"])
    line.api.fault_next(PUSH, fault)
    pushed = only(await line.send(ev))
    async with asyncio.timeout(5):
        await line.api.wait_for(lambda: all(r.status for r in line.api.calls(PUSH)))

    assert pushed.kind == "push" and ISA in pushed.text
    assert len({r.headers["x-line-retry-key"] for r in line.api.calls(PUSH)}) == 1


@pytest.mark.parametrize(
    "fault",
    [Fault(processed=True, reset=True), Fault(processed=True, status=500), Fault(processed=True, hang=1.0)],
    ids=["reset-after-delivery", "500-after-delivery", "hang-after-delivery"],
)
async def test_push_delivered_but_answered_badly_is_delivered_once(line: Line, fault: Fault) -> None:
    line.adapter.retry = dataclasses.replace(line.adapter.retry, timeout=0.5)
    ev = event("text_user", QUESTION_JA)
    line.api.refused_tokens.add(ev["replyToken"])
    line.api.fault_next(PUSH, fault)
    only(await line.send(ev))
    async with asyncio.timeout(5):
        await line.api.wait_for(lambda: all(r.status for r in line.api.calls(PUSH)))

    # The retry carried the same key: LINE answered "already accepted" (409) instead of pushing again.
    assert [r.status for r in line.api.calls(PUSH)][-1] == 409
    assert len(line.api.deliveries) == 1


async def test_retry_after_beyond_the_longest_wait_gives_up_at_once(line: Line) -> None:
    line.adapter.retry = dataclasses.replace(line.adapter.retry, max_wait=5.0)
    line.api.fault_next(REPLY, Fault(status=429, retry_after=3600))
    assert await line.send(event("text_user", QUESTION_JA)) == []

    assert len(line.api.calls(REPLY)) == 1 and line.adapter.failed == 1


def test_backoff_grows_with_jitter_within_bounds() -> None:
    policy = RetryPolicy(tries=4, backoff=1.0, max_wait=10.0)
    for attempt, (low, high) in enumerate([(0.5, 1.5), (1.0, 3.0), (2.0, 6.0)], start=1):
        waits = {policy.wait(attempt) for _ in range(50)}
        assert all(w is not None and low <= w <= high for w in waits) and len(waits) > 1
    assert policy.wait(1, retry_after=4.0) == 4.0 and policy.wait(1, retry_after=11.0) is None


# -- one chat never holds up another ----------------------------------------------------------


async def test_a_slow_reply_to_one_user_does_not_delay_another(line: Line) -> None:
    slow, quick = f"U{uuid.uuid4().hex}", f"U{uuid.uuid4().hex}"
    first, second = user_event(slow, QUESTION_JA), user_event(quick, QUESTION_JA)
    held = asyncio.Event()  # the first user's reply is answered only when the test says
    line.api.fault_next(REPLY, Fault(until=held), when=lambda b: b.get("replyToken") == first["replyToken"])
    await line.post(body(first))
    await line.post(body(second))
    async with asyncio.timeout(10):
        await line.api.wait_for(lambda: len(line.api.deliveries) == 1)
    held.set()
    await line.adapter.drain()

    assert [d.to for d in line.api.deliveries] == [second["replyToken"], first["replyToken"]]


async def test_one_users_messages_are_answered_in_order(line: Line) -> None:
    first, second = user_event(USER, QUESTION_JA), user_event(USER, "Do I have to get the new card?")
    line.api.fault_next(REPLY, Fault(hang=0.5), when=lambda b: b.get("replyToken") == first["replyToken"])
    await line.post(body(first))
    await line.post(body(second))
    await line.adapter.drain()

    assert [d.to for d in line.api.deliveries] == [first["replyToken"], second["replyToken"]]


# -- backlog ----------------------------------------------------------------------------------


async def test_full_backlog_asks_line_to_deliver_again(line_api: FakeLineApi, assistant: Assistant) -> None:
    async with running(line_api, assistant, max_backlog=3) as line:
        line_api.fault_next(REPLY, *[Fault(hang=0.5)] * 3)
        events = [user_event(f"U{uuid.uuid4().hex}", QUESTION_JA) for _ in range(5)]
        statuses = [(await line.post(body(ev))).status_code for ev in events]
        assert statuses == [200, 200, 200, 503, 503]
        await line.adapter.drain()
        redelivered = [ev | {"deliveryContext": {"isRedelivery": True}} for ev in events]
        assert [(await line.post(body(ev))).status_code for ev in redelivered] == [200] * 5  # first three: seen
        await line.adapter.drain()

    assert sorted(d.to for d in line_api.deliveries) == sorted(ev["replyToken"] for ev in events)


# -- LINE unreachable at start ----------------------------------------------------------------


async def test_unreachable_at_start_the_app_serves_and_line_comes_back(assistant: Assistant, tmp_path: Path) -> None:
    port = free_port()
    api = FakeLineApi(TOKEN, url=f"http://127.0.0.1:{port}")
    settings = Settings(line_channel_secret=Secret(SECRET), line_channel_access_token=Secret(TOKEN),
                        line_api_base_url=api.url, data_dir=tmp_path)  # fmt: skip
    app = create_app(settings, assistant=assistant)
    adapter = app.state.adapters["line"]
    adapter.check_delays = (0.05,)
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as http:
        health = (await http.get("/healthz")).json()
        assert health["status"] == "degraded" and health["adapters"]["line"]["state"] != "ok"
        assert (await http.post("/api/ask", json={"text": QUESTION_JA})).status_code == 200  # the web chat serves
        async with serve(api.app, port=port):
            async with asyncio.timeout(5):
                await adapter.wait_checked()
            assert (await http.get("/healthz")).json()["adapters"]["line"]["state"] == "ok"
            raw = body(event("text_user", QUESTION_JA))
            response = await http.post("/webhooks/line", content=raw, headers={"x-line-signature": sign(raw)})
            assert response.status_code == 200
            await adapter.drain()
            assert len(api.deliveries) == 1


async def test_refused_access_token_is_degraded_not_fatal(line_api: FakeLineApi, assistant: Assistant) -> None:
    async with running(line_api, assistant, line_channel_access_token=Secret("wrong-token")) as line:
        health = (await line.http.get("/healthz")).json()
    assert health["adapters"]["line"]["state"] == "degraded" and "token" in health["adapters"]["line"]["problem"]
