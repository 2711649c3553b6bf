"""The server's side of the durable inbox: events acknowledged to a platform, held until answered.

A webhook `accept`s an event (kept in the store before it answers 200) and queues it. The worker
says `sending` before each attempt to send the reply, and `done` once the platform accepted it:
only then is the event processed, so a redelivery of an event nobody answered is answered.

While this instance works on events, `run` renews their leases, so that no other instance takes them
over. It also claims events another instance left (killed, crashed, or stopped with work queued)
once their lease has run out, at start and every third of a lease, and hands each to the adapter of
its platform (`Recoverer`), which answers it like a new one. Nothing acknowledged is lost while one
instance runs; how a reply that may already have gone out is treated is each platform's
(`Sending.earlier`): LINE tells us (a used reply token, a retry key already accepted), Telegram does
not, so there a reply that may have arrived is not sent again (docs/operations.md).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from bot.logs import describe
from bot.store import LEASE, Admission, Channel, Inbox, InboxEvent, Sending

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
"""Times an event may be taken (first time included) before it is given up, logged and counted."""
CLAIM_BATCH = 100


class Recoverer(Protocol):
    """An adapter that can answer events another instance acknowledged."""

    def room(self) -> int:
        """How many more events it would queue now."""
        ...

    def recover(self, event: InboxEvent) -> bool:
        """Queue a claimed event to be answered; False when it cannot now (it is claimed again later).

        Raises:
            ValueError: the kept payload is not an event it can answer (it is given up).
        """
        ...


class InboxKeeper:
    """Accepts events into the store, holds their leases while this instance works on them, recovers the rest."""

    def __init__(self, inbox: Inbox, lease: float = LEASE, max_attempts: int = MAX_ATTEMPTS) -> None:
        self.inbox = inbox
        self.lease = lease
        self.max_attempts = max_attempts
        self.recoverers: dict[str, Recoverer] = {}
        """By platform name: who answers a claimed event."""
        self.held: set[str] = set()
        """Events this instance has taken and not finished: their leases are renewed."""
        self._marked: set[str] = set()
        """Held events whose reply this instance has begun to send."""
        self.recovered = 0
        """Events claimed from the store and queued here."""
        self.given_up = 0
        """Events taken `max_attempts` times without an answer, or whose payload could not be read."""
        self.errors = 0
        """Renewals and claims that failed (the store was unreachable): tried again at the next round."""

    async def accept(self, event_id: str, platform: str, payload: str) -> Admission:
        """Keep an event before the webhook answers; "new" or "retaken": it is this instance's to answer.

        Raises:
            Exception: the store failed; the webhook must not answer 200 (the platform delivers again).
        """
        admission = await self.inbox.put(event_id, platform, payload, self.lease)
        if admission in ("new", "retaken"):
            self.held.add(event_id)
        return admission

    async def sending(self, event_id: str, channel: Channel) -> Sending:
        """Say that a reply is about to go out through `channel`; `ours` False: another instance has the event.

        `earlier` is how another instance (one that stopped) had begun to answer it; what this
        instance tried itself is its adapter's to know. A store that fails does not stop the reply
        (answering beats not answering): it goes out as if nothing had gone out before.
        """
        try:
            sending = await self.inbox.sending(event_id, channel)
        except Exception as exc:
            log.error("inbox: %s not marked as sending (%s); sending all the same", event_id, describe(exc))
            return Sending(ours=True)
        if not sending.ours:
            self.forget(event_id)
            log.warning("inbox: %s was taken over by another instance; not sent from here", event_id)
            return sending
        if event_id in self._marked:
            return Sending(ours=True)
        self._marked.add(event_id)
        return sending

    async def done(self, event_id: str) -> None:
        """The reply was accepted (or none is due): the event is processed. Nothing for an event no longer held."""
        if event_id not in self.held:
            return
        self.forget(event_id)
        try:
            await self.inbox.done(event_id)
        except Exception as exc:  # it stays in the store: taken over after its lease, where LINE's checks apply
            log.error("inbox: %s answered but not marked done (%s)", event_id, describe(exc))

    def release(self, event_id: str) -> None:
        """This instance stops working on an event without answering it (shutdown, a failure): after its
        lease, any instance takes it over."""
        self.forget(event_id)

    def forget(self, event_id: str) -> None:
        """Hold the event no more here."""
        self.held.discard(event_id)
        self._marked.discard(event_id)

    async def run(self) -> None:
        """Renew and claim at once, then every third of a lease, until cancelled."""
        while True:
            await self.tend()
            await asyncio.sleep(self.lease / 3)

    async def tend(self) -> None:
        """One round: renew the leases of events held here, then claim what others left, while there is room."""
        try:
            if self.held:
                for event_id in await self.inbox.renew(set(self.held)):
                    if event_id in self.held:  # finished meanwhile, or taken over after a stall
                        self.forget(event_id)
                        log.warning("inbox: %s is no longer held here", event_id)
            while True:
                room = min(CLAIM_BATCH, sum(r.room() for r in self.recoverers.values()))
                if room <= 0:
                    return
                claimed = await self.inbox.claim(self.lease, room)
                for event in claimed:
                    await self._recover(event)
                if len(claimed) < room:
                    return
        except Exception as exc:
            self.errors += 1
            log.error("inbox: renewing and claiming failed (%s); trying again later", describe(exc))

    async def _recover(self, event: InboxEvent) -> None:
        if event.id in self.held:  # already queued here (its lease ran out while it waited)
            return
        recoverer = self.recoverers.get(event.platform)
        if event.attempts > self.max_attempts or recoverer is None:
            self.given_up += 1
            why = f"taken {event.attempts} times" if recoverer is not None else f"{event.platform} is off"
            log.error("inbox: %s given up (%s), never answered", event.id, why)
            self.held.add(event.id)
            await self.done(event.id)
            return
        self.held.add(event.id)
        try:
            queued = recoverer.recover(event)
        except ValueError as exc:
            self.given_up += 1
            log.error("inbox: %s given up: its payload cannot be answered (%s)", event.id, describe(exc))
            await self.done(event.id)
            return
        if queued:
            self.recovered += 1
            log.info("inbox: %s recovered (attempt %d)", event.id, event.attempts)
        else:
            self.release(event.id)

    def health(self) -> dict[str, int]:
        """For /healthz."""
        return {"held": len(self.held), "recovered": self.recovered, "given_up": self.given_up, "errors": self.errors}
