"""A resident's message on a server: rate limit and settings from the shared store, the assistant,
then the operators' log, the counts and the metrics. Adapters call `Pipeline.handle` and render
what it returns (None: say nothing).

The assistant is sync and quick (about a millisecond): it runs on the event loop, on one user's
settings read before (`Store.visit`, one round trip that also counts the message against the rate
limit) and written back after, only when they changed. The current assistant is asked for each
message, so a hot reload swaps it between two messages, never during one.

Nothing here stops an answer: a store that fails (Redis unreachable, a full disk) is logged and
counted (`store_errors`, /healthz and /metrics) and the message answered with default settings; an
assistant that fails gives the error reply in the user's language.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeVar

from bot.core import ui_text as ui
from bot.core.assistant import Assistant, today_in_japan, user_key
from bot.core.i18n import negotiate
from bot.core.models import Incoming, Reply
from bot.core.normalize import MAX_CHARS, clean
from bot.core.pii import redact
from bot.core.users import OneUser, UserPrefs
from bot.logs import describe, message_text
from bot.metrics import Metrics
from bot.store import Answered, Question, RateLimit, Store, Visit

log = logging.getLogger(__name__)

LOGGED_CANDIDATES = 3
T = TypeVar("T")
Hint = Callable[[], Awaitable[str | None]]
"""Asks the platform for the user's language (LINE's profile): called only when it can change the reply."""


class Pipeline:
    """What happens to each message on a server, whatever the platform."""

    def __init__(
        self,
        assistant: Callable[[], Assistant],
        store: Store,
        limit: RateLimit | None = None,
        metrics: Metrics | None = None,
        log_text: bool = False,
        today: Callable[[], dt.date] = today_in_japan,
    ) -> None:
        self.assistant = assistant
        """The assistant in use now (a hot reload changes what this returns)."""
        self.store = store
        self.limit = limit or RateLimit()
        self.metrics = metrics or Metrics()
        self.log_text = log_text
        self.today = today
        self.store_errors = 0
        """Store calls that failed (each logged): the messages were answered all the same."""

    async def handle(self, msg: Incoming, hint: Hint | None = None) -> Reply | None:
        """The reply to one message or button press; None when the user is over the limit (silence)."""
        started = time.perf_counter()
        key = user_key(msg.platform, msg.user_id)
        visit = await self._visit(key)
        assistant = self.assistant()
        reply: Reply | None
        outcome: str
        changed: UserPrefs | None = None
        if visit.rate == "ok":
            user = OneUser(key, visit.prefs)
            msg = await self._with_hint(assistant, msg, user, hint)
            reply = self._answer(assistant, msg, user)
            changed = user.prefs if user.changed else None
            outcome, lang = reply.kind, reply.lang
        else:
            lang = visit.prefs.lang or visit.prefs.last or negotiate(msg.lang_hint) or ""
            reply = assistant.info(ui.RATE_LIMITED, lang or None) if visit.rate == "notify" else None
            outcome = "rate_limited"
        await self._record(key, msg, reply, outcome, lang, started, changed)
        return reply

    async def notice(self, msg: Incoming, message: str, hint: Hint | None = None) -> Reply | None:
        """A fixed message (a sticker gets "I can only read text") in the user's language, counted and
        rate-limited like any other message; None when the user is over the limit."""
        started = time.perf_counter()
        key = user_key(msg.platform, msg.user_id)
        visit = await self._visit(key)
        assistant = self.assistant()
        reply: Reply | None = None
        outcome: str
        if visit.rate == "ok":
            user = OneUser(key, visit.prefs)
            msg = await self._with_hint(assistant, msg, user, hint)
            lang = visit.prefs.lang or visit.prefs.last or negotiate(msg.lang_hint)
            reply = assistant.info(message, lang)
            outcome = reply.kind
        else:
            lang = visit.prefs.lang or visit.prefs.last or negotiate(msg.lang_hint)
            reply = assistant.info(ui.RATE_LIMITED, lang) if visit.rate == "notify" else None
            outcome = "rate_limited"
        await self._record(key, msg, reply, outcome, reply.lang if reply else (lang or ""), started)
        return reply

    async def language_of(self, platform: str, user_id: str, hint: str | None = None) -> str | None:
        """The language for a fixed message to a user (group intro, errors): choice, last reply, platform hint."""
        prefs = await self._guarded("prefs", self.store.prefs(user_key(platform, user_id)), UserPrefs())
        return prefs.lang or prefs.last or negotiate(hint)

    def error_reply(self, lang: str | None) -> Reply:
        """ "Sorry, something went wrong", in `lang`."""
        return self.assistant().info(ui.ERROR, lang)

    # -- steps -----------------------------------------------------------------------------

    async def _visit(self, key: str) -> Visit:
        return await self._guarded("visit", self.store.visit(key, self.limit), Visit(UserPrefs(), "ok"))

    async def _with_hint(self, assistant: Assistant, msg: Incoming, user: OneUser, hint: Hint | None) -> Incoming:
        """`msg` with the platform's idea of the user's language, asked for only when it can change the reply."""
        if hint is None or msg.lang_hint is not None or not assistant.needs_hint(msg, user):
            return msg
        return replace(msg, lang_hint=await hint())

    def _answer(self, assistant: Assistant, msg: Incoming, user: OneUser) -> Reply:
        """The assistant's reply, or the error reply if it fails (logged without the text)."""
        try:
            return assistant.handle(msg, user)
        except Exception as exc:
            log.error("%s: the assistant failed: %s", msg.platform, describe(exc))
            try:
                return assistant.info(ui.ERROR, user.prefs.lang or user.prefs.last or negotiate(msg.lang_hint))
            except Exception:
                return assistant.info(ui.ERROR, None)

    async def _record(
        self, key: str, msg: Incoming, reply: Reply | None, outcome: str, lang: str, started: float,
        prefs: UserPrefs | None = None,
    ) -> None:  # fmt: skip
        """The user's changed settings, the operators' log and the counts in one store write; the metrics and
        one log line (no text unless LOG_MESSAGE_TEXT)."""
        answered = Answered(key, self.today(), msg.platform, lang, outcome, _intent(reply), prefs,
                            _unanswered(msg, reply))  # fmt: skip
        await self._guarded("record", self.store.record(answered), None)
        self.metrics.messages.labels(msg.platform, lang, outcome).inc()
        self.metrics.latency.labels(msg.platform).observe(time.perf_counter() - started)
        log.info(
            "%s message: %s %s (%s) text=%s",
            msg.platform, outcome, _intent(reply) or "-", lang or "-", message_text(msg.text, self.log_text),
        )  # fmt: skip

    async def _guarded(self, what: str, call: Awaitable[T], fallback: T) -> T:
        """`call`, or `fallback` when the store fails: logged (its type, never a message's text) and counted."""
        try:
            return await call
        except Exception as exc:
            self.store_errors += 1
            self.metrics.store_errors.labels(what).inc()
            log.error("store %s failed (%s); answering without it", what, _reason(exc))
            return fallback


def _unanswered(msg: Incoming, reply: Reply | None) -> Question | None:
    """A question the bot could not answer surely, redacted, to keep for `python -m bot report unanswered`."""
    if reply is None or msg.postback is not None or reply.kind not in ("fallback", "did_you_mean"):
        return None
    text = redact(clean(msg.text)[:MAX_CHARS]).strip()
    if not text:
        return None
    return Question(time.time(), msg.platform, reply.lang, reply.kind, text, reply.candidates[:LOGGED_CANDIDATES])


def _intent(reply: Reply | None) -> str:
    return (reply.intent or "") if reply else ""


def _reason(exc: Exception) -> str:
    """A store error for the log: its type, and the message of a database or connection error (never user text)."""
    redis_errors = sys.modules.get("redis.exceptions")  # not imported on SQLite (5 MB): no Redis error then
    if isinstance(exc, (OSError, sqlite3.Error)) or (
        redis_errors is not None and isinstance(exc, redis_errors.RedisError)
    ):
        return f"{type(exc).__name__}: {str(exc)[:120]}"
    return type(exc).__name__
