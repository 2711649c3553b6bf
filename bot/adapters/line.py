"""LINE: signed webhooks in, replies (or a push fallback) out, through line-bot-sdk v3.

The webhook is answered at once and events are handled in background tasks: LINE waits only a
couple of seconds and redelivers or gives up on slow endpoints. This module only translates: LINE
events become `Incoming` messages and a `Reply` becomes LINE text messages with quick replies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

import aiohttp
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.messaging import (
    ApiException,
    AsyncApiClient,
    AsyncMessagingApi,
    Configuration,
    PostbackAction,
    PushMessageRequest,
    QuickReply,
    QuickReplyItem,
    ReplyMessageRequest,
    ShowLoadingAnimationRequest,
    TextMessage,
)
from linebot.v3.webhook import WebhookParser
from linebot.v3.webhooks import (
    AudioMessageContent,
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

from bot.config import Settings
from bot.core import ui_text as ui
from bot.core.assistant import Assistant
from bot.core.models import Button, Incoming, Reply
from bot.core.postback import Postback
from bot.core.render import plain_blocks

log = logging.getLogger(__name__)

PLATFORM = "line"
MAX_MESSAGES = 5
"""Messages per reply or push request."""
MAX_TEXT = 5000
"""Characters per text message, counted in UTF-16 units (an emoji counts twice) to stay on the safe side."""
MAX_QUICK_REPLIES = 13
MAX_LABEL = 20
MAX_BODY = 1024 * 1024
"""Webhook bodies are a few kilobytes; anything far larger is not from LINE."""
PROFILE_CACHE = 10_000
LOADING_SECONDS = 20
NON_TEXT_TYPES = (
    StickerMessageContent, ImageMessageContent, LocationMessageContent, AudioMessageContent,
    VideoMessageContent, FileMessageContent,
)  # fmt: skip
RETRY_KEY_NAMESPACE = uuid.UUID("5b0c3b8e-2f4c-4a51-9d43-7f1c61a0c2d7")
"""Retry keys are derived from the webhook event id, so every attempt for one event shares its key."""

T = TypeVar("T")


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
    if isinstance(source, GroupSource):
        return Chat("group", source.group_id, source.user_id)
    if isinstance(source, RoomSource):
        return Chat("room", source.room_id, source.user_id)
    return None


def retry_key(event_id: str) -> str:
    """The X-Line-Retry-Key of an event: a UUID that stays the same across attempts and restarts."""
    return str(uuid.uuid5(RETRY_KEY_NAMESPACE, event_id))


# -- rendering --------------------------------------------------------------------------------


def utf16_len(text: str) -> int:
    """Length as LINE counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """`text` in pieces of at most `limit` units, cut at line breaks where possible."""
    if utf16_len(text) <= limit:
        return [text] if text.strip() else []
    pieces: list[str] = []
    for line in text.splitlines(keepends=True):
        while utf16_len(line) > limit:  # a single overlong line: cut it, never mid-character
            cut, used = 0, 0
            for char in line:
                used += utf16_len(char)
                if used > limit:
                    break
                cut += 1
            cut = max(cut, 1)
            pieces.append(line[:cut])
            line = line[cut:]
        pieces.append(line)
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if current and utf16_len(current + piece.rstrip("\n")) > limit:  # a final newline is dropped
            chunks.append(current)
            current = ""
        current += piece
    chunks.append(current)
    return [chunk.strip("\n") for chunk in chunks if chunk.strip()]


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


def label(text: str) -> str:
    """A quick reply label LINE accepts (at most 20 characters)."""
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def quick_reply(buttons: Sequence[Button]) -> Any:
    """Buttons as LINE quick replies: postbacks that show the label as the user's message."""
    items = [
        QuickReplyItem(action=PostbackAction(label=label(b.label), data=b.data, display_text=label(b.label)))
        for b in buttons[:MAX_QUICK_REPLIES]
    ]
    return QuickReply(items=items) if items else None


def line_messages(reply: Reply) -> list[Any]:
    """A reply as LINE text messages: one per language block, quick replies on the last."""
    texts = pack_texts(plain_blocks(reply))
    if not texts:
        return []
    quick = quick_reply(reply.buttons)
    return [TextMessage(text=text, quick_reply=quick if n == len(texts) - 1 else None) for n, text in enumerate(texts)]


def strip_mentions(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """`text` without the mention spans (index, length).

    LINE counts positions in UTF-16 units like its clients; if a span does not land on an "@"
    that way, code points are tried, so an emoji before the mention cannot eat the question.
    """
    units = text.encode("utf-16-le")
    if all(units[2 * i : 2 * i + 2] == "@".encode("utf-16-le") for i, _ in spans):
        for index, length in sorted(spans, reverse=True):
            units = units[: 2 * index] + units[2 * (index + length) :]
        return units.decode("utf-16-le", errors="ignore").strip()
    for index, length in sorted(spans, reverse=True):
        text = text[:index] + text[index + length :]
    return text.strip()


# -- the adapter ------------------------------------------------------------------------------


class LineAdapter:
    """The LINE Messaging API adapter, mounted at POST /webhooks/line."""

    def __init__(self, settings: Settings, assistant: Assistant) -> None:
        if not (settings.line_channel_secret and settings.line_channel_access_token):
            raise ValueError("LINE_CHANNEL_SECRET and LINE_CHANNEL_ACCESS_TOKEN must both be set")
        self.settings = settings
        self.assistant = assistant
        self.parser = WebhookParser(str(settings.line_channel_secret))
        self.tries = 3
        """Attempts per API call for 429, 5xx, timeouts and connection errors."""
        self.backoff = 0.2
        """Seconds before the second attempt; doubled for each one after."""
        self.max_delay = 5.0
        """Longest wait between attempts, whatever Retry-After asks for."""
        self.timeout = 10.0
        """Seconds per API call."""
        self.stop_timeout = 20.0
        """Seconds `stop` waits for events in progress before cancelling them."""
        self._client: Any = None
        self._api: Any = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._profiles: OrderedDict[str, str | None] = OrderedDict()

    async def start(self) -> None:
        """Open the API client; it needs the running loop, so this runs in the app's lifespan."""
        config = Configuration(
            host=self.settings.line_api_base_url.rstrip("/"),
            access_token=str(self.settings.line_channel_access_token),
        )
        self._client = AsyncApiClient(config)
        self._api = AsyncMessagingApi(self._client)
        log.info("LINE adapter started")

    async def stop(self) -> None:
        """Finish the events in progress (bounded), then close the client."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.stop_timeout):
                await self.drain()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            log.warning("LINE: %d events cancelled at shutdown", len(self._tasks))
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.close()
            self._client = self._api = None

    async def drain(self) -> None:
        """Wait until no event is in progress (for `stop`, and for tests that need every reply sent)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    # -- webhook ------------------------------------------------------------------------------

    async def webhook(self, request: Request) -> Response:
        """Check the signature on the raw body, queue the events, answer 200 at once."""
        signature = request.headers.get("x-line-signature")
        if not signature:
            return JSONResponse({"error": "missing X-Line-Signature"}, status_code=400)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY:
            return JSONResponse({"error": "body too large"}, status_code=413)
        raw = await request.body()
        if len(raw) > MAX_BODY:
            return JSONResponse({"error": "body too large"}, status_code=413)
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
        for event in events:
            self._dispatch(event)
        return JSONResponse({})

    def _dispatch(self, event: Any) -> None:
        """Start handling one event in the background, unless it is not for us or already seen."""
        event_id = getattr(event, "webhook_event_id", "?")
        if not isinstance(event, (MessageEvent, PostbackEvent, FollowEvent, JoinEvent)):
            log.info("LINE event %s skipped: type %s", event_id, getattr(event, "type", "?"))
            return
        if event.mode != EventMode.ACTIVE:
            log.info("LINE event %s skipped: mode %s", event_id, getattr(event.mode, "value", event.mode))
            return
        chat = chat_of(event.source)
        if chat is None:
            log.info("LINE event %s skipped: unknown source", event_id)
            return
        if not self.assistant.users.first_time(f"{PLATFORM}:{event_id}"):
            log.info(
                "LINE event %s skipped: already handled (redelivery=%s)",
                event_id,
                event.delivery_context.is_redelivery,
            )
            return
        task = asyncio.create_task(self._run(event, chat), name=f"line-{event_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, event: Any, chat: Chat) -> None:
        """Handle events of one chat in arrival order (a per-chat lock is FIFO)."""
        lock, users = self._locks.get(chat.id, (asyncio.Lock(), 0))
        self._locks[chat.id] = (lock, users + 1)
        try:
            async with lock:
                await self._handle(event, chat)
        except Exception as exc:  # a bug must not kill the loop; the text stays out of logs
            log.error("LINE event %s failed: %s at %s", event.webhook_event_id, type(exc).__name__, _where(exc))
        finally:
            lock, users = self._locks[chat.id]
            if users <= 1:
                del self._locks[chat.id]
            else:
                self._locks[chat.id] = (lock, users - 1)

    async def _handle(self, event: Any, chat: Chat) -> None:
        event_id: str = event.webhook_event_id
        incoming: Incoming | None = None
        fixed: str | None = None  # a UI message instead of an answer
        if isinstance(event, JoinEvent):
            # A group: easy Japanese and English, since members speak many languages.
            await self._send(event_id, event.reply_token, chat, self.assistant.info(ui.GROUP_INTRO, None))
            return
        if isinstance(event, FollowEvent):
            if chat.kind != "user":
                return
            incoming = Incoming(PLATFORM, chat.key, postback=Postback.intent("chat.greeting"))
        elif isinstance(event, PostbackEvent):
            incoming = Incoming(PLATFORM, chat.key, postback=Postback.decode(event.postback.data) or Postback.menu())
        elif isinstance(event.message, TextMessageContent):
            text = event.message.text if chat.kind == "user" else self._addressed(event.message)
            if text is None:
                log.debug("LINE event %s skipped: group message not addressed to the bot", event_id)
                return
            incoming = Incoming(PLATFORM, chat.key, text=text)
        elif isinstance(event.message, NON_TEXT_TYPES) and chat.kind == "user":
            fixed = ui.NON_TEXT
        else:
            log.debug("LINE event %s skipped: %s message", event_id, getattr(event.message, "type", "?"))
            return

        if chat.kind == "user":
            hint, _ = await asyncio.gather(self._lang_hint(chat.user_id, event_id), self._loading(chat, event_id))
        else:
            hint = await self._lang_hint(chat.user_id, event_id)
        try:
            if fixed is not None:
                reply = self.assistant.info(fixed, self.assistant.language_of(f"{PLATFORM}:{chat.key}", hint))
            else:
                assert incoming is not None
                reply = self.assistant.handle(replace(incoming, lang_hint=hint))
                if isinstance(event, FollowEvent):  # a new friend first picks a language
                    reply = replace(reply, buttons=tuple(self.assistant.language_buttons(reply.lang)))
        except Exception as exc:  # answer something rather than leave the user waiting
            log.error("LINE event %s: assistant failed: %s at %s", event_id, type(exc).__name__, _where(exc))
            reply = self.assistant.info(ui.ERROR, self.assistant.language_of(f"{PLATFORM}:{chat.key}", hint))
        await self._send(event_id, event.reply_token, chat, reply)

    def _addressed(self, message: Any) -> str | None:
        """The question in a group message meant for the bot (mention or prefix removed), else None."""
        text: str = message.text
        mention = message.mention
        spans = [(m.index, m.length) for m in (mention.mentionees if mention else []) if getattr(m, "is_self", False)]
        if spans:
            return strip_mentions(text, spans)
        stripped = text.lstrip()
        for prefix in self.settings.group_prefixes:
            if prefix and stripped.startswith(prefix):
                return stripped[len(prefix) :].strip()
        return None

    # -- LINE API -----------------------------------------------------------------------------

    async def _send(self, event_id: str, reply_token: str | None, chat: Chat, reply: Reply) -> None:
        """Reply with the event's token; if LINE refuses the token, push once (retry key) instead."""
        messages = line_messages(reply)
        if not messages:
            log.warning("LINE event %s: empty reply not sent", event_id)
            return
        if reply_token:
            request = ReplyMessageRequest(reply_token=reply_token, messages=messages)
            uncertain: list[object] = []
            try:
                await self._call("reply", event_id, lambda: self._api.reply_message(request), uncertain)
                log.info("LINE event %s answered (%s, %d messages)", event_id, reply.kind, len(messages))
                return
            except ApiException as exc:
                if exc.status != 400:  # still failing after every retry: give up
                    log.error("LINE event %s: reply failed with %s %s", event_id, exc.status, _api_error(exc))
                    return
                if uncertain:  # an earlier attempt may have used the token: a push could say it twice
                    log.warning(
                        "LINE event %s: reply token refused after %s, assuming the reply arrived", event_id, uncertain
                    )
                    return
                log.info("LINE event %s: reply token refused %s, pushing instead", event_id, _api_error(exc))
            except (TimeoutError, aiohttp.ClientError) as exc:
                log.error("LINE event %s: reply failed: %s", event_id, type(exc).__name__)
                return
        await self._push(event_id, chat, messages)

    async def _push(self, event_id: str, chat: Chat, messages: list[Any]) -> None:
        request = PushMessageRequest(to=chat.id, messages=messages)
        key = retry_key(event_id)
        try:
            await self._call("push", event_id, lambda: self._api.push_message(request, x_line_retry_key=key))
            log.info("LINE event %s pushed (%d messages)", event_id, len(messages))
        except ApiException as exc:
            if exc.status == 409:  # an earlier attempt with this key was accepted
                log.info("LINE event %s: push already accepted", event_id)
            else:
                log.error("LINE event %s: push failed with %s %s", event_id, exc.status, _api_error(exc))
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.error("LINE event %s: push failed: %s", event_id, type(exc).__name__)

    async def _call(
        self, what: str, event_id: str, call: Callable[[], Awaitable[T]], uncertain: list[object] | None = None
    ) -> T:
        """`call()` with a timeout, retried with exponential backoff on 429, 5xx, timeouts, network errors.

        Failed attempts that LINE may nevertheless have carried out (5xx, timeouts, lost connections,
        unlike 429 or a refused connection) are appended to `uncertain`.
        """
        for attempt in range(1, self.tries + 1):
            retry_after: float | None = None
            try:
                async with asyncio.timeout(self.timeout):
                    return await call()
            except ApiException as exc:
                status: object = exc.status
                if (exc.status or 0) >= 500 and uncertain is not None:
                    uncertain.append(status)
                if not (exc.status == 429 or (exc.status or 0) >= 500) or attempt == self.tries:
                    raise
                retry_after = _retry_after(exc)
            except (TimeoutError, aiohttp.ClientError) as exc:
                status = type(exc).__name__
                if uncertain is not None and not isinstance(exc, aiohttp.ClientConnectorError):
                    uncertain.append(status)
                if attempt == self.tries:
                    raise
            delay = self.backoff * 2 ** (attempt - 1) * (1 + random.random() / 10)
            delay = min(max(delay, retry_after or 0.0), self.max_delay)
            log.warning(
                "LINE %s for event %s failed (%s), retry %d of %d in %.2f s",
                what, event_id, status, attempt, self.tries - 1, delay,
            )  # fmt: skip
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _loading(self, chat: Chat, event_id: str) -> None:
        """Show the typing dots (1:1 chats only); cosmetic, so one short try."""
        request = ShowLoadingAnimationRequest(chat_id=chat.id, loading_seconds=LOADING_SECONDS)
        try:
            async with asyncio.timeout(min(self.timeout, 2.0)):
                await self._api.show_loading_animation(request)
        except ApiException as exc:
            log.info("LINE event %s: loading animation refused (%s)", event_id, exc.status)
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.info("LINE event %s: loading animation failed (%s)", event_id, type(exc).__name__)

    async def _lang_hint(self, user_id: str | None, event_id: str) -> str | None:
        """The language of the user's LINE app (profile), cached; None when unknown."""
        if user_id is None:
            return None
        if user_id in self._profiles:
            self._profiles.move_to_end(user_id)
            return self._profiles[user_id]
        try:
            async with asyncio.timeout(min(self.timeout, 3.0)):
                profile = await self._api.get_profile(user_id)
            language: str | None = profile.language
        except ApiException as exc:
            if exc.status not in (403, 404):  # not a friend / blocked: remember; else ask again later
                log.info("LINE event %s: profile failed (%s)", event_id, exc.status)
                return None
            language = None
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.info("LINE event %s: profile failed (%s)", event_id, type(exc).__name__)
            return None
        self._profiles[user_id] = language
        if len(self._profiles) > PROFILE_CACHE:
            self._profiles.popitem(last=False)
        return language


def _api_error(exc: Any) -> str:
    """LINE's own error message from an ApiException body (never our text)."""
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        return ""
    message = body.get("message") if isinstance(body, dict) else None
    return f"({str(message)[:120]})" if message else ""


def _retry_after(exc: Any) -> float | None:
    value = (exc.headers or {}).get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _where(exc: BaseException) -> str:
    """The innermost file:line of an exception, for logs without its (possibly user-text) message."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb else "?"
