"""Telegram: python-telegram-bot 22 inside the one ASGI app (webhook), or polling for local use.

The adapter only translates: an update becomes an `Incoming`, a `Reply` becomes HTML messages with
an inline keyboard. Webhook updates are checked (secret header), de-duplicated by `update_id` and
queued at once; PTB's `Application` answers them in the background, like the starlette example in
python-telegram-bot's repository.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import os
import secrets
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram.constants import ChatAction, ChatType, MessageLimit, ParseMode
from telegram.error import BadRequest, NetworkError, TelegramError, TimedOut
from telegram.ext import AIORateLimiter, Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from bot.config import Settings
from bot.core import ui_text as ui
from bot.core.assistant import Assistant
from bot.core.i18n import negotiate
from bot.core.models import Button, Incoming, Reply
from bot.core.postback import Postback
from bot.core.render import html_blocks

log = logging.getLogger(__name__)

PLATFORM = "telegram"
WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ("message", "callback_query")
"""Everything else (edits, channel posts, member changes) is not asked for."""
MAX_BODY = 1024 * 1024
MAX_TEXT = int(MessageLimit.MAX_TEXT_LENGTH)  # 4096, counted in UTF-16 code units
MAX_CALLBACK_DATA = 64  # bytes, a Bot API limit
RATE_LIMIT_RETRIES = 3
NETWORK_RETRY_DELAYS = (0.5, 1.5)
"""Backoff for 5xx and connection errors; timeouts are not retried (the message may have arrived)."""

COMMANDS = {"start": Postback.intent("chat.greeting"), "help": Postback.menu(), "menu": Postback.menu()}
"""Commands and the button press each one stands for; /lang is handled apart (it takes a language)."""
LANGUAGE_ROW = 3
"""Language buttons are short (own names): three a row; topics get a row each."""

T = TypeVar("T")


@dataclass(frozen=True)
class Target:
    """Where a reply goes: the chat, the forum topic, and in groups the message it answers."""

    chat_id: int
    thread_id: int | None = None
    reply_to: int | None = None


class TelegramAdapter:
    """Telegram bot: webhook route and lifespan hooks for `bot.app`, or polling (`--telegram-polling`)."""

    def __init__(self, settings: Settings, assistant: Assistant, polling: bool = False) -> None:
        if not settings.telegram_bot_token:
            raise ValueError("TELEGRAM_BOT_TOKEN is not set")
        # Opt in to PTB's future timedelta periods: otherwise constructing RetryAfter (a 429) warns.
        os.environ.setdefault("PTB_TIMEDELTA", "1")
        self.settings = settings
        self.assistant = assistant
        self.polling = polling
        token = str(settings.telegram_bot_token)
        _redact_token_in_logs(token)
        builder = (
            Application.builder()
            .token(token)
            .base_url(settings.telegram_api_base_url)
            .rate_limiter(AIORateLimiter(max_retries=RATE_LIMIT_RETRIES))
        )
        if not polling:
            builder = builder.updater(None)
        self.application: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        self.application.add_handler(MessageHandler(filters.UpdateType.MESSAGE, self._on_message))
        self.application.add_handler(CallbackQueryHandler(self._on_callback))
        self.application.add_error_handler(self._on_error)
        self._running = False

    # -- lifespan ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (getMe), register the webhook when PUBLIC_URL is set, or start polling."""
        await self.application.initialize()
        await self.application.start()
        self._running = True
        bot = self.application.bot
        log.info("telegram: started as bot id %s (%s)", bot.id, "polling" if self.polling else "webhook")
        if self.polling:
            updater = self.application.updater
            if updater is None:  # pragma: no cover - built with an updater when polling
                raise RuntimeError("polling needs an Updater")
            await updater.start_polling(allowed_updates=list(ALLOWED_UPDATES))
            return
        secret = self.settings.telegram_webhook_secret
        if not secret:
            log.warning("telegram: TELEGRAM_WEBHOOK_SECRET is not set; anyone can post fake updates")
        if self.settings.public_url:
            url = self.settings.public_url.rstrip("/") + WEBHOOK_PATH
            try:
                await bot.set_webhook(
                    url, secret_token=str(secret) if secret else None, allowed_updates=list(ALLOWED_UPDATES)
                )
                log.info("telegram: webhook registered at %s", url)
            except TelegramError as err:
                # The rest of the app (LINE, web chat) keeps working; the log says what to fix.
                log.error("telegram: setWebhook failed (%s: %s)", type(err).__name__, err.message)

    async def stop(self) -> None:
        """Stop polling and the update processing, then close the HTTP connections."""
        if not self._running:
            return
        self._running = False
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        await self.application.stop()
        await self.application.shutdown()

    # -- webhook -----------------------------------------------------------------------------

    async def webhook(self, request: Request) -> Response:
        """POST /webhooks/telegram: check the secret, queue the update, answer at once."""
        if self.polling:
            return JSONResponse({"error": "telegram runs in polling mode"}, status_code=404)
        secret = self.settings.telegram_webhook_secret
        if secret:
            given = request.headers.get(SECRET_HEADER, "")
            if not secrets.compare_digest(given.encode(), str(secret).encode()):
                log.warning("telegram: webhook with a wrong or missing secret token")
                return JSONResponse({"error": "forbidden"}, status_code=403)
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "update too large"}, status_code=413)
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
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
        if not self.assistant.users.first_time(f"{PLATFORM}:update:{update_id}"):
            log.info("telegram: update %s already seen, skipped", update_id)
            return Response(status_code=200)
        await self.application.update_queue.put(update)
        return Response(status_code=200)

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
        incoming = self._incoming(message, private)
        if incoming is None:
            return
        if incoming.postback is None and not incoming.text:
            if _is_non_text(message):
                reply = self.assistant.info(ui.NON_TEXT, self._lang(f"{PLATFORM}:{user.id}", user.language_code))
            elif message.text is not None or message.caption is not None:
                reply = self.assistant.handle(incoming)  # "@bot" alone: the core asks for a question
            else:
                return  # service messages (pins, new members) are not for us
        else:
            if incoming.postback is None:
                await self._typing(target)
            reply = self.assistant.handle(incoming)
        note = self._staff_note(user.language_code) if incoming.forwarded and len(reply.blocks) > 1 else None
        await self.send(target, reply, staff_note=note)

    def _incoming(self, message: Message, private: bool) -> Incoming | None:
        """The `Incoming` for a message, or None when it is not for us (groups, other bots' commands)."""
        user = message.from_user
        assert user is not None
        base = Incoming(platform=PLATFORM, user_id=str(user.id), lang_hint=user.language_code)
        command = _command(message)
        if command is not None:
            name, target, args = command
            ours = not target or target.lower() == (self.application.bot.username or "").lower()
            if not ours:
                return None  # /cmd@other_bot
            if name == "lang":
                return replace(base, postback=self._lang_postback(args))
            if name in COMMANDS:
                return replace(base, postback=COMMANDS[name])
            # Unknown commands: the menu in private; in groups only when addressed to us.
            return replace(base, postback=COMMANDS["help"]) if private or target else None
        text = message.text if message.text is not None else message.caption
        forwarded = message.forward_origin is not None
        mentioned, stripped = self._strip_mention(message)
        if private:
            return replace(base, text=stripped if mentioned else (text or ""), forwarded=forwarded)
        replied = message.reply_to_message
        to_us = replied is not None and replied.from_user is not None and replied.from_user.id == self.bot_id
        if not (mentioned or to_us):
            return None
        if mentioned and not stripped.strip() and replied is not None and not to_us:
            # "@bot" in reply to a resident's message: answer that message, for staff (two languages).
            quoted = replied.text or replied.caption
            if quoted:
                return replace(base, text=quoted, forwarded=True)
        return replace(base, text=stripped.strip() if mentioned else (text or ""), forwarded=forwarded)

    def _strip_mention(self, message: Message) -> tuple[bool, str]:
        """Whether the bot is mentioned, and the text without the mention."""
        text = message.text if message.text is not None else message.caption
        if not text:
            return False, ""
        username = (self.application.bot.username or "").lower()
        entities = (
            message.parse_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION])
            if message.text is not None
            else message.parse_caption_entities([MessageEntity.MENTION, MessageEntity.TEXT_MENTION])
        )
        mentioned = False
        for entity, part in entities.items():
            is_us = (entity.type == MessageEntity.MENTION and part.lower() == f"@{username}") or (
                entity.type == MessageEntity.TEXT_MENTION and entity.user is not None and entity.user.id == self.bot_id
            )
            if is_us:
                mentioned = True
                text = text.replace(part, " ")
        return mentioned, " ".join(text.split()) if mentioned else text

    def _lang_postback(self, args: Sequence[str]) -> Postback:
        """`/lang` → the language menu; `/lang vi`, `/lang pt-BR`, `/lang English` → that language."""
        wanted = " ".join(args).strip()
        if not wanted:
            return Postback.language_menu()
        code = negotiate(wanted) or self.assistant.policy.requested(wanted)
        return Postback.language(code) if code else Postback.language_menu()

    async def _on_callback(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A pressed inline button: stop the client's spinner, then answer like a postback."""
        query = update.callback_query
        if query is None:
            return
        try:
            await query.answer()
        except TelegramError as err:  # too old to answer: still handle the press
            log.info("telegram: update %s: answerCallbackQuery failed (%s)", update.update_id, type(err).__name__)
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
        incoming = Incoming(platform=PLATFORM, user_id=str(user.id), postback=press, lang_hint=user.language_code)
        await self.send(target, self.assistant.handle(incoming))

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log the update id and where it failed (never the text); tell the user something went wrong."""
        error = context.error
        update_id = update.update_id if isinstance(update, Update) else None
        where = "".join(traceback.format_tb(error.__traceback__)) if error is not None else ""
        # The exception's message can quote the user's text: log its type and the stack only.
        log.error("telegram: update %s failed (%s)\n%s", update_id, type(error).__name__, where.rstrip())
        if not isinstance(update, Update) or update.effective_chat is None:
            return
        user = update.effective_user
        key = f"{PLATFORM}:{user.id}" if user else ""
        reply = self.assistant.info(ui.ERROR, self._lang(key, user.language_code if user else None), [])
        message = update.effective_message
        thread = message.message_thread_id if isinstance(message, Message) and message.is_topic_message else None
        try:
            await self.send(Target(update.effective_chat.id, thread), replace(reply, buttons=()))
        except TelegramError as err:
            log.error("telegram: update %s: error message not sent (%s)", update_id, type(err).__name__)

    # -- sending -----------------------------------------------------------------------------

    async def send(self, target: Target, reply: Reply, staff_note: str | None = None) -> None:
        """Send a reply: one message per language block (each can be copied), keyboard on the last."""
        texts = render_messages(reply)
        if staff_note:
            texts.insert(0, staff_note)
        markup = keyboard(reply.buttons)
        for n, text in enumerate(texts):
            last = n == len(texts) - 1
            await self._send_text(target, text, markup if last else None, quote=n == 0)

    async def _send_text(self, target: Target, text: str, markup: InlineKeyboardMarkup | None, quote: bool) -> Message:
        reply_to = target.reply_to if quote else None

        async def call() -> Message:
            return await self.application.bot.send_message(
                chat_id=target.chat_id,
                text=text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                message_thread_id=target.thread_id,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                reply_parameters=ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None,
            )

        return await _retry_network(call)

    async def _typing(self, target: Target) -> None:
        """Show "typing…" while the answer is prepared; never worth failing the reply for."""
        try:
            await self.application.bot.send_chat_action(
                target.chat_id, ChatAction.TYPING, message_thread_id=target.thread_id
            )
        except TelegramError as err:
            log.info("telegram: sendChatAction failed (%s)", type(err).__name__)

    def _staff_note(self, lang_hint: str | None) -> str:
        """The line above a forwarded question's answer, in the staff member's language."""
        note = self.assistant.info(ui.FOR_STAFF, negotiate(lang_hint, "en"))
        return f"<i>{html_blocks(note, ruby=False)[0]}</i>"

    def _lang(self, key: str, hint: str | None) -> str | None:
        """The language to use for fixed messages: the user's choice, the last reply's, the hint."""
        return self.assistant.language_of(key, hint)

    @property
    def bot_id(self) -> int:
        """The bot's own user id (from getMe)."""
        return self.application.bot.id


# -- rendering -----------------------------------------------------------------------------------


def render_messages(reply: Reply) -> list[str]:
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


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: an emoji counts two)."""
    return len(text.encode("utf-16-le")) // 2


def split_html(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split at line ends into pieces of at most `limit`; over-long lines are cut outside tags and entities."""
    if utf16_len(text) <= limit:
        return [text]
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if utf16_len(candidate) <= limit:
            current = candidate
            continue
        if current:
            pieces.append(current)
        while utf16_len(line) > limit:
            cut = _cut_point(line, limit)
            pieces.append(line[:cut])
            line = line[cut:]
        current = line
    if current.strip():
        pieces.append(current)
    return pieces


def _cut_point(line: str, limit: int) -> int:
    """The largest index ≤ `limit` UTF-16 units that is not inside a tag or an entity."""
    cut, units = 0, 0
    for ch in line:
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit:
            break
        cut += 1
    head = line[:cut]
    for opener, closer in (("<", ">"), ("&", ";")):
        start = head.rfind(opener)
        if start > 0 and head.rfind(closer) < start:
            cut = start
            head = line[:cut]
    return max(cut, 1)


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


async def _retry_network(call: Callable[[], Awaitable[T]]) -> T:
    """Retry 5xx and connection errors with backoff (429 is the rate limiter's job).

    Timeouts are not retried: Telegram may have delivered the message, and there is no retry key.
    """
    for delay in (*NETWORK_RETRY_DELAYS, None):
        try:
            return await call()
        except (TimedOut, BadRequest):  # BadRequest is a NetworkError in PTB, but retrying cannot help
            raise
        except NetworkError as err:
            if delay is None:
                raise
            log.warning("telegram: API error (%s), retrying in %.1f s", type(err).__name__, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


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
_NOISY_LOGGERS = ("httpx", "telegram.Bot", "telegram.ext.ExtBot", "telegram.ext.Application")


def _redact_token_in_logs(token: str) -> None:
    _REDACT.tokens.add(token)
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).addFilter(_REDACT)
