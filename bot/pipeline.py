"""A resident's message on a server: rate limit and settings from the shared store, the assistant,
then the operators' log, the counts and the metrics. Adapters call `Pipeline.handle` and render
what it returns (None: say nothing).

The assistant is sync and quick (about a millisecond): it runs on the event loop, on one user's
settings read before (`Store.visit`, one round trip that also counts the message against the rate
limit) and written back after, only when they changed. The current assistant is asked for each
message, so a hot reload swaps it between two messages, never during one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable

from bot.core import ui_text as ui
from bot.core.assistant import Assistant, today_in_japan, user_key
from bot.core.i18n import negotiate
from bot.core.models import Incoming, Reply
from bot.core.normalize import MAX_CHARS, clean
from bot.core.pii import redact
from bot.core.users import OneUser
from bot.logs import message_text
from bot.metrics import Metrics
from bot.store import Question, RateLimit, Store

log = logging.getLogger(__name__)

LOGGED_CANDIDATES = 3


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

    async def handle(self, msg: Incoming) -> Reply | None:
        """The reply to one message or button press; None when the user is over the limit (silence)."""
        started = time.perf_counter()
        key = user_key(msg.platform, msg.user_id)
        visit = await self.store.visit(key, self.limit)
        assistant = self.assistant()
        reply: Reply | None
        outcome: str
        if visit.rate == "ok":
            user = OneUser(key, visit.prefs)
            reply = assistant.handle(msg, user)
            if user.changed:
                await self.store.save_prefs(key, user.prefs)
            outcome, lang = reply.kind, reply.lang
        else:
            lang = visit.prefs.lang or visit.prefs.last or negotiate(msg.lang_hint) or ""
            reply = assistant.info(ui.RATE_LIMITED, lang or None) if visit.rate == "notify" else None
            outcome = "rate_limited"
        counted = self.store.count(self.today(), msg.platform, lang, outcome, _intent(reply))
        await asyncio.gather(self._log(msg, reply), counted)
        self.metrics.messages.labels(msg.platform, lang, outcome).inc()
        self.metrics.latency.labels(msg.platform).observe(time.perf_counter() - started)
        log.info(
            "%s message: %s %s (%s) text=%s",
            msg.platform, outcome, _intent(reply) or "-", lang or "-", message_text(msg.text, self.log_text),
        )  # fmt: skip
        return reply

    async def language_of(self, platform: str, user_id: str, hint: str | None = None) -> str | None:
        """The language for a fixed message to a user (group intro, errors): choice, last reply, platform hint."""
        prefs = await self.store.prefs(user_key(platform, user_id))
        return prefs.lang or prefs.last or negotiate(hint)

    async def _log(self, msg: Incoming, reply: Reply | None) -> None:
        """Keep a question the bot could not answer surely, redacted, for `python -m bot report unanswered`."""
        if reply is None or msg.postback is not None:
            return
        if reply.kind != "fallback" and reply.kind != "did_you_mean":
            return
        text = redact(clean(msg.text)[:MAX_CHARS]).strip()
        if text:
            candidates = reply.candidates[:LOGGED_CANDIDATES]
            await self.store.log_question(Question(time.time(), msg.platform, reply.lang, reply.kind, text, candidates))


def _intent(reply: Reply | None) -> str:
    return (reply.intent or "") if reply else ""
