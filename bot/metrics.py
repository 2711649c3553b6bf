"""/metrics in Prometheus' format (prometheus-client): what operators graph and alert on.

One registry per app, so tests may build several apps in one process. Each instance serves its own
figures; Prometheus scrapes every instance and adds them up. Basic auth when METRICS_USER and
METRICS_PASSWORD are set.
"""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Seconds: matching takes about a millisecond, a platform API call tens to hundreds."""


class Metrics:
    """The app's metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "tokutei_messages",
            "Messages from residents, by platform, reply language and outcome "
            "(answer, did_you_mean, fallback, info, rate_limited).",
            ["platform", "lang", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "tokutei_reply_seconds",
            "Seconds from a message's arrival to its reply being ready, by platform.",
            ["platform"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.api_errors = Counter(
            "tokutei_platform_api_errors",
            "Failed platform API calls, by platform, call (reply, push, send…) and status (HTTP code or error type).",
            ["platform", "call", "status"],
            registry=self.registry,
        )
        self.inbox_depth = Gauge(
            "tokutei_inbox_depth",
            "Acknowledged events not yet answered, in the shared store (read at each scrape).",
            registry=self.registry,
        )
        self.store_errors = Counter(
            "tokutei_store_errors",
            "Store calls that failed, by operation (the message was answered all the same).",
            ["operation"],
            registry=self.registry,
        )
        self.reloads = Counter(
            "tokutei_content_reloads",
            "Content reloads, by result (ok, failed: the last good content keeps serving).",
            ["result"],
            registry=self.registry,
        )
        self.content_ok = Gauge(
            "tokutei_content_ok",
            "1 while the content on disk is the content served; 0 while a broken edit waits to be fixed.",
            registry=self.registry,
        )
        self.content_ok.set(1)

    def endpoint(
        self,
        inbox_depth: Callable[[], Awaitable[int]] | None = None,
        user: str | None = None,
        password: str | None = None,
    ) -> Callable[[Request], Awaitable[Response]]:
        """The /metrics route: basic auth when `user` and `password` are given; the inbox depth read fresh."""

        async def metrics(request: Request) -> Response:
            if user and password and not authorised(request, user, password):
                return Response("authentication required", 401, {"WWW-Authenticate": 'Basic realm="metrics"'})
            if inbox_depth is not None:
                try:
                    self.inbox_depth.set(await inbox_depth())
                except Exception as exc:  # the store is unreachable: the last figure stays
                    log.warning("metrics: inbox depth not read (%s)", type(exc).__name__)
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

        return metrics


def authorised(request: Request, user: str, password: str) -> bool:
    """Whether the request's basic auth is `user`:`password` (compared in constant time)."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given_user, _, given_password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    same_user = secrets.compare_digest(given_user.encode(), user.encode())
    same_password = secrets.compare_digest(given_password.encode(), password.encode())
    return same_user and same_password
