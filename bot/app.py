"""The one ASGI app: web chat, /healthz, /metrics, and the LINE and Telegram webhooks.

`python -m bot serve` (see Procfile) serves it with the limits of `bot.server`; uvicorn's
`--factory` works too (`uvicorn bot.app:create_app --factory`), without them. An adapter is on when
its credentials are set; otherwise its route answers 404 and /healthz says it is off. An adapter
whose platform cannot be reached at start is "degraded" in /healthz and keeps trying in the
background: the rest of the app serves meanwhile.

Every message goes through one `Pipeline` on the shared store (SQLite in DATA_DIR, or Redis with
REDIS_URL: `bot.store`); webhook events through the durable inbox (`bot.inbox`). The content is
reloaded when intents/ or translations/ change, or on SIGHUP (`bot.reload`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
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
from bot.inbox import InboxKeeper
from bot.logs import describe
from bot.metrics import Metrics
from bot.middleware import BodyLimit, ClientRate
from bot.pipeline import Pipeline
from bot.reload import ContentReloader
from bot.store import InboxEvent, RateLimit, make_store

log = logging.getLogger(__name__)

PLATFORMS = ("line", "telegram")
WEBHOOK_MAX_BODY = 1024 * 1024
"""Webhook bodies are a few kilobytes; anything far larger is not from LINE or Telegram."""
SWEEP_SECONDS = 24 * 3600.0
"""How often what the retention period says is deleted (`Store.forget_idle`); once at start too."""
STORE_RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)
"""Seconds between attempts to reach a store that cannot be reached at start (the last one repeats)."""


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

    def room(self) -> int:
        """How many more events it would queue now."""
        ...

    def recover(self, event: InboxEvent) -> bool:
        """Queue an event another instance acknowledged and did not answer (`bot.inbox`); False: not now.

        Raises:
            ValueError: the kept payload is not an event it can answer.
        """
        ...


def create_app(
    settings: Settings | None = None,
    assistant: Assistant | None = None,
    telegram_polling: bool = False,
) -> Starlette:
    """Build the app; with no arguments, from the environment (uvicorn's --factory).

    Without `assistant`, the content is read from the settings' folders and reloaded when it
    changes; with one (tests), that assistant answers and nothing is watched.

    Raises:
        StoreError: no SQLite file can be kept in DATA_DIR (the message says how to fix it).
        ValueError: REDIS_URL without USER_ID_SECRET.
    """
    settings = settings or Settings.from_env()
    metrics = Metrics()

    def build(previous: Assistant | None) -> Assistant:
        return build_assistant(
            settings.intents_dir,
            settings.translations_dir,
            thresholds=settings.thresholds,
            cache_dir=settings.data_dir,
            previous=previous,
        )

    watched = [settings.intents_dir, settings.translations_dir] if assistant is None else []
    content = ContentReloader(build, watched, metrics, assistant=assistant)
    store = make_store(settings)
    pipeline = Pipeline(
        content.current, store, RateLimit(settings.rate_limit, settings.rate_window), metrics, settings.log_message_text
    )
    keeper = InboxKeeper(store.inbox, lease=settings.inbox_lease)
    web = WebChat(pipeline)
    adapters: dict[str, Adapter] = {}
    if settings.line_enabled:
        from bot.adapters.line import LineAdapter

        adapters["line"] = LineAdapter(settings, pipeline, keeper)
    if settings.telegram_enabled:
        from bot.adapters.telegram import TelegramAdapter

        adapters["telegram"] = TelegramAdapter(settings, pipeline, keeper, polling=telegram_polling)
    keeper.recoverers.update(adapters)
    store_state = {"ok": False, "problem": "starting"}

    async def healthz(request: Request) -> Response:
        states = {name: adapters[name].health() if name in adapters else {"state": "off"} for name in PLATFORMS}
        degraded = any(state["state"] != "ok" for name, state in states.items() if name in adapters)
        content_health = content.health()
        store_health = {"backend": "redis" if settings.redis_url else "sqlite", "state": "ok" if store_state["ok"] else
                        "degraded", "problem": None if store_state["ok"] else store_state["problem"]}  # fmt: skip
        return JSONResponse(
            {
                "status": "degraded" if degraded or content.problems or not store_state["ok"] else "ok",
                "version": __version__,
                "intents": len(content.current().catalog),
                "languages": list(LANGS),
                "adapters": states,
                "content": content_health,
                "store": store_health,
                "inbox": keeper.health(),
                "store_errors": pipeline.store_errors,
            }
        )

    def webhook(name: str) -> Route:
        async def endpoint(request: Request) -> Response:
            adapter = adapters.get(name)
            if adapter is None:
                return JSONResponse({"error": f"{name} is not configured"}, status_code=404)
            return await adapter.webhook(request)

        return Route(f"/webhooks/{name}", endpoint, methods=["POST"])

    async def open_store(attempt: int = 0) -> bool:
        """One attempt to reach the store (Redis: ping, the inbox's group)."""
        try:
            await store.open()
        except Exception as exc:
            store_state["problem"] = f"unreachable ({type(exc).__name__})"
            delay = STORE_RETRY_SECONDS[min(attempt, len(STORE_RETRY_SECONDS) - 1)]
            log.error("store unreachable (%s); trying again in %.0f s", describe(exc), delay)
            return False
        store_state.update(ok=True, problem=None)
        return True

    async def tend_inbox() -> None:
        """While the store cannot be reached, keep trying (webhooks answer 503 meanwhile); then tend the inbox."""
        attempt = 0
        while not store_state["ok"]:
            await asyncio.sleep(STORE_RETRY_SECONDS[min(attempt, len(STORE_RETRY_SECONDS) - 1)])
            attempt += 1
            await open_store(attempt)
        await asyncio.gather(keeper.run(), every(SWEEP_SECONDS, sweep))

    async def sweep() -> None:
        try:
            gone = await store.forget_idle()
            log.info("store: %d expired entries deleted (retention)", gone)
        except Exception as exc:
            log.error("store: retention sweep failed (%s)", describe(exc))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if watched:
                await stack.enter_async_context(content.running())
            await open_store()
            for adapter in adapters.values():
                await adapter.start()
            background = asyncio.create_task(tend_inbox(), name="inbox")
            try:
                yield
            finally:
                background.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await background
                # together: each drains what it accepted within its own bound
                await asyncio.gather(*(adapter.stop() for adapter in adapters.values()))
                await store.close()

    routes = [
        Route("/", web.page),
        Route("/healthz", healthz),
        Route("/metrics", metrics.endpoint(store.inbox.depth, settings.metrics_user, _reveal(settings))),
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
    app.state.content = content
    app.state.store = store
    app.state.pipeline = pipeline
    app.state.inbox = keeper
    app.state.adapters = adapters
    return app


async def every(seconds: float, call: Callable[[], Awaitable[None]]) -> None:
    """`call()` now, then every `seconds`, until cancelled."""
    while True:
        await call()
        await asyncio.sleep(seconds)


def _reveal(settings: Settings) -> str | None:
    return settings.metrics_password.reveal() if settings.metrics_password else None
