"""A fake LINE Messaging API on 127.0.0.1 that records every request, and a helper to serve apps.

It enforces what the real API enforces and the SDK does not (5 messages, 5,000 characters, 13
quick replies, 20-character labels, single-use reply tokens, retry keys), so a test fails the way
production would. Failures can be scripted per path (`fail_next`), and calls can be slowed down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import uuid
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

REPLY = "/v2/bot/message/reply"
PUSH = "/v2/bot/message/push"
LOADING = "/v2/bot/chat/loading/start"
PROFILE = "/v2/bot/profile/"


@dataclass
class Recorded:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int = 0
    """What the fake answered."""


@dataclass
class Delivery:
    """Messages the fake accepted (what the user would see)."""

    kind: str
    """"reply" or "push"."""
    to: str
    """Reply token or push target."""
    messages: list[dict[str, Any]]

    @property
    def texts(self) -> list[str]:
        """The text of each message."""
        return [m.get("text", "") for m in self.messages]

    @property
    def text(self) -> str:
        """All texts joined, for `in` checks."""
        return "\n".join(self.texts)

    @property
    def quick_replies(self) -> list[dict[str, Any]]:
        """The quick reply items of the last message."""
        quick = self.messages[-1].get("quickReply") or {}
        items: list[dict[str, Any]] = quick.get("items") or []
        return items


def utf16_len(text: str) -> int:
    """Length as LINE counts it."""
    return len(text.encode("utf-16-le")) // 2


def check_messages(messages: object) -> str | None:
    """LINE's own limits on a message list; the error message, or None when valid."""
    if not isinstance(messages, list) or not 1 <= len(messages) <= 5:
        return "May not be empty or exceed 5 messages"
    for n, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("type") != "text":
            return f"messages[{n}].type: only text is expected here"
        text = message.get("text")
        if not isinstance(text, str) or not text or utf16_len(text) > 5000:
            return f"messages[{n}].text: Length must be between 1 and 5000"
        items = (message.get("quickReply") or {}).get("items") or []
        if len(items) > 13:
            return f"messages[{n}].quickReply.items: Size must be between 0 and 13"
        for item in items:
            action = item.get("action") or {}
            if not 1 <= len(action.get("label") or "") <= 20:
                return f"messages[{n}].quickReply.items[].action.label: Length must be between 1 and 20"
            if action.get("type") == "postback" and not 1 <= len(action.get("data") or "") <= 300:
                return f"messages[{n}].quickReply.items[].action.data: Length must be between 1 and 300"
    return None


@dataclass
class FakeLineApi:
    """The fake API: `app` to serve, `requests` and `deliveries` to inspect."""

    access_token: str
    url: str = ""
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    refused_tokens: set[str] = field(default_factory=set)
    """Reply tokens answered with 400 Invalid reply token (expired)."""
    delay: dict[str, float] = field(default_factory=dict)
    """Seconds to wait before answering, by path prefix (for timeouts)."""
    _failures: dict[str, deque[int]] = field(default_factory=lambda: defaultdict(deque))
    _used_tokens: set[str] = field(default_factory=set)
    _retry_keys: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def fail_next(self, path: str, *statuses: int) -> None:
        """Answer the next calls to `path` with these statuses, in order, before behaving normally."""
        self._failures[path].extend(statuses)

    def calls(self, path: str) -> list[Recorded]:
        """Requests received on `path` (a prefix for the profile path)."""
        return [r for r in self.requests if r.path.startswith(path)]

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        """Poll until `condition()` holds; fail after `timeout` seconds."""
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.01)

    @property
    def app(self) -> Starlette:
        """The ASGI app to serve."""
        return Starlette(
            routes=[
                Route(REPLY, self._reply, methods=["POST"]),
                Route(PUSH, self._push, methods=["POST"]),
                Route(LOADING, self._loading, methods=["POST"]),
                Route(PROFILE + "{user_id}", self._profile, methods=["GET"]),
                Route("/{path:path}", self._unknown, methods=["GET", "POST", "PUT", "DELETE"]),
            ]
        )

    # -- endpoints ----------------------------------------------------------------------------

    async def _begin(self, request: Request) -> tuple[Recorded, Response | None]:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        record = Recorded(request.method, request.url.path, dict(request.headers), body)
        self.requests.append(record)
        for prefix, seconds in self.delay.items():
            if request.url.path.startswith(prefix):
                await asyncio.sleep(seconds)
        if request.headers.get("authorization") != f"Bearer {self.access_token}":
            return record, self._answer(record, 401, {"message": "Authentication failed"})
        failures = self._failures.get(request.url.path)
        if failures:
            status = failures.popleft()
            return record, self._answer(record, status, {"message": f"scripted failure {status}"})
        return record, None

    def _answer(self, record: Recorded, status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
        record.status = status
        base = {"x-line-request-id": str(uuid.uuid4())}
        return JSONResponse(body, status_code=status, headers=base | (headers or {}))

    async def _reply(self, request: Request) -> Response:
        record, early = await self._begin(request)
        if early:
            return early
        body = record.body if isinstance(record.body, dict) else {}
        token = body.get("replyToken")
        if not isinstance(token, str) or token in self.refused_tokens or token in self._used_tokens:
            return self._answer(record, 400, {"message": "Invalid reply token"})
        error = check_messages(body.get("messages"))
        if error:
            return self._answer(record, 400, {"message": "The request body has 1 error(s)", "details": [error]})
        self._used_tokens.add(token)
        self.deliveries.append(Delivery("reply", token, body["messages"]))
        return self._answer(record, 200, {"sentMessages": _sent(body["messages"])})

    async def _push(self, request: Request) -> Response:
        record, early = await self._begin(request)
        if early:
            return early
        body = record.body if isinstance(record.body, dict) else {}
        key = request.headers.get("x-line-retry-key")
        if key is not None:
            try:
                uuid.UUID(key)
            except ValueError:
                return self._answer(record, 400, {"message": "The value for the 'X-Line-Retry-Key' is invalid"})
            if key in self._retry_keys:
                sent = self._retry_keys[key]
                return self._answer(
                    record,
                    409,
                    {"message": "The retry key is already accepted", "sentMessages": sent},
                    {"x-line-accepted-request-id": "accepted"},
                )
        error = check_messages(body.get("messages"))
        if not isinstance(body.get("to"), str) or error:
            return self._answer(record, 400, {"message": "The request body has 1 error(s)", "details": [error]})
        sent = _sent(body["messages"])
        if key is not None:
            self._retry_keys[key] = sent
        self.deliveries.append(Delivery("push", body["to"], body["messages"]))
        return self._answer(record, 200, {"sentMessages": sent})

    async def _loading(self, request: Request) -> Response:
        record, early = await self._begin(request)
        if early:
            return early
        body = record.body if isinstance(record.body, dict) else {}
        seconds = body.get("loadingSeconds", 5)
        if not isinstance(body.get("chatId"), str) or not (5 <= seconds <= 60 and seconds % 5 == 0):
            return self._answer(record, 400, {"message": "The request body has 1 error(s)"})
        return self._answer(record, 202, {})

    async def _profile(self, request: Request) -> Response:
        record, early = await self._begin(request)
        if early:
            return early
        profile = self.profiles.get(request.path_params["user_id"])
        if profile is None:
            return self._answer(record, 404, {"message": "Not found"})
        return self._answer(record, 200, profile)

    async def _unknown(self, request: Request) -> Response:
        record, early = await self._begin(request)
        return early or self._answer(record, 404, {"message": "Not found"})


def _sent(messages: list[Any]) -> list[dict[str, str]]:
    return [{"id": str(uuid.uuid4().int)[:18], "quoteToken": uuid.uuid4().hex} for _ in messages]


@contextlib.asynccontextmanager
async def serve(app: ASGIApp) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on a free 127.0.0.1 port (lifespan included); yields its base URL.

    Leaving the block shuts the server down gracefully, running the app's lifespan shutdown.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()  # startup failed: raise its error
                    raise RuntimeError("server stopped during startup")
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()
