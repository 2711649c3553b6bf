"""Scripted faults for the fake platform APIs: errors, Retry-After, hangs, resets, garbage and odd bodies.

A `Fault` is queued for the next call of one path or method. It either misbehaves instead of
carrying out the call, or (`processed`) after carrying it out, which is the case a client cannot
tell apart from a failure: the message arrived, but the answer says otherwise or never comes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from starlette.responses import Response
from starlette.types import Receive, Scope, Send


@dataclass(frozen=True)
class Fault:
    """How one call misbehaves."""

    status: int | None = None
    """Answer with this status (an error body unless `body` is given); None: the real answer."""
    body: bytes | None = None
    """Answer with these bytes instead (with `status`, or 200): garbage JSON, an unexpected shape."""
    retry_after: int | None = None
    """A Retry-After (LINE: header; Telegram: parameters.retry_after)."""
    hang: float = 0.0
    """Seconds before answering: past the client's timeout, it gives up first."""
    processed: bool = False
    """Carry the call out first (the message is delivered), then misbehave."""
    reset: bool = False
    """Drop the connection instead of answering (after the call, with `processed`)."""
    until: asyncio.Event | None = None
    """Hold the answer until the test sets this (then `hang` more): a call that lasts as long as a test needs."""

    @property
    def answers_normally(self) -> bool:
        """Only slow: the real answer comes, late."""
        return self.status is None and self.body is None and not self.reset

    async def wait(self) -> None:
        if self.until is not None:
            await self.until.wait()
        if self.hang:
            await asyncio.sleep(self.hang)


class ConnectionReset(Response):
    """Starts an answer and breaks off: the client sees the connection lost mid-response."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1000")]})
        await send({"type": "http.response.body", "body": b'{"ok": tr', "more_body": True})
        raise ConnectionResetError("scripted reset")
