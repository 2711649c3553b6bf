"""LINE test support: captured events, signed bodies, the app served against the fake LINE API."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import hmac
import json
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from bot.adapters.base import RetryPolicy
from bot.adapters.line import LineAdapter
from bot.app import create_app
from bot.config import Secret, Settings
from bot.core.assistant import Assistant
from bot.core.users import UserPrefs
from bot.store import Store
from tests.fakes.line_api import Delivery, FakeLineApi
from tests.fakes.server import serve

SECRET = "fake-channel-secret-0123456789abcdef"
TOKEN = "fake-channel-access-token-never-logged"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "line"
ISA = "https://www.moj.go.jp/isa/tokutei.html"
USER = "U4af4980629a3f1d2c8b7e6a5d4c3b2a1"
QUESTION_JA = "特定在留カードってなに？"


def event(name: str, text: str | None = None, **changes: Any) -> dict[str, Any]:
    """The captured event `name` with a fresh event id and reply token (and `text`, `changes`)."""
    data = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    ev: dict[str, Any] = copy.deepcopy(data["events"][0])
    ev["webhookEventId"] = uuid.uuid4().hex[:26].upper()
    ev["timestamp"] = int(time.time() * 1000)
    if "replyToken" in ev:
        ev["replyToken"] = uuid.uuid4().hex
    if text is not None:
        ev["message"]["text"] = text
    ev.update(changes)
    return ev


def body(*events: dict[str, Any]) -> bytes:
    """A webhook body as LINE sends it."""
    return json.dumps({"destination": "U0d1b7e0c6b4f2a9e8d7c6b5a4f3e2d1c", "events": list(events)}).encode()


def sign(raw: bytes, secret: str = SECRET) -> str:
    """X-Line-Signature: base64 HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), raw, hashlib.sha256).digest()).decode()


@dataclass
class Line:
    """The running app, its adapter, and the fake LINE API it talks to."""

    api: FakeLineApi
    http: httpx.AsyncClient
    adapter: LineAdapter
    app: Starlette

    async def prefs(self, user: str = USER) -> UserPrefs:
        """A LINE user's settings, as the app's store keeps them."""
        store: Store = self.app.state.store
        return await store.prefs(f"line:{user}")

    async def post(self, raw: bytes, signature: str | None = "sign") -> httpx.Response:
        """POST a webhook body; the signature is computed unless given (None: no header)."""
        headers = {"content-type": "application/json"}
        if signature is not None:
            headers["x-line-signature"] = sign(raw) if signature == "sign" else signature
        return await self.http.post("/webhooks/line", content=raw, headers=headers)

    async def send(self, *events: dict[str, Any]) -> list[Delivery]:
        """Deliver events like LINE does, wait for the background work, return new deliveries."""
        before = len(self.api.deliveries)
        response = await self.post(body(*events))
        assert response.status_code == 200, response.text
        await self.adapter.drain()
        return self.api.deliveries[before:]


@contextlib.asynccontextmanager
async def running(
    api: FakeLineApi, assistant: Assistant, wait_menu: bool = True, menu_timeout: float = 20.0, **overrides: Any
) -> AsyncIterator[Line]:
    """The real app (create_app) with LINE on, served by uvicorn, pointed at the fake API (both hosts).

    Its store is SQLite in a fresh DATA_DIR unless `overrides` name one (`data_dir`, `redis_url`). With
    `wait_menu`, the rich menu is in place (or given up on) before the test starts.
    """
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(
            **{
                "line_channel_secret": Secret(SECRET),
                "line_channel_access_token": Secret(TOKEN),
                "line_api_base_url": api.url,
                "line_data_api_base_url": api.data_url or api.url,
                "data_dir": Path(data_dir),
            }
            | overrides
        )
        app = create_app(settings, assistant=assistant)
        adapter: LineAdapter = app.state.adapters["line"]
        adapter.retry = RetryPolicy(backoff=0.01, timeout=2.0)
        adapter.check_delays = (0.05,)
        adapter.menu_timeout = menu_timeout
        async with serve(app) as url, httpx.AsyncClient(base_url=url) as http:
            async with asyncio.timeout(30):  # the start-up check of the API (bot info), and the rich menu
                await (adapter.wait_menu() if wait_menu else adapter.wait_checked())
            api.requests.clear()
            yield Line(api, http, adapter, app)


def only(deliveries: list[Delivery]) -> Delivery:
    assert len(deliveries) == 1, deliveries
    return deliveries[0]


def has_kana(text: str) -> bool:
    return any("\u3040" <= ch <= "\u30ff" for ch in text)


def english(reply: Delivery) -> bool:
    """An English answer: no easy-Japanese block (whose furigana shows as readings in brackets)."""
    return "Specific Residence Card" in reply.text and "(ざいりゅう)" not in reply.text
