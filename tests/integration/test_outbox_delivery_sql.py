"""The outbox's results on a real database: fenced by their claim, and grouped into few writes under load."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from conversations.deps import Deps
from conversations.events import Actor
from conversations.messages import Message
from conversations.model import OutboxResult
from conversations.outbox import OutboxPolicy, OutboxSender
from conversations.settings import ProgramSettings
from storage.unit_of_work import SqlUnitOfWorkFactory
from tests.fakes.memory import FakeClock
from tests.fakes.messenger import FakeMessenger

NOW = datetime(2027, 3, 2, 10, 0, tzinfo=UTC)
BOB = Actor("console", "console", "bob")


async def test_a_result_from_a_claim_that_ran_out_is_not_recorded(uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        kept = await uow.outbox.enqueue(BOB, Message("kept"), NOW)
        erased = await uow.outbox.enqueue(Actor("console", "console", "carol"), Message("erased"), NOW)
        await uow.commit()
    async with uow_factory() as uow:
        first = {i.id: i for i in await uow.outbox.claim(NOW, 10, lease_seconds=60)}
        await uow.commit()
    async with uow_factory() as uow:  # the first sender stalled past its lease; a second one claims again
        second = {i.id: i for i in await uow.outbox.claim(NOW + timedelta(seconds=61), 10, lease_seconds=60)}
        await uow.outbox.erase_recipient(Actor("console", "console", "carol"))
        await uow.commit()
    assert second[kept].attempts == first[kept].attempts + 1
    async with uow_factory() as uow:
        stale = await uow.outbox.settle([
            OutboxResult(kept, first[kept].attempts, "sent", NOW, platform_ref="late"),
            OutboxResult(erased, first[erased].attempts, "sent", NOW, platform_ref="gone")])
        assert sorted(stale) == sorted([kept, erased])
        assert await uow.outbox.settle([
            OutboxResult(kept, second[kept].attempts, "sent", NOW + timedelta(seconds=62), platform_ref="C1:17.1"),
        ]) == []
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.outbox.settle([OutboxResult(kept, second[kept].attempts, "retry", NOW)]) == [kept]
        assert await uow.outbox.pending_count() == 0
        assert await uow.outbox.claim(NOW + timedelta(days=1), 10, 60) == []


async def test_released_items_are_due_at_once_and_their_attempt_is_not_counted(
        uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        item_id = await uow.outbox.enqueue(BOB, Message("later"), NOW)
        await uow.commit()
    async with uow_factory() as uow:
        [item] = await uow.outbox.claim(NOW, 10, lease_seconds=60)
        assert await uow.outbox.settle([OutboxResult(item_id, item.attempts, "released", NOW)]) == []
        await uow.commit()
    async with uow_factory() as uow:
        [again] = await uow.outbox.claim(NOW, 10, lease_seconds=60)  # no waiting for the lease
        assert again.attempts == 1


async def test_many_sends_finishing_together_are_recorded_in_a_few_writes(
        uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine) -> None:
    people = [Actor("console", "console", f"U{i:02d}") for i in range(40)]
    clock, messenger = FakeClock(NOW), FakeMessenger()
    deps = Deps(uow=uow_factory, settings=ProgramSettings(), clock=clock, messengers={"console": messenger})
    async with uow_factory() as uow:
        for person in people:
            await uow.outbox.enqueue(person, Message(f"Hi {person.user_id}"), NOW)
        await uow.commit()
    commits: list[int] = []

    def count(_connection: Any) -> None:
        commits.append(1)

    event.listen(engine.sync_engine, "commit", count)
    try:
        assert await OutboxSender(deps, OutboxPolicy(batch=40, concurrency=40)).drain_once() == 40
    finally:
        event.remove(engine.sync_engine, "commit", count)
    assert sorted(m.text for _, m in messenger.sent) == sorted(f"Hi {p.user_id}" for p in people)
    assert len(commits) <= 4, f"{len(commits)} commits for one claim and 40 results"
    async with uow_factory() as uow:
        assert await uow.outbox.pending_count() == 0
