"""Delivering through the outbox, and the engine's manners when something breaks inside."""

from __future__ import annotations

from datetime import timedelta

from conversations.events import Actor
from conversations.messages import Message
from conversations.outbox import OutboxPolicy, OutboxSender
from tests.fakes.memory import T0, MemoryState, World, profile_values, text_of

ALICE = Actor("console", "console", "U-ALICE")
BOB = Actor("console", "console", "U-BOB")
BOSS = Actor("console", "console", "boss")
SLACKER = Actor("slack", "T1", "U-SLACK")


async def world_with_an_invitation_to_alice() -> World:
    w = World()
    await w.sign_up(ALICE)
    await w.say(BOSS, "admin cohort open Spring")
    assert len(w.state.outbox) == 1
    return w


def alices_row(w: World) -> tuple[str, int]:
    [row] = [r for r in w.state.outbox.values() if r.to == ALICE]
    return row.state, row.attempts


async def test_a_queued_message_is_delivered_once() -> None:
    w = await world_with_an_invitation_to_alice()
    assert await w.deliver() == 1
    assert w.console.texts_to(ALICE) == ["A new reverse-mentoring cohort is open: Spring"]
    [row] = w.state.outbox.values()
    assert (row.state, row.attempts, row.platform_ref, row.sent_at) == ("sent", 1, "msg-1", T0)
    assert await w.deliver() == 0
    assert len(w.console.sent) == 1


async def test_a_transient_failure_is_retried_with_growing_backoff() -> None:
    w = await world_with_an_invitation_to_alice()
    w.console.fail_next(3, "rate limited")
    await w.deliver()
    [row] = w.state.outbox.values()
    assert (row.state, row.attempts, row.next_attempt_at, row.last_error) == (
        "pending", 1, T0 + timedelta(seconds=2), "rate limited")
    w.clock.advance(seconds=1)
    assert await w.deliver() == 0  # not due yet
    w.clock.advance(seconds=1)
    await w.deliver()
    [row] = w.state.outbox.values()
    assert row.next_attempt_at == T0 + timedelta(seconds=2 + 4)
    w.clock.advance(seconds=4)
    await w.deliver()
    [row] = w.state.outbox.values()
    assert row.next_attempt_at == T0 + timedelta(seconds=2 + 4 + 8)
    w.clock.advance(seconds=8)
    await w.deliver()
    [row] = w.state.outbox.values()
    assert (row.state, row.attempts) == ("sent", 4)
    assert w.console.attempts == 4
    assert w.console.texts_to(ALICE) == ["A new reverse-mentoring cohort is open: Spring"]
    w.clock.advance(hours=1)
    await w.deliver()
    assert len(w.console.sent) == 1


async def test_retry_after_is_honoured() -> None:
    w = await world_with_an_invitation_to_alice()
    w.console.fail_next(1, "slow down", retry_after=30)
    await w.deliver()
    [row] = w.state.outbox.values()
    assert row.next_attempt_at == T0 + timedelta(seconds=30)
    w.clock.advance(seconds=29)
    await w.deliver()
    assert w.console.sent == []
    w.clock.advance(seconds=1)
    await w.deliver()
    assert w.console.texts_to(ALICE) == ["A new reverse-mentoring cohort is open: Spring"]


async def test_a_retry_after_is_waited_as_given_but_at_least_a_second() -> None:
    w = await world_with_an_invitation_to_alice()
    w.console.fail_next(1, "slow down", retry_after=0.5)
    await w.deliver()
    [row] = w.state.outbox.values()
    assert row.next_attempt_at == T0 + timedelta(seconds=1)


async def test_a_message_is_dead_after_the_last_attempt_and_the_person_stays_reachable() -> None:
    w = await world_with_an_invitation_to_alice()
    w.console.fail_next(8, "server error")
    for _ in range(8):
        await w.deliver()
        w.clock.advance(minutes=20)
    assert alices_row(w) == ("dead", 8)
    assert w.console.attempts == 8
    assert w.console.sent == []
    person = w.person(ALICE)
    assert person is not None and person.status == "active"
    w.clock.advance(days=1)
    assert await w.deliver() == 0


async def test_the_backoff_is_capped() -> None:
    w = await world_with_an_invitation_to_alice()
    sender = OutboxSender(w.deps, OutboxPolicy(max_backoff_seconds=5))
    w.console.fail_next(5)
    for _ in range(4):
        await sender.drain()
        w.clock.advance(seconds=5)
    [row] = w.state.outbox.values()
    assert row.next_attempt_at == w.clock.now()


async def test_a_permanent_failure_marks_the_person_unreachable_and_tells_the_admins_once() -> None:
    w = await world_with_an_invitation_to_alice()
    async with w.store() as uow:  # a second message to Alice, sent in the same batch
        await uow.outbox.enqueue(ALICE, Message("Hello again"), T0)
        await uow.commit()
    w.console.fail_next(2, "account_inactive", permanent=True)
    await w.deliver()
    assert [r.state for r in w.state.outbox.values() if r.to == ALICE] == ["dead", "dead"]
    person = w.person(ALICE)
    assert person is not None and person.status == "unreachable"
    assert w.console.texts_to(BOSS) == ["I can no longer reach Alice Liddell."]
    assert "The platform said: account_inactive." in w.console.to(BOSS)[0].sections[0]


async def test_an_unreachable_person_is_not_invited_to_the_next_cohort() -> None:
    w = await world_with_an_invitation_to_alice()
    w.console.fail_next(1, "account_inactive", permanent=True)
    await w.deliver()
    await w.say(BOSS, "admin cohort end")
    reply = await w.say(BOSS, "admin cohort open Summer")
    assert "Invited 0 people" in text_of(reply)
    assert [m.text for m in w.store.outbox_to(ALICE)] == ["A new reverse-mentoring cohort is open: Spring"]


async def test_a_message_for_a_platform_that_is_not_configured_is_retried_not_lost() -> None:
    w = World()
    async with w.store() as uow:
        await uow.outbox.enqueue(Actor("teams", "tenant", "U1"), Message("Hello"), T0)
        await uow.commit()
    await w.deliver()
    [row] = w.state.outbox.values()
    assert (row.state, row.last_error) == ("pending", "no teams platform configured")


async def test_an_adapter_bug_while_sending_is_retried_later() -> None:
    w = await world_with_an_invitation_to_alice()
    w.console.fail_next_with(KeyError("oops"))
    await w.deliver()
    [row] = w.state.outbox.values()
    assert (row.state, row.last_error) == ("pending", "KeyError")


async def test_messages_go_through_each_persons_platform() -> None:
    w = World()
    await w.sign_up(SLACKER)
    await w.say(SLACKER, "pause 1")
    w.clock.advance(weeks=1)
    await w.run_jobs()
    await w.deliver()
    assert w.slack.texts_to(SLACKER) == ["Your pause is over. Welcome back!"]
    assert "`/mentor pause 2`" in w.slack.to(SLACKER)[0].sections[0]
    assert w.console.sent == []


async def test_a_stopped_sender_sends_nothing_more() -> None:
    w = await world_with_an_invitation_to_alice()
    await w.sender.stop()
    assert await w.deliver() == 0
    assert alices_row(w) == ("pending", 0)


# the engine when something breaks inside

async def test_an_error_inside_a_flow_becomes_a_kind_reply() -> None:
    w = World()
    w.store.fail_with = ConnectionError("database is down")
    for words in ("join", "status", "admin cohort list", "leave"):
        reply = await w.say(ALICE, words)
        assert reply.messages[0].text == "Sorry, something went wrong on my side and nothing was changed."
        assert "if it keeps happening, tell a program admin" in text_of(reply)
    reply = await w.submit(ALICE, profile_values())
    assert reply.messages[0].text == "Sorry, something went wrong on my side and nothing was changed."
    assert w.state.dump() == MemoryState().dump()


async def test_an_error_halfway_through_a_flow_leaves_nothing_behind() -> None:
    w = World()
    await w.sign_up(ALICE)
    before = w.state.dump()
    w.store.fail_commit_with = OSError("disk full")
    reply = await w.say(BOSS, "admin cohort open Spring")
    assert reply.messages[0].text == "Sorry, something went wrong on my side and nothing was changed."
    assert w.state.dump() == before
    w.store.fail_commit_with = None
    assert "Invited 1 person" in text_of(await w.say(BOSS, "admin cohort open Spring"))
