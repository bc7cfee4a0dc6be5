"""The outbox sender and the job runner on a real database: nothing lost on stop, crash or failure."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from conversations.deps import Deps
from conversations.engine import Engine
from conversations.events import Actor, Command, FormSubmitted, MessageRef
from conversations.jobs import run_due_jobs
from conversations.messages import Message
from conversations.outbox import OutboxPolicy, OutboxSender
from conversations.settings import ProgramSettings
from storage.unit_of_work import SqlUnitOfWorkFactory
from tests.fakes.memory import FakeClock
from tests.fakes.messenger import FakeMessenger

BOB = Actor("console", "console", "bob")
START = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


class GatedMessenger(FakeMessenger):
    """Holds every send until the test opens the gate, like a platform that is slow to answer."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.started = asyncio.Event()

    async def send(self, to: Sequence[Actor], message: Message) -> MessageRef:
        self.started.set()
        await self.gate.wait()
        return await super().send(to, message)


def _deps(uow_factory: SqlUnitOfWorkFactory, messenger: FakeMessenger, clock: FakeClock) -> Deps:
    return Deps(uow=uow_factory, settings=ProgramSettings(), clock=clock, messengers={"console": messenger})


async def _enqueue(deps: Deps, *texts: str) -> None:
    async with deps.uow() as uow:
        for text in texts:
            await uow.outbox.enqueue(BOB, Message(text), deps.clock.now())
        await uow.commit()


async def test_a_stop_during_a_send_lets_it_finish_and_records_it(uow_factory: SqlUnitOfWorkFactory) -> None:
    messenger, clock = GatedMessenger(), FakeClock(START)
    deps = _deps(uow_factory, messenger, clock)
    await _enqueue(deps, "one", "two", "three")
    sender = OutboxSender(deps)
    draining = asyncio.create_task(sender.drain_once())
    await messenger.started.wait()
    stopping = asyncio.create_task(sender.stop())  # what SIGTERM does
    await asyncio.sleep(0.05)
    assert not stopping.done(), "stop() must wait for the send in flight"
    messenger.gate.set()
    await asyncio.wait_for(stopping, 10)
    assert await draining == 3
    assert sorted(m.text for _, m in messenger.sent) == ["one", "three", "two"]
    async with deps.uow() as uow:
        assert await uow.outbox.pending_count() == 0
    # a new process starting afterwards sends nothing twice
    again = OutboxSender(_deps(uow_factory, FakeMessenger(), clock))
    assert await again.drain() == 0


async def test_a_sender_that_dies_mid_send_loses_nothing(uow_factory: SqlUnitOfWorkFactory) -> None:
    clock = FakeClock(START)
    stuck = GatedMessenger()  # never answers: the process is killed while waiting
    dead = OutboxSender(_deps(uow_factory, stuck, clock), OutboxPolicy(lease_seconds=60))
    await _enqueue(_deps(uow_factory, stuck, clock), "hello")
    task = asyncio.create_task(dead.drain_once())
    await stuck.started.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    survivor_messenger = FakeMessenger()
    survivor = OutboxSender(_deps(uow_factory, survivor_messenger, clock))
    assert await survivor.drain() == 0, "the lease still holds: nobody else sends it yet"
    clock.advance(seconds=61)
    assert await survivor.drain() == 1
    assert [m.text for _, m in survivor_messenger.sent] == ["hello"]


async def test_transient_failures_retry_after_the_platforms_retry_after(uow_factory: SqlUnitOfWorkFactory) -> None:
    messenger, clock = FakeMessenger(), FakeClock(START)
    deps = _deps(uow_factory, messenger, clock)
    await _enqueue(deps, "persistent")
    messenger.fail_next(2, "ratelimited", retry_after=30)
    sender = OutboxSender(deps)
    await sender.drain()
    assert messenger.sent == []
    clock.advance(seconds=29)
    await sender.drain()
    assert messenger.sent == []
    clock.advance(seconds=2)
    await sender.drain()  # second failure: waits again
    clock.advance(seconds=31)
    await sender.drain()
    assert [m.text for _, m in messenger.sent] == ["persistent"]
    async with deps.uow() as uow:
        assert await uow.outbox.pending_count() == 0


async def test_a_permanent_failure_is_not_retried(uow_factory: SqlUnitOfWorkFactory) -> None:
    messenger, clock = FakeMessenger(), FakeClock(START)
    deps = _deps(uow_factory, messenger, clock)
    await _enqueue(deps, "gone")
    messenger.fail_next(1, "account_inactive", permanent=True)
    await OutboxSender(deps).drain()
    clock.advance(days=1)
    assert await OutboxSender(deps).drain() == 0
    assert messenger.sent == []


async def test_a_pause_ends_by_itself_with_a_message(uow_factory: SqlUnitOfWorkFactory) -> None:
    messenger, clock = FakeMessenger(), FakeClock(START)
    deps = _deps(uow_factory, messenger, clock)
    engine = Engine(deps)
    reply = await engine.dispatch(FormSubmitted(BOB, "signup", {
        "name": "Bob", "role": "mentor", "level": "L2", "department": "Eng", "time_zone": "Europe/Berlin",
        "working_days": ("mon", "tue"), "working_hours": "09:00-17:00", "topics_teach": ("GenAI",),
        "languages": ("English",)}))
    assert not reply.errors, reply.errors
    await engine.dispatch(Command(BOB, "pause", ("1",)))
    assert await run_due_jobs(deps) == 0
    clock.advance(weeks=1, seconds=1)
    assert await run_due_jobs(deps) == 1
    assert await run_due_jobs(deps) == 0  # done once
    await OutboxSender(deps).drain()
    assert [m.text for _, m in messenger.sent] == ["Your pause is over. Welcome back!"]
    async with deps.uow() as uow:
        bob = await uow.people.by_actor(BOB)
    assert bob is not None and bob.status == "active"
