"""The one ASGI app: web chat, /healthz, and the LINE and Telegram webhooks.

`python -m bot serve` (see Procfile) serves it with the limits of `bot.server`; uvicorn's
`--factory` works too (`uvicorn bot.app:create_app --factory`), without them. An adapter is on when
its credentials are set; otherwise its route answers 404 and /healthz says it is off. An adapter
whose platform cannot be reached at start is "degraded" in /healthz and keeps trying in the
background: the rest of the app serves meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Protocol

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot import __version__
from bot.adapters.web import MAX_BODY as WEB_MAX_BODY
from bot.adapters.web import WebChat
from bot.config import Settings
from bot.core.assistant import Assistant
from bot.core.factory import build_assistant
from bot.core.languages import LANGS
from bot.core.users import SqliteUserStore, UserStore
from bot.middleware import BodyLimit, ClientRate

log = logging.getLogger(__name__)

PLATFORMS = ("line", "telegram")
WEBHOOK_MAX_BODY = 1024 * 1024
"""Webhook bodies are a few kilobytes; anything far larger is not from LINE or Telegram."""


class Adapter(Protocol):
    """A chat platform mounted in the app: a webhook route, lifespan hooks and a health line."""

    name: str

    async def start(self) -> None:
        """Get ready to answer; never raises for an unreachable platform (it retries in the background)."""
        ...

    async def stop(self) -> None:
        """Finish the work already accepted (bounded), then close connections."""
        ...

    async def webhook(self, request: Request) -> Response:
        """The platform's POST: check it, accept its events, answer at once."""
        ...

    def health(self) -> dict[str, object]:
        """Its state for /healthz: "ok", "starting" or "degraded", and why."""
        ...


def create_app(
    settings: Settings | None = None,
    assistant: Assistant | None = None,
    users: UserStore | None = None,
    telegram_polling: bool = False,
) -> Starlette:
    """Build the app; with no arguments, from the environment (uvicorn's --factory).

    Raises:
        StoreError: the user store in DATA_DIR cannot be opened (the message says how to fix it).
    """
    settings = settings or Settings.from_env()
    if assistant is None:
        users = users or SqliteUserStore(settings.data_dir / "tokutei-bot.sqlite3")
        assistant = build_assistant(
            settings.intents_dir, settings.translations_dir, users, settings.thresholds, cache_dir=settings.data_dir
        )
    web = WebChat(assistant)
    adapters: dict[str, Adapter] = {}
    if settings.line_enabled:
        from bot.adapters.line import LineAdapter

        adapters["line"] = LineAdapter(settings, assistant)
    if settings.telegram_enabled:
        from bot.adapters.telegram import TelegramAdapter

        adapters["telegram"] = TelegramAdapter(settings, assistant, polling=telegram_polling)

    async def healthz(request: Request) -> Response:
        states = {name: adapters[name].health() if name in adapters else {"state": "off"} for name in PLATFORMS}
        degraded = any(state["state"] != "ok" for name, state in states.items() if name in adapters)
        return JSONResponse(
            {
                "status": "degraded" if degraded else "ok",
                "version": __version__,
                "intents": len(assistant.catalog),
                "languages": list(LANGS),
                "adapters": states,
                "store_errors": assistant.store_errors,
            }
        )

    def webhook(name: str) -> Route:
        async def endpoint(request: Request) -> Response:
            adapter = adapters.get(name)
            if adapter is None:
                return JSONResponse({"error": f"{name} is not configured"}, status_code=404)
            return await adapter.webhook(request)

        return Route(f"/webhooks/{name}", endpoint, methods=["POST"])

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for adapter in adapters.values():
            await adapter.start()
        try:
            yield
        finally:  # together: each drains what it accepted within its own bound
            await asyncio.gather(*(adapter.stop() for adapter in adapters.values()))

    routes = [
        Route("/", web.page),
        Route("/healthz", healthz),
        Route("/api/ask", web.ask, methods=["POST"]),
        Route("/api/languages", web.languages),
        Route("/api/ui", web.page_words),
        Route("/static/{name}", web.static),
        *(webhook(name) for name in PLATFORMS),
    ]
    limits = {"/api/ask": WEB_MAX_BODY} | {f"/webhooks/{name}": WEBHOOK_MAX_BODY for name in PLATFORMS}
    middleware = [
        Middleware(ClientRate, paths=frozenset({"/api/ask"}), rate=settings.client_rate),
        Middleware(BodyLimit, limits=limits),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.assistant = assistant
    app.state.adapters = adapters
    return app
