"""LINE: signed webhooks in, replies (or a push fallback) out, through line-bot-sdk v3.

The webhook checks the signature, keeps the events in the durable inbox (`bot.inbox`), queues them
per chat and answers at once: LINE waits only a couple of seconds and redelivers or gives up on slow
endpoints. Each reply goes through the server's pipeline (`bot.pipeline`). This module only translates: a
LINE event becomes an `Incoming` (`to_incoming`), a `Reply` becomes LINE text messages with quick
replies, and Flex messages for cards and choices (`render`, `bot.adapters.line_flex`). At start, the
rich menu is put in place in the background (`bot.adapters.line_rich_menu`).

The SDK checks signatures and reads webhook events. The five API calls the bot makes go out on one
aiohttp session of our own, with message bodies as plain JSON: the SDK's messaging client reads the
proxy environment and `~/.netrc` on every call (aiohttp's `trust_env`), building and serialising its
pydantic models costs more than the answer itself, and importing it adds 20 MB to the process
(docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import quote

import aiohttp
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.webhook import WebhookParser
from linebot.v3.webhooks import (
    AudioMessageContent,
    Event,
    EventMode,
    FileMessageContent,
    FollowEvent,
    GroupSource,
    ImageMessageContent,
    JoinEvent,
    LocationMessageContent,
    MessageEvent,
    PostbackEvent,
    RoomSource,
    StickerMessageContent,
    TextMessageContent,
    UserSource,
    VideoMessageContent,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.adapters import line_flex
from bot.adapters.base import (
    AdapterState,
    Attempts,
    ChatQueues,
    Failure,
    RetryPolicy,
    cosmetic,
    describe,
    if_slow,
    split_text,
    with_retries,
)
from bot.adapters.line_rich_menu import RichMenus
from bot.adapters.rich_menu_image import FontMissing, system_fonts
from bot.config import Settings
from bot.core import ui_text as ui
from bot.core.assistant import Assistant
from bot.core.models import Button, Incoming, Reply
from bot.core.pii import redact_fields
from bot.core.postback import Postback
from bot.core.render import plain_blocks
from bot.inbox import InboxKeeper
from bot.pipeline import Pipeline
from bot.store import InboxEvent

log = logging.getLogger(__name__)

PLATFORM = "line"
MAX_MESSAGES = 5
"""Messages per reply or push request."""
MAX_TEXT = 5000
"""Characters per text message, counted in UTF-16 units (an emoji counts twice) to stay on the safe side."""
MAX_QUICK_REPLIES = 13
PROFILE_CACHE = 10_000
LOADING_SECONDS = 20
LOADING_DELAY = 0.5
"""The typing dots are shown only for answers not ready within this many seconds."""
LOADING_MAX_BACKLOG = 100
"""With more events than this accepted and not answered, no dots: the process is behind, and a cosmetic
call for every waiting event would make every answer later still (under saturation, one more API call
a message)."""
CONNECTIONS = 100
"""Open connections to the LINE API at most (the SDK's default is five per CPU)."""
NON_TEXT_TYPES = (
    StickerMessageContent, ImageMessageContent, LocationMessageContent, AudioMessageContent,
    VideoMessageContent, FileMessageContent,
)  # fmt: skip
RETRY_KEY_NAMESPACE = uuid.UUID("5b0c3b8e-2f4c-4a51-9d43-7f1c61a0c2d7")
"""Retry keys are derived from the webhook event id, so every attempt for one event shares its key."""
CHECK_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
"""Seconds between start-up checks of the LINE API while it cannot be reached (the last one repeats)."""
REPLY_TOKEN_SECONDS = 50.0
"""A reply token is to be used within a minute of the event (LINE's documentation); a margin is kept."""
TEXT_FIELDS = ("text",)
"""Where a LINE event holds what the user wrote: redacted before the inbox keeps the event."""


@dataclass(frozen=True)
class Chat:
    """Where an event happened: who to push to and who spoke."""

    kind: Literal["user", "group", "room"]
    id: str
    """The push target: the user, group or room id."""
    user_id: str | None
    """The speaker (absent in some group events)."""

    @property
    def key(self) -> str:
        """The id the core keys preferences by: the speaker, or the group when LINE hides them."""
        return self.user_id or self.id


def chat_of(source: Any) -> Chat | None:
    """The chat of an event source; None for sources we cannot answer."""
    if isinstance(source, UserSource) and source.user_id:
        return Chat("user", source.user_id, source.user_id)
    if isinstance(source, GroupSource) and source.group_id:
        return Chat("group", source.group_id, source.user_id)
    if isinstance(source, RoomSource) and source.room_id:
        return Chat("room", source.room_id, source.user_id)
    return None


def event_key(event_id: str) -> str:
    """The inbox's id of a LINE event (as the first release's file kept seen events)."""
    return f"{PLATFORM}:{event_id}"


def token_fresh(sent_at: int | None, now: float | None = None) -> bool:
    """Whether the reply token of an event sent at `sent_at` (LINE's timestamp, ms) may still be used."""
    if not sent_at:
        return False
    return (now if now is not None else time.time()) - sent_at / 1000 < REPLY_TOKEN_SECONDS


def retry_key(event_id: str) -> str:
    """The X-Line-Retry-Key of an event: a UUID that stays the same across attempts and restarts."""
    return str(uuid.uuid5(RETRY_KEY_NAMESPACE, event_id))


# -- translation (pure) -----------------------------------------------------------------------


def to_incoming(event: Any, chat: Chat, prefixes: Sequence[str]) -> Incoming | str | None:
    """What an event asks of the bot: an `Incoming`, a fixed UI message (its msgid), or None (not for us)."""
    if isinstance(event, JoinEvent):
        return ui.GROUP_INTRO
    if isinstance(event, FollowEvent):
        return Incoming(PLATFORM, chat.key, postback=Postback.intent("chat.greeting")) if chat.kind == "user" else None
    if isinstance(event, PostbackEvent):
        data = event.postback.data if isinstance(event.postback.data, str) else ""
        return Incoming(PLATFORM, chat.key, postback=Postback.decode(data) or Postback.menu())
    if isinstance(event, MessageEvent):
        if isinstance(event.message, TextMessageContent):
            text = event.message.text if chat.kind == "user" else addressed(event.message, prefixes)
            return None if text is None else Incoming(PLATFORM, chat.key, text=text)
        if isinstance(event.message, NON_TEXT_TYPES) and chat.kind == "user":
            return ui.NON_TEXT
    return None


def addressed(message: Any, prefixes: Sequence[str]) -> str | None:
    """The question in a group message meant for the bot (mention or prefix removed), else None."""
    text: str = message.text
    mention = message.mention
    spans = [(m.index, m.length) for m in (mention.mentionees if mention else []) if getattr(m, "is_self", False)]
    if spans:
        return strip_mentions(text, spans)
    stripped = text.lstrip()
    for prefix in prefixes:
        if prefix and stripped.startswith(prefix):
            return stripped[len(prefix) :].strip()
    return None


def strip_mentions(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """`text` without the mention spans (index, length).

    LINE counts positions in UTF-16 units like its clients; if a span does not land on an "@"
    that way, code points are tried, so an emoji before the mention cannot eat the question.
    """
    units = text.encode("utf-16-le", "surrogatepass")
    if all(units[2 * i : 2 * i + 2] == "@".encode("utf-16-le") for i, _ in spans):
        for index, length in sorted(spans, reverse=True):
            units = units[: 2 * index] + units[2 * (index + length) :]
        return units.decode("utf-16-le", errors="ignore").strip()
    for index, length in sorted(spans, reverse=True):
        text = text[:index] + text[index + length :]
    return text.strip()


def pack_texts(parts: Sequence[str], limit: int = MAX_TEXT, max_messages: int = MAX_MESSAGES) -> list[str]:
    """One message per part when they fit; otherwise fuller messages, at most `max_messages`."""
    chunks = [chunk for part in parts for chunk in split_text(part, limit)]
    if len(chunks) <= max_messages:
        return chunks
    chunks = split_text("\n\n".join(chunks), limit)
    if len(chunks) > max_messages:
        log.warning("LINE reply cut to %d messages (%d needed)", max_messages, len(chunks))
        chunks = chunks[:max_messages]
    return chunks


def quick_reply(buttons: Sequence[Button]) -> dict[str, Any] | None:
    """Buttons as LINE quick replies: postbacks that show the label as the user's message."""
    items = [
        {"type": "action", "action": line_flex.postback(b, shown=line_flex.label(b.label))}
        for b in buttons[:MAX_QUICK_REPLIES]
    ]
    return {"items": items} if items else None


def render(reply: Reply) -> list[dict[str, Any]]:
    """A reply as LINE messages (JSON), quick replies on the last.

    Text, one message per language block; cards follow as a carousel; a did-you-mean is one bubble
    whose buttons are the choices. A Flex message's alt text is the plain answer.
    """
    parts = plain_blocks(reply)
    buttons = list(reply.buttons)
    messages: list[dict[str, Any]]
    offered = [b for b in buttons if b.postback.kind == "intent"]
    if reply.kind == "did_you_mean" and offered:
        alt = "\n".join([*plain_blocks(reply), *(f"・{b.label}" for b in offered)])
        messages = [line_flex.choices(plain_blocks(reply, with_links=False), offered, alt, reply.lang)]
        buttons = [b for b in buttons if b not in offered]
    else:
        cards = line_flex.carousels(reply.cards, "\n\n".join(parts), reply.lang) if reply.cards else []
        texts = pack_texts(parts, max_messages=MAX_MESSAGES - len(cards))
        messages = [{"type": "text", "text": text} for text in texts] + cards
    quick = quick_reply(buttons)
    if messages and quick:
        messages[-1]["quickReply"] = quick
    return messages


class LineApiError(Exception):
    """LINE answered with an error status."""

    def __init__(self, status: int, body: bytes, retry_after: str | None = None) -> None:
        super().__init__(f"LINE API answered {status}")
        self.status = status
        self.body = body[:4096]
        self.retry_after = _seconds(retry_after)

    @property
    def message(self) -> str:
        """LINE's own error message (never our text), for the log."""
        try:
            body = json.loads(self.body)
        except (TypeError, ValueError, RecursionError):
            return ""
        message = body.get("message") if isinstance(body, dict) else None
        return f"({str(message)[:120]})" if message else ""


class LineApi:
    """The LINE Messaging API calls the bot makes, on one aiohttp session that reads no environment."""

    def __init__(self, base_url: str, access_token: str, data_base_url: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.data_base_url = (data_base_url or base_url).rstrip("/")
        """The data host (api-data.line.me): rich menu images."""
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=CONNECTIONS, ssl=ssl.create_default_context()),
            headers={"Authorization": f"Bearer {access_token}", "User-Agent": "tokutei-bot"},
            trust_env=False,
        )

    async def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> None:
        """POST `body` as JSON; raises `LineApiError` for an error status."""
        async with self._session.post(
            self.base_url + path,
            data=json.dumps(body, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json"} | (headers or {}),
        ) as response:
            raw = await response.read()
            if response.status >= 300:
                raise LineApiError(response.status, raw, response.headers.get("Retry-After"))

    async def get(self, path: str) -> Any:
        """GET a JSON answer; raises `LineApiError` for an error status, ValueError for one that is not JSON."""
        async with self._session.get(self.base_url + path) as response:
            raw = await response.read()
            if response.status >= 300:
                raise LineApiError(response.status, raw, response.headers.get("Retry-After"))
            return json.loads(raw)

    async def call(
        self, method: str, path: str, body: Any = None, *, data: bytes | None = None,
        content_type: str = "application/json", data_host: bool = False,
    ) -> Any:  # fmt: skip
        """Any other call (rich menus): a JSON body or `data` bytes in, the JSON answer (None if empty) out.

        Raises `LineApiError` for an error status, ValueError for an answer that is not JSON.
        """
        payload = data if data is not None else (json.dumps(body, ensure_ascii=False).encode() if body else None)
        headers = {"Content-Type": content_type} if payload is not None else {}
        base = self.data_base_url if data_host else self.base_url
        async with self._session.request(method, base + path, data=payload, headers=headers) as response:
            raw = await response.read()
            if response.status >= 300:
                raise LineApiError(response.status, raw, response.headers.get("Retry-After"))
            return json.loads(raw) if raw.strip() else None

    async def close(self) -> None:
        await self._session.close()


def classify(exc: BaseException) -> Failure:
    """Whether a failed LINE call is worth another attempt, and whether LINE may have carried it out."""
    if isinstance(exc, LineApiError):
        what = f"{exc.status} {exc.message}".strip()
        status = str(exc.status)
        if exc.status == 429:  # refused before doing anything
            return Failure(retry=True, maybe_done=False, what=what, retry_after=exc.retry_after, status=status)
        server = exc.status >= 500
        return Failure(retry=server, maybe_done=server, what=what, retry_after=exc.retry_after, status=status)
    if isinstance(exc, aiohttp.ClientConnectorError):  # never connected: nothing was sent
        return Failure(retry=True, maybe_done=False, what=type(exc).__name__)
    if isinstance(exc, (TimeoutError, aiohttp.ClientError)):  # sent, maybe carried out, answer lost
        return Failure(retry=True, maybe_done=True, what=type(exc).__name__)
    return Failure(retry=False, maybe_done=True, what=type(exc).__name__)


# -- the adapter ------------------------------------------------------------------------------


class LineAdapter:
    """The LINE Messaging API adapter, mounted at POST /webhooks/line."""

    name = PLATFORM

    def __init__(self, settings: Settings, pipeline: Pipeline, inbox: InboxKeeper) -> None:
        if not (settings.line_channel_secret and settings.line_channel_access_token):
            raise ValueError("LINE_CHANNEL_SECRET and LINE_CHANNEL_ACCESS_TOKEN must both be set")
        self.settings = settings
        self.pipeline = pipeline
        self.inbox = inbox
        self.parser = WebhookParser(settings.line_channel_secret.reveal())
        self.retry = RetryPolicy(tries=3, backoff=0.2, max_wait=30.0, timeout=10.0)
        """Reply and push: 429, 5xx, timeouts and network errors are tried again."""
        self.cosmetic_timeout = 2.0
        """Seconds for the profile and the typing dots: never worth holding the answer longer."""
        self.stop_timeout = 20.0
        """Seconds `stop` waits for accepted events before cancelling them."""
        self.check_delays = CHECK_DELAYS
        self.loading_delay = LOADING_DELAY
        self.loading_max_backlog = LOADING_MAX_BACKLOG
        self.queues = ChatQueues("LINE", settings.max_backlog)
        self.state: AdapterState = "starting"
        self.problem: str | None = None
        self.delivered = 0
        """Events answered (reply or push accepted)."""
        self.failed = 0
        """Events whose answer could not be delivered."""
        self.uncertain = 0
        """Recovered events whose earlier reply may have arrived, with its token expired: not sent again."""
        self._api: LineApi | None = None
        self._check: asyncio.Task[None] | None = None
        self._profiles: OrderedDict[str, str | None] = OrderedDict()
        self.menu_timeout = 60.0
        """Seconds for setting up the rich menu (drawing it included), and for linking one to a user."""
        self.rich_menus: RichMenus | None = None
        self._menu: asyncio.Task[None] | None = None
        self._links: set[asyncio.Task[None]] = set()

    # -- lifespan -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the API session (it needs the running loop) and check the API in the background."""
        token = self.settings.line_channel_access_token
        self._api = LineApi(self.settings.line_api_base_url, token.reveal() if token else "",
                            self.settings.line_data_api_base_url)  # fmt: skip
        self.rich_menus = RichMenus(self._api, lambda: self.assistant.replies, system_fonts(self.settings.fonts_dir))
        self._check = asyncio.create_task(self._check_api(), name="line-check")
        log.info("LINE adapter started")

    async def _check_api(self) -> None:
        """Ask for the bot's info until LINE answers: /healthz says "degraded" meanwhile."""
        for attempt in range(10**9):
            try:
                async with asyncio.timeout(self.retry.timeout):
                    await self.api.get("/v2/bot/info")
                self._healthy()
                log.info("LINE API reachable")
                self._menu = asyncio.create_task(self._set_up_menu(), name="line-rich-menu")
                return
            except LineApiError as exc:
                if exc.status in (401, 403):
                    self.state, self.problem = "degraded", f"LINE refused the access token ({exc.status})"
                    log.error("LINE: the channel access token was refused (%s): check LINE_CHANNEL_ACCESS_TOKEN",
                              exc.status)  # fmt: skip
                    return
                self._unhealthy(f"LINE API answered {exc.status}")
            except Exception as exc:  # unreachable, or an answer that is not LINE's
                self._unhealthy(f"LINE API unreachable ({type(exc).__name__})")
            delay = self.check_delays[min(attempt, len(self.check_delays) - 1)]
            log.warning("LINE: %s; checking again in %.0f s", self.problem, delay)
            await asyncio.sleep(delay)

    async def _set_up_menu(self) -> None:
        """The rich menu, in the background: tried again while LINE fails or is slow, given up on a refusal."""
        if self.rich_menus is None:
            return
        for attempt in range(10**9):
            try:
                async with asyncio.timeout(self.menu_timeout):
                    await self.rich_menus.set_up()
                return
            except LineApiError as exc:
                if exc.status < 500 and exc.status != 429:
                    log.error("LINE rich menu not set: LINE refused it (%s %s)", exc.status, exc.message)
                    return
                problem = f"{exc.status}"
            except FontMissing as exc:
                log.error("LINE rich menu not set: %s", exc)
                return
            except Exception as exc:  # unreachable, slow, an answer that is not LINE's
                problem = type(exc).__name__
            delay = self.check_delays[min(attempt, len(self.check_delays) - 1)]
            log.warning("LINE rich menu not set yet (%s); trying again in %.0f s", problem, delay)
            await asyncio.sleep(delay)

    async def wait_menu(self) -> None:
        """Wait for the rich menu's set-up to end (set, refused, or no rich menu in the content)."""
        if self._check is not None:
            await asyncio.shield(self._check)
        if self._menu is not None:
            await asyncio.shield(self._menu)

    def _link_menu(self, user_id: str, lang: str) -> None:
        """Show a resident who chose a language the menu in that language (cosmetic, in the background)."""
        if self.rich_menus is None or (self._menu is not None and not self._menu.done()):
            return
        menus = self.rich_menus
        task = asyncio.create_task(
            cosmetic(f"LINE rich menu {lang}", lambda: menus.link(user_id, lang), self.menu_timeout),
            name="line-rich-menu-link",
        )
        self._links.add(task)
        task.add_done_callback(self._links.discard)

    def _healthy(self) -> None:
        self.state, self.problem = "ok", None

    def _unhealthy(self, problem: str) -> None:
        self.state, self.problem = "degraded", problem

    async def stop(self) -> None:
        """Finish the accepted events (bounded), then close the client."""
        for task in [self._check, self._menu, *self._links]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.queues.stop(self.stop_timeout)
        if self._api is not None:
            await self._api.close()
            self._api = None

    async def drain(self) -> None:
        """Wait until no accepted event is left, nor a menu being linked (for tests that need every reply sent)."""
        await self.queues.drain()
        if self._links:
            await asyncio.gather(*self._links, return_exceptions=True)

    async def wait_checked(self) -> None:
        """Wait for the start-up check of the API to end (reachable, or the token refused)."""
        if self._check is not None:
            await asyncio.shield(self._check)

    def health(self) -> dict[str, object]:
        """State for /healthz."""
        return {"state": self.state, "problem": self.problem, "backlog": self.queues.pending,
                "delivered": self.delivered, "failed": self.failed, "uncertain": self.uncertain}  # fmt: skip

    @property
    def assistant(self) -> Assistant:
        """The assistant in use now (a hot reload swaps it), for fixed messages and buttons."""
        return self.pipeline.assistant()

    # -- webhook ------------------------------------------------------------------------------

    async def webhook(self, request: Request) -> Response:
        """Check the signature on the raw body, keep the events in the inbox, queue them, answer 200.

        When the backlog is full or the store fails, the answer is 503: LINE delivers the events
        again later (with webhook redelivery on), and those already kept are recognised by their
        event id (answered, or being answered).
        """
        signature = request.headers.get("x-line-signature")
        if not signature:
            return JSONResponse({"error": "missing X-Line-Signature"}, status_code=400)
        raw = await request.body()
        if self._api is None:
            return JSONResponse({"error": "LINE adapter not started"}, status_code=503)
        try:
            events = self.parser.parse(raw.decode("utf-8"), signature)
        except InvalidSignatureError:  # its message holds the signature: not logged
            log.warning("LINE webhook rejected: wrong signature")
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        except UnicodeDecodeError:
            log.warning("LINE webhook rejected: body is not UTF-8")
            return JSONResponse({"error": "body must be UTF-8 JSON"}, status_code=400)
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:  # JSON, shape, pydantic.v1
            log.warning("LINE webhook rejected: malformed body (%s)", type(exc).__name__)
            return JSONResponse({"error": "malformed body"}, status_code=400)
        bodies: list[Any] | None = None
        for n, event in enumerate(events):
            wanted = self._wanted(event)
            if wanted is None:
                continue
            if bodies is None:
                bodies = json.loads(raw)["events"]  # as LINE sent them (the parser keeps their order): kept
            if not await self._accept(event, *wanted, bodies[n]):
                return JSONResponse({"error": "busy, deliver again later"}, status_code=503,
                                    headers={"Retry-After": "5"})  # fmt: skip
        return JSONResponse({})

    def _wanted(self, event: Any) -> tuple[Chat, Incoming | str] | None:
        """The chat of an event and what it asks of the bot; None for events that are not for it."""
        event_id = getattr(event, "webhook_event_id", "?")
        if not isinstance(event, (MessageEvent, PostbackEvent, FollowEvent, JoinEvent)):
            log.info("LINE event %s skipped: type %s", event_id, getattr(event, "type", "?"))
            return None
        if event.mode != EventMode.ACTIVE:
            log.info("LINE event %s skipped: mode %s", event_id, getattr(event.mode, "value", event.mode))
            return None
        chat = chat_of(event.source)
        if chat is None:
            log.info("LINE event %s skipped: unknown source", event_id)
            return None
        found = to_incoming(event, chat, self.settings.group_prefixes)
        if found is None:
            log.debug("LINE event %s skipped: not for the bot", event_id)
            return None
        return chat, found

    async def _accept(self, event: Any, chat: Chat, found: Incoming | str, body: dict[str, Any]) -> bool:
        """Keep one event in the inbox (its text redacted) and queue it, unless already taken; False when it
        cannot be kept (backlog full, store failing): the webhook then asks LINE to deliver again."""
        event_id = event.webhook_event_id
        if not self.queues.room():
            log.warning("LINE event %s refused: %d events waiting", event_id, self.queues.pending)
            return False
        key = event_key(event_id)
        try:
            admission = await self.inbox.accept(key, PLATFORM, json.dumps(redact_fields(body, TEXT_FIELDS)))
        except Exception as exc:
            log.error("LINE event %s refused: the store failed (%s)", event_id, describe(exc))
            return False
        if admission in ("busy", "done"):
            redelivery = event.delivery_context.is_redelivery if event.delivery_context else None
            what = "already answered" if admission == "done" else "being answered by another instance"
            log.info("LINE event %s skipped: %s (redelivery=%s)", event_id, what, redelivery)
            return True
        if not self.queues.submit(chat.id, lambda: self._handle(event, chat, found), f"event {event_id}"):
            self.inbox.release(key)  # kept: another round takes it over after its lease
        return True

    def room(self) -> int:
        """How many more events would be queued now (the inbox claims no more than this)."""
        return self.queues.room() if self._api is not None else 0

    def recover(self, event: InboxEvent) -> bool:
        """Queue an event another instance acknowledged and did not answer (payload as `_accept` kept it).

        Raises:
            ValueError: the payload is not a LINE event this adapter answers.
        """
        try:
            parsed = Event.from_dict(json.loads(event.payload))
        except Exception as exc:  # JSON or pydantic: its message may quote the event
            raise ValueError(f"unreadable LINE event ({type(exc).__name__})") from None
        wanted = self._wanted(parsed)
        if wanted is None:
            raise ValueError("not an event the bot answers")
        chat, found = wanted
        return self.queues.submit(chat.id, lambda: self._handle(parsed, chat, found), f"event {event.id} (recovered)")

    async def _handle(self, event: Any, chat: Chat, found: Incoming | str) -> None:
        event_id: str = event.webhook_event_id
        key = event_key(event_id)
        try:
            dots = (
                chat.kind == "user"
                and not isinstance(event, FollowEvent)
                and self.queues.pending <= self.loading_max_backlog
            )
            slow = if_slow(self.loading_delay, lambda: self._loading(chat, event_id))
            async with slow if dots else contextlib.nullcontext():
                reply = await self._reply_to(found, event, chat)
            if reply is not None and not await self._send(event_id, event.reply_token, chat, reply, event.timestamp):
                return  # another instance holds the event now: it answers it
            await self.inbox.done(key)
            if reply is not None and reply.language_set and chat.kind == "user" and chat.user_id:
                self._link_menu(chat.user_id, reply.lang)  # the menu in the language now kept for the user
        finally:
            self.inbox.release(key)  # not answered here (shutdown, a failure): taken over after its lease

    async def _reply_to(self, found: Incoming | str, event: Any, chat: Chat) -> Reply | None:
        """The reply, through the pipeline (settings, rate limit, counts); None: say nothing."""
        if found == ui.GROUP_INTRO:  # a group: easy Japanese and English, since members speak many languages
            return self.assistant.info(ui.GROUP_INTRO, None)
        msg = found if isinstance(found, Incoming) else Incoming(PLATFORM, chat.key)
        hint = lambda: self._profile_language(chat.user_id)  # noqa: E731
        if isinstance(found, str):
            return await self.pipeline.notice(msg, found, hint)
        reply = await self.pipeline.handle(msg, hint)
        if reply is not None and isinstance(event, FollowEvent):  # a new friend first picks a language
            reply = replace(reply, buttons=tuple(self.assistant.language_buttons(reply.lang)))
        return reply

    # -- LINE API -----------------------------------------------------------------------------

    @property
    def api(self) -> LineApi:
        """The API session (open between `start` and `stop`)."""
        if self._api is None:
            raise RuntimeError("the LINE adapter is not started")
        return self._api

    async def _send(self, event_id: str, reply_token: str | None, chat: Chat, reply: Reply, sent_at: int) -> bool:
        """Reply with the event's token; if LINE refuses the token, push once (retry key) instead.

        The inbox hears of each way tried before it is tried. An event taken over from another
        instance whose reply may have gone out (`earlier`) is answered only where LINE can tell:
        its token is used once, and its retry key accepted once. Returns False when another
        instance holds the event now (nothing sent).
        """
        messages = render(reply)
        if not messages:
            log.warning("LINE event %s: empty reply not sent", event_id)
            self.failed += 1
            return True
        key = event_key(event_id)
        sending = await self.inbox.sending(key, "reply" if reply_token else "push")
        if not sending.ours:
            return False
        if sending.earlier == "push":  # a push may have been accepted: the same retry key makes LINE say so
            await self._push(event_id, chat, messages)
            return True
        if sending.earlier == "reply" and not token_fresh(sent_at):
            self.uncertain += 1
            log.warning("LINE event %s: an earlier reply may have arrived and its token has expired; not sent again",
                        event_id)  # fmt: skip
            return True
        if reply_token:
            body = {"replyToken": reply_token, "messages": messages}
            attempts = Attempts()
            try:
                await with_retries(lambda: self.api.post("/v2/bot/message/reply", body), classify, self.retry,
                                   f"LINE reply for event {event_id}", attempts, self._count("reply"))  # fmt: skip
                log.debug("LINE event %s answered (%s, %d messages)", event_id, reply.kind, len(messages))
                self._delivered()
                return True
            except LineApiError as exc:
                if exc.status != 400:  # still failing after every attempt
                    log.error("LINE event %s: reply failed (%s)", event_id, attempts.last)
                    self._failed(exc)
                    return True
                if attempts.maybe_done or sending.earlier == "reply":
                    # An earlier attempt, here or on an instance that died, may have used the token: a push
                    # could say it twice. (A fresh token is refused only once used.)
                    log.warning("LINE event %s: reply token refused after %s, assuming the reply arrived",
                                event_id, attempts.maybe_done or "an earlier instance's reply")  # fmt: skip
                    self._delivered()
                    return True
                log.info("LINE event %s: reply token refused %s, pushing instead", event_id, exc.message)
            except Exception as exc:
                log.error("LINE event %s: reply failed (%s)", event_id, attempts.last or describe(exc))
                self._failed(exc)
                return True
            sending = await self.inbox.sending(key, "push")
            if not sending.ours:
                return False
        await self._push(event_id, chat, messages)
        return True

    async def _push(self, event_id: str, chat: Chat, messages: list[dict[str, Any]]) -> bool:
        body = {"to": chat.id, "messages": messages}
        key = {"X-Line-Retry-Key": retry_key(event_id)}
        attempts = Attempts()
        try:
            await with_retries(lambda: self.api.post("/v2/bot/message/push", body, key), classify, self.retry,
                               f"LINE push for event {event_id}", attempts, self._count("push"))  # fmt: skip
            log.info("LINE event %s pushed (%d messages)", event_id, len(messages))
            return self._delivered()
        except LineApiError as exc:
            if exc.status == 409:  # an earlier attempt with this key was accepted
                log.info("LINE event %s: push already accepted", event_id)
                return self._delivered()
            log.error("LINE event %s: push failed (%s)", event_id, attempts.last)
            return self._failed(exc)
        except Exception as exc:
            log.error("LINE event %s: push failed (%s)", event_id, attempts.last or describe(exc))
            return self._failed(exc)

    def _count(self, call: str) -> Callable[[Failure], None]:
        """Counts each failed attempt of `call` in /metrics."""
        errors = self.pipeline.metrics.api_errors
        return lambda failure: errors.labels(PLATFORM, call, failure.status or failure.what).inc()

    def _delivered(self) -> bool:
        self.delivered += 1
        if self.state == "degraded" and (self._check is None or self._check.done()):
            self._healthy()
        return True

    def _failed(self, exc: Exception) -> bool:
        self.failed += 1
        if not isinstance(exc, LineApiError) or exc.status >= 500:
            self._unhealthy(f"last answer failed ({type(exc).__name__})")
        return False

    async def _loading(self, chat: Chat, event_id: str) -> None:
        """The typing dots (1:1 chats only, slow answers only): cosmetic, so one short try."""
        body = {"chatId": chat.id, "loadingSeconds": LOADING_SECONDS}
        await cosmetic(
            f"LINE event {event_id}: loading animation",
            lambda: self.api.post("/v2/bot/chat/loading/start", body),
            self.cosmetic_timeout,
        )

    async def _profile_language(self, user_id: str | None) -> str | None:
        """The language of the user's LINE app (profile), cached; None when unknown or failing."""
        if user_id is None:
            return None
        if user_id in self._profiles:
            self._profiles.move_to_end(user_id)
            return self._profiles[user_id]
        try:
            async with asyncio.timeout(self.cosmetic_timeout):
                profile = await self.api.get(f"/v2/bot/profile/{quote(user_id, safe='')}")
            language = profile.get("language") if isinstance(profile, dict) else None
            language = language if isinstance(language, str) and len(language) <= 35 else None
        except LineApiError as exc:
            self.pipeline.metrics.api_errors.labels(PLATFORM, "profile", str(exc.status)).inc()
            if exc.status not in (403, 404):  # not a friend / blocked: remember; else ask again later
                log.info("LINE profile skipped (%s)", exc.status)
                return None
            language = None
        except Exception as exc:  # a timeout, a lost connection, an answer that is not a profile
            self.pipeline.metrics.api_errors.labels(PLATFORM, "profile", type(exc).__name__).inc()
            log.info("LINE profile skipped (%s)", type(exc).__name__)
            return None
        self._profiles[user_id] = language
        if len(self._profiles) > PROFILE_CACHE:
            self._profiles.popitem(last=False)
        return language


def _seconds(value: str | None) -> float | None:
    """A Retry-After in seconds, if it is a sensible number."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds < 86400 else None
