"""How the app is served: uvicorn with read timeouts, connection limits and a graceful shutdown.

`python -m bot serve` (and the Procfile) run this. uvicorn's h11 protocol waits forever for a
request's headers and body, so a client that opens connections and sends a byte now and then
holds them all; `guarded_protocol` adds a deadline for the headers and one for the body, and a
limit of open connections per client address. uvicorn's own options do the rest: idle keep-alive
connections close after a few seconds, over `max_connections` requests get 503, and on SIGTERM it
stops accepting, waits for the requests in progress, then the app's lifespan lets each adapter
finish the events it accepted (`SHUTDOWN_SECONDS` in all, within the 30 s platforms allow).
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import os
import resource
from collections import Counter
from typing import Any

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from bot.config import Settings

log = logging.getLogger(__name__)

HEADER_SECONDS = 10.0
"""A request line and its headers must arrive within this many seconds of the first byte (or of connecting)."""
BODY_SECONDS = 20.0
"""A request body must arrive within this many seconds of its headers."""
KEEP_ALIVE_SECONDS = 5
"""An idle keep-alive connection is closed after this many seconds."""
GRACEFUL_SECONDS = 5
"""On shutdown, seconds uvicorn waits for requests in progress (then the adapters drain their queues)."""
SHUTDOWN_SECONDS = 25.0
"""All of a shutdown: requests in progress, then the events adapters accepted."""


def guarded_protocol(max_per_client: int, header_seconds: float = HEADER_SECONDS,
                     body_seconds: float = BODY_SECONDS) -> type[H11Protocol]:  # fmt: skip
    """uvicorn's h11 protocol with header and body deadlines and at most `max_per_client` connections per address."""
    open_per_client: Counter[str] = Counter()
    refused = Counter[str]()

    class GuardedH11Protocol(H11Protocol):
        """Closes connections that are too slow to send a request, or one too many from one address."""

        _deadline: asyncio.TimerHandle | None = None
        _phase: object = None
        _counted: str | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            host = self.client[0] if self.client else None
            if host is not None and max_per_client:
                open_per_client[host] += 1
                self._counted = host
                if open_per_client[host] > max_per_client:
                    refused["connections"] += 1
                    if refused["connections"] in (1, 10, 100) or refused["connections"] % 1000 == 0:
                        log.warning("%d connections refused: too many open from one address", refused["connections"])
                    transport.abort()
                    return
            self._arm(h11.IDLE, header_seconds)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if self._counted is not None:
                open_per_client[self._counted] -= 1
                if open_per_client[self._counted] <= 0:
                    del open_per_client[self._counted]
                self._counted = None
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            state = self.conn.their_state
            if state is h11.IDLE:
                self._arm(h11.IDLE, header_seconds)  # part of a request line or headers
            elif state is h11.SEND_BODY:
                self._arm(h11.SEND_BODY, body_seconds)
            else:  # the request is complete: the app's turn
                self._disarm()

        def _arm(self, phase: object, seconds: float) -> None:
            if self._phase is phase and self._deadline is not None:
                return  # the deadline runs from the start of the phase, not from the last byte
            self._disarm()
            self._phase = phase
            self._deadline = self.loop.call_later(seconds, self._too_slow)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline, self._phase = None, None

        def _too_slow(self) -> None:
            self._deadline = None
            if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
                log.info("connection closed: request not received in time (%s)",
                         "body" if self.conn.their_state is h11.SEND_BODY else "headers")  # fmt: skip
                self.transport.close()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._disarm()  # idle now: uvicorn's keep-alive timeout applies

    return GuardedH11Protocol


def uvicorn_config(app: ASGIApp, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """uvicorn's configuration for the app: limits, timeouts, graceful shutdown, no access log."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "http": guarded_protocol(settings.max_connections_per_client),
        "lifespan": "on",
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "timeout_graceful_shutdown": GRACEFUL_SECONDS,
        "h11_max_incomplete_event_size": 16 * 1024,
        "access_log": False,  # the adapters log event ids; addresses and paths are not worth keeping
        "log_level": settings.log_level.lower(),
        "log_config": None,  # the process's logging (bot.cli) as configured
    }
    return uvicorn.Config(app, **(options | overrides))


def freeze_startup_objects() -> None:
    """Keep the objects built at start-up (catalog, index, models: about 200,000) out of the garbage
    collector's full passes.

    They live as long as the process. Under load Python ran a full pass about once every thousand
    events, and scanning them made each one a 96-120 ms pause for every request in flight; frozen,
    a full pass takes 4-7 ms (measured with gc.callbacks on `serve` at saturation).
    """
    gc.collect()
    gc.freeze()


def raise_open_files_limit() -> None:
    """Allow as many open files as the system lets this process have (connections are files)."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))
    except (ValueError, OSError) as error:
        log.info("open files limit unchanged (%s)", error)


MALLOC_ARENAS = 2
"""glibc malloc arenas the server allows itself (glibc's default: 8 per core). Each thread that
allocates while another holds an arena gets its own, and memory freed in an arena mostly stays in
it: the default left more resident under load (peak 322 → 309 MB in one try of
`python -m benchmarks.webhook_load --only app`). Two keep the event loop and the worker threads
from waiting on one lock."""


def limit_malloc_arenas() -> None:
    """Cap glibc's malloc arenas at `MALLOC_ARENAS`, unless MALLOC_ARENA_MAX says otherwise (or not glibc)."""
    if "MALLOC_ARENA_MAX" in os.environ:  # glibc read it at start: the operator's choice stands
        return
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to cap
        return
    if not mallopt(_M_ARENA_MAX, MALLOC_ARENAS):
        log.info("malloc arenas not capped")


_M_ARENA_MAX = -8
"""mallopt's parameter number for the arena limit (glibc's malloc.h)."""
