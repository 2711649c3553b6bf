"""What every chat platform adapter shares, written once.

Lengths as the platforms count them (UTF-16) and splitting long texts; retries with backoff and
jitter; cosmetic calls that can never cost the reply; per-chat queues with a bounded backlog. Each
platform module keeps a pure `to_incoming` and `render` and the calls to its own API; the reply
itself comes from the server's pipeline (`bot.pipeline`: settings, rate limit, the error reply, the
platform's language hint only when it can change the answer), and events are kept in the durable
inbox until answered (`bot.inbox`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from bot.logs import describe

log = logging.getLogger(__name__)

T = TypeVar("T")

AdapterState = Literal["ok", "starting", "degraded"]
"""An adapter's state in /healthz (an adapter whose credentials are missing is "off")."""


# -- lengths and splitting --------------------------------------------------------------------


def utf16_len(text: str) -> int:
    """Length as LINE and Telegram count it: UTF-16 code units (an emoji outside the BMP counts two)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def plain_cut(line: str, limit: int) -> int:
    """The longest prefix of `line` within `limit` UTF-16 units (never half a character), at least one."""
    cut, units = 0, 0
    for ch in line:
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit:
            break
        cut += 1
    return max(cut, 1)


def split_text(text: str, limit: int, cut: Callable[[str, int], int] = plain_cut) -> list[str]:
    """`text` in pieces of at most `limit` UTF-16 units, cut at line breaks where possible.

    Lines are packed into pieces; a line too long on its own is cut where `cut` says (HTML needs
    cuts outside tags and entities). Pieces that are only white space are dropped.
    """
    if utf16_len(text) <= limit:
        return [text] if text.strip() else []
    pieces: list[str] = []
    current: str | None = None
    for line in text.split("\n"):
        if current is not None and utf16_len(current) + 1 + utf16_len(line) <= limit:
            current = f"{current}\n{line}"
            continue
        if current is not None:
            pieces.append(current)
        while utf16_len(line) > limit:
            at = cut(line, limit)
            pieces.append(line[:at])
            line = line[at:]
        current = line
    if current is not None:
        pieces.append(current)
    return [piece.strip("\n") for piece in pieces if piece.strip()]


# -- retries ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How a platform call is retried: bounded attempts, exponential backoff with jitter."""

    tries: int = 3
    backoff: float = 0.2
    """Seconds before the second attempt (±50 % jitter), doubled for each one after."""
    max_wait: float = 30.0
    """Longest wait between attempts; a Retry-After beyond it ends the attempts."""
    timeout: float = 10.0
    """Seconds per attempt."""

    def wait(self, attempt: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait after failed attempt number `attempt`, or None when waiting is pointless."""
        delay = self.backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay if delay <= self.max_wait else None


@dataclass(frozen=True)
class Failure:
    """What a failed attempt means: whether another attempt can help, whether the platform may have acted."""

    retry: bool
    maybe_done: bool
    what: str
    """For the log: a status or an error type, never a message text."""
    retry_after: float | None = None
    status: str = ""
    """For /metrics, when `what` says more: the HTTP status alone."""


@dataclass
class Attempts:
    """What the attempts of one call came to, for the caller's duplicate policy and its log."""

    count: int = 0
    maybe_done: list[str] = field(default_factory=list)
    """The failed attempts that the platform may nevertheless have carried out."""
    last: str = ""


async def with_retries(
    call: Callable[[], Awaitable[T]],
    classify: Callable[[BaseException], Failure],
    policy: RetryPolicy,
    what: str,
    attempts: Attempts | None = None,
    failed: Callable[[Failure], None] | None = None,
) -> T:
    """`call()` with a timeout per attempt, tried again while `classify` says it can help.

    Raises the last attempt's exception when no attempt succeeded; `attempts` records them, and
    `failed` hears of each failed attempt (the API error metrics).
    """
    attempts = attempts if attempts is not None else Attempts()
    for attempt in range(1, policy.tries + 1):
        attempts.count = attempt
        try:
            async with asyncio.timeout(policy.timeout):
                return await call()
        except Exception as exc:
            failure = classify(exc)
            if failed is not None:
                failed(failure)
            attempts.last = failure.what
            if failure.maybe_done:
                attempts.maybe_done.append(failure.what)
            wait = policy.wait(attempt, failure.retry_after) if failure.retry and attempt < policy.tries else None
            if wait is None:
                raise
            log.warning("%s failed (%s), attempt %d of %d, next in %.2f s", what, failure.what, attempt,
                        policy.tries, wait)  # fmt: skip
            await asyncio.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


# -- calls that must never cost the reply -----------------------------------------------------


async def cosmetic(what: str, call: Callable[[], Awaitable[T]], seconds: float) -> T | None:
    """An optional call (profile, typing dots, menus): any failure, timeout or odd answer is logged and skipped."""
    try:
        async with asyncio.timeout(seconds):
            return await call()
    except Exception as exc:
        log.info("%s skipped (%s)", what, type(exc).__name__)
        return None


@contextlib.asynccontextmanager
async def if_slow(delay: float, call: Callable[[], Awaitable[object]]) -> AsyncIterator[None]:
    """Run `call` (a cosmetic "typing…" call, bounded by its own timeout) only if the block takes longer
    than `delay` seconds.

    Most answers are ready in a millisecond: the indicator would cost a request and arrive after
    the answer. When the block ends first, the call is not made. A call under way is waited for,
    not abandoned: cancelled, it could still reach the platform after the answer (LINE would show
    its dots for 20 s after the reply), and it would tear down the pooled connection it was sent on
    (under load, a new connection for every slow answer). A timer, not a task, waits: the common
    case costs no task.
    """
    loop = asyncio.get_running_loop()
    started: list[asyncio.Task[object]] = []
    timer = loop.call_later(delay, lambda: started.append(asyncio.ensure_future(call())))
    try:
        yield
    finally:
        timer.cancel()
        for task in started:
            with contextlib.suppress(Exception):
                await task


# -- per-chat queues --------------------------------------------------------------------------


class ChatQueues:
    """Accepted work, per chat: in arrival order within a chat, concurrently across chats, bounded.

    One user's slow or rate-limited call holds back only that user's later messages. `submit`
    refuses work once `capacity` jobs are pending, so a burst cannot grow the process: the webhook
    then answers so that the platform delivers again later.
    """

    def __init__(self, name: str, capacity: int) -> None:
        self.name = name
        self.capacity = capacity
        self._chats: dict[str, deque[tuple[Callable[[], Awaitable[None]], str]]] = {}
        self._workers: set[asyncio.Task[None]] = set()
        self._pending = 0
        self._idle: asyncio.Event | None = None
        self._freed: asyncio.Event | None = None

    @property
    def pending(self) -> int:
        """Jobs accepted and not finished."""
        return self._pending

    def room(self) -> int:
        """How many more jobs would be accepted now."""
        return max(0, self.capacity - self._pending)

    def submit(self, chat: str, job: Callable[[], Awaitable[None]], ref: str) -> bool:
        """Queue `job` behind the chat's earlier ones; False (not queued) when the backlog is full."""
        if self._pending >= self.capacity:
            return False
        self._pending += 1
        if self._idle is not None:
            self._idle.clear()
        queue = self._chats.get(chat)
        if queue is not None:
            queue.append((job, ref))
            return True
        self._chats[chat] = deque([(job, ref)])
        worker = asyncio.create_task(self._work(chat), name=f"{self.name}-chat")
        self._workers.add(worker)
        worker.add_done_callback(self._workers.discard)
        return True

    async def _work(self, chat: str) -> None:
        queue = self._chats[chat]
        try:
            while queue:
                job, ref = queue[0]  # stays queued while it runs, so later jobs line up behind it
                try:
                    await job()
                except Exception as exc:  # a bug must not stop the chat's queue; no text in the log
                    log.error("%s %s failed: %s", self.name, ref, describe(exc))
                finally:
                    queue.popleft()
                    self._done(1)
        finally:
            del self._chats[chat]
            if queue:  # cancelled: what was still waiting is dropped
                log.warning("%s: %d queued jobs dropped", self.name, len(queue))
                self._done(len(queue))

    def _done(self, count: int) -> None:
        self._pending -= count
        if self._pending == 0 and self._idle is not None:
            self._idle.set()
        if self._freed is not None:
            self._freed.set()

    async def wait_room(self) -> None:
        """Wait until a job would be accepted (for a source that can wait, like polling)."""
        while not self.room():
            if self._freed is None:
                self._freed = asyncio.Event()
            self._freed.clear()
            await self._freed.wait()

    async def drain(self) -> None:
        """Wait until every accepted job has finished."""
        if self._pending == 0:
            return
        if self._idle is None:
            self._idle = asyncio.Event()
        await self._idle.wait()

    async def stop(self, seconds: float) -> None:
        """Let accepted jobs finish for up to `seconds`, then cancel the rest."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.drain()
        if self._pending:
            log.warning("%s: %d jobs cancelled at shutdown", self.name, self._pending)
            for worker in list(self._workers):
                worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
