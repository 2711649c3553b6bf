"""What the store keeps and the one protocol both backends (SQLite, Redis) speak.

The protocol is async: the server calls it from the event loop, and neither backend may block it
(SQLite runs on a thread of its own, Redis is async already). The assistant itself stays sync: the
server reads a user's settings before it runs (`Store.visit`) and writes them after
(`bot.core.pipeline`), so the assistant works on one user's settings in memory.

User keys ("platform:user id") are pseudonymised by the store itself (`Pseudonym`): no caller can
forget to, and no backend ever holds a platform's user id.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal, Protocol

from bot.core.models import Candidate
from bot.core.users import UserPrefs

EVENT_TTL = 7 * 24 * 3600.0
"""Seconds a processed event id is remembered; platforms stop redelivering long before."""
LEASE = 30.0
"""Seconds an instance may hold an inbox event before another may take it over (judged by the taker)."""
RETENTION_DAYS = 180
"""Days after which an idle user's settings, and logged questions, are deleted."""

Rate = Literal["ok", "notify", "silent"]
"""Within the limit; the first message over it (one polite notice); every later one (silence)."""
Admission = Literal["new", "retaken", "busy", "done"]
"""What `Inbox.put` found: a new event (now ours); an unfinished one whose lease had run out (now
ours); one another instance is working on; one already answered."""
QuestionKind = Literal["fallback", "did_you_mean"]
Channel = Literal["reply", "push", "send"]
"""How a reply goes out: LINE's reply (with the event's token) or push (with a retry key), Telegram's send."""


class StoreError(Exception):
    """The store cannot be opened; the message is one line: what, where, and how to fix it."""


@dataclass(frozen=True)
class RateLimit:
    """At most `messages` per `window` seconds per user."""

    messages: int = 20
    window: float = 60.0


def rate_of(count: int, limit: RateLimit) -> Rate:
    """Where the `count`th message of a window stands."""
    if count <= limit.messages:
        return "ok"
    return "notify" if count == limit.messages + 1 else "silent"


@dataclass(frozen=True)
class Visit:
    """A message's arrival: the user's settings and where they stand against the rate limit."""

    prefs: UserPrefs
    rate: Rate


@dataclass(frozen=True)
class Question:
    """A question the bot could not answer, or answered with a did-you-mean: redacted, no user."""

    at: float
    """Unix time."""
    platform: str
    lang: str | None
    kind: QuestionKind
    text: str
    """Redacted (`bot.core.pii`) before it reaches the store."""
    candidates: tuple[Candidate, ...] = ()


@dataclass(frozen=True)
class Answered:
    """What is kept once a message is answered: the count it adds to, and the user's settings and the
    question when there are any (`Store.record` keeps them in one write)."""

    user: str
    day: dt.date
    platform: str
    lang: str
    outcome: str
    intent: str
    prefs: UserPrefs | None = None
    """The user's settings, when answering changed them."""
    question: Question | None = None
    """The message, when the bot could not answer it surely."""


@dataclass(frozen=True)
class Tally:
    """How many messages of one day, platform, language, outcome and intent."""

    day: dt.date
    platform: str
    lang: str
    outcome: str
    intent: str
    count: int


@dataclass(frozen=True)
class InboxEvent:
    """An acknowledged platform event kept until its reply was accepted."""

    id: str
    platform: str
    payload: str
    """What the adapter needs to handle it again (its text redacted)."""
    received: float
    attempts: int
    """How many times an instance took it (1 for the first)."""


@dataclass(frozen=True)
class Sending:
    """What `Inbox.sending` found."""

    ours: bool
    """Whether the event is still this instance's (False: another took it over, or it is done: say nothing)."""
    earlier: Channel | None = None
    """How a reply to it had already begun to go out (an instance died after that, or this one is trying
    another way); None: nothing went out before."""


class Inbox(Protocol):
    """Acknowledged events, durable until answered; any instance recovers what another left."""

    async def put(self, event_id: str, platform: str, payload: str, lease: float = LEASE) -> Admission:
        """Keep an event before the webhook answers 200; "new" or "retaken" means: handle it now.

        An event already kept is retaken when its holder has had it for `lease` seconds or more.
        """
        ...

    async def done(self, event_id: str, ttl: float = EVENT_TTL) -> None:
        """The reply was accepted: forget the event, and remember its id as processed for `ttl` seconds."""
        ...

    async def claim(self, lease: float = LEASE, limit: int = 100) -> list[InboxEvent]:
        """Take over events held for `lease` seconds or more (an instance died, or gave up), oldest first."""
        ...

    async def renew(self, event_ids: Collection[str]) -> set[str]:
        """Start the lease again on events this instance holds; returns those it no longer holds.

        An instance renews what it is still working on, so that no other takes it over while it lives.
        """
        ...

    async def sending(self, event_id: str, channel: Channel) -> Sending:
        """Note that the reply is about to go out through `channel`, if the event is still this instance's.

        Said before each attempt to send, so that an instance taking the event over later knows
        whether a reply may have reached the user already.
        """
        ...

    async def depth(self) -> int:
        """Events kept and not done."""
        ...


class Store(Protocol):
    """Everything the server keeps, shared by every instance that opens the same store."""

    async def open(self) -> None:
        """Get ready: check the server answers and make what is missing (the inbox's group)."""
        ...

    @property
    def inbox(self) -> Inbox:
        """The durable inbox."""
        ...

    async def visit(self, user: str, limit: RateLimit) -> Visit:
        """A message arrives from `user`: count it against `limit`, keep the user alive, read their settings."""
        ...

    async def prefs(self, user: str) -> UserPrefs:
        """A user's settings (defaults for a user never seen)."""
        ...

    async def record(self, answered: Answered) -> None:
        """What the server keeps after each answer, in one write (a transaction on SQLite, one round trip on
        Redis): the message counted, and the user's settings and the question when `answered` has them."""
        ...

    async def questions(self, since: float | None = None, lang: str | None = None) -> list[Question]:
        """Logged questions, oldest first, from `since` (Unix time) and in `lang` when given."""
        ...

    async def usage(self, since: dt.date | None = None) -> list[Tally]:
        """Message counts from `since` (a day, in Japan), by day, platform, language, outcome and intent."""
        ...

    async def forget_idle(self, now: float | None = None) -> int:
        """Delete what the retention period says (idle users, old questions, expired ids); how many went."""
        ...

    async def close(self) -> None:
        """Release the connection."""
        ...
