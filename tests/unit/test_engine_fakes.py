"""The in-memory storage the engine tests run on keeps the promises of conversations.ports."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from conversations.events import Actor
from conversations.messages import Message
from conversations.model import AuditEntry, Cohort, CohortState, HrRecord, Objective, Pair, Person, Preview, Reason
from conversations.ports import DeliveryError
from conversations.profiles import validate_profile
from tests.fakes.memory import (
    T0,
    TEST_SETTINGS,
    ConstraintViolation,
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


def pair(pid: str, mentor: str, mentee: str, cohort_id: str = "c1", minutes: int = 0) -> Pair:
    return Pair(id=pid, cohort_id=cohort_id, mentor_id=mentor, mentee_id=mentee, score=10,
                reasons=(Reason("topics", 10, "GenAI"),), created_at=T0 + timedelta(minutes=minutes))


CAROL = Actor("console", "console", "U-CAROL")
DAN = Actor("console", "console", "U-DAN")


async def _matching_store() -> MemoryUnitOfWorkFactory:
    store = MemoryUnitOfWorkFactory()
    async with store() as uow:
        for pid, who in (("p1", ALICE), ("p2", BOB), ("p3", CAROL), ("p4", DAN)):
            await uow.people.add(person(pid, who))
        await uow.cohorts.add(cohort("c1"))
        await uow.commit()
    return store


async def test_pairs_are_active_until_ended_and_remembered_after() -> None:
    store = await _matching_store()
    async with store() as uow:
        await uow.pairs.add(pair("x1", "p1", "p2"))
        await uow.pairs.add(pair("x2", "p3", "p4", minutes=1))
        with pytest.raises(ConstraintViolation):
            await uow.pairs.add(pair("x3", "p1", "p2"))  # already an active pair
        with pytest.raises(ConstraintViolation):
            await uow.pairs.add(pair("x4", "p1", "nobody"))
        assert [p.id for p in await uow.pairs.active_in("c1")] == ["x1", "x2"]
        assert [p.id for p in await uow.pairs.active_of("p2")] == ["x1"]
        await uow.pairs.end("x1", T0 + timedelta(weeks=1))
        with pytest.raises(LookupError):
            await uow.pairs.end("nope", T0)
        ended = await uow.pairs.get("x1")
        assert ended is not None and (ended.state, ended.ended_at) == ("ended", T0 + timedelta(weeks=1))
        assert [p.id for p in await uow.pairs.active_in("c1")] == ["x2"]
        assert await uow.pairs.active_of("p1") == []
        await uow.pairs.add(pair("x5", "p1", "p2", minutes=2))  # ended, they may be paired again
        assert await uow.pairs.ever(["p1", "p2", "p3", "p4"]) == [("p1", "p2"), ("p3", "p4"), ("p1", "p2")]
        assert await uow.pairs.ever(["p1", "p2", "p3"]) == [("p1", "p2"), ("p1", "p2")]
        assert await uow.pairs.ever([]) == []


async def test_a_preview_is_marked_used_once_even_by_two_at_once() -> None:
    store = await _matching_store()
    made = Preview(id="v1", cohort_id="c1", created_at=T0, fingerprint="f", payload="{}")
    async with store() as uow:
        await uow.previews.add(made)
        await uow.commit()

    async def confirm() -> bool:
        async with store() as uow:
            used = await uow.previews.mark_used("v1")
            await uow.commit()
            return used

    assert sorted(await asyncio.gather(confirm(), confirm())) == [False, True]
    async with store() as uow:
        assert await uow.previews.get("v1") == Preview(id="v1", cohort_id="c1", created_at=T0, fingerprint="f",
                                                       payload="{}", used=True)
        assert await uow.previews.mark_used("nope") is False


async def test_exclusions_are_kept_once_in_canonical_order() -> None:
    store = await _matching_store()
    async with store() as uow:
        assert await uow.exclusions.add("p3", "p1", T0) is True
        assert await uow.exclusions.add("p1", "p3", T0) is False
        assert await uow.exclusions.add("p2", "p1", T0) is True
        with pytest.raises(ValueError):
            await uow.exclusions.add("p1", "p1", T0)
        assert await uow.exclusions.among(["p3", "p2", "p1"]) == [("p1", "p2"), ("p1", "p3")]
        assert await uow.exclusions.among(["p2", "p3"]) == []
        assert await uow.exclusions.remove("p3", "p1") is True
        assert await uow.exclusions.remove("p3", "p1") is False
        await uow.commit()
    assert set(store.state.exclusions) == {("p1", "p2")}


async def test_objectives_are_added_saved_and_replaced_in_order() -> None:
    store = await _matching_store()
    first = Objective(id="o1", pair_id="x1", text="one", proposed_by="p2")
    second = Objective(id="o2", pair_id="x1", text="two", proposed_by="p1")
    async with store() as uow:
        await uow.pairs.add(pair("x1", "p1", "p2"))
        with pytest.raises(ConstraintViolation):
            await uow.objectives.add(Objective(id="o0", pair_id="nope", text="t", proposed_by="p1"))
        await uow.objectives.add(first)
        await uow.objectives.add(second)
        await uow.objectives.save(Objective(id="o1", pair_id="x1", text="one", proposed_by="p2", agreed=True,
                                            progress=2))
        with pytest.raises(LookupError):
            await uow.objectives.save(Objective(id="nope", pair_id="x1", text="t", proposed_by="p1"))
        assert [(o.id, o.agreed, o.progress) for o in await uow.objectives.of_pair("x1")] == [
            ("o1", True, 2), ("o2", False, 0)]
        third = Objective(id="o3", pair_id="x1", text="three", proposed_by="p1")
        await uow.objectives.replace("x1", [third, second])
        assert await uow.objectives.of_pair("x1") == [third, second]
        with pytest.raises(ValueError):
            await uow.objectives.replace("x1", [Objective(id="o4", pair_id="x2", text="t", proposed_by="p1")])


async def test_erasing_a_person_erases_their_pairs_objectives_and_exclusions() -> None:
    store = await _matching_store()
    async with store() as uow:
        await uow.pairs.add(pair("x1", "p1", "p2"))
        await uow.pairs.add(pair("x2", "p3", "p4"))
        await uow.objectives.add(Objective(id="o1", pair_id="x1", text="Alice's goal", proposed_by="p1"))
        await uow.objectives.add(Objective(id="o2", pair_id="x2", text="t", proposed_by="p3"))
        await uow.exclusions.add("p1", "p3", T0)
        await uow.exclusions.add("p3", "p4", T0)
        await uow.people.erase("p1")
        await uow.commit()
    assert set(store.state.pairs) == {"x2"}
    assert set(store.state.objectives) == {"o2"}
    assert set(store.state.exclusions) == {("p3", "p4")}
    assert "Alice's goal" not in store.state.dump()


async def test_hr_records_are_replaced_whole_and_found_by_the_first_key() -> None:
    store = MemoryUnitOfWorkFactory()
    alice = HrRecord(key="alice@example.com", level="L5")
    bob_id, bob_mail = HrRecord(key="console:console:U-BOB", level="L2"), HrRecord(key="bob@example.com", level="L3")
    async with store() as uow:
        await uow.hr.replace_all([alice, bob_id, bob_mail], T0)
        assert await uow.hr.find(["console:console:U-BOB", "bob@example.com"]) == bob_id
        assert await uow.hr.find(["nobody@example.com", "bob@example.com", "console:console:U-BOB"]) == bob_mail
        assert await uow.hr.find(["nobody@example.com"]) is None
        await uow.hr.replace_all([HrRecord(key="alice@example.com", level="L6"), bob_mail,
                                  HrRecord(key="bob@example.com", level="L4")], T0)
        assert await uow.hr.find(["alice@example.com"]) == HrRecord(key="alice@example.com", level="L6")
        assert await uow.hr.find(["bob@example.com"]) == HrRecord(key="bob@example.com", level="L4")
        assert await uow.hr.find(["console:console:U-BOB"]) is None


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
