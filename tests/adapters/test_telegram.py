"""Telegram adapter: the real PTB client against a fake Bot API, real webhooks over HTTP to the app."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from bot.adapters.base import utf16_len
from bot.adapters.telegram import (
    ALLOWED_UPDATES,
    SECRET_HEADER,
    Target,
    TelegramAdapter,
    keyboard,
    render,
    split_html,
)
from bot.app import create_app
from bot.config import Secret, Settings
from bot.core.assistant import Assistant
from bot.core.models import Block, Button, Link, Reply
from bot.core.postback import Postback
from bot.core.users import UserPrefs
from bot.store import Store
from tests.fakes.server import serve
from tests.fakes.telegram_api import FakeTelegramAPI, fixture, parse_html

TOKEN = "7000000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SECRET = "npo-webhook-Secret_42"
RESIDENT = 5012345678
STAFF = 6098765432
GROUP = -1001987654321
ISA = "https://www.moj.go.jp/isa/tokutei.html"


@pytest.fixture(autouse=True)
def ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    """As the adapter sets it (kept per test here so the process environment is restored)."""
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


def update(name: str, update_id: int | None = None, text: str | None = None, **user: Any) -> dict[str, Any]:
    """A captured update with another id, text or sender (id, language_code)."""
    data = copy.deepcopy(fixture(name))
    if update_id is not None:
        data["update_id"] = update_id
    message = data.get("message") or data["callback_query"]
    if text is not None:
        message["text"] = text
    if "id" in user and message.get("chat", {}).get("type") == "private":
        message["chat"]["id"] = user["id"]
    message["from"].update(user)
    return data


@dataclass
class Running:
    """The app (with the Telegram adapter) served on 127.0.0.1, talking to the fake Bot API."""

    api: FakeTelegramAPI
    app: Starlette
    client: httpx.AsyncClient

    @property
    def adapter(self) -> TelegramAdapter:
        adapter: TelegramAdapter = self.app.state.adapters["telegram"]
        return adapter

    async def prefs(self, user: int = RESIDENT) -> UserPrefs:
        """A Telegram user's settings, as the app's store keeps them."""
        store: Store = self.app.state.store
        return await store.prefs(f"telegram:{user}")

    async def post(self, payload: Any, secret: str | None = SECRET, raw: bytes | None = None) -> httpx.Response:
        """POST to /webhooks/telegram as Telegram does (JSON body, secret header)."""
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        body = raw if raw is not None else json.dumps(payload).encode()
        return await self.client.post("/webhooks/telegram", content=body, headers=headers)


@contextlib.asynccontextmanager
async def running(assistant: Assistant, **overrides: Any) -> AsyncIterator[Running]:
    api = FakeTelegramAPI(TOKEN)
    with tempfile.TemporaryDirectory() as data_dir:
        async with running_on(api, assistant, Path(data_dir), **overrides) as started:
            yield started


@contextlib.asynccontextmanager
async def running_on(
    api: FakeTelegramAPI, assistant: Assistant, data_dir: Path, **overrides: Any
) -> AsyncIterator[Running]:
    async with serve(api.app) as api_url:
        options: dict[str, Any] = {
            "telegram_bot_token": Secret(TOKEN),
            "telegram_webhook_secret": Secret(SECRET),
            "telegram_api_base_url": f"{api_url}/bot",
            "data_dir": data_dir,
        }
        settings = Settings(**(options | overrides))
        app = create_app(settings, assistant=assistant)
        async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
            started = Running(api, app, client)
            async with asyncio.timeout(10):  # connected, the webhook registered (if any), commands set
                await started.adapter.wait_profile()
            yield started


@pytest.fixture
async def tg(assistant: Assistant) -> AsyncIterator[Running]:
    async with running(assistant) as r:
        yield r


def buttons_of(params: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for row in params.get("reply_markup", {}).get("inline_keyboard", []) for b in row]


# -- 1:1 -----------------------------------------------------------------------------------------


async def test_start_connects_with_get_me(tg: Running) -> None:
    assert [c.method for c in tg.api.calls if "My" not in c.method] == ["getMe"]  # then the profile
    assert tg.adapter.application.bot.username == "tokutei_test_bot"
    assert not tg.api.calls_to("setWebhook")  # no PUBLIC_URL


async def test_private_questions_in_three_languages(tg: Running) -> None:
    questions = [
        (101, "ja", "特定在留カードとは何ですか"),
        (102, "en", "What is the Specific Residence Card?"),
        (103, "vi", "Thẻ cư trú đặc định là gì?"),
    ]
    for n, (user_id, lang, text) in enumerate(questions):
        resp = await tg.post(update("private_text", 900 + n, text, id=user_id, language_code=lang))
        assert resp.status_code == 200
    sent = await tg.api.wait_sent(3)

    ja, en, vi = (c.params for c in sent)
    assert [int(p["chat_id"]) for p in (ja, en, vi)] == [101, 102, 103]
    assert all(p["parse_mode"] == "HTML" and p["link_preview_options"] == {"is_disabled": True} for p in (ja, en, vi))
    assert "(とくてい" in ja["text"]  # inline furigana, as Telegram has no <ruby>
    assert f'<a href="{ISA}">' in ja["text"]
    assert "Specific Residence Card" in en["text"] and f'<a href="{ISA}">' in en["text"]
    assert vi["text"].strip()
    for params in (ja, en, vi):
        data = [b["callback_data"] for b in buttons_of(params)]
        assert data and all(len(d.encode()) <= 64 for d in data)
    assert tg.api.calls_to("sendChatAction") == []  # answers ready at once: no "typing…"


async def test_start_command_greets_with_the_menu(tg: Running) -> None:
    await tg.post(update("command_start", language_code="en"))
    sent = await tg.api.wait_sent(1)
    last = sent[-1].params
    data = [b["callback_data"] for b in buttons_of(last)]
    assert len(data) == len(tg.adapter.assistant.replies.menu) + 1 and data[-1] == "langs:0"
    assert all(d.startswith("intent:") for d in data[:-1])
    assert "Hello" in "".join(c.params["text"] for c in sent)


async def test_lang_command_shows_the_menu_and_sets_a_language(tg: Running) -> None:
    await tg.post(update("command_lang", 800, "/lang"))
    menu = (await tg.api.wait_sent(1))[0].params
    rows = menu["reply_markup"]["inline_keyboard"]
    assert all(b["callback_data"].startswith(("lang:", "langs:")) for row in rows for b in row)
    assert len(rows[0]) == 3  # language names three a row
    assert (await tg.prefs()).lang is None

    await tg.post(update("command_lang", 801, "/lang vi"))
    await tg.api.wait_sent(2)
    assert (await tg.prefs()).lang == "vi"


async def test_callback_query_is_answered_and_the_language_remembered(tg: Running) -> None:
    await tg.post(update("callback_query"))
    sent = await tg.api.wait_sent(1)
    answered = tg.api.calls_to("answerCallbackQuery")
    assert [c.params["callback_query_id"] for c in answered] == ["2152838204529463701"]
    assert answered[0].at <= sent[0].at  # the spinner stops before the answer is prepared
    assert int(sent[0].params["chat_id"]) == RESIDENT
    assert (await tg.prefs()).lang == "vi"


async def test_non_text_message_gets_a_friendly_reply_and_the_menu(tg: Running) -> None:
    await tg.post(update("sticker"))
    params = (await tg.api.wait_sent(1))[0].params
    assert "only read text" in params["text"]
    assert len(buttons_of(params)) == len(tg.adapter.assistant.replies.menu) + 1


# -- groups --------------------------------------------------------------------------------------


async def test_group_answers_mentions_and_replies_only(tg: Running) -> None:
    await tg.post(update("group_text"))  # no mention: ignored
    await tg.post(update("group_command_other_bot"))  # another bot's command: ignored
    await tg.post(update("group_mention"))
    await tg.post(update("group_reply_to_bot"))
    # Updates are handled one by one, so once the last answer is out the ignored ones were seen.
    sent = await tg.api.wait_sent(2)

    mention, reply = (c.params for c in sent)
    assert int(mention["chat_id"]) == GROUP and mention["reply_parameters"]["message_id"] == 311
    assert "Specific Residence Card" in mention["text"]
    assert "tokutei_test_bot" not in mention["text"]
    assert reply["reply_parameters"]["message_id"] == 313
    assert len(tg.api.sent()) == 2


async def test_group_mention_in_reply_to_a_resident_answers_that_message_for_staff(tg: Running) -> None:
    await tg.post(update("group_mention_reply"))
    sent = await tg.api.wait_sent(3)
    note, first, second = (c.params["text"] for c in sent)
    assert note.startswith("<i>")
    assert "【English】" in first and "【日本語】" in second
    assert sent[0].params["reply_parameters"]["message_id"] == 321


async def test_forum_topic_answers_stay_in_the_topic(tg: Running) -> None:
    topic = update("group_mention", 340)
    topic["message"].update(message_thread_id=77, is_topic_message=True)
    await tg.post(topic)
    params = (await tg.api.wait_sent(1))[0].params
    assert int(params["message_thread_id"]) == 77


async def test_photo_caption_is_read_as_the_question(tg: Running) -> None:
    photo = update("sticker", 341, language_code="en")
    del photo["message"]["sticker"]
    photo["message"]["photo"] = [
        {"file_id": "AgACAgUAAxkBAAIB", "file_unique_id": "AQADsbwx", "width": 90, "height": 51}
    ]
    photo["message"]["caption"] = "What is the Specific Residence Card?"
    await tg.post(photo)
    params = (await tg.api.wait_sent(1))[0].params
    assert "Specific Residence Card" in params["text"] and "only read text" not in params["text"]


# -- forwarded questions -------------------------------------------------------------------------


async def test_forwarded_question_is_answered_in_its_language_and_easy_japanese(tg: Running) -> None:
    await tg.post(update("forwarded"))
    sent = await tg.api.wait_sent(3)
    note, first, second = (c.params for c in sent)
    assert note["text"].startswith("<i>") and "reply_markup" not in note
    assert first["text"].startswith("<b>【English】</b>") and "reply_markup" not in first
    assert second["text"].startswith("<b>【日本語】</b>") and "(" in second["text"]  # furigana
    assert buttons_of(second)  # keyboard on the last part only
    assert all(int(c.params["chat_id"]) == STAFF for c in sent)


# -- delivery and faults -------------------------------------------------------------------------


async def test_repeated_update_id_is_answered_once(tg: Running) -> None:
    first = update("private_text", 700)
    assert (await tg.post(first)).status_code == 200
    assert (await tg.post(first)).status_code == 200  # Telegram's redelivery
    await tg.post(update("sticker", 701))
    sent = await tg.api.wait_sent(2)
    assert len(sent) == 2
    assert "(とくてい" in sent[0].params["text"] and "(とくてい" not in sent[1].params["text"]


@pytest.mark.parametrize("secret", ["wrong-secret", None, ""])
async def test_wrong_or_missing_secret_is_forbidden(tg: Running, secret: str | None) -> None:
    resp = await tg.post(update("private_text", 600), secret=secret)
    assert resp.status_code == 403
    await tg.post(update("sticker", 601))
    await tg.api.wait_sent(1)
    assert len(tg.api.sent()) == 1  # the forged update was never processed


async def test_without_a_secret_the_webhook_refuses_every_update(assistant: Assistant, caplog: Any) -> None:
    caplog.set_level(logging.WARNING, "bot.adapters.telegram")
    async with running(assistant, telegram_webhook_secret=None) as tg:
        for secret in (None, "", "anything"):
            assert (await tg.post(update("sticker"), secret=secret)).status_code == 403
        health = (await tg.client.get("/healthz")).json()
    assert tg.api.sent() == []
    assert health["status"] == "degraded" and health["adapters"]["telegram"]["state"] == "degraded"
    assert any("TELEGRAM_WEBHOOK_SECRET is not set" in r.getMessage() for r in caplog.records)


async def test_with_public_url_and_no_secret_one_is_made_registered_and_required(assistant: Assistant) -> None:
    async with running(assistant, telegram_webhook_secret=None, public_url="https://bot.example.org") as tg:
        registered = (await tg.api.wait_calls("setWebhook"))[0].params["secret_token"]
        assert re.fullmatch(r"[A-Za-z0-9_-]{32,256}", registered) and TOKEN not in registered
        assert (await tg.post(update("sticker", 610), secret=None)).status_code == 403
        assert (await tg.post(update("sticker", 611), secret=registered)).status_code == 200
        await tg.api.wait_sent(1)
    async with running(assistant, telegram_webhook_secret=None, public_url="https://bot.example.org") as again:
        assert (await again.api.wait_calls("setWebhook"))[0].params["secret_token"] == registered  # every instance


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"[1, 2]", b'"text"', b'{"message": {}}', b'{"update_id": "7"}',
     b'{"update_id": 7, "message": "oops"}', b"\xff\xfe"],
)  # fmt: skip
async def test_malformed_body_is_rejected_with_400(tg: Running, body: bytes) -> None:
    resp = await tg.post(None, raw=body)
    assert resp.status_code == 400
    await tg.post(update("sticker", 602))  # the app is still fine
    await tg.api.wait_sent(1)


async def test_unknown_update_type_is_skipped(tg: Running) -> None:
    reactions = {
        "update_id": 603,
        "message_reaction_count": {
            "chat": {"id": GROUP, "title": "NPO support group", "type": "supergroup"},
            "message_id": 311,
            "date": 1795666500,
            "reactions": [{"type": {"type": "emoji", "emoji": "👍"}, "total_count": 2}],
        },
    }
    assert (await tg.post(reactions)).status_code == 200  # not asked for, but harmless
    assert (await tg.post({"update_id": 604, "from_a_future_api": {"x": 1}})).status_code == 200
    await tg.post(update("sticker", 605))
    await tg.api.wait_sent(1)
    assert len(tg.api.sent()) == 1


async def test_429_is_retried_after_retry_after_and_delivered_once(tg: Running) -> None:
    tg.api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    await tg.post(update("private_text", 500))
    sent = await tg.api.wait_sent(1)
    attempts = tg.api.calls_to("sendMessage")
    assert len(attempts) == 2 and len(sent) == 1
    assert attempts[1].at - attempts[0].at >= 1.0
    assert attempts[0].params["text"] == attempts[1].params["text"]


async def test_502_is_retried_with_backoff(tg: Running) -> None:
    tg.api.fail_next("sendMessage", 502, "Bad Gateway")
    await tg.post(update("private_text", 501))
    sent = await tg.api.wait_sent(1)
    assert len(tg.api.calls_to("sendMessage")) == 2 and len(sent) == 1


async def test_handler_error_is_logged_without_text_and_the_user_told(tg: Running, caplog: Any) -> None:
    caplog.set_level(logging.INFO)
    tg.api.fail_next("sendMessage", 400, "Bad Request: message thread not found")
    question = "What is the Specific Residence Card?"
    await tg.post(update("private_text", 502, question, language_code="en"))
    sent = await tg.api.wait_sent(1)
    assert "something went wrong" in sent[0].params["text"]
    errors = [r.getMessage() for r in caplog.records if r.name == "bot.adapters.telegram" and r.levelno >= 40]
    assert any("update 502 failed (BadRequest" in m for m in errors)
    assert not any("Traceback" in m or question in m for m in errors)


async def test_logs_hold_neither_the_token_nor_the_text(tg: Running, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    question = "What is the Specific Residence Card?"
    await tg.post(update("private_text", 503, question))
    await tg.api.wait_sent(1)
    await tg.adapter.drain()
    messages = [r.getMessage() for r in caplog.records]
    assert any("sendMessage" in m for m in messages)  # PTB and httpx did log the calls
    assert not any(TOKEN in m for m in messages)
    assert any("update 503 answered" in m for m in messages)
    assert not any(question in m for m in messages)


async def test_long_reply_is_split_and_the_keyboard_goes_last(tg: Running) -> None:
    line = "Apply at the city office & bring <your> card. "
    long = Reply(
        kind="answer",
        lang="en",
        blocks=(Block("en", "\n".join(f"{n}. {line * 3}" for n in range(80))),),
        links=(Link(ISA, "Immigration Services Agency"),),
        buttons=(Button("Menu", Postback.menu()),),
    )
    await tg.adapter.send(Target(RESIDENT), long)
    sent = tg.api.sent()
    assert len(sent) >= 2  # the fake, like Telegram, refuses more than 4,096 characters
    assert [bool(buttons_of(c.params)) for c in sent] == [False] * (len(sent) - 1) + [True]
    visible = "\n".join(parse_html(c.params["text"]) for c in sent)
    assert visible.count("bring <your> card") == 240 and visible.endswith("Immigration Services Agency")


async def test_public_url_registers_the_webhook_with_the_secret(assistant: Assistant) -> None:
    async with running(assistant, public_url="https://bot.example.org/") as tg:
        calls = tg.api.calls_to("setWebhook")
    assert len(calls) == 1
    params = calls[0].params
    assert params["url"] == "https://bot.example.org/webhooks/telegram"
    assert params["secret_token"] == SECRET
    assert params["allowed_updates"] == list(ALLOWED_UPDATES)


async def test_polling_mode_answers_without_a_webhook(assistant: Assistant, tmp_path: Path) -> None:
    api = FakeTelegramAPI(TOKEN)
    api.pending_updates.append(update("private_text", 400))
    async with serve(api.app) as api_url:
        settings = Settings(telegram_bot_token=Secret(TOKEN), telegram_api_base_url=f"{api_url}/bot", data_dir=tmp_path)
        app = create_app(settings, assistant=assistant, telegram_polling=True)
        async with serve(app) as url, httpx.AsyncClient(base_url=url) as http:
            await api.wait_sent(1)
            refused = await http.post("/webhooks/telegram", json=update("private_text", 401))
    assert api.calls_to("deleteWebhook")  # start_polling removes a webhook left behind
    assert len(api.sent()) == 1 and refused.status_code == 404


# -- rendering (pure) ----------------------------------------------------------------------------


def test_render_escapes_text_and_makes_real_links() -> None:
    reply = Reply(
        kind="answer",
        lang="en",
        blocks=(Block("en", "A < B & C > D", note="Unofficial & free"),),
        links=(Link("https://example.org/?a=1&b=2", "Q&A"),),
    )
    [text] = render(reply)
    assert parse_html(text) == "A < B & C > D\n※ Unofficial & free\n\n🔗 Q&A"
    assert '<a href="https://example.org/?a=1&amp;b=2">Q&amp;A</a>' in text


def test_split_keeps_entities_and_counts_utf16() -> None:
    text = "😀" * 3000 + "&amp;" * 10
    pieces = split_html(text)
    assert all(utf16_len(p) <= 4096 for p in pieces)
    assert "".join(pieces) == text
    assert all(parse_html(p) for p in pieces)  # no entity cut in half
    assert split_html("short") == ["short"]


def test_keyboard_rows_and_callback_limit() -> None:
    markup = keyboard(
        [Button("Topic", Postback.intent("card.about")), Button("日本語", Postback.language("ja")),
         Button("English", Postback.language("en")), Button("Tiếng Việt", Postback.language("vi")),
         Button("…", Postback.language_menu(1)), Button("x", Postback.intent("y." + "y" * 60))]
    )  # fmt: skip
    assert markup is not None
    rows = [[b.callback_data for b in row] for row in markup.inline_keyboard]
    assert rows == [["intent:card.about"], ["lang:ja", "lang:en", "lang:vi"], ["langs:1"]]
    assert keyboard([]) is None
