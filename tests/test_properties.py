"""Properties over what arrives from outside (hypothesis): no input gets a 5xx, crashes the core, or breaks a limit.

Quick by design (a few hundred examples each); `make fuzz` runs the same strategies by the tens of
thousands against the served app.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from bot.adapters.base import split_text, utf16_len
from bot.adapters.line import MAX_MESSAGES, MAX_TEXT, render
from bot.adapters.telegram import html_to_text, split_html
from bot.adapters.telegram import render as render_telegram
from bot.app import create_app
from bot.config import Secret, Settings
from bot.core.assistant import Assistant
from bot.core.content import load_content
from bot.core.intents import ContentError
from bot.core.models import Incoming
from bot.core.normalize import clean, normalize
from bot.core.postback import Postback
from bot.core.yaml_lines import YamlError
from tests import strategies as s
from tests.conftest import CONTENT
from tests.fakes.line_api import check_messages
from tests.fakes.server import serve_in_thread
from tests.fakes.telegram_api import FakeTelegramAPI, parse_html

LINE_SECRET = "property-line-secret"
TELEGRAM_TOKEN = "7000000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
TELEGRAM_SECRET = "property-telegram-secret"
QUICK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def sign(raw: bytes) -> str:
    return base64.b64encode(hmac.new(LINE_SECRET.encode(), raw, hashlib.sha256).digest()).decode()


@pytest.fixture(scope="module")
def client(shared_assistant: Assistant, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The app with LINE (its API unreachable: replies fail fast), Telegram (a fake Bot API) and the web chat."""
    telegram = FakeTelegramAPI(TELEGRAM_TOKEN)
    with serve_in_thread(telegram.app) as telegram_url:
        app_settings = Settings(
            line_channel_secret=Secret(LINE_SECRET), line_channel_access_token=Secret("t"),
            line_api_base_url="http://127.0.0.1:9", telegram_bot_token=Secret(TELEGRAM_TOKEN),
            telegram_webhook_secret=Secret(TELEGRAM_SECRET), telegram_api_base_url=f"{telegram_url}/bot",
            client_rate=0, data_dir=tmp_path_factory.mktemp("properties-data"),
        )  # fmt: skip
        app = create_app(app_settings, assistant=shared_assistant)
        line = app.state.adapters["line"]
        line.retry = line.retry.__class__(tries=1, timeout=1.0)
        with TestClient(app) as test_client:
            test_client.portal.call(app.state.adapters["telegram"].wait_connected)  # type: ignore[union-attr]
            yield test_client


# -- webhooks and the web chat: never a 5xx ---------------------------------------------------


@QUICK
@given(raw=st.one_of(s.line_bodies, s.raw_bodies), signed=st.booleans())
def test_line_webhook_never_answers_5xx(client: TestClient, raw: bytes, signed: bool) -> None:
    headers = {"x-line-signature": sign(raw) if signed else "AAAA", "content-type": "application/json"}
    response = client.post("/webhooks/line", content=raw, headers=headers)
    assert response.status_code in (200, 400, 401, 413), response.text


@QUICK
@given(raw=st.one_of(s.telegram_updates, s.raw_bodies), secret=st.sampled_from([TELEGRAM_SECRET, "", "wrong"]))
def test_telegram_webhook_never_answers_5xx(client: TestClient, raw: bytes, secret: str) -> None:
    headers = {"x-telegram-bot-api-secret-token": secret, "content-type": "application/json"}
    response = client.post("/webhooks/telegram", content=raw, headers=headers)
    assert response.status_code in ((200, 400) if secret == TELEGRAM_SECRET else (403,)), response.text


@QUICK
@given(raw=st.one_of(s.ask_bodies, s.raw_bodies), language=st.one_of(st.none(), s.texts))
def test_web_chat_never_answers_5xx(client: TestClient, raw: bytes, language: str | None) -> None:
    headers = {"content-type": "application/json"}
    if language is not None and language.isascii() and language.isprintable():
        headers["accept-language"] = language
    response = client.post("/api/ask", content=raw, headers=headers)
    assert response.status_code in (200, 400, 413), response.text
    if response.status_code == 200:
        reply = response.json()
        assert reply["blocks"] and reply["session"] and reply["kind"] in ("answer", "did_you_mean", "fallback", "info")


# -- the core and the renderers ---------------------------------------------------------------


@QUICK
@given(text=s.texts, hint=st.one_of(st.none(), s.texts), forwarded=st.booleans())
def test_any_text_gets_a_reply_that_fits_every_platform(
    assistant: Assistant, text: str, hint: str | None, forwarded: bool
) -> None:
    reply = assistant.handle(Incoming("test", "u1", text=text, lang_hint=hint, forwarded=forwarded))
    assert reply.blocks and all(block.text for block in reply.blocks)
    messages = render(reply)
    assert 1 <= len(messages) <= MAX_MESSAGES and check_messages(messages) is None  # as LINE checks them
    assert all(utf16_len(m["text"]) <= MAX_TEXT for m in messages if m["type"] == "text")
    for part in render_telegram(reply):
        assert utf16_len(part) <= 4096 and parse_html(part).strip()  # well-formed HTML Telegram accepts


@QUICK
@given(data=s.texts)
def test_any_button_data_is_a_known_press_or_none(assistant: Assistant, data: str) -> None:
    press = Postback.decode(data)
    if press is not None:
        assert Postback.decode(press.encode()) == press
        assert assistant.handle(Incoming("test", "u1", postback=press)).blocks


@QUICK
@given(text=st.text(max_size=3000), limit=st.integers(2, 300))
def test_splitting_keeps_every_character_within_the_limit(text: str, limit: int) -> None:
    for pieces in (split_text(text, limit), split_html(text, limit)):
        assert all(utf16_len(piece) <= limit for piece in pieces)
        assert "".join("".join(pieces).split()) == "".join(text.split())


@QUICK
@given(text=s.texts)
def test_cleaning_and_plain_text_fallback_never_raise(text: str) -> None:
    cleaned = clean(text)
    cleaned.encode("utf-8")  # valid Unicode whatever came in: a lone surrogate would raise here
    normalize(cleaned)
    assert "<" not in html_to_text(f"<b>{text.replace('<', '')}</b>")


# -- content YAML: loaded, or refused with file and line --------------------------------------


@settings(max_examples=60, deadline=None)
@given(document=st.one_of(s.intent_like, s.yaml_values).map(lambda v: yaml.safe_dump(v, allow_unicode=True)),
       mangle=st.one_of(st.none(), st.text(max_size=20)))  # fmt: skip
def test_any_intent_file_loads_or_is_refused_with_its_place(document: str, mangle: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        intents = Path(tmp) / "intents"
        shutil.copytree(CONTENT, intents)
        text = document if mangle is None else document[: len(document) // 2] + mangle
        (intents / "card.fuzzed.yaml").write_text(text, encoding="utf-8")
        try:
            content = load_content(intents)
        except (ContentError, YamlError) as error:
            assert "card.fuzzed.yaml" in str(error)
        else:
            assert len(content.catalog) >= 1
