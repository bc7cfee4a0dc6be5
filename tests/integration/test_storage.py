"""The SQL repositories behind the engine's ports, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from sqlalchemy.exc import IntegrityError

from conversations.events import Actor
from conversations.messages import Button, Message
from conversations.model import AuditEntry, Cohort, CohortState, Person, Profile
from storage.db import create_engine, normalize_url, ping, redact
from storage.unit_of_work import SqlUnitOfWorkFactory

NOW = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)
ALICE = Actor("slack", "T1", "U_ALICE")
BOB = Actor("slack", "T1", "U_BOB")


def profile(name: str = "Alice", email: str = "alice@example.com") -> Profile:
    return Profile(
        name=name,
        role="mentor",
        level="senior",
        department="Finance",
        time_zone="Europe/Berlin",
        working_days=("mon", "tue", "thu"),
        work_start="08:30",
        work_end="16:00",
        topics_teach=("budgets", "negotiation"),
        topics_learn=("prompting",),
        languages=("de", "en"),
        goals="Understand what my team builds",
        manager="Carol",
        email=email,
    )


def person(actor: Actor = ALICE, name: str = "Alice", email: str = "alice@example.com") -> Person:
    return Person(id=str(uuid4()), actor=actor, profile=profile(name, email), created_at=NOW)


def cohort(name: str = "Spring", state: CohortState = "signup", workspace: str = "T1") -> Cohort:
    return Cohort(id=str(uuid4()), platform="slack", workspace=workspace, name=name, state=state,
                  weeks=12, cadence="biweekly", created_at=NOW, signup_until=date(2026, 5, 15))


def assert_utc(moment: datetime | None) -> None:
    assert moment is not None
    assert moment.utcoffset() == timedelta(0)


# --- people and cohorts ---------------------------------------------------------------------------

async def test_a_person_round_trips_with_their_whole_profile(uow_factory: SqlUnitOfWorkFactory) -> None:
    alice = person()
    async with uow_factory() as uow:
        await uow.people.add(alice)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.people.get(alice.id) == alice
        assert await uow.people.by_actor(ALICE) == alice
        assert await uow.people.by_actor(BOB) is None
        assert await uow.people.by_email("slack", "T1", "ALICE@example.com") == alice
        assert await uow.people.by_email("slack", "T2", "alice@example.com") is None
        assert await uow.people.in_workspace("slack", "T1") == [alice]


async def test_saving_a_person_writes_profile_and_status(uow_factory: SqlUnitOfWorkFactory) -> None:
    alice = person()
    async with uow_factory() as uow:
        await uow.people.add(alice)
        await uow.commit()
    paused = replace(alice.with_status("paused", paused_until=NOW + timedelta(days=14)),
                     profile=profile(name="Alice B."))
    async with uow_factory() as uow:
        await uow.people.save(paused)
        await uow.commit()

    async with uow_factory() as uow:
        found = await uow.people.get(alice.id)
    assert found == paused
    assert found is not None
    assert_utc(found.paused_until)
    assert_utc(found.created_at)


async def test_leaving_without_commit_writes_nothing(uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await uow.people.add(person())
    async with uow_factory() as uow:
        assert await uow.people.by_actor(ALICE) is None


async def test_erasing_a_person_removes_identity_and_memberships_and_counts_the_leaver(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    alice, bob, spring = person(), person(BOB, "Bob", "bob@example.com"), cohort()
    async with uow_factory() as uow:
        await uow.people.add(alice)
        await uow.people.add(bob)
        await uow.cohorts.add(spring)
        assert await uow.cohorts.add_member(spring.id, alice.id, NOW)
        assert await uow.cohorts.add_member(spring.id, bob.id, NOW + timedelta(minutes=1))
        await uow.commit()

    async with uow_factory() as uow:
        assert (await uow.cohorts.get(spring.id)) is not None  # loaded before the erase, in this session
        await uow.people.erase(alice.id)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.people.get(alice.id) is None
        assert await uow.people.by_actor(ALICE) is None
        assert await uow.cohorts.members(spring.id) == [bob.id]
        assert await uow.cohorts.cohorts_of(alice.id) == []
        after = await uow.cohorts.get(spring.id)
        assert after is not None and after.members_left == 1
        assert await uow.people.in_workspace("slack", "T1") == [bob]
        # the identity is free again: the same platform user can sign up afresh
        await uow.people.add(person())
        await uow.commit()


async def test_joining_a_cohort_twice_is_reported_not_raised(uow_factory: SqlUnitOfWorkFactory) -> None:
    alice, spring = person(), cohort()
    async with uow_factory() as uow:
        await uow.people.add(alice)
        await uow.cohorts.add(spring)
        assert await uow.cohorts.add_member(spring.id, alice.id, NOW) is True
        assert await uow.cohorts.add_member(spring.id, alice.id, NOW) is False
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.cohorts.members(spring.id) == [alice.id]
        assert [c.id for c in await uow.cohorts.cohorts_of(alice.id)] == [spring.id]


async def test_the_database_allows_one_open_cohort_per_workspace(uow_factory: SqlUnitOfWorkFactory) -> None:
    spring = cohort("Spring")
    async with uow_factory() as uow:
        await uow.cohorts.add(spring)
        await uow.cohorts.add(cohort("Elsewhere", workspace="T2"))
        await uow.commit()

    async with uow_factory() as uow:
        with pytest.raises(IntegrityError):
            await uow.cohorts.add(cohort("Summer", state="running"))

    ended = replace(spring, state="ended", ended_at=NOW + timedelta(weeks=12))
    async with uow_factory() as uow:
        await uow.cohorts.save(ended)
        await uow.cohorts.add(replace(cohort("Summer"), created_at=NOW + timedelta(weeks=13)))
        await uow.commit()

    async with uow_factory() as uow:
        current = await uow.cohorts.current("slack", "T1")
        assert current is not None and current.name == "Summer"
        assert await uow.cohorts.by_name("slack", "T1", "Spring") == ended
        assert [c.name for c in await uow.cohorts.all("slack", "T1")] == ["Spring", "Summer"]
        assert_utc((await uow.cohorts.get(spring.id) or ended).ended_at)


async def test_two_cohorts_in_one_workspace_cannot_share_a_name(uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await uow.cohorts.add(cohort("Spring", state="ended"))
        await uow.commit()
    async with uow_factory() as uow:
        with pytest.raises(IntegrityError):
            await uow.cohorts.add(cohort("Spring", state="ended"))


# --- admins, addresses, audit ---------------------------------------------------------------------

async def test_admins_are_added_once_listed_and_removed(uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        assert await uow.admins.add(ALICE, NOW) is True
        assert await uow.admins.add(ALICE, NOW) is False
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.admins.is_admin(ALICE)
        assert not await uow.admins.is_admin(BOB)
        assert await uow.admins.in_workspace("slack", "T1") == [ALICE]
        assert await uow.admins.remove(ALICE) is True
        assert await uow.admins.remove(ALICE) is False
        await uow.commit()
    async with uow_factory() as uow:
        assert not await uow.admins.is_admin(ALICE)


async def test_an_address_is_stored_replaced_and_erased(uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await uow.addresses.put(ALICE, '{"channel": "D1"}', NOW)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.addresses.get(ALICE) == '{"channel": "D1"}'
        await uow.addresses.put(ALICE, '{"channel": "D2"}', NOW + timedelta(hours=1))
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.addresses.get(ALICE) == '{"channel": "D2"}'
        await uow.addresses.erase(ALICE)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.addresses.get(ALICE) is None


async def test_a_pseudonym_is_stable_until_forgotten(uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        first = await uow.audit.pseudonym(ALICE)
        assert await uow.audit.pseudonym(ALICE) == first
        other = await uow.audit.pseudonym(BOB)
        await uow.audit.record(AuditEntry(at=NOW, actor=first, action="admin.cohort.open", outcome="ok",
                                          target=other, detail="Spring"))
        await uow.commit()

    assert len(first) == 16 and int(first, 16) >= 0
    assert first != other
    async with uow_factory() as uow:
        assert await uow.audit.pseudonym(ALICE) == first
        await uow.audit.forget(ALICE)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.audit.pseudonym(ALICE) != first
        [entry] = await uow.audit.recent(10)
    assert (entry.actor, entry.target, entry.action, entry.outcome) == (first, other, "admin.cohort.open", "ok")
    assert_utc(entry.at)


async def test_concurrent_first_pseudonyms_agree(uow_factory: SqlUnitOfWorkFactory,
                                                 replica_uow_factory: SqlUnitOfWorkFactory) -> None:
    async def name_alice(factory: SqlUnitOfWorkFactory) -> str:
        async with factory() as uow:
            token = await uow.audit.pseudonym(ALICE)
            await uow.commit()
            return token

    first, second = await asyncio.gather(name_alice(uow_factory), name_alice(replica_uow_factory))
    assert first == second


async def test_recent_audit_entries_come_newest_first(uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        for minutes in (0, 2, 1):
            await uow.audit.record(AuditEntry(at=NOW + timedelta(minutes=minutes), actor="p", action=f"a{minutes}",
                                              outcome="ok"))
        await uow.commit()
    async with uow_factory() as uow:
        assert [e.action for e in await uow.audit.recent(2)] == ["a2", "a1"]


# --- jobs -----------------------------------------------------------------------------------------

async def test_scheduling_the_same_job_twice_keeps_one(uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await uow.jobs.schedule("pause.end", "p1", NOW)
        await uow.jobs.schedule("pause.end", "p1", NOW)
        await uow.jobs.schedule("pause.end", "p1", NOW + timedelta(days=1))
        await uow.commit()
    async with uow_factory() as uow:
        jobs = await uow.jobs.pending_for("p1")
    assert [j.due_at for j in jobs] == [NOW, NOW + timedelta(days=1)]
    for job in jobs:
        assert_utc(job.due_at)


async def test_only_due_jobs_are_claimed_in_due_order(uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await uow.jobs.schedule("b", "s", NOW - timedelta(minutes=1))
        await uow.jobs.schedule("a", "s", NOW - timedelta(minutes=5))
        await uow.jobs.schedule("later", "s", NOW + timedelta(seconds=1))
        await uow.commit()
    async with uow_factory() as uow:
        assert [j.kind for j in await uow.jobs.claim_due(NOW, 10)] == ["a", "b"]
        assert [j.kind for j in await uow.jobs.claim_due(NOW, 1)] == ["a"]


async def test_finished_failed_and_cancelled_jobs_are_no_longer_due(uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        for kind in ("done", "retry", "give-up"):
            await uow.jobs.schedule(kind, "s", NOW)
        await uow.jobs.schedule("cancel", "s", NOW)
        await uow.jobs.schedule("cancel", "s", NOW + timedelta(hours=1))
        await uow.jobs.schedule("other", "t", NOW)
        await uow.commit()
    async with uow_factory() as uow:
        jobs = {j.kind: j for j in await uow.jobs.claim_due(NOW, 10)}
        await uow.jobs.finish(jobs["done"].id)
        await uow.jobs.fail(jobs["retry"].id, "timeout", NOW + timedelta(minutes=5))
        await uow.jobs.fail(jobs["give-up"].id, "bug", None)
        assert await uow.jobs.cancel("cancel", "s") == 2
        await uow.commit()
    async with uow_factory() as uow:
        assert [j.kind for j in await uow.jobs.claim_due(NOW, 10)] == ["other"]
        due_later = await uow.jobs.claim_due(NOW + timedelta(minutes=5), 10)
        assert [(j.kind, j.attempts) for j in due_later] == [("other", 0), ("retry", 1)]
        await uow.jobs.erase_subject("s")
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.jobs.pending_for("s") == []
        assert [j.kind for j in await uow.jobs.pending_for("t")] == ["other"]


async def test_two_concurrent_claims_never_take_the_same_job(uow_factory: SqlUnitOfWorkFactory,
                                                             replica_uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        for n in range(6):
            await uow.jobs.schedule("checkin", f"pair-{n}", NOW - timedelta(minutes=n))
        await uow.commit()

    barrier = asyncio.Barrier(2)

    async def tick(factory: SqlUnitOfWorkFactory) -> list[int]:
        # Each tick is its own transaction on its own connection, as on two replicas.
        async with factory() as uow:
            await barrier.wait()
            claimed = await uow.jobs.claim_due(NOW, 4)
            await asyncio.sleep(0.05)  # hold the claim while the other replica tries
            for job in claimed:
                await uow.jobs.finish(job.id)
            await uow.commit()
            return [job.id for job in claimed]

    first, second = await asyncio.gather(tick(uow_factory), tick(replica_uow_factory))
    assert not set(first) & set(second)
    assert len(first) + len(second) == 6
    async with uow_factory() as uow:
        assert await uow.jobs.claim_due(NOW, 10) == []


# --- outbox ---------------------------------------------------------------------------------------

HELLO = Message("Meet Bob", sections=("He works in Data.",), buttons=(Button("We met", "checkin.met", "c1"),))


async def test_the_outbox_leases_sends_and_retries(uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        hello = await uow.outbox.enqueue(ALICE, HELLO, NOW)
        later = await uow.outbox.enqueue(BOB, HELLO, NOW + timedelta(minutes=10))
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.outbox.pending_count() == 2
        [item] = await uow.outbox.claim(NOW, 10, lease_seconds=60)
        await uow.commit()
    assert (item.id, item.to, item.attempts, item.state) == (hello, ALICE, 1, "pending")
    assert item.id != later
    assert Message.from_json(item.message_json) == HELLO

    async with uow_factory() as uow:
        assert await uow.outbox.claim(NOW + timedelta(seconds=30), 10, 60) == []  # still leased
        [again] = await uow.outbox.claim(NOW + timedelta(seconds=61), 10, 60)  # the lease ran out
        assert again.attempts == 2
        await uow.outbox.retry_later(again.id, "rate limited", NOW + timedelta(minutes=20))
        await uow.commit()

    async with uow_factory() as uow:
        at_15 = await uow.outbox.claim(NOW + timedelta(minutes=15), 10, 60)
        assert [i.to for i in at_15] == [BOB]  # ALICE waits for her retry time
        await uow.outbox.mark_dead(at_15[0].id, "user gone")
        [retried] = await uow.outbox.claim(NOW + timedelta(minutes=20), 10, 60)
        assert retried.id == hello and retried.attempts == 3
        await uow.outbox.mark_sent(retried.id, "C1:1714.1", NOW + timedelta(minutes=20))
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.outbox.pending_count() == 0
        assert await uow.outbox.claim(NOW + timedelta(days=1), 10, 60) == []


async def test_concurrent_outbox_claims_never_share_a_message(uow_factory: SqlUnitOfWorkFactory,
                                                              replica_uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        for _ in range(6):
            await uow.outbox.enqueue(ALICE, HELLO, NOW)
        await uow.commit()

    barrier = asyncio.Barrier(2)

    async def sender(factory: SqlUnitOfWorkFactory) -> list[int]:
        async with factory() as uow:
            await barrier.wait()
            items = await uow.outbox.claim(NOW, 4, lease_seconds=30)
            await uow.commit()
            return [i.id for i in items]

    first, second = await asyncio.gather(sender(uow_factory), sender(replica_uow_factory))
    assert not set(first) & set(second)
    assert len(first) + len(second) == 6


async def test_erasing_a_recipient_drops_every_message_to_them(uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await uow.outbox.enqueue(ALICE, HELLO, NOW)
        sent = await uow.outbox.enqueue(ALICE, HELLO, NOW)
        await uow.outbox.mark_sent(sent, "ref", NOW)
        await uow.outbox.enqueue(BOB, HELLO, NOW)
        await uow.commit()
    async with uow_factory() as uow:
        await uow.outbox.erase_recipient(ALICE)
        await uow.commit()
    async with uow_factory() as uow:
        assert [i.to for i in await uow.outbox.claim(NOW, 10, 60)] == [BOB]
        assert await uow.outbox.pending_count() == 1


async def test_erasing_what_speaks_of_a_person_drops_those_messages_sent_or_not(
    uow_factory: SqlUnitOfWorkFactory,
) -> None:
    about_alice = Message("Alice can no longer be reached")
    async with uow_factory() as uow:
        await uow.outbox.enqueue(BOB, about_alice, NOW, about="alice-id")
        sent = await uow.outbox.enqueue(BOB, about_alice, NOW, about="alice-id")
        await uow.outbox.mark_sent(sent, "ref", NOW)
        dead = await uow.outbox.enqueue(BOB, about_alice, NOW, about="alice-id")
        await uow.outbox.mark_dead(dead, "gone")
        about_carol = await uow.outbox.enqueue(BOB, HELLO, NOW, about="carol-id")
        plain = await uow.outbox.enqueue(ALICE, HELLO, NOW)
        await uow.commit()
    async with uow_factory() as uow:
        await uow.outbox.erase_about("alice-id")
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.outbox.pending_count() == 2
        assert sorted(i.id for i in await uow.outbox.claim(NOW, 10, 60)) == [about_carol, plain]


# --- engine and URLs ------------------------------------------------------------------------------

async def test_naive_datetimes_are_refused(uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        with pytest.raises(Exception, match="naive datetime"):
            await uow.jobs.schedule("k", "s", datetime(2026, 5, 4, 9, 30))


async def test_a_sqlite_file_gets_its_folder_wal_journal_and_foreign_keys(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'new' / 'folder' / 'bot.db'}")
    try:
        await ping(engine)
        async with engine.connect() as connection:
            assert (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
            assert (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
            assert (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 10_000
    finally:
        await engine.dispose()
    assert (tmp_path / "new" / "folder" / "bot.db").exists()


async def test_ping_raises_when_the_database_does_not_answer() -> None:
    engine = create_engine("postgresql://nobody@127.0.0.1:1/none")
    try:
        with pytest.raises(OSError):
            await ping(engine)
    finally:
        await engine.dispose()


def test_urls_are_pointed_at_async_drivers_and_passwords_hidden() -> None:
    assert normalize_url("postgres://u:p@h/db") == "postgresql+asyncpg://u:p@h/db"
    assert normalize_url("postgresql://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert normalize_url("postgresql+asyncpg://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert normalize_url("sqlite:///data/bot.db") == "sqlite+aiosqlite:///data/bot.db"
    assert normalize_url("sqlite+aiosqlite:///x.db") == "sqlite+aiosqlite:///x.db"
    assert "s3cret" not in redact("postgresql://u:s3cret@h/db")
    assert "s3cret" not in redact("not a url://u:s3cret@h")


async def test_a_group_message_reaches_everyone_and_goes_when_any_of_them_leaves(
        uow_factory: SqlUnitOfWorkFactory) -> None:
    dana = Actor("slack", "T1", "UDANA")
    eve = Actor("slack", "T1", "UEVE")
    async with uow_factory() as uow:
        await uow.outbox.enqueue(dana, HELLO, NOW, also=(eve,))
        await uow.outbox.enqueue(dana, HELLO, NOW)
        await uow.commit()
    async with uow_factory() as uow:
        items = await uow.outbox.claim(NOW, 10, lease_seconds=30)
        assert sorted(len(i.also) for i in items) == [0, 1]
        assert next(i for i in items if i.also).also == (eve,)
        await uow.outbox.erase_recipient(eve)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.outbox.pending_count() == 1  # only dana's own message is left
