"""A fake Telegram Bot API on 127.0.0.1: answers like api.telegram.org and records every call.

The real python-telegram-bot client is pointed at it with `base_url`, so requests go through PTB's
HTTP layer, rate limiter and error mapping exactly as in production. Failures (429, 400, 502) can be
queued per method (`fail_next`), and any `Fault` (hangs, resets, garbage or unexpected bodies, each
before or after the call takes effect) with `fault_next`.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import re
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from tests.fakes.faults import ConnectionReset, Fault

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "telegram"


def fixture(name: str) -> dict[str, Any]:
    """A captured Telegram payload from tests/fixtures/telegram/."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data


@dataclass
class Call:
    """One Bot API request as the fake received it (form values JSON-decoded where they are JSON)."""

    method: str
    params: dict[str, Any]
    at: float
    answered_at: float | None = None
    """When the fake answered (None while it hangs)."""


@dataclass
class Failure:
    """An error answer to give instead of a result."""

    status: int
    description: str
    retry_after: int | None = None


@dataclass
class FakeTelegramAPI:
    """The Bot API methods the adapter uses: getMe, sendMessage, answerCallbackQuery, setWebhook…"""

    token: str
    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    faults: dict[str, list[tuple[Fault, int | None]]] = field(default_factory=dict)
    pending_updates: list[dict[str, Any]] = field(default_factory=list)
    commands: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    """language_code ("" for the default) → the command menu set (default scope)."""
    descriptions: dict[str, str] = field(default_factory=dict)
    short_descriptions: dict[str, str] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1001))
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def me(self) -> dict[str, Any]:
        """The bot's own user (getMe result)."""
        me: dict[str, Any] = fixture("get_me")["result"]
        return me

    @property
    def app(self) -> ASGIApp:
        """The ASGI app to serve."""
        return Starlette(routes=[Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"])])

    # -- test helpers ------------------------------------------------------------------------

    def fail_next(self, method: str, status: int, description: str, retry_after: int | None = None) -> None:
        """Answer the next call of `method` with an error (queue several by calling again)."""
        self.failures.setdefault(method, []).append(Failure(status, description, retry_after))

    def fault_next(self, method: str, *faults: Fault, chat_id: int | None = None) -> None:
        """Make the next calls of `method` misbehave, one fault each, in order (only to `chat_id`, if given)."""
        self.faults.setdefault(method, []).extend((fault, chat_id) for fault in faults)

    def _take_fault(self, method: str, params: dict[str, Any]) -> Fault | None:
        queue = self.faults.get(method, [])
        for n, (fault, chat_id) in enumerate(queue):
            if chat_id is None or str(params.get("chat_id")) == str(chat_id):
                del queue[n]
                return fault
        return None

    def calls_to(self, method: str) -> list[Call]:
        """The recorded calls of one method, oldest first."""
        return [c for c in self.calls if c.method == method]

    def sent(self) -> list[Call]:
        """Messages the fake accepted (sendMessage calls that did not get a queued failure)."""
        return [c for c in self.calls_to("sendMessage") if not c.params.get("_failed")]

    async def wait_sent(self, count: int, within: float = 10.0) -> list[Call]:
        """Wait until `count` messages were accepted; fail with what arrived if they do not."""
        return await self.wait_for(lambda: len(self.sent()) >= count, within, f"{count} sent messages") or []

    async def wait_calls(self, method: str, count: int = 1, within: float = 10.0) -> list[Call]:
        """Wait until `method` was called `count` times."""
        await self.wait_for(lambda: len(self.calls_to(method)) >= count, within, f"{count} × {method}")
        return self.calls_to(method)

    async def wait_for(self, condition: Any, within: float, what: str) -> list[Call]:
        deadline = time.monotonic() + within
        while not condition():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [(c.method, c.params.get("text", "")[:60]) for c in self.calls]
                raise AssertionError(f"timed out waiting for {what}; calls: {seen}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.2))
        return self.sent()

    # -- the API -----------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        call_holder: list[Call] = []
        try:
            return await self._answer(request, call_holder)
        finally:
            for call in call_holder:
                call.answered_at = time.monotonic()
            self._changed.set()

    async def _answer(self, request: Request, call_holder: list[Call]) -> Response:
        if request.path_params["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.path_params["method"]
        params = await _params(request)
        failure = self.failures.get(method, []).pop(0) if self.failures.get(method) else None
        fault = self._take_fault(method, params)
        call = Call(method, {**params, **({"_failed": True} if failure else {})}, time.monotonic())
        call_holder.append(call)
        self.calls.append(call)
        self._changed.set()
        if failure:
            extra = {"parameters": {"retry_after": failure.retry_after}} if failure.retry_after else {}
            return _error(failure.status, failure.description, **extra)
        if fault is not None and not fault.processed:
            await fault.wait()
            if not fault.answers_normally:
                call.params["_failed"] = True
                return _faulty(fault)
        handler = getattr(self, f"_{method}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        try:
            result = await handler(params)
        except ApiError as err:
            call.params["_failed"] = True
            return _error(err.status, err.description)
        if fault is not None and fault.processed:
            await fault.wait()
            if not fault.answers_normally:
                return _faulty(fault)
        return JSONResponse({"ok": True, "result": result})

    async def _getMe(self, params: dict[str, Any]) -> Any:
        return self.me

    async def _sendMessage(self, params: dict[str, Any]) -> Any:
        text = params.get("text", "")
        visible = parse_html(text) if params.get("parse_mode") == "HTML" else text
        if not visible.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(visible.encode("utf-16-le")) // 2 > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        for row in params.get("reply_markup", {}).get("inline_keyboard", []):
            for button in row:
                if len(button.get("callback_data", "").encode()) > 64:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        chat_id = int(params["chat_id"])
        message: dict[str, Any] = {
            "message_id": next(self._ids),
            "from": self.me,
            "chat": _chat(chat_id),
            "date": int(time.time()),
            "text": visible,
        }
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        if "message_thread_id" in params:
            message["message_thread_id"] = int(params["message_thread_id"])
        return message

    async def _sendChatAction(self, params: dict[str, Any]) -> Any:
        return True

    async def _answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        return True

    async def _setWebhook(self, params: dict[str, Any]) -> Any:
        return True

    async def _deleteWebhook(self, params: dict[str, Any]) -> Any:
        return True

    async def _getWebhookInfo(self, params: dict[str, Any]) -> Any:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}

    # -- the bot's profile: checked as the Bot API checks it ------------------------------------

    @staticmethod
    def _language(params: dict[str, Any]) -> str:
        code = params.get("language_code") or ""
        if code and not re.fullmatch(r"[a-z]{2}", code):
            raise ApiError(400, "Bad Request: invalid language code specified")
        if params.get("scope") not in (None, {"type": "default"}):
            raise ApiError(400, "Bad Request: only the default scope is expected here")
        return str(code)

    async def _setMyCommands(self, params: dict[str, Any]) -> Any:
        code = self._language(params)
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: commands must be a list of at most 100")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[code] = [{"command": c["command"], "description": c["description"]} for c in commands]
        return True

    async def _getMyCommands(self, params: dict[str, Any]) -> Any:
        return self.commands.get(self._language(params), [])

    async def _setMyDescription(self, params: dict[str, Any]) -> Any:
        text = str(params.get("description", ""))
        if len(text) > 512:
            raise ApiError(400, "Bad Request: description is too long")
        self.descriptions[self._language(params)] = text
        return True

    async def _getMyDescription(self, params: dict[str, Any]) -> Any:
        return {"description": self.descriptions.get(self._language(params), "")}

    async def _setMyShortDescription(self, params: dict[str, Any]) -> Any:
        text = str(params.get("short_description", ""))
        if len(text) > 120:
            raise ApiError(400, "Bad Request: short description is too long")
        self.short_descriptions[self._language(params)] = text
        return True

    async def _getMyShortDescription(self, params: dict[str, Any]) -> Any:
        return {"short_description": self.short_descriptions.get(self._language(params), "")}

    async def _getUpdates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset", 0))
        # Long polling, shortened so that stopping the updater is quick.
        deadline = time.monotonic() + min(float(params.get("timeout", 0)), 0.3)
        while True:
            ready = [u for u in self.pending_updates if u["update_id"] >= offset]
            if ready or time.monotonic() >= deadline:
                return ready
            await asyncio.sleep(0.02)


class ApiError(Exception):
    """An error the real Bot API would answer with."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status, self.description = status, description


_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code", "pre",
         "blockquote", "tg-emoji"}  # fmt: skip
_TOKEN = re.compile(r"<(/?)([a-zA-Z][\w-]*)([^<>]*)>|&(#\d+|#x[0-9a-fA-F]+|lt|gt|amp|quot);|([<>&])")


def parse_html(text: str) -> str:
    """The visible text of a Telegram HTML message, with the checks the Bot API makes.

    Raises:
        ApiError: 400 "can't parse entities" for an unsupported tag, an unclosed tag or a bare <, > or &.
    """
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        out.append(text[pos : m.start()])
        pos = m.end()
        closing, tag, _attrs, entity, bare = m.groups()
        if bare:
            raise ApiError(400, f"Bad Request: can't parse entities: character '{bare}' is reserved")
        if entity:
            out.append(html.unescape(m.group(0)))
            continue
        tag = tag.lower()
        if tag not in _TAGS:
            raise ApiError(400, f"Bad Request: can't parse entities: unsupported start tag {tag!r}")
        if closing:
            if not stack or stack.pop() != tag:
                raise ApiError(400, f"Bad Request: can't parse entities: unexpected end tag {tag!r}")
        else:
            stack.append(tag)
    if stack:
        raise ApiError(400, f"Bad Request: can't parse entities: can't find end tag corresponding to {stack[-1]!r}")
    out.append(text[pos:])
    return "".join(out)


def _chat(chat_id: int) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": "Resident"}
    return {"id": chat_id, "type": "supergroup", "title": "NPO support group"}


def _faulty(fault: Fault) -> Response:
    """The answer a fault gives instead of the real one."""
    if fault.reset:
        return ConnectionReset()
    if fault.body is not None:
        return Response(fault.body, status_code=fault.status or 200, media_type="application/json")
    status = fault.status or 500
    extra = {"parameters": {"retry_after": fault.retry_after}} if fault.retry_after else {}
    return _error(status, f"scripted failure {status}", **extra)


def _error(status: int, description: str, **extra: Any) -> Response:
    return JSONResponse({"ok": False, "error_code": status, "description": description, **extra}, status_code=status)


async def _params(request: Request) -> dict[str, Any]:
    """PTB sends form fields, with non-string values JSON-encoded; decode those back."""
    body = (await request.body()).decode()
    if request.headers.get("content-type", "").startswith("application/json"):
        data: dict[str, Any] = json.loads(body)
        return data
    params: dict[str, Any] = {}
    for key, value in urllib.parse.parse_qsl(body, keep_blank_values=True):
        if value[:1] in "[{":
            try:
                params[key] = json.loads(value)
                continue
            except ValueError:
                pass
        params[key] = value
    return params
