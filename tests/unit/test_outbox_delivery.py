"""The outbox's delivery guarantee: a send never outlives its lease, rate limits never lose a message."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

from conversations.events import Actor, MessageRef
from conversations.messages import Message
from conversations.model import OutboxResult
from conversations.outbox import OutboxPolicy, OutboxSender
from tests.fakes.memory import T0, FakeClock, World
from tests.fakes.messenger import FakeMessenger

PEOPLE = [Actor("console", "console", f"U{i}") for i in range(5)]


class SlowMessenger(FakeMessenger):
    """Every send takes `seconds` of the fake clock, like a platform that answers slowly."""

    def __init__(self, clock: FakeClock, seconds: float) -> None:
        super().__init__()
        self.clock, self.seconds = clock, seconds

    async def send(self, to: Sequence[Actor], message: Message) -> MessageRef:
        self.clock.advance(seconds=self.seconds)
        return await super().send(to, message)


class HangingMessenger(FakeMessenger):
    """Never answers the first `hangs` sends, like a request whose answer is lost."""

    def __init__(self, hangs: int) -> None:
        super().__init__()
        self.hangs = hangs

    async def send(self, to: Sequence[Actor], message: Message) -> MessageRef:
        if self.hangs:
            self.hangs -= 1
            self.attempts += 1
            await asyncio.Event().wait()
        return await super().send(to, message)


async def _enqueue(w: World, *people: Actor) -> None:
    async with w.store() as uow:
        for person in people:
            await uow.outbox.enqueue(person, Message(f"Hello {person.user_id}"), w.clock.now())
        await uow.commit()


def test_the_send_deadline_leaves_room_in_the_lease() -> None:
    assert OutboxPolicy().send_deadline == 20
    assert OutboxPolicy().start_window == timedelta(seconds=20)
    short = OutboxPolicy(lease_seconds=9, send_timeout_seconds=20)
    assert short.send_deadline == 3  # never more than a third of the lease
    assert short.start_window == timedelta(seconds=3)


async def test_items_claimed_too_late_to_start_are_released_unsent_and_their_attempt_not_counted() -> None:
    w = World()
    slow = SlowMessenger(w.clock, seconds=15)
    w.deps.messengers["console"] = slow  # type: ignore[index]
    await _enqueue(w, *PEOPLE)
    sender = OutboxSender(w.deps, OutboxPolicy(lease_seconds=60, send_timeout_seconds=20, concurrency=1, batch=5))
    assert await sender.drain_once() == 5
    # starts at 0 s and 15 s fit in the 20 s start window; at 30 s a send could end past the lease's safe part
    assert [m.text for _, m in slow.sent] == ["Hello U0", "Hello U1"]
    rows = sorted(w.state.outbox.values(), key=lambda r: r.id)
    assert [(r.state, r.attempts, r.lease_until) for r in rows] == [
        ("sent", 1, None), ("sent", 1, None), ("pending", 0, None), ("pending", 0, None), ("pending", 0, None)]
    assert all(r.next_attempt_at <= w.clock.now() for r in rows[2:]), "released items are due again at once"
    while await sender.drain_once():
        pass
    assert sorted(m.text for _, m in slow.sent) == [f"Hello {p.user_id}" for p in PEOPLE]  # each once


async def test_a_send_that_gets_no_answer_is_cut_off_at_the_deadline_and_retried() -> None:
    w = World()
    hanging = HangingMessenger(hangs=1)
    w.deps.messengers["console"] = hanging  # type: ignore[index]
    await _enqueue(w, PEOPLE[0])
    sender = OutboxSender(w.deps, OutboxPolicy(lease_seconds=0.15))  # a deadline of 50 ms
    await sender.drain()
    [row] = w.state.outbox.values()
    assert (row.state, row.attempts, row.last_error, row.lease_until) == (
        "pending", 1, "no answer within 0.05 s", None)
    w.clock.advance(seconds=2)
    await sender.drain()
    [row] = w.state.outbox.values()
    assert (row.state, row.attempts) == ("sent", 2)
    assert hanging.texts_to(PEOPLE[0]) == ["Hello U0"]


async def test_a_rate_limit_waits_exactly_retry_after_and_never_makes_the_outbox_give_up() -> None:
    w = World()
    await _enqueue(w, PEOPLE[0])
    w.console.fail_next(20, "ratelimited", retry_after=5)  # far more than max_attempts
    for _ in range(20):
        await w.deliver()
        [row] = w.state.outbox.values()
        assert row.state == "pending"
        assert row.next_attempt_at == w.clock.now() + timedelta(seconds=5), "no growing backoff on top"
        w.clock.advance(seconds=5)
    await w.deliver()
    [row] = w.state.outbox.values()
    assert (row.state, row.attempts) == ("sent", 21)
    assert w.console.texts_to(PEOPLE[0]) == ["Hello U0"]


async def test_a_result_for_a_claim_that_has_passed_to_another_sender_is_not_recorded() -> None:
    w = World()
    await _enqueue(w, PEOPLE[0])
    async with w.store() as uow:
        [first] = await uow.outbox.claim(T0, 10, lease_seconds=60)
        [second] = await uow.outbox.claim(T0 + timedelta(seconds=61), 10, lease_seconds=60)  # the lease ran out
        assert await uow.outbox.settle([OutboxResult(second.id, second.attempts, "sent", T0, "ref-2")]) == []
        assert await uow.outbox.settle([OutboxResult(first.id, first.attempts, "sent", T0, "ref-1")]) == [first.id]
        assert await uow.outbox.settle([OutboxResult(first.id, first.attempts, "retry", T0, error="late")]) == [
            first.id]
        await uow.commit()
    [row] = w.state.outbox.values()
    assert (row.state, row.platform_ref, row.last_error) == ("sent", "ref-2", "")
