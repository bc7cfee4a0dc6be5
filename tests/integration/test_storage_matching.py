"""Matching over SQL: pairs, previews, exclusions, objectives and HR records, on SQLite and on
PostgreSQL, including two admins confirming one preview at once."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from conversations.events import Actor
from conversations.model import Cohort, HrRecord, Objective, Pair, Person, Preview, Reason
from storage.unit_of_work import SqlUnitOfWorkFactory
from tests.integration.test_storage import cohort, person

NOW = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)


def actor(name: str) -> Actor:
    return Actor("slack", "T1", f"U_{name.upper()}")


def pair(spring: Cohort, mentor: Person, mentee: Person, at: datetime = NOW, **fields: object) -> Pair:
    made = Pair(id=str(uuid4()), cohort_id=spring.id, mentor_id=mentor.id, mentee_id=mentee.id, score=42,
                reasons=(Reason("topics", 30, "Both care about GenAI"), Reason("time zone", 12, "Same hours")),
                created_at=at)
    return replace(made, **fields)  # type: ignore[arg-type]


async def _setup(factory: SqlUnitOfWorkFactory, *names: str) -> tuple[Cohort, list[Person]]:
    spring = cohort()
    people = [person(actor(n), n, f"{n.lower()}@example.com") for n in names]
    async with factory() as uow:
        await uow.cohorts.add(spring)
        for p in people:
            await uow.people.add(p)
        await uow.commit()
    return spring, people


async def _count(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


# --- pairs ----------------------------------------------------------------------------------------

async def test_a_pair_round_trips_with_its_reasons(uow_factory: SqlUnitOfWorkFactory) -> None:
    spring, (alice, bob) = await _setup(uow_factory, "Alice", "Bob")
    made = pair(spring, alice, bob, forced=True)
    async with uow_factory() as uow:
        await uow.pairs.add(made)
        await uow.commit()
    async with uow_factory() as uow:
        found = await uow.pairs.get(made.id)
        assert found == made
        assert found is not None and found.created_at.utcoffset() == timedelta(0)
        assert await uow.pairs.get("nope") is None
        assert await uow.pairs.active_in(spring.id) == [made]
        assert await uow.pairs.active_of(alice.id) == [made]
        assert await uow.pairs.active_of(bob.id) == [made]


async def test_an_ended_pair_is_no_longer_active_but_is_remembered(uow_factory: SqlUnitOfWorkFactory) -> None:
    spring, (alice, bob, carol, dan) = await _setup(uow_factory, "Alice", "Bob", "Carol", "Dan")
    first = pair(spring, alice, bob)
    second = pair(spring, carol, dan, NOW + timedelta(minutes=1))
    async with uow_factory() as uow:
        await uow.pairs.add(first)
        await uow.pairs.add(second)
        await uow.commit()
    async with uow_factory() as uow:
        await uow.pairs.end(first.id, NOW + timedelta(weeks=2))
        with pytest.raises(LookupError):
            await uow.pairs.end("nope", NOW)
        await uow.commit()
    async with uow_factory() as uow:
        ended = await uow.pairs.get(first.id)
        assert ended == replace(first, state="ended", ended_at=NOW + timedelta(weeks=2))
        assert await uow.pairs.active_in(spring.id) == [second]
        assert await uow.pairs.active_of(alice.id) == []
        assert await uow.pairs.ever([alice.id, bob.id, carol.id, dan.id]) == [(alice.id, bob.id), (carol.id, dan.id)]
        assert await uow.pairs.ever([alice.id, bob.id, carol.id]) == [(alice.id, bob.id)]
        assert await uow.pairs.ever([alice.id, dan.id]) == []
        assert await uow.pairs.ever([]) == []
        # ended, the same two may be paired again
        again = pair(spring, alice, bob, NOW + timedelta(weeks=3))
        await uow.pairs.add(again)
        assert await uow.pairs.ever([alice.id, bob.id]) == [(alice.id, bob.id), (alice.id, bob.id)]


async def test_the_same_two_are_an_active_pair_at_most_once(uow_factory: SqlUnitOfWorkFactory) -> None:
    spring, (alice, bob) = await _setup(uow_factory, "Alice", "Bob")
    async with uow_factory() as uow:
        await uow.pairs.add(pair(spring, alice, bob))
        await uow.commit()
    async with uow_factory() as uow:
        with pytest.raises(IntegrityError):
            await uow.pairs.add(pair(spring, alice, bob))
    async with uow_factory() as uow:
        await uow.pairs.add(pair(spring, bob, alice))  # the other way round is another pair
        await uow.commit()


# --- previews -------------------------------------------------------------------------------------

def preview(spring: Cohort) -> Preview:
    return Preview(id=str(uuid4()), cohort_id=spring.id, created_at=NOW, fingerprint="f" * 64,
                   payload='{"pairs": [], "unmatched": []}', late=True)


async def test_a_preview_round_trips_and_is_used_once(uow_factory: SqlUnitOfWorkFactory) -> None:
    spring, _ = await _setup(uow_factory)
    made = preview(spring)
    async with uow_factory() as uow:
        await uow.previews.add(made)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.previews.get(made.id) == made
        assert await uow.previews.mark_used(made.id) is True
        assert await uow.previews.mark_used(made.id) is False
        assert await uow.previews.mark_used("nope") is False
        assert await uow.previews.get(made.id) == replace(made, used=True)
    async with uow_factory() as uow:  # not committed: still unused
        assert await uow.previews.get(made.id) == made
        assert await uow.previews.mark_used(made.id) is True
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.previews.mark_used(made.id) is False


async def test_two_admins_confirming_one_preview_at_once_get_one_true(
        uow_factory: SqlUnitOfWorkFactory, replica_uow_factory: SqlUnitOfWorkFactory) -> None:
    spring, _ = await _setup(uow_factory)
    made = preview(spring)
    async with uow_factory() as uow:
        await uow.previews.add(made)
        await uow.commit()

    barrier = asyncio.Barrier(2)

    async def confirm(factory: SqlUnitOfWorkFactory) -> bool:
        # Each confirmation is its own transaction on its own connection, as on two replicas.
        async with factory() as uow:
            await barrier.wait()
            seen = await uow.previews.get(made.id)
            assert seen is not None
            used = await uow.previews.mark_used(made.id)
            await asyncio.sleep(0.05)  # hold the transaction open while the other one tries
            await uow.commit()
            return used

    assert sorted(await asyncio.gather(confirm(uow_factory), confirm(replica_uow_factory))) == [False, True]
    async with uow_factory() as uow:
        found = await uow.previews.get(made.id)
        assert found is not None and found.used


# --- exclusions -----------------------------------------------------------------------------------

async def test_exclusions_are_stored_once_in_canonical_order(
        uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine) -> None:
    _, people = await _setup(uow_factory, "Alice", "Bob", "Carol")
    low, mid, high = sorted(p.id for p in people)
    async with uow_factory() as uow:
        assert await uow.exclusions.add(high, low, NOW) is True
        assert await uow.exclusions.add(low, high, NOW) is False
        assert await uow.exclusions.add(mid, low, NOW) is True
        with pytest.raises(ValueError):
            await uow.exclusions.add(low, low, NOW)
        await uow.commit()
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT a, b FROM exclusions"))).all()
    assert sorted(tuple(r) for r in rows) == [(low, mid), (low, high)]
    async with uow_factory() as uow:
        assert await uow.exclusions.add(low, high, NOW) is False
        assert await uow.exclusions.among([high, mid, low]) == [(low, mid), (low, high)]
        assert await uow.exclusions.among([high, mid]) == []
        assert await uow.exclusions.among([]) == []
        assert await uow.exclusions.remove(high, low) is True
        assert await uow.exclusions.remove(high, low) is False
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.exclusions.among([high, mid, low]) == [(low, mid)]


async def test_the_database_refuses_an_exclusion_out_of_order(uow_factory: SqlUnitOfWorkFactory,
                                                              engine: AsyncEngine) -> None:
    # Ids whose order differs between code points and a natural-language collation.
    people = [replace(person(actor(n), n, ""), id=pid) for n, pid in (("Alice", "a-2"), ("Bob", "A1"))]
    async with uow_factory() as uow:
        for p in people:
            await uow.people.add(p)
        assert await uow.exclusions.add("a-2", "A1", NOW) is True
        assert await uow.exclusions.among(["a-2", "A1"]) == [("A1", "a-2")]
        await uow.commit()
    low, high = "A1", "a-2"
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(
                text("INSERT INTO exclusions (a, b, created_at) VALUES (:a, :b, :at)"),
                {"a": high, "b": low, "at": NOW})


# --- objectives -----------------------------------------------------------------------------------

async def test_objectives_are_added_saved_and_replaced_in_order(uow_factory: SqlUnitOfWorkFactory) -> None:
    spring, (alice, bob) = await _setup(uow_factory, "Alice", "Bob")
    made = pair(spring, alice, bob)
    first = Objective(id=str(uuid4()), pair_id=made.id, text="Write a first prompt", proposed_by=bob.id)
    second = Objective(id=str(uuid4()), pair_id=made.id, text="Ship a small agent", proposed_by=alice.id)
    async with uow_factory() as uow:
        await uow.pairs.add(made)
        await uow.objectives.add(first)
        await uow.objectives.add(second)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.objectives.of_pair(made.id) == [first, second]
        assert await uow.objectives.of_pair("nope") == []
        await uow.objectives.save(replace(first, agreed=True, progress=3))
        with pytest.raises(LookupError):
            await uow.objectives.save(replace(first, id="nope"))
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.objectives.of_pair(made.id) == [replace(first, agreed=True, progress=3), second]
        proposal = [Objective(id=str(uuid4()), pair_id=made.id, text=f"Goal {n}", proposed_by=alice.id)
                    for n in range(5)]
        await uow.objectives.replace(made.id, [second, *proposal])  # an id kept across proposals is fine
        with pytest.raises(ValueError):
            await uow.objectives.replace(made.id, [replace(second, pair_id="other")])
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.objectives.of_pair(made.id) == [second, *proposal]


# --- erasure --------------------------------------------------------------------------------------

async def test_erasing_a_person_erases_their_pairs_objectives_and_exclusions(
        uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine) -> None:
    spring, (alice, bob, carol, dan) = await _setup(uow_factory, "Alice", "Bob", "Carol", "Dan")
    theirs = pair(spring, alice, bob)
    others = pair(spring, carol, dan)
    async with uow_factory() as uow:
        await uow.pairs.add(theirs)
        await uow.pairs.add(others)
        await uow.objectives.add(Objective(id="o1", pair_id=theirs.id, text="t", proposed_by=alice.id))
        await uow.objectives.add(Objective(id="o2", pair_id=others.id, text="t", proposed_by=dan.id))
        await uow.exclusions.add(alice.id, carol.id, NOW)
        await uow.exclusions.add(carol.id, dan.id, NOW)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.pairs.get(theirs.id) is not None  # loaded in this session before the erase
        await uow.people.erase(alice.id)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.pairs.get(theirs.id) is None
        assert await uow.pairs.active_of(bob.id) == []
        assert await uow.pairs.ever([alice.id, bob.id]) == []
        assert await uow.objectives.of_pair(theirs.id) == []
        assert [o.id for o in await uow.objectives.of_pair(others.id)] == ["o2"]
        assert await uow.exclusions.among([alice.id, bob.id, carol.id, dan.id]) == [
            tuple(sorted((carol.id, dan.id)))]
    assert (await _count(engine, "pairs"), await _count(engine, "objectives"), await _count(engine, "exclusions")) \
        == (1, 1, 1)


async def test_deleting_a_cohort_cascades_to_its_pairs_and_previews(
        uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine) -> None:
    spring, (alice, bob) = await _setup(uow_factory, "Alice", "Bob")
    made = pair(spring, alice, bob)
    async with uow_factory() as uow:
        await uow.pairs.add(made)
        await uow.objectives.add(Objective(id="o1", pair_id=made.id, text="t", proposed_by=alice.id))
        await uow.previews.add(preview(spring))
        await uow.commit()
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM cohorts WHERE id = :id"), {"id": spring.id})
    assert [await _count(engine, t) for t in ("pairs", "objectives", "previews")] == [0, 0, 0]


# --- HR records -----------------------------------------------------------------------------------

async def test_hr_records_are_replaced_whole_and_found_by_the_first_key(uow_factory: SqlUnitOfWorkFactory) -> None:
    alice = HrRecord(key="alice@example.com", level="L5", department="Finance", manager="Carol", location="Berlin")
    bob_by_id = HrRecord(key="slack:T1:U_BOB", level="L2", department="Data")
    bob_by_email = HrRecord(key="bob@example.com", level="L3", department="Data")
    async with uow_factory() as uow:
        await uow.hr.replace_all([alice, bob_by_id, bob_by_email], NOW)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.hr.find(["alice@example.com"]) == alice
        assert await uow.hr.find(["slack:T1:U_BOB", "bob@example.com"]) == bob_by_id
        assert await uow.hr.find(["bob@example.com", "slack:T1:U_BOB"]) == bob_by_email
        assert await uow.hr.find(["nobody@example.com", "slack:T1:U_BOB"]) == bob_by_id
        assert await uow.hr.find(["nobody@example.com"]) is None
        assert await uow.hr.find([]) is None
        # the next import is the whole truth; a repeated key keeps its last record
        await uow.hr.replace_all([replace(alice, level="L6"), bob_by_email, replace(bob_by_email, level="L4")],
                                 NOW + timedelta(days=1))
        assert await uow.hr.find(["slack:T1:U_BOB", "bob@example.com"]) == replace(bob_by_email, level="L4")
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.hr.find(["alice@example.com"]) == replace(alice, level="L6")
        assert await uow.hr.find(["slack:T1:U_BOB"]) is None
        await uow.hr.replace_all([], NOW)  # and then rolled back: the last import stays
    async with uow_factory() as uow:
        assert await uow.hr.find(["alice@example.com"]) == replace(alice, level="L6")
        await uow.hr.replace_all([], NOW)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.hr.find(["alice@example.com"]) is None


async def test_hr_records_for_a_whole_cohort_come_in_one_read(uow_factory: SqlUnitOfWorkFactory) -> None:
    records = [HrRecord(key=f"p{i}@example.com", level="L2", department=f"D{i}") for i in range(1200)]
    async with uow_factory() as uow:
        await uow.hr.replace_all(records, NOW)
        await uow.commit()
    async with uow_factory() as uow:
        found = await uow.hr.find_many([f"p{i}@example.com" for i in range(0, 1300, 2)] + ["nobody@example.com"])
    assert len(found) == 600  # more keys than SQLite takes in one statement, and the missing ones left out
    assert found["p1198@example.com"] == records[1198]
    assert await _empty_find(uow_factory) == {}


async def _empty_find(uow_factory: SqlUnitOfWorkFactory) -> dict[str, HrRecord]:
    async with uow_factory() as uow:
        return await uow.hr.find_many([])
