"""A fake LINE Messaging API on 127.0.0.1 that records every request, and a helper to serve apps.

It enforces what the real API enforces and the SDK does not (5 messages, 5,000 characters, 13
quick replies, 20-character labels, single-use reply tokens, retry keys), so a test fails the way
production would. Faults can be scripted per path (`fault_next`, and the shorthands `fail_next`
and `slow_next`): errors, Retry-After, hangs, resets, garbage or unexpected bodies, each before or
after the call takes effect.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.faults import ConnectionReset, Fault

INFO = "/v2/bot/info"
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
    at: float = field(default_factory=time.monotonic)
    """When the fake accepted them (`time.monotonic`: one clock for every process on the machine)."""

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


Endpoint = Callable[[Request, Recorded], Awaitable[Response]]


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
    _faults: dict[str, deque[tuple[Fault, Callable[[Any], bool] | None]]] = field(
        default_factory=lambda: defaultdict(deque)
    )
    _used_tokens: set[str] = field(default_factory=set)
    _retry_keys: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _answered: asyncio.Event = field(default_factory=asyncio.Event)

    def fault_next(self, path: str, *faults: Fault, when: Callable[[Any], bool] | None = None) -> None:
        """Make the next calls to `path` misbehave, one fault each, in order, before behaving normally.

        With `when`, only calls whose JSON body it accepts (e.g. one chat's reply) take the faults.
        """
        self._faults[path].extend((fault, when) for fault in faults)

    def _take_fault(self, path: str, body: Any) -> Fault | None:
        queue = self._faults.get(path, deque())
        for n, (fault, when) in enumerate(queue):
            if when is None or when(body):
                del queue[n]
                return fault
        return None

    def fail_next(self, path: str, *statuses: int) -> None:
        """Answer the next calls to `path` with these statuses, in order, before behaving normally."""
        self.fault_next(path, *(Fault(status=status) for status in statuses))

    def slow_next(self, path: str, seconds: float, processed_first: bool = False) -> None:
        """Make the next call to `path` slow, so that the client times out.

        With `processed_first`, the call takes effect at once and only the answer is late, the case
        where a client cannot know whether LINE acted on its request.
        """
        self.fault_next(path, Fault(hang=seconds, processed=processed_first))

    def calls(self, path: str) -> list[Recorded]:
        """Requests received on `path` (a prefix for the profile path)."""
        return [r for r in self.requests if r.path.startswith(path)]

    async def wait_for(self, condition: Callable[[], bool]) -> None:
        """Wait until `condition()` holds, checked after each answer (bound it with asyncio.timeout)."""
        while not condition():
            self._answered.clear()
            await self._answered.wait()

    @property
    def app(self) -> Starlette:
        """The ASGI app to serve."""
        return Starlette(
            routes=[
                Route(INFO, self._route(self._info), methods=["GET"]),
                Route(REPLY, self._route(self._reply), methods=["POST"]),
                Route(PUSH, self._route(self._push), methods=["POST"]),
                Route(LOADING, self._route(self._loading), methods=["POST"]),
                Route(PROFILE + "{user_id}", self._route(self._profile), methods=["GET"]),
                Route("/{path:path}", self._route(self._unknown), methods=["GET", "POST", "PUT", "DELETE"]),
            ]
        )

    # -- endpoints ----------------------------------------------------------------------------

    def _route(self, endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        """Record the request, apply scripted delays and failures, check the token, then `endpoint`."""

        async def handle(request: Request) -> Response:
            raw = await request.body()
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            record = Recorded(request.method, request.url.path, dict(request.headers), body)
            self.requests.append(record)
            fault = self._take_fault(request.url.path, body)
            if fault is not None and not fault.processed:
                await fault.wait()
            if request.headers.get("authorization") != f"Bearer {self.access_token}":
                response = _error(401, "Authentication failed")
            elif fault is not None and not fault.processed and not fault.answers_normally:
                response = _faulty(fault)
            else:
                response = await endpoint(request, record)
                if fault is not None and fault.processed:
                    await fault.wait()
                    response = response if fault.answers_normally else _faulty(fault)
            record.status = -1 if isinstance(response, ConnectionReset) else response.status_code
            self._answered.set()
            return response

        return handle

    async def _info(self, request: Request, record: Recorded) -> Response:
        return _json(200, {"userId": "Ub0t", "basicId": "@000test", "displayName": "特定在留カード Q&A",
                           "chatMode": "bot", "markAsReadMode": "auto"})  # fmt: skip

    async def _reply(self, request: Request, record: Recorded) -> Response:
        body = record.body if isinstance(record.body, dict) else {}
        token = body.get("replyToken")
        if not isinstance(token, str) or token in self.refused_tokens or token in self._used_tokens:
            return _error(400, "Invalid reply token")
        error = check_messages(body.get("messages"))
        if error:
            return _error(400, "The request body has 1 error(s)", details=[error])
        self._used_tokens.add(token)
        self.deliveries.append(Delivery("reply", token, body["messages"]))
        return _json(200, {"sentMessages": _sent(body["messages"])})

    async def _push(self, request: Request, record: Recorded) -> Response:
        body = record.body if isinstance(record.body, dict) else {}
        key = request.headers.get("x-line-retry-key")
        if key is not None:
            try:
                uuid.UUID(key)
            except ValueError:
                return _error(400, "The value for the 'X-Line-Retry-Key' is invalid")
            if key in self._retry_keys:
                return _json(
                    409,
                    {"message": "The retry key is already accepted", "sentMessages": self._retry_keys[key]},
                    {"x-line-accepted-request-id": "accepted"},
                )
        error = check_messages(body.get("messages"))
        if not isinstance(body.get("to"), str) or error:
            return _error(400, "The request body has 1 error(s)", details=[error])
        sent = _sent(body["messages"])
        if key is not None:
            self._retry_keys[key] = sent
        self.deliveries.append(Delivery("push", body["to"], body["messages"]))
        return _json(200, {"sentMessages": sent})

    async def _loading(self, request: Request, record: Recorded) -> Response:
        body = record.body if isinstance(record.body, dict) else {}
        seconds = body.get("loadingSeconds", 5)
        if not isinstance(body.get("chatId"), str) or not (5 <= seconds <= 60 and seconds % 5 == 0):
            return _error(400, "The request body has 1 error(s)")
        return _json(202, {})

    async def _profile(self, request: Request, record: Recorded) -> Response:
        profile = self.profiles.get(request.path_params["user_id"])
        return _error(404, "Not found") if profile is None else _json(200, profile)

    async def _unknown(self, request: Request, record: Recorded) -> Response:
        return _error(404, "Not found")


def _faulty(fault: Fault) -> Response:
    """The answer a fault gives instead of the real one."""
    if fault.reset:
        return ConnectionReset()
    headers = {"retry-after": str(fault.retry_after)} if fault.retry_after is not None else {}
    status = fault.status or 200
    if fault.body is not None:
        return Response(fault.body, status_code=status, media_type="application/json", headers=headers)
    return _json(status, {"message": f"scripted failure {status}"}, headers)


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers={"x-line-request-id": uuid.uuid4().hex} | (headers or {}))


def _error(status: int, message: str, details: list[Any] | None = None) -> Response:
    return _json(status, {"message": message} | ({"details": details} if details else {}))


def _sent(messages: list[Any]) -> list[dict[str, str]]:
    return [{"id": str(uuid.uuid4().int)[:18], "quoteToken": uuid.uuid4().hex} for _ in messages]
