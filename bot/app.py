"""The one ASGI app: web chat, /healthz, and the LINE and Telegram webhooks.

`uvicorn bot.app:create_app --factory` (see Procfile). An adapter is on when its credentials are
set; otherwise its route answers 404 and /healthz says it is off.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot import __version__
from bot.adapters.web import WebChat
from bot.config import Settings
from bot.core.assistant import Assistant
from bot.core.factory import build_assistant
from bot.core.languages import LANGS
from bot.core.users import SqliteUserStore, UserStore

log = logging.getLogger(__name__)


def create_app(
    settings: Settings | None = None,
    assistant: Assistant | None = None,
    users: UserStore | None = None,
    telegram_polling: bool = False,
) -> Starlette:
    """Build the app; with no arguments, from the environment (uvicorn's --factory)."""
    settings = settings or Settings.from_env()
    if assistant is None:
        users = users or SqliteUserStore(settings.data_dir / "tokutei-bot.sqlite3")
        assistant = build_assistant(
            settings.intents_dir, settings.translations_dir, users, settings.thresholds, cache_dir=settings.data_dir
        )
    web = WebChat(assistant)
    adapters: dict[str, Any] = {}
    if settings.line_enabled:
        from bot.adapters.line import LineAdapter

        adapters["line"] = LineAdapter(settings, assistant)
    if settings.telegram_enabled:
        from bot.adapters.telegram import TelegramAdapter

        adapters["telegram"] = TelegramAdapter(settings, assistant, polling=telegram_polling)

    async def healthz(request: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "version": __version__,
                "intents": len(assistant.catalog),
                "languages": list(LANGS),
                "adapters": {name: name in adapters for name in ("line", "telegram")},
            }
        )

    def webhook(name: str) -> Any:
        async def endpoint(request: Request) -> Response:
            adapter = adapters.get(name)
            if adapter is None:
                return JSONResponse({"error": f"{name} is not configured"}, status_code=404)
            response: Response = await adapter.webhook(request)
            return response

        return endpoint

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for adapter in adapters.values():
            await adapter.start()
        try:
            yield
        finally:
            for adapter in reversed(list(adapters.values())):
                await adapter.stop()

    routes = [
        Route("/", web.page),
        Route("/healthz", healthz),
        Route("/api/ask", web.ask, methods=["POST"]),
        Route("/api/languages", web.languages),
        Route("/api/ui", web.page_words),
        Route("/static/{name}", web.static),
        Route("/webhooks/line", webhook("line"), methods=["POST"]),
        Route("/webhooks/telegram", webhook("telegram"), methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.assistant = assistant
    app.state.adapters = adapters
    return app
