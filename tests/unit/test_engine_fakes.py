"""The in-memory storage the engine tests run on keeps the promises of conversations.ports."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from conversations.events import Actor
from conversations.messages import Message
from conversations.model import AuditEntry, Cohort, CohortState, Person
from conversations.ports import DeliveryError
from conversations.profiles import validate_profile
from tests.fakes.memory import (
    T0,
    TEST_SETTINGS,
    FakeClock,
    MemoryUnitOfWorkFactory,
    NestedTransaction,
    profile_values,
)
from tests.fakes.messenger import FakeMessenger

ALICE = Actor("console", "console", "U-ALICE")
BOB = Actor("console", "console", "U-BOB")


def person(pid: str, actor: Actor, email: str = "") -> Person:
    profile = validate_profile(profile_values(email=email), TEST_SETTINGS)
    assert not isinstance(profile, dict)
    return Person(id=pid, actor=actor, profile=profile, created_at=T0)


def cohort(cid: str, state: CohortState = "signup", name: str = "Spring") -> Cohort:
    return Cohort(id=cid, platform="console", workspace="console", name=name, state=state,
                  weeks=12, cadence="biweekly", created_at=T0)


async def test_writes_are_seen_by_others_only_after_commit() -> None:
    store = MemoryUnitOfWorkFactory()
    async with store() as uow:
        await uow.people.add(person("p1", ALICE))
        assert await uow.people.get("p1") is not None
        assert store.state.people == {}
        await uow.commit()
    async with store() as uow:
        assert await uow.people.get("p1") is not None


async def test_leaving_without_commit_or_rolling_back_discards_the_writes() -> None:
    store = MemoryUnitOfWorkFactory()
    async with store() as uow:
        await uow.people.add(person("p1", ALICE))
    async with store() as uow:
        await uow.people.add(person("p2", BOB))
        await uow.rollback()
        assert await uow.people.get("p2") is None  # a new transaction began
    with pytest.raises(RuntimeError):
        async with store() as uow:
            await uow.people.add(person("p3", BOB))
            raise RuntimeError("boom")
    assert store.state.people == {}
    assert store.commits == 0


async def test_units_of_work_run_one_at_a_time() -> None:
    store = MemoryUnitOfWorkFactory()
    order: list[str] = []

    async def writer(name: str) -> None:
        async with store() as uow:
            await uow.admins.add(Actor("console", "console", name), T0)
            order.append(f"{name} in")
            await asyncio.sleep(0)
            order.append(f"{name} out")
            await uow.commit()

    await asyncio.gather(writer("a"), writer("b"))
    assert order == ["a in", "a out", "b in", "b out"]
    assert len(store.state.admins) == 2


async def test_a_nested_transaction_in_one_task_is_refused_instead_of_deadlocking() -> None:
    store = MemoryUnitOfWorkFactory()
    async with store() as outer:
        await outer.people.get("x")
        with pytest.raises(NestedTransaction):
            async with store() as inner:
                await inner.people.get("x")


async def test_people_are_found_by_actor_and_email_within_their_workspace() -> None:
    store = MemoryUnitOfWorkFactory()
    async with store() as uow:
        await uow.people.add(person("p1", ALICE, email="Alice@Example.com"))
        assert (await uow.people.by_email("console", "console", "alice@example.COM")) is not None
        assert await uow.people.by_email("console", "other", "alice@example.com") is None
        assert await uow.people.by_email("console", "console", "") is None
        assert [p.id for p in await uow.people.in_workspace("console", "console")] == ["p1"]
        with pytest.raises(Exception, match="exists"):
            await uow.people.add(person("p2", ALICE))


async def test_erasing_a_person_removes_memberships_and_counts_the_leaver() -> None:
    store = MemoryUnitOfWorkFactory()
    async with store() as uow:
        await uow.people.add(person("p1", ALICE))
        await uow.people.add(person("p2", BOB))
        await uow.cohorts.add(cohort("c1"))
        assert await uow.cohorts.add_member("c1", "p1", T0) is True
        assert await uow.cohorts.add_member("c1", "p1", T0) is False
        await uow.cohorts.add_member("c1", "p2", T0)
        await uow.people.erase("p1")
        assert await uow.cohorts.members("c1") == ["p2"]
        assert await uow.cohorts.cohorts_of("p1") == []
        c1 = await uow.cohorts.get("c1")
        assert c1 is not None and c1.members_left == 1


async def test_current_is_the_cohort_in_signup_or_running() -> None:
    store = MemoryUnitOfWorkFactory()
    async with store() as uow:
        await uow.cohorts.add(cohort("old", state="ended", name="Old"))
        assert await uow.cohorts.current("console", "console") is None
        await uow.cohorts.add(cohort("new", state="running", name="New"))
        current = await uow.cohorts.current("console", "console")
        assert current is not None and current.id == "new"
        with pytest.raises(Exception, match="already open"):
            await uow.cohorts.add(cohort("another", name="Another"))
        assert (await uow.cohorts.by_name("console", "console", "Old")) is not None


async def test_jobs_are_claimed_only_when_pending_and_due_and_scheduled_once() -> None:
    store = MemoryUnitOfWorkFactory()
    async with store() as uow:
        await uow.jobs.schedule("pause.end", "p1", T0)
        await uow.jobs.schedule("pause.end", "p1", T0)
        await uow.jobs.schedule("pause.end", "p1", T0 + timedelta(days=1))
        assert len(await uow.jobs.pending_for("p1")) == 2
        [job] = await uow.jobs.claim_due(T0, 10)
        await uow.jobs.finish(job.id)
        assert await uow.jobs.claim_due(T0, 10) == []
        await uow.jobs.schedule("pause.end", "p1", T0)  # the done one no longer counts as a duplicate
        assert len(await uow.jobs.claim_due(T0, 10)) == 1
        [later] = await uow.jobs.claim_due(T0 + timedelta(days=1), 1)
        await uow.jobs.fail(later.id, "oops", T0 + timedelta(days=2))
        assert [j.due_at for j in await uow.jobs.pending_for("p1")][-1] == T0 + timedelta(days=2)
        await uow.jobs.fail(later.id, "oops", None)
        assert await uow.jobs.cancel("pause.end", "p1") == 1
        await uow.jobs.erase_subject("p1")
        assert await uow.jobs.pending_for("p1") == []


async def test_outbox_claims_lease_messages_and_count_attempts() -> None:
    store = MemoryUnitOfWorkFactory()
    async with store() as uow:
        first = await uow.outbox.enqueue(ALICE, Message("one"), T0)
        await uow.outbox.enqueue(BOB, Message("two"), T0 + timedelta(seconds=5))
        [item] = await uow.outbox.claim(T0, 10, lease_seconds=60)
        assert (item.id, item.attempts, Message.from_json(item.message_json).text) == (first, 1, "one")
        assert await uow.outbox.claim(T0 + timedelta(seconds=30), 10, 60) != []  # Bob's is due now
        assert await uow.outbox.claim(T0 + timedelta(seconds=59), 10, 60) == []  # both leased
        [again] = await uow.outbox.claim(T0 + timedelta(seconds=61), 10, 60)  # Alice's lease ran out
        assert (again.id, again.attempts) == (first, 2)
        await uow.outbox.mark_sent(first, "ref-1", T0)
        assert await uow.outbox.pending_count() == 1
        await uow.outbox.erase_recipient(BOB)
        assert await uow.outbox.pending_count() == 0


async def test_pseudonyms_are_stable_and_forgettable() -> None:
    store = MemoryUnitOfWorkFactory()
    async with store() as uow:
        name = await uow.audit.pseudonym(ALICE)
        assert await uow.audit.pseudonym(ALICE) == name != await uow.audit.pseudonym(BOB)
        await uow.audit.record(AuditEntry(at=T0, actor=name, action="leave", outcome="ok"))
        await uow.audit.forget(ALICE)
        assert await uow.audit.pseudonym(ALICE) != name
        [entry] = await uow.audit.recent(10)
        assert entry.actor == name and entry.id is not None


async def test_the_address_book_keeps_one_address_per_person() -> None:
    store = MemoryUnitOfWorkFactory()
    async with store() as uow:
        await uow.addresses.put(ALICE, "a", T0)
        await uow.addresses.put(ALICE, "b", T0)
        assert await uow.addresses.get(ALICE) == "b"
        await uow.addresses.erase(ALICE)
        assert await uow.addresses.get(ALICE) is None


async def test_erasing_what_speaks_of_a_person_drops_those_messages_sent_or_not() -> None:
    store = MemoryUnitOfWorkFactory()
    async with store() as uow:
        pending = await uow.outbox.enqueue(BOB, Message("Alice is unreachable"), T0, about="p1")
        sent = await uow.outbox.enqueue(BOB, Message("Alice paused"), T0, about="p1")
        await uow.outbox.mark_sent(sent, "ref", T0)
        other = await uow.outbox.enqueue(BOB, Message("Carol paused"), T0, about="p2")
        plain = await uow.outbox.enqueue(ALICE, Message("hello"), T0)
        await uow.commit()
    assert store.state.outbox[pending].about == "p1"
    async with store() as uow:
        await uow.outbox.erase_about("p1")
        await uow.commit()
    assert set(store.state.outbox) == {other, plain}
    assert "Alice paused" not in store.state.dump()


async def test_installations_are_saved_replaced_found_and_deleted() -> None:
    store = MemoryUnitOfWorkFactory()
    async with store() as uow:
        assert await uow.installations.find("slack", "T1") is None
        await uow.installations.save("slack", "T1", "one", T0)
        await uow.installations.save("slack", "T1", "two", T0 + timedelta(hours=1))
        await uow.installations.save("slack", "T2", "other", T0)
        assert await uow.installations.find("slack", "T1") == "two"
        assert await uow.installations.find("teams", "T1") is None
        assert await uow.installations.delete("slack", "T1") is True
        assert await uow.installations.delete("slack", "T1") is False
        assert await uow.installations.find("slack", "T1") is None
        assert await uow.installations.find("slack", "T2") == "other"


async def test_an_oauth_state_is_consumed_once_and_only_before_it_expires() -> None:
    store = MemoryUnitOfWorkFactory()
    async with store() as uow:
        await uow.oauth_states.issue("s1", T0 + timedelta(minutes=10))
        await uow.oauth_states.issue("old", T0 + timedelta(minutes=1))
        await uow.commit()
    async with store() as uow:
        assert await uow.oauth_states.consume("s1", T0) is True
        assert await uow.oauth_states.consume("s1", T0) is False
        assert await uow.oauth_states.consume("never", T0) is False
        assert await uow.oauth_states.consume("old", T0 + timedelta(minutes=1)) is False  # expired
        await uow.commit()
    assert store.state.oauth_states == {}  # the expired one was dropped when seen


async def test_an_event_is_claimed_once_until_released() -> None:
    store = MemoryUnitOfWorkFactory()
    async with store() as uow:
        assert await uow.events.claim("slack", "Ev1", T0) is True
        assert await uow.events.claim("slack", "Ev1", T0) is False
        assert await uow.events.claim("teams", "Ev1", T0) is True
        await uow.commit()

    async def claim() -> bool:
        async with store() as uow:
            claimed = await uow.events.claim("slack", "Ev2", T0)
            await uow.commit()
            return claimed

    assert sorted(await asyncio.gather(claim(), claim())) == [False, True]
    async with store() as uow:
        await uow.events.release("slack", "Ev1")
        assert await uow.events.claim("slack", "Ev1", T0) is True
    async with store() as uow:  # not committed: the release and the new claim are undone
        assert await uow.events.claim("slack", "Ev1", T0) is False


def test_the_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock(T0)
    assert clock.now() == T0
    assert clock.advance(days=1, hours=2) == T0 + timedelta(days=1, hours=2)
    with pytest.raises(ValueError):
        FakeClock(T0.replace(tzinfo=None))


async def test_the_fake_messenger_fails_on_request_then_delivers() -> None:
    messenger = FakeMessenger({"@alice": ALICE})
    messenger.fail_next(1, "gone", permanent=True)
    with pytest.raises(DeliveryError) as failure:
        await messenger.send([ALICE], Message("hi"))
    assert failure.value.permanent
    assert await messenger.send([ALICE, BOB], Message("hi")) == "msg-1"
    assert messenger.texts_to(BOB) == ["hi"]
    assert await messenger.find_user("console", "@alice") == ALICE
    assert await messenger.find_user("elsewhere", "@alice") is None
