"""Telegram faults, each call and each kind: the real PTB client against the fake Bot API's scripted faults.

The policy (docs/telegram.md, "Faults"): Telegram has no idempotency key, so a message is sent again
only when Telegram certainly did not act on it (429, a 502/503 from its gateway, a connection never
made); after a 500, a reset or a read timeout it may have arrived, and it is not sent twice. A
message refused for its formatting goes again as plain text. Chats are answered concurrently, each
in order; one chat's 429 or slow call holds up that chat only.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import create_app
from bot.config import Secret, Settings
from bot.core.assistant import Assistant
from tests.adapters.test_telegram import ISA, RESIDENT, SECRET, TOKEN, Running, running, update
from tests.fakes.faults import Fault
from tests.fakes.server import free_port, serve
from tests.fakes.telegram_api import FakeTelegramAPI, parse_html

QUESTION = "What is the Specific Residence Card?"
OTHER = 5099999999


def from_user(update_id: int, user: int, text: str = QUESTION) -> dict[str, Any]:
    """A private text from `user`."""
    return update("private_text", update_id, text, id=user, language_code="en")


@pytest.fixture
async def tg(assistant: Assistant) -> Any:
    async with running(assistant) as r:
        r.adapter.read_timeout = 0.5
        yield r


# -- sendMessage ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [Fault(status=502), Fault(status=503, body=b"<html>Bad Gateway"), Fault(retry_after=1, status=429)],
    ids=["502", "503-garbage", "429-retry-after"],
)
async def test_certainly_undelivered_message_is_sent_again_once(tg: Running, fault: Fault) -> None:
    tg.api.fault_next("sendMessage", fault)
    await tg.post(from_user(700, RESIDENT))
    await tg.adapter.drain()

    assert len(tg.api.calls_to("sendMessage")) == 2 and len(tg.api.sent()) == 1
    assert tg.adapter.delivered == 1 and tg.adapter.uncertain == 0


@pytest.mark.parametrize(
    "fault",
    [Fault(processed=True, status=500), Fault(processed=True, reset=True), Fault(processed=True, hang=1.0),
     Fault(processed=True, status=504)],
    ids=["500-after-delivery", "reset-after-delivery", "hang-after-delivery", "504-after-delivery"],
)  # fmt: skip
async def test_message_that_may_have_arrived_is_never_sent_twice(tg: Running, fault: Fault) -> None:
    tg.api.fault_next("sendMessage", fault)
    await tg.post(from_user(701, RESIDENT))
    await tg.adapter.drain()

    assert len(tg.api.calls_to("sendMessage")) == 1 and len(tg.api.sent()) == 1
    assert tg.adapter.uncertain == 1


async def test_ambiguous_failure_that_did_not_deliver_is_a_documented_loss(tg: Running) -> None:
    tg.api.fault_next("sendMessage", Fault(status=500))  # Telegram failed before sending
    await tg.post(from_user(702, RESIDENT))
    await tg.adapter.drain()

    # At most once: neither the answer nor "something went wrong" is sent after a 500.
    assert len(tg.api.calls_to("sendMessage")) == 1 and tg.api.sent() == []
    assert tg.adapter.uncertain == 1


@pytest.mark.parametrize(
    "answer", [b'{"ok": true, "result": {"message_id": ', b'{"ok": true, "result": "sent"}', b'{"ok": true}'],
    ids=["garbage", "unexpected-result", "no-result"],
)  # fmt: skip
async def test_accepted_message_with_an_odd_answer_counts_as_delivered(tg: Running, answer: bytes) -> None:
    tg.api.fault_next("sendMessage", Fault(processed=True, body=answer))
    await tg.post(from_user(703, RESIDENT))
    await tg.adapter.drain()

    assert len(tg.api.calls_to("sendMessage")) == 1 and len(tg.api.sent()) == 1
    assert tg.adapter.delivered == 1 and tg.adapter.failed == 0


async def test_message_refused_for_its_formatting_goes_again_as_plain_text(tg: Running) -> None:
    tg.api.fail_next("sendMessage", 400, 'Bad Request: can\'t parse entities: unsupported start tag "x"')
    await tg.post(from_user(704, RESIDENT))
    await tg.adapter.drain()

    first, second = tg.api.calls_to("sendMessage")
    assert first.params["parse_mode"] == "HTML" and "parse_mode" not in second.params
    assert "<" not in second.params["text"] and ISA in second.params["text"]  # the link kept, as text
    assert parse_html(first.params["text"]).split("\n")[0] == second.params["text"].split("\n")[0]
    assert "something went wrong" not in second.params["text"] and tg.adapter.delivered == 1


async def test_429_beyond_the_longest_wait_gives_up(tg: Running) -> None:
    tg.adapter.retry = tg.adapter.retry.__class__(tries=3, backoff=0.01, max_wait=5.0, timeout=5.0)
    tg.api.fail_next("sendMessage", 429, "Too Many Requests: retry after 3600", retry_after=3600)
    await tg.post(from_user(705, RESIDENT))
    await tg.adapter.drain()

    assert len(tg.api.calls_to("sendMessage")) <= 2 and tg.adapter.failed >= 1


# -- cosmetic calls ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [Fault(status=500), Fault(hang=3.0), Fault(reset=True), Fault(body=b"{nope"), Fault(body=b'{"ok": true}')],
    ids=["500", "hang", "reset", "garbage", "unexpected-body"],
)
async def test_answer_callback_query_fault_never_costs_the_answer(tg: Running, fault: Fault) -> None:
    tg.adapter.cosmetic_timeout = 0.3
    tg.api.fault_next("answerCallbackQuery", fault)
    await tg.post(update("callback_query", 706))
    await tg.adapter.drain()

    assert len(tg.api.sent()) == 1 and len(tg.api.calls_to("answerCallbackQuery")) == 1


# -- one chat never holds up another ----------------------------------------------------------


async def test_one_chats_429_does_not_delay_another_chat(tg: Running) -> None:
    tg.api.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)  # the first call
    await tg.post(from_user(710, RESIDENT))
    await tg.api.wait_calls("sendMessage", 1)
    await tg.post(from_user(711, OTHER))
    await tg.adapter.drain()

    chats = [int(c.params["chat_id"]) for c in tg.api.calls_to("sendMessage")]
    assert chats == [RESIDENT, OTHER, RESIDENT]  # the other chat went while the first waited out its 429
    assert len(tg.api.sent()) == 2


async def test_one_chats_slow_call_does_not_delay_another_chat(tg: Running) -> None:
    tg.adapter.read_timeout = 30.0
    held = asyncio.Event()
    tg.api.fault_next("sendMessage", Fault(until=held), chat_id=RESIDENT)  # answered only when the test says
    await tg.post(from_user(712, RESIDENT))
    await tg.api.wait_calls("sendMessage", 1)
    await tg.post(from_user(713, OTHER))
    other = lambda: [c for c in tg.api.calls_to("sendMessage") if c.answered_at and int(c.params["chat_id"]) == OTHER]  # noqa: E731
    await tg.api.wait_for(other, 10, "the other chat's answer while the first is held")
    held.set()
    await tg.adapter.drain()

    answered = sorted(tg.api.sent(), key=lambda c: c.answered_at or 0)
    assert [int(c.params["chat_id"]) for c in answered] == [OTHER, RESIDENT]


async def test_one_chat_is_answered_in_order(tg: Running) -> None:
    tg.adapter.read_timeout = 5.0
    tg.api.fault_next("sendMessage", Fault(hang=0.5))
    await tg.post(from_user(714, RESIDENT, QUESTION))
    await tg.post(from_user(715, RESIDENT, "Do I have to get the new card?"))
    await tg.adapter.drain()

    first, second = (c.params["text"] for c in tg.api.sent())
    assert "Specific Residence Card" in first and first != second


async def test_many_chats_are_answered_concurrently(tg: Running) -> None:
    tg.adapter.read_timeout = 30.0
    users = [6000000000 + n for n in range(20)]
    held = asyncio.Event()
    tg.api.fault_next("sendMessage", *[Fault(until=held)] * 20)
    for n, user in enumerate(users):
        await tg.post(from_user(800 + n, user))
    # All twenty under way while none is answered yet: one after another, only the first would come.
    await tg.api.wait_calls("sendMessage", 20)
    held.set()
    await tg.adapter.drain()

    assert sorted(int(c.params["chat_id"]) for c in tg.api.sent()) == users


# -- backlog and shutdown ---------------------------------------------------------------------


async def test_full_backlog_asks_telegram_to_deliver_again(assistant: Assistant) -> None:
    async with running(assistant, max_backlog=2) as tg:
        tg.adapter.read_timeout = 5.0
        tg.api.fault_next("sendMessage", Fault(hang=0.5), Fault(hang=0.5))
        statuses = [(await tg.post(from_user(820 + n, 6100000000 + n))).status_code for n in range(4)]
        assert statuses == [200, 200, 503, 503]
        await tg.adapter.drain()
        assert [(await tg.post(from_user(820 + n, 6100000000 + n))).status_code for n in range(4)] == [200] * 4
        await tg.adapter.drain()
        assert sorted(int(c.params["chat_id"]) for c in tg.api.sent()) == [6100000000 + n for n in range(4)]


async def test_shutdown_answers_every_accepted_update(assistant: Assistant) -> None:
    async with running(assistant) as tg:
        tg.api.fault_next("sendMessage", *[Fault(hang=0.2)] * 40)
        for n in range(40):  # 20 chats, two messages each
            assert (await tg.post(from_user(900 + n, 6200000000 + n % 20))).status_code == 200
    # Leaving the block stopped the app: its lifespan waited for every accepted update.
    assert len(tg.api.sent()) == 40


# -- Telegram unreachable at start ------------------------------------------------------------


async def test_unreachable_at_start_the_app_serves_and_telegram_comes_back(
    assistant: Assistant, tmp_path: Path
) -> None:
    port = free_port()
    api = FakeTelegramAPI(TOKEN)
    settings = Settings(telegram_bot_token=Secret(TOKEN), telegram_webhook_secret=Secret(SECRET),
                        telegram_api_base_url=f"http://127.0.0.1:{port}/bot", data_dir=tmp_path)  # fmt: skip
    app = create_app(settings, assistant=assistant)
    adapter = app.state.adapters["telegram"]
    adapter.connect_delays = (0.05,)
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as http:
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        health = (await http.get("/healthz")).json()
        assert health["status"] == "degraded" and health["adapters"]["telegram"]["state"] != "ok"
        assert (await http.post("/api/ask", json={"text": QUESTION})).status_code == 200  # the web chat serves
        first = await http.post("/webhooks/telegram", json=from_user(950, RESIDENT), headers=headers)
        assert first.status_code == 503  # Telegram delivers it again later
        async with serve(api.app, port=port):
            async with asyncio.timeout(5):
                await adapter.wait_connected()
            assert (await http.get("/healthz")).json()["adapters"]["telegram"]["state"] == "ok"
            again = await http.post("/webhooks/telegram", json=from_user(950, RESIDENT), headers=headers)
            assert again.status_code == 200
            await adapter.drain()
            assert len(api.sent()) == 1


async def test_set_webhook_failure_is_retried_in_the_background(assistant: Assistant, tmp_path: Path) -> None:
    api = FakeTelegramAPI(TOKEN)
    api.fault_next("setWebhook", Fault(status=500), Fault(hang=0.2, status=502))
    async with serve(api.app) as api_url:
        settings = Settings(telegram_bot_token=Secret(TOKEN), telegram_webhook_secret=Secret(SECRET),
                            telegram_api_base_url=f"{api_url}/bot", public_url="https://bot.example.org",
                            data_dir=tmp_path)  # fmt: skip
        app = create_app(settings, assistant=assistant)
        app.state.adapters["telegram"].connect_delays = (0.05,)
        async with serve(app) as url, httpx.AsyncClient(base_url=url) as http:
            async with asyncio.timeout(5):
                await app.state.adapters["telegram"].wait_connected()
            health = (await http.get("/healthz")).json()
    assert len(api.calls_to("setWebhook")) == 3 and health["adapters"]["telegram"]["state"] == "ok"


async def test_refused_token_is_degraded_not_fatal(assistant: Assistant, tmp_path: Path) -> None:
    api = FakeTelegramAPI("7000000001:another-token-entirely")
    async with serve(api.app) as api_url:
        settings = Settings(telegram_bot_token=Secret(TOKEN), telegram_webhook_secret=Secret(SECRET),
                            telegram_api_base_url=f"{api_url}/bot", data_dir=tmp_path)  # fmt: skip
        app = create_app(settings, assistant=assistant)
        async with serve(app) as url, httpx.AsyncClient(base_url=url) as http:
            async with asyncio.timeout(5):
                await app.state.adapters["telegram"].wait_connected()
            health = (await http.get("/healthz")).json()
            asked = await http.post("/api/ask", json={"text": QUESTION})
    telegram = health["adapters"]["telegram"]
    assert telegram["state"] == "degraded" and "token" in telegram["problem"] and TOKEN not in str(health)
    assert asked.status_code == 200
