"""Telegram: python-telegram-bot 22 inside the one ASGI app (webhook), or polling for local use.

The adapter only translates: a message becomes an `Incoming` (`to_incoming`), a `Reply` becomes HTML
messages with an inline keyboard (`render`). Webhook updates are checked (secret header),
de-duplicated by `update_id` and queued per chat at once: chats are answered concurrently, each in
order. PTB's `Application` dispatches an update to our handlers; sending goes through our retry
policy (docs/telegram.md, "Faults"): one chat's 429 or slow call waits in that chat only.

At start, in the background, the bot's command menu and descriptions are set in every language we
have them in (`bot.adapters.telegram_profile`); added to a group, the bot says how to ask it there.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import itertools
import json
import logging
import os
import re
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from telegram import (
    ChatMember,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction, ChatType, MessageLimit, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from bot.adapters.base import (
    AdapterState,
    Attempts,
    ChatQueues,
    Failure,
    RetryPolicy,
    cosmetic,
    describe,
    if_slow,
    plain_cut,
    split_text,
    with_retries,
)
from bot.adapters.telegram_profile import Profile
from bot.config import Secret, Settings
from bot.core import ui_text as ui
from bot.core.assistant import Assistant
from bot.core.i18n import negotiate
from bot.core.models import Button, Incoming, Reply
from bot.core.pii import redact_fields
from bot.core.postback import Postback
from bot.core.render import html_blocks
from bot.inbox import InboxKeeper
from bot.pipeline import Pipeline
from bot.store import InboxEvent

log = logging.getLogger(__name__)

PLATFORM = "telegram"
WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ("message", "callback_query", "my_chat_member")
"""Everything else (edits, channel posts, other members' changes) is not asked for; `my_chat_member`
says the bot was added to a group."""
MAX_TEXT = int(MessageLimit.MAX_TEXT_LENGTH)  # 4096, counted in UTF-16 code units
MAX_CALLBACK_DATA = 64  # bytes, a Bot API limit
TYPING_DELAY = 0.5
""""typing…" is shown only for answers not ready within this many seconds."""
READ_TIMEOUT = 10.0
"""Seconds to wait for the Bot API's answer (a timeout leaves it unknown whether a message arrived)."""
CONNECT_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
"""Seconds between attempts to reach Telegram at start-up (the last one repeats)."""
POLLING_QUEUE = 100
"""Updates fetched by polling and not yet queued; polling waits while it is full."""

COMMANDS = {"start": Postback.intent("chat.greeting"), "help": Postback.menu(), "menu": Postback.menu()}
"""Commands and the button press each one stands for; /lang is handled apart (it takes a language)."""
LANGUAGE_ROW = 3
"""Language buttons are short (own names): three a row; topics get a row each."""
TEXT_FIELDS = ("text", "caption")
"""Where an update holds what people wrote: redacted before the inbox keeps the update."""


def event_key(update_id: int) -> str:
    """The inbox's id of an update (as the first release's file kept seen updates)."""
    return f"{PLATFORM}:update:{update_id}"


@dataclass(frozen=True)
class Target:
    """Where a reply goes: the chat, the forum topic, and in groups the message it answers."""

    chat_id: int
    thread_id: int | None = None
    reply_to: int | None = None


@dataclass(frozen=True)
class Me:
    """The bot itself, as `to_incoming` needs it: to see mentions, replies and commands meant for it."""

    id: int
    username: str


class ServerError(NetworkError):
    """The Bot API answered 5xx (PTB reports every status as a bare `NetworkError`, without the code)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"Bot API answered {status}")
        self.status = status


class _Request(HTTPXRequest):
    """PTB's HTTP layer, raising `ServerError` with the status for 5xx answers."""

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        code, payload = await super().do_request(*args, **kwargs)
        if code >= 500:
            raise ServerError(code)
        return code, payload


def webhook_secret(settings: Settings) -> Secret | None:
    """The webhook's secret token: TELEGRAM_WEBHOOK_SECRET, or one derived from the bot token when the
    app registers the webhook itself (PUBLIC_URL): the same for every instance and every restart."""
    if settings.telegram_webhook_secret:
        return settings.telegram_webhook_secret
    if settings.public_url and settings.telegram_bot_token:
        token = settings.telegram_bot_token.reveal().encode()
        digest = hmac.new(token, b"tokutei-bot webhook secret", hashlib.sha256).hexdigest()
        return Secret(digest)
    return None


class TelegramAdapter:
    """Telegram bot: webhook route and lifespan hooks for `bot.app`, or polling (`--telegram-polling`)."""

    name = PLATFORM

    def __init__(self, settings: Settings, pipeline: Pipeline, inbox: InboxKeeper, polling: bool = False) -> None:
        if not settings.telegram_bot_token:
            raise ValueError("TELEGRAM_BOT_TOKEN is not set")
        # Opt in to PTB's future timedelta periods: otherwise constructing RetryAfter (a 429) warns.
        os.environ.setdefault("PTB_TIMEDELTA", "1")
        self.settings = settings
        self.pipeline = pipeline
        self.inbox = inbox
        self.polling = polling
        self.secret = None if polling else webhook_secret(settings)
        token = settings.telegram_bot_token.reveal()
        _redact_token_in_logs(token)
        request = _Request(connection_pool_size=256, connect_timeout=5.0, read_timeout=READ_TIMEOUT,
                           write_timeout=10.0, pool_timeout=2.0)  # fmt: skip
        builder = (
            Application.builder()
            .token(token)
            .base_url(settings.telegram_api_base_url)
            .request(request)
            # Throttling to Telegram's limits; a 429 is retried by us, in its own chat only (the
            # limiter's own retry pauses every chat).
            .rate_limiter(AIORateLimiter(max_retries=0))
        )
        builder = builder.update_queue(asyncio.Queue(maxsize=POLLING_QUEUE)) if polling else builder.updater(None)
        self.application: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self.application.add_handler(MessageHandler(filters.UpdateType.MESSAGE, self._on_message))
        self.application.add_handler(CallbackQueryHandler(self._on_callback))
        self.application.add_handler(ChatMemberHandler(self._on_added, ChatMemberHandler.MY_CHAT_MEMBER))
        self.application.add_error_handler(self._on_error)
        self.retry = RetryPolicy(tries=3, backoff=0.5, max_wait=60.0, timeout=READ_TIMEOUT + 5)
        """sendMessage: 429 (after retry_after), and failures where Telegram certainly did not act."""
        self.read_timeout = READ_TIMEOUT
        self.cosmetic_timeout = 2.0
        self.stop_timeout = 20.0
        self.connect_delays = CONNECT_DELAYS
        self.queues = ChatQueues("telegram", settings.max_backlog)
        self.state: AdapterState = "starting"
        self.problem: str | None = None
        self.delivered = 0
        """Messages Telegram accepted."""
        self.uncertain = 0
        """Messages that may or may not have arrived (not sent again: see docs/telegram.md)."""
        self.failed = 0
        """Messages Telegram certainly did not deliver."""
        self._ready = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._connecting: asyncio.Task[None] | None = None
        self._profile: asyncio.Task[None] | None = None

    # -- lifespan ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (getMe) and register the webhook or start polling, in the background until it works."""
        if not self.polling and self.secret is None:
            self.state = "degraded"
            self.problem = "TELEGRAM_WEBHOOK_SECRET is not set: the webhook refuses every update"
            log.error("telegram: %s (set it, or set PUBLIC_URL so that the app registers one)", self.problem)
        self._connecting = self._spawn(self._connect(), "telegram-connect")

    def _spawn(self, coroutine: Awaitable[None], name: str) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def wait_connected(self) -> None:
        """Wait until start-up ends: connected (and the webhook registered), or the token refused."""
        if self._connecting is not None:
            await asyncio.shield(self._connecting)

    async def wait_profile(self) -> None:
        """Wait until the command menu and descriptions are set (or given up on)."""
        await self.wait_connected()
        if self._profile is not None:
            await asyncio.shield(self._profile)

    async def _connect(self) -> None:
        attempt = 0
        while True:
            try:
                await self.application.initialize()
                break
            except InvalidToken:  # its message holds the token: not logged
                self.state, self.problem = "degraded", "Telegram refused the bot token"
                log.error("telegram: the bot token was refused: check TELEGRAM_BOT_TOKEN")
                return
            except Exception as exc:
                self._wait_note(f"Telegram unreachable ({type(exc).__name__})", attempt)
            await asyncio.sleep(self.connect_delays[min(attempt, len(self.connect_delays) - 1)])
            attempt += 1
        self._ready = True
        bot = self.application.bot
        log.info("telegram: connected as bot id %s (%s)", bot.id, "polling" if self.polling else "webhook")
        profile = Profile(self.application.bot, self.assistant.replies, self.cosmetic_timeout * 5)
        self._profile = self._spawn(profile.set_up(self.connect_delays), "telegram-profile")
        if self.polling:
            updater = self.application.updater
            if updater is None:  # pragma: no cover - built with an updater when polling
                raise RuntimeError("polling needs an Updater")
            await updater.start_polling(allowed_updates=list(ALLOWED_UPDATES))
            self._spawn(self._pump(), "telegram-polling")
        elif self.settings.public_url and self.secret is not None:
            await self._register(self.settings.public_url.rstrip("/") + WEBHOOK_PATH, self.secret)
        if self.secret is not None or self.polling:
            self.state, self.problem = "ok", None

    async def _register(self, url: str, secret: Secret) -> None:
        attempt = 0
        while True:
            try:
                await self.application.bot.set_webhook(
                    url, secret_token=secret.reveal(), allowed_updates=list(ALLOWED_UPDATES)
                )
                log.info("telegram: webhook registered at %s", url)
                return
            except Exception as exc:
                self._wait_note(f"setWebhook failed ({type(exc).__name__})", attempt)
            await asyncio.sleep(self.connect_delays[min(attempt, len(self.connect_delays) - 1)])
            attempt += 1

    def _wait_note(self, problem: str, attempt: int) -> None:
        self.state, self.problem = "degraded", problem
        log.warning("telegram: %s; trying again in %.0f s", problem,
                    self.connect_delays[min(attempt, len(self.connect_delays) - 1)])  # fmt: skip

    async def _pump(self) -> None:
        """Polling: take fetched updates into the inbox and the chat queues, waiting while the backlog is full."""
        queue = self.application.update_queue
        while True:
            update = await queue.get()
            await self.queues.wait_room()
            if not isinstance(update, Update):
                continue
            for delay in itertools.chain(self.connect_delays, itertools.repeat(self.connect_delays[-1])):
                if await self._accept(update, update.to_dict()):
                    break
                await asyncio.sleep(delay)  # the store failed: Telegram has this update as delivered, so keep trying

    async def stop(self) -> None:
        """Stop polling, finish the accepted updates (bounded), then close the HTTP connections."""
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.queues.stop(self.stop_timeout)
        if self._ready:
            await self.application.shutdown()
        else:  # never connected: only the HTTP clients were opened
            await self.application.bot.shutdown()

    @property
    def connected(self) -> bool:
        """Whether the bot reached Telegram (getMe), so that updates can be answered."""
        return self._ready

    async def drain(self) -> None:
        """Wait until no accepted update is left."""
        await self.queues.drain()

    def health(self) -> dict[str, object]:
        """State for /healthz."""
        return {"state": self.state, "problem": self.problem, "backlog": self.queues.pending,
                "delivered": self.delivered, "uncertain": self.uncertain, "failed": self.failed}  # fmt: skip

    @property
    def assistant(self) -> Assistant:
        """The assistant in use now (a hot reload swaps it), for fixed messages and buttons."""
        return self.pipeline.assistant()

    # -- webhook -----------------------------------------------------------------------------

    async def webhook(self, request: Request) -> Response:
        """POST /webhooks/telegram: check the secret, keep the update in the inbox, queue it, answer at once.

        Not connected yet, the backlog full or the store failing: 503, and Telegram delivers the
        update again later.
        """
        if self.polling:
            return JSONResponse({"error": "telegram runs in polling mode"}, status_code=404)
        if self.secret is None:
            return JSONResponse({"error": "the webhook has no secret configured"}, status_code=403)
        given = request.headers.get(SECRET_HEADER, "")
        if not secrets.compare_digest(given.encode("utf-8", "replace"), self.secret.reveal().encode()):
            log.warning("telegram: webhook with a wrong or missing secret token")
            return JSONResponse({"error": "forbidden"}, status_code=403)
        if not self._ready:
            return JSONResponse({"error": "not connected to Telegram yet"}, status_code=503,
                                headers={"Retry-After": "5"})  # fmt: skip
        body = await request.body()
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            log.warning("telegram: webhook body is not JSON")
            return JSONResponse({"error": "body must be JSON"}, status_code=400)
        update_id = data.get("update_id") if isinstance(data, dict) else None
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            log.warning("telegram: webhook body is not an update")
            return JSONResponse({"error": "body must be a Telegram update"}, status_code=400)
        try:
            update = Update.de_json(data, self.application.bot)
        except Exception as err:  # any shape PTB cannot read is the sender's fault, not a 500
            log.warning("telegram: update %s unreadable (%s)", update_id, type(err).__name__)
            return JSONResponse({"error": "malformed update"}, status_code=400)
        if not await self._accept(update, data):
            return JSONResponse({"error": "busy, deliver again later"}, status_code=503,
                                headers={"Retry-After": "5"})  # fmt: skip
        return Response(status_code=200)

    async def _accept(self, update: Update, data: dict[str, Any]) -> bool:
        """Keep an update in the inbox (its texts redacted) and queue it in its chat, unless already taken;
        False when it cannot be kept (backlog full, store failing)."""
        if not self.queues.room():
            log.warning("telegram: update %s refused: %d updates waiting", update.update_id, self.queues.pending)
            return False
        key = event_key(update.update_id)
        try:
            admission = await self.inbox.accept(key, PLATFORM, json.dumps(redact_fields(data, TEXT_FIELDS)))
        except Exception as exc:
            log.error("telegram: update %s refused: the store failed (%s)", update.update_id, describe(exc))
            return False
        if admission in ("busy", "done"):
            what = "already answered" if admission == "done" else "being answered by another instance"
            log.info("telegram: update %s skipped: %s", update.update_id, what)
            return True
        if not self._queue(update, f"update {update.update_id}"):
            self.inbox.release(key)  # kept: another round takes it over after its lease
        return True

    def _queue(self, update: Update, ref: str) -> bool:
        chat = update.effective_chat.id if update.effective_chat else None
        user = update.effective_user.id if update.effective_user else None
        key = str(chat if chat is not None else user if user is not None else update.update_id)
        return self.queues.submit(key, lambda: self._process(update), ref)

    async def _process(self, update: Update) -> None:
        """Run the handlers (they send through `send`, which tells the inbox), then mark the update done."""
        key = event_key(update.update_id)
        try:
            await self.application.process_update(update)
            await self.inbox.done(key)  # nothing when another instance took it over meanwhile
        finally:
            self.inbox.release(key)  # not finished here (shutdown, a failure): taken over after its lease

    def room(self) -> int:
        """How many more updates would be queued now (the inbox claims no more than this)."""
        return self.queues.room() if self._ready else 0

    def recover(self, event: InboxEvent) -> bool:
        """Queue an update another instance acknowledged and did not finish (payload as `_accept` kept it).

        Raises:
            ValueError: the payload is not an update.
        """
        try:
            update = Update.de_json(json.loads(event.payload), self.application.bot)
        except Exception as exc:  # its message may quote the update
            raise ValueError(f"unreadable Telegram update ({type(exc).__name__})") from None
        if update is None:
            raise ValueError("not an update")
        return self._queue(update, f"update {update.update_id} (recovered)")

    # -- handlers ----------------------------------------------------------------------------

    async def _on_message(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A new message: commands, questions, forwarded questions, non-text messages."""
        message = update.message
        if message is None or message.from_user is None or message.from_user.is_bot:
            return
        user = message.from_user
        private = message.chat.type == ChatType.PRIVATE
        target = Target(
            chat_id=message.chat.id,
            thread_id=message.message_thread_id if message.is_topic_message else None,
            reply_to=None if private else message.message_id,
        )
        incoming = to_incoming(message, self.me, self.assistant.policy.requested)
        if incoming is None:
            return
        reply: Reply | None
        if incoming.postback is None and not incoming.text:
            if _is_non_text(message):
                reply = await self.pipeline.notice(incoming, ui.NON_TEXT)
            elif message.text is not None or message.caption is not None:
                reply = await self.pipeline.handle(incoming)  # "@bot" alone: the core asks for a question
            else:
                return  # service messages (pins, new members) are not for us
        elif incoming.postback is None:
            async with if_slow(TYPING_DELAY, lambda: self._typing(target)):
                reply = await self.pipeline.handle(incoming)
        else:
            reply = await self.pipeline.handle(incoming)
        if reply is None:  # over the rate limit: silence
            return
        note = self._staff_note(user.language_code) if incoming.forwarded and len(reply.blocks) > 1 else None
        if await self.send(target, reply, staff_note=note, event=event_key(update.update_id)):
            log.debug("telegram: update %s answered (%s)", update.update_id, reply.kind)

    async def _on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A pressed inline button: stop the client's spinner, then answer like a postback."""
        query = update.callback_query
        if query is None:
            return
        await cosmetic(f"telegram: update {update.update_id}: answerCallbackQuery", query.answer,
                       self.cosmetic_timeout)  # fmt: skip
        if not query.data:
            return
        user = query.from_user
        chat = query.message.chat if query.message is not None else None
        thread = (
            query.message.message_thread_id
            if isinstance(query.message, Message) and query.message.is_topic_message
            else None
        )
        target = Target(chat_id=chat.id if chat is not None else user.id, thread_id=thread)
        press = Postback.decode(query.data) or Postback.menu()
        incoming = Incoming(platform=PLATFORM, user_id=str(user.id), postback=press, lang_hint=_tag(user.language_code))
        reply = await self.pipeline.handle(incoming)
        if reply is not None and await self.send(target, reply, event=event_key(update.update_id)):
            log.debug("telegram: update %s answered (%s)", update.update_id, reply.kind)

    async def _on_added(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Added to a group: say how to ask (a mention or a reply: privacy mode hides everything else)."""
        change = update.my_chat_member
        if change is None or change.chat.type not in (ChatType.GROUP, ChatType.SUPERGROUP):
            return
        was = change.old_chat_member.status
        now = change.new_chat_member.status
        if was not in (ChatMember.LEFT, ChatMember.BANNED) or now not in (ChatMember.MEMBER, ChatMember.ADMINISTRATOR):
            return
        lang = negotiate(change.from_user.language_code)
        # Easy Japanese and English, or the language of whoever added the bot and easy Japanese.
        reply = self.assistant.replies.info(ui.TELEGRAM_GROUP_INTRO, None if lang in ("ja", "en") else lang, both=True)
        await self.send(Target(change.chat.id), reply)
        log.info("telegram: update %s: added to a group, intro sent", update.update_id)

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log the update id and where it failed (never the text); tell the user something went wrong."""
        error = context.error
        update_id = update.update_id if isinstance(update, Update) else None
        # The exception's message can quote the user's text: log its type and place only.
        log.error("telegram: update %s failed (%s)", update_id, describe(error) if error else "?")
        if not isinstance(update, Update) or update.effective_chat is None:
            return
        user = update.effective_user
        message = update.effective_message
        thread = message.message_thread_id if isinstance(message, Message) and message.is_topic_message else None
        try:
            lang = await self.pipeline.language_of(PLATFORM, str(user.id), user.language_code) if user else None
            await self.send(Target(update.effective_chat.id, thread), self.pipeline.error_reply(lang),
                            event=event_key(update.update_id))  # fmt: skip
        except Exception as err:
            log.error("telegram: update %s: error message not sent (%s)", update_id, type(err).__name__)

    # -- sending -----------------------------------------------------------------------------

    async def send(self, target: Target, reply: Reply, staff_note: str | None = None, event: str | None = None) -> bool:
        """Send a reply: one message per language block (each can be copied), keyboard on the last.

        Raises the error of a message Telegram certainly did not deliver (after the retries); a
        message that may have arrived is not sent again (logged and counted as uncertain).
        `event`: the inbox's id of the update answered. The inbox hears of the reply before it goes
        out; one that an instance which has stopped may have sent already is not sent again
        (Telegram cannot tell). Returns False when nothing was sent for that reason, or because
        another instance holds the update now.
        """
        if event is not None:
            sending = await self.inbox.sending(event, "send")
            if not sending.ours:
                return False
            if sending.earlier is not None:
                self.uncertain += 1
                log.warning("telegram: %s: a stopped instance may have answered it; not sent again", event)
                return False
        texts = render(reply)
        if staff_note:
            texts.insert(0, staff_note)
        markup = keyboard(reply.buttons)
        for n, text in enumerate(texts):
            last = n == len(texts) - 1
            await self._send_text(target, text, markup if last else None, quote=n == 0)
        return True

    async def _send_text(self, target: Target, text: str, markup: InlineKeyboardMarkup | None, quote: bool) -> None:
        reply_to = target.reply_to if quote else None
        what = f"telegram sendMessage to chat {target.chat_id}"

        def call(body: str, parse_mode: str | None) -> Callable[[], Awaitable[None]]:
            async def send() -> None:
                try:
                    await self.application.bot.send_message(
                        chat_id=target.chat_id,
                        text=body,
                        parse_mode=parse_mode,
                        reply_markup=markup,
                        message_thread_id=target.thread_id,
                        link_preview_options=LinkPreviewOptions(is_disabled=True),
                        reply_parameters=ReplyParameters(reply_to, allow_sending_without_reply=True)
                        if reply_to
                        else None,
                        read_timeout=self.read_timeout,
                    )
                except Exception as exc:
                    if not _unreadable_success(exc):
                        raise
                    log.info("%s: accepted, with an answer that could not be read (%s)", what, type(exc).__name__)

            return send

        attempts = Attempts()
        try:
            try:
                await with_retries(call(text, ParseMode.HTML), classify, self.retry, what, attempts, self._failed_call)
            except BadRequest as err:
                if "can't parse entities" not in err.message.lower():
                    raise
                log.warning("%s: Telegram refused the formatting; sent as plain text", what)
                attempts = Attempts()
                await with_retries(call(html_to_text(text), None), classify, self.retry, what, attempts,
                                   self._failed_call)  # fmt: skip
        except Exception as exc:
            if attempts.maybe_done:
                self.uncertain += 1
                log.warning("%s: %s; it may have arrived, so it is not sent again", what, attempts.last)
                return
            self.failed += 1
            log.error("%s failed (%s)", what, attempts.last or type(exc).__name__)
            raise
        self.delivered += 1

    def _failed_call(self, failure: Failure) -> None:
        """Counts a failed sendMessage attempt in /metrics."""
        self.pipeline.metrics.api_errors.labels(PLATFORM, "sendMessage", failure.status or failure.what).inc()

    async def _typing(self, target: Target) -> None:
        """Show "typing…" while a slow answer is prepared; never worth failing the reply for."""
        await cosmetic(
            "telegram: sendChatAction",
            lambda: self.application.bot.send_chat_action(
                target.chat_id, ChatAction.TYPING, message_thread_id=target.thread_id
            ),
            self.cosmetic_timeout,
        )

    def _staff_note(self, lang_hint: str | None) -> str:
        """The line above a forwarded question's answer, in the staff member's language."""
        note = self.assistant.info(ui.FOR_STAFF, negotiate(lang_hint, "en"))
        return f"<i>{html_blocks(note, ruby=False)[0]}</i>"

    @property
    def me(self) -> Me:
        """The bot's own id and username (from getMe)."""
        bot = self.application.bot
        return Me(bot.id, bot.username or "")


# -- translation (pure) --------------------------------------------------------------------------


def to_incoming(message: Message, me: Me, requested: Callable[[str], str | None]) -> Incoming | None:
    """The `Incoming` for a message, or None when it is not for us (groups, other bots' commands).

    `requested` names the language a phrase asks for ("English"), for `/lang English`.
    """
    user = message.from_user
    assert user is not None
    private = message.chat.type == ChatType.PRIVATE
    base = Incoming(platform=PLATFORM, user_id=str(user.id), lang_hint=_tag(user.language_code))
    command = _command(message)
    if command is not None:
        name, target, args = command
        ours = not target or target.lower() == me.username.lower()
        if not ours:
            return None  # /cmd@other_bot
        if name == "lang":
            return replace(base, postback=_lang_postback(args, requested))
        if name in COMMANDS:
            return replace(base, postback=COMMANDS[name])
        # Unknown commands: the menu in private; in groups only when addressed to us.
        return replace(base, postback=COMMANDS["help"]) if private or target else None
    text = message.text if message.text is not None else message.caption
    forwarded = message.forward_origin is not None
    mentioned, stripped = _strip_mention(message, me)
    if private:
        return replace(base, text=stripped if mentioned else (text or ""), forwarded=forwarded)
    replied = message.reply_to_message
    to_us = replied is not None and replied.from_user is not None and replied.from_user.id == me.id
    if not (mentioned or to_us):
        return None
    if mentioned and not stripped.strip() and replied is not None and not to_us:
        # "@bot" in reply to a resident's message: answer that message, for staff (two languages).
        quoted = replied.text or replied.caption
        if quoted:
            return replace(base, text=quoted, forwarded=True)
    return replace(base, text=stripped.strip() if mentioned else (text or ""), forwarded=forwarded)


def _tag(code: str | None) -> str | None:
    """A language_code as a hint: Telegram's are short IETF tags; anything else is no hint."""
    return code if isinstance(code, str) and 0 < len(code) <= 35 else None


def _strip_mention(message: Message, me: Me) -> tuple[bool, str]:
    """Whether the bot is mentioned, and the text without the mention."""
    text = message.text if message.text is not None else message.caption
    if not text:
        return False, ""
    entities = (
        message.parse_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION])
        if message.text is not None
        else message.parse_caption_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION])
    )
    mentioned = False
    for entity, part in entities.items():
        is_us = (entity.type == MessageEntity.MENTION and part.lower() == f"@{me.username.lower()}") or (
            entity.type == MessageEntity.TEXT_MENTION and entity.user is not None and entity.user.id == me.id
        )
        if is_us:
            mentioned = True
            text = text.replace(part, " ")
    return mentioned, " ".join(text.split()) if mentioned else text


def _lang_postback(args: Sequence[str], requested: Callable[[str], str | None]) -> Postback:
    """`/lang` → the language menu; `/lang vi`, `/lang pt-BR`, `/lang English` → that language."""
    wanted = " ".join(args).strip()[:60]
    if not wanted:
        return Postback.language_menu()
    code = negotiate(wanted) or requested(wanted)
    return Postback.language(code) if code else Postback.language_menu()


def render(reply: Reply) -> list[str]:
    """The reply as Telegram HTML messages: one per language block, links after the last, ≤ 4096."""
    parts = html_blocks(reply, ruby=False)
    if not parts:
        parts = [""]
    if reply.links:
        links = "\n".join(
            f'🔗 <a href="{html.escape(link.url)}">{html.escape(link.label, quote=False)}</a>' for link in reply.links
        )
        parts[-1] = f"{parts[-1]}\n\n{links}" if parts[-1] else links
    return [chunk for part in parts for chunk in split_html(part)]


def split_html(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split at line ends into pieces of at most `limit`; over-long lines are cut outside tags and entities."""
    return split_text(text, limit, _html_cut)


def _html_cut(line: str, limit: int) -> int:
    """The largest index ≤ `limit` UTF-16 units that is not inside a tag or an entity."""
    cut = plain_cut(line, limit)
    head = line[:cut]
    for opener, closer in (("<", ">"), ("&", ";")):
        start = head.rfind(opener)
        if start > 0 and head.rfind(closer) < start:
            cut = start
            head = line[:cut]
    return max(cut, 1)


_LINK = re.compile(r'<a href="([^"]*)">(.*?)</a>', re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def html_to_text(text: str) -> str:
    """Our HTML as plain text, for a message Telegram refused to parse: links as "label: url"."""
    text = _LINK.sub(lambda m: f"{m.group(2)}: {m.group(1)}", text)
    return html.unescape(_TAG.sub("", text))


def keyboard(buttons: Sequence[Button]) -> InlineKeyboardMarkup | None:
    """Inline keyboard: topics one a row, languages three a row; data over 64 bytes is dropped."""
    rows: list[list[InlineKeyboardButton]] = []
    for button in buttons:
        if len(button.data.encode()) > MAX_CALLBACK_DATA:
            log.warning("telegram: button data over %d bytes dropped", MAX_CALLBACK_DATA)
            continue
        item = InlineKeyboardButton(button.label, callback_data=button.data)
        if (
            _is_language(button.postback)
            and rows
            and len(rows[-1]) < LANGUAGE_ROW
            and _is_language(Postback.decode(str(rows[-1][0].callback_data)))
        ):
            rows[-1].append(item)
        else:
            rows.append([item])
    return InlineKeyboardMarkup(rows) if rows else None


def classify(exc: BaseException) -> Failure:
    """Whether a failed Bot API call is worth another attempt, and whether Telegram may have carried it out.

    Telegram has no idempotency key, so only failures where it certainly did not act are tried
    again: 429, a connection never made, a request not fully sent, a 502 or 503 from its gateway.
    A 500 or 504, a read timeout or a connection lost after sending may have delivered the message.
    """
    if isinstance(exc, RetryAfter):
        seconds = exc._retry_after.total_seconds()
        return Failure(retry=True, maybe_done=False, what="429", retry_after=seconds)
    if isinstance(exc, ServerError):
        certain = exc.status in (502, 503)
        return Failure(retry=certain, maybe_done=not certain, what=str(exc.status))
    if isinstance(exc, TimedOut):
        cause = exc.__cause__
        unsent = isinstance(cause, (httpx.PoolTimeout, httpx.ConnectTimeout, httpx.WriteTimeout))
        return Failure(retry=unsent, maybe_done=not unsent, what=type(cause or exc).__name__)
    if isinstance(exc, (BadRequest, InvalidToken, Forbidden, Conflict, ChatMigrated)):
        return Failure(retry=False, maybe_done=False, what=type(exc).__name__)
    if isinstance(exc, NetworkError):
        unsent = isinstance(exc.__cause__, httpx.ConnectError)
        return Failure(retry=unsent, maybe_done=not unsent, what=type(exc.__cause__ or exc).__name__)
    return Failure(retry=False, maybe_done=True, what=type(exc).__name__)  # our own bound on the call, or a bug


def _unreadable_success(exc: BaseException) -> bool:
    """Whether an error came from reading a 2xx answer (garbage JSON, an unexpected result): Telegram acted."""
    if isinstance(exc, TelegramError):
        return type(exc) is TelegramError  # PTB's "Invalid server response", raised for 2xx answers only
    return isinstance(exc, (KeyError, TypeError, AttributeError))


# -- helpers -------------------------------------------------------------------------------------


def _is_language(press: Postback | None) -> bool:
    return press is not None and press.kind in ("lang", "langs", "both")


def _command(message: Message) -> tuple[str, str, list[str]] | None:
    """(command, @target or "", arguments) when the message starts with a bot command."""
    entities = message.entities
    if not message.text or not entities or entities[0].type != MessageEntity.BOT_COMMAND or entities[0].offset:
        return None
    word = message.parse_entity(entities[0])
    name, _, target = word[1:].partition("@")
    return name.lower(), target, message.text[len(word) :].split()


def _is_non_text(message: Message) -> bool:
    """A sticker, photo, voice, location…: something we cannot read (service messages excluded)."""
    return message.effective_attachment is not None or message.location is not None


class _RedactToken(logging.Filter):
    """Keep tokens and message texts out of the SDKs' logs.

    httpx logs every request URL (the token is in it); at DEBUG, PTB logs call parameters, results
    and whole updates.
    """

    def __init__(self) -> None:
        super().__init__()
        self.tokens: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        if isinstance(record.msg, str) and record.msg.startswith(("Calling Bot API", "Call to Bot API")):
            record.msg, record.args = "Bot API call `%s`", (args[0] if args else "?",)
            return True
        if any(isinstance(arg, Update) for arg in args):
            record.args = tuple(f"update {arg.update_id}" if isinstance(arg, Update) else arg for arg in args)
        message = record.getMessage()
        if any(token in message for token in self.tokens):
            for token in self.tokens:
                message = message.replace(token, "<token>")
            record.msg, record.args = message, ()
        return True


_REDACT = _RedactToken()
_NOISY_LOGGERS = ("httpx", "telegram.Bot", "telegram.ext.ExtBot", "telegram.ext.Application",
                  "telegram.ext.AIORateLimiter", "telegram.ext.Updater")  # fmt: skip


def _redact_token_in_logs(token: str) -> None:
    _REDACT.tokens.add(token)
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).addFilter(_REDACT)
