"""The server's side of the inbox on both stores: leases held while working, what others left claimed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bot.inbox import InboxKeeper
from bot.store import InboxEvent
from tests.conftest import Opener


@dataclass
class Recorder:
    """A platform that queues what it is given (up to `capacity`), or refuses payloads it cannot read."""

    capacity: int = 100
    queued: list[InboxEvent] = field(default_factory=list)

    def room(self) -> int:
        return self.capacity - len(self.queued)

    def recover(self, event: InboxEvent) -> bool:
        if event.payload == "unreadable":
            raise ValueError("not an event")
        self.queued.append(event)
        return True


async def test_events_a_stopped_instance_left_are_claimed_and_handed_to_their_platform(stores: Opener) -> None:
    stopped, survivor = InboxKeeper((await stores()).inbox, lease=0.2), InboxKeeper((await stores()).inbox, lease=0.2)
    line = Recorder()
    survivor.recoverers["line"] = line
    for n in range(3):
        assert await stopped.accept(f"line:k{n}", "line", str(n)) == "new"
    await asyncio.sleep(0.3)

    await survivor.tend()

    assert [e.payload for e in line.queued] == ["0", "1", "2"] and survivor.held == {"line:k0", "line:k1", "line:k2"}
    assert (await survivor.sending("line:k0", "reply")).ours and not (await stopped.sending("line:k1", "reply")).ours
    for n in range(3):
        await survivor.done(f"line:k{n}")
    assert await survivor.inbox.depth() == 0 and survivor.recovered == 3


async def test_a_working_instance_keeps_its_events(stores: Opener) -> None:
    # The lease is five renewal steps long: a busy machine that stretches one step cannot make it lapse.
    working, other = InboxKeeper((await stores()).inbox, lease=1.0), InboxKeeper((await stores()).inbox, lease=1.0)
    line = Recorder()
    other.recoverers["line"] = line
    await working.accept("line:w1", "line", "{}")
    for _ in range(8):  # longer than the lease, renewed as `run` does
        await asyncio.sleep(0.2)
        await working.tend()
        await other.tend()

    assert line.queued == [] and working.held == {"line:w1"}


async def test_claims_no_more_than_there_is_room_for(stores: Opener) -> None:
    stopped, survivor = InboxKeeper((await stores()).inbox, lease=0.1), InboxKeeper((await stores()).inbox, lease=0.1)
    full = Recorder(capacity=2)
    survivor.recoverers["line"] = full
    for n in range(5):
        await stopped.accept(f"line:f{n}", "line", str(n))
    await asyncio.sleep(0.2)

    await survivor.tend()

    assert len(full.queued) == 2 and await survivor.inbox.depth() == 5


async def test_events_that_cannot_be_answered_are_given_up(stores: Opener) -> None:
    stopped = InboxKeeper((await stores()).inbox, lease=0.1)
    survivor = InboxKeeper((await stores()).inbox, lease=0.1, max_attempts=2)
    line = Recorder()
    survivor.recoverers["line"] = line
    await stopped.accept("line:bad", "line", "unreadable")
    await stopped.accept("line:tired", "line", "{}")
    await stopped.accept("telegram:update:1", "telegram", "{}")  # Telegram is off here
    await asyncio.sleep(0.2)

    await survivor.tend()  # attempt 2: "tired" is queued, and left unanswered
    survivor.release("line:tired")
    await asyncio.sleep(0.2)
    await survivor.tend()  # attempt 3: past the limit

    assert survivor.given_up == 3 and await survivor.inbox.depth() == 0
    assert await survivor.inbox.put("line:bad", "line", "unreadable") == "done"
