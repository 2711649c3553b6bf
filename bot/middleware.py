"""ASGI middleware that keeps hostile requests cheap: body limits while streaming, per-client rates.

Starlette reads a body whole when an endpoint asks for it; `BodyLimit` counts the bytes as they
arrive (chunked bodies included) and answers 413 as soon as a route's limit is passed, so no more
than the limit is ever held. `ClientRate` gives each client address a token bucket on the routes
anyone can call without a signature (the web chat API).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Mapping

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

DEFAULT_BODY = 64 * 1024
"""Bytes a request body may have on a route without its own limit."""
MAX_CLIENTS = 10_000
"""Client addresses remembered by the rate limiter (the least recent are forgotten)."""


class _TooLarge(Exception):
    """Raised from `receive` when a body passes its limit."""


async def _send_error(send: Send, status: int, error: str, headers: Mapping[str, str] | None = None) -> None:
    body = json.dumps({"error": error}).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]  # fmt: skip
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """413 for a body over its route's limit, decided on the declared length or while it streams in."""

    def __init__(self, app: ASGIApp, limits: Mapping[str, int], default: int = DEFAULT_BODY) -> None:
        self.app = app
        self.limits = dict(limits)
        self.default = default

    def limit(self, path: str) -> int:
        """The body limit of a path: its route's, else the default."""
        return self.limits.get(path, self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit() or int(value) > limit:
                    await _send_error(send, 413, "body too large")
                    return
                # The server stops a body at its declared length: nothing to count.
                await self.app(scope, receive, send)
                return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _TooLarge:
            if not started:
                await _send_error(send, 413, "body too large")
        except ClientDisconnect:  # the client went away (or was cut off for sending too slowly)
            pass


class ClientRate:
    """A token bucket per client address on `paths`: `rate` requests a second, bursts of `burst`; 429 past it."""

    def __init__(self, app: ASGIApp, paths: frozenset[str], rate: float, burst: float | None = None) -> None:
        self.app = app
        self.paths = paths
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, 2 * rate)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self.refused = 0

    def allow(self, client: str, now: float) -> float:
        """0 when a request from `client` may go ahead now, else the seconds until it may."""
        tokens, last = self._buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
        self._buckets[client] = (tokens - 1 if tokens >= 1 else tokens, now)
        if len(self._buckets) > MAX_CLIENTS:
            self._buckets.popitem(last=False)
        return wait

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths or self.rate <= 0:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        wait = self.allow(client[0] if client else "?", time.monotonic())
        if wait:
            self.refused += 1
            if self.refused in (1, 10, 100) or self.refused % 1000 == 0:
                log.warning("%d requests refused by the per-client rate limit", self.refused)
            await _send_error(send, 429, "too many requests", {"Retry-After": str(max(1, math.ceil(wait)))})
            return
        await self.app(scope, receive, send)
