"""Two bot processes on one database for a simulated month of a cohort: intros, check-ins, reminders, nudges and
a pause ending, with both replicas ticking at once and their claims made to collide. Every job runs once, every
message reaches the platform exactly once, and each replica does part of the work."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from conversations import checkins, nudges
from conversations.deps import Deps
from conversations.engine import Engine
from conversations.events import ActionTaken, Actor, Command, FormSubmitted, MessageRef
from conversations.jobs import run_due_jobs
from conversations.messages import Message
from conversations.model import Job, OutboxItem
from conversations.outbox import OutboxSender
from storage.db import create_engine
from storage.migrate import upgrade
from storage.models import JobRow, OutboxRow
from storage.unit_of_work import SqlUnitOfWork, SqlUnitOfWorkFactory
from tests.fakes.memory import TEST_SETTINGS, FakeClock, profile_values, text_of
from tests.fakes.messenger import FakeMessenger

T0 = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)  # a Monday, before New York's clock change
BOSS = Actor("console", "console", "boss")
# (mentor, mentee, time zones): Paris/New York across the March change, Kolkata's half hours, Auckland
PAIRS = (("bob", "alice", "Europe/Paris", "America/New_York"), ("ravi", "meera", "Asia/Kolkata", "Europe/Paris"),
         ("tama", "kiri", "Pacific/Auckland", "Asia/Kolkata"), ("lee", "sam", "America/New_York", "Europe/Paris"))
# how each pair answers its check-ins: met, the senior keeps rescheduling, never answers, or not yet
ANSWERS = ("yes", "rescheduled", None, "not_yet")


class Collide:
    """Holds each claim until the other replica reaches a claim too, or has finished its tick: their claims hit
    the database together, on the same due rows."""

    def __init__(self) -> None:
        self._changed = asyncio.Condition()
        self._active = self._waiting = self._generation = 0
        self.meetings = 0

    def start_tick(self, replicas: int) -> None:
        self._active, self._waiting = replicas, 0

    async def meet(self) -> None:
        async with self._changed:
            generation = self._generation
            self._waiting += 1
            if self._waiting >= self._active:
                self._release(together=self._active > 1)
                return
            await self._changed.wait_for(lambda: self._generation != generation)

    async def leave(self) -> None:
        async with self._changed:
            self._active -= 1
            if self._waiting and self._waiting >= self._active:
                self._release(together=False)

    def _release(self, *, together: bool) -> None:
        self.meetings += together
        self._generation += 1
        self._waiting = 0
        self._changed.notify_all()


class _CollidingJobs:
    def __init__(self, inner: Any, collide: Collide) -> None:
        self._inner, self._collide = inner, collide

    async def claim_due(self, now: datetime, limit: int) -> list[Job]:
        await self._collide.meet()
        jobs: list[Job] = await self._inner.claim_due(now, limit)
        return jobs

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _CollidingOutbox:
    def __init__(self, inner: Any, collide: Collide) -> None:
        self._inner, self._collide = inner, collide

    async def claim(self, now: datetime, limit: int, lease_seconds: float) -> list[OutboxItem]:
        await self._collide.meet()
        items: list[OutboxItem] = await self._inner.claim(now, limit, lease_seconds)
        return items

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class CollidingUnitOfWorkFactory:
    """A replica's real units of work, whose claims wait for the other replica's (the hook on the claims)."""

    def __init__(self, inner: SqlUnitOfWorkFactory, collide: Collide) -> None:
        self._inner, self._collide = inner, collide

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[SqlUnitOfWork]:
        async with self._inner() as uow:
            uow.jobs = _CollidingJobs(uow.jobs, self._collide)
            uow.outbox = _CollidingOutbox(uow.outbox, self._collide)
            yield uow


class ReplicaMessenger(FakeMessenger):
    """The platform as one replica reaches it; message refs name the replica, so each send is traceable."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    async def send(self, to: Sequence[Actor], message: Message) -> MessageRef:
        await asyncio.sleep(0)  # a platform call yields to the other replica
        await super().send(to, message)
        return MessageRef(f"{self.name}-{len(self.sent)}")


class Replica:
    """One bot process: its own engine (connections), units of work, engine, outbox sender and platform client."""

    def __init__(self, name: str, db: AsyncEngine, clock: FakeClock, collide: Collide) -> None:
        self.messenger = ReplicaMessenger(name)
        self.deps = Deps(uow=CollidingUnitOfWorkFactory(SqlUnitOfWorkFactory(db), collide), settings=TEST_SETTINGS,
                         clock=clock, messengers={"console": self.messenger})
        self.engine = Engine(self.deps)
        self.sender = OutboxSender(self.deps)
        self.jobs_run = 0
        self._collide = collide

    async def tick(self) -> None:
        """What the scheduler does each tick: due jobs, then the outbox."""
        try:
            self.jobs_run += await run_due_jobs(self.deps)
            await self.sender.drain()
        finally:
            await self._collide.leave()


async def _month_of_a_cohort(url: str) -> None:
    await upgrade(url)
    engines = [create_engine(url), create_engine(url)]
    try:
        await _run(engines)
    finally:
        for db in engines:
            await db.dispose()


async def _run(engines: list[AsyncEngine]) -> None:
    clock, collide = FakeClock(T0), Collide()
    a, b = Replica("a", engines[0], clock, collide), Replica("b", engines[1], clock, collide)
    replicas = (a, b)

    async def say(replica: Replica, actor: Actor, text: str) -> str:
        return text_of(await replica.engine.dispatch(Command.parse(actor, text)))

    async def tick_both() -> None:
        collide.start_tick(len(replicas))
        await asyncio.gather(*(r.tick() for r in replicas))

    # a weekly four-week cohort of four pairs, set up half through each replica
    assert "is open for sign-up" in await say(a, BOSS, "admin cohort open March --weeks 4 --cadence weekly")
    for i, (mentor, mentee, mentor_tz, mentee_tz) in enumerate(PAIRS):
        for user, role, level, tz, topics in ((mentor, "mentor", "L2", mentor_tz, {"topics_teach": ("GenAI",)}),
                                              (mentee, "mentee", "L9", mentee_tz,
                                               {"topics_teach": (), "topics_learn": ("GenAI",)})):
            values = profile_values(name=user.title(), role=role, level=level, department=f"D-{user}", time_zone=tz,
                                    **topics)
            reply = await replicas[i % 2].engine.dispatch(FormSubmitted(Actor("console", "console", user), "signup",
                                                                        values))
            assert not reply.errors, reply.errors
    assert "the cohort is running" in await say(b, BOSS, "admin cohort close-signup")
    for i, (mentor, mentee, _, _) in enumerate(PAIRS):
        paired = await say(replicas[i % 2], BOSS, f"admin pair console:{mentor} console:{mentee} --force")
        assert "Paired" in paired, paired

    answered: set[str] = set()
    paused = False
    end = T0 + timedelta(weeks=4, days=2)
    steps = 0
    while True:
        due = await _next_due(engines[0])
        if due is None or due > end:
            break
        clock.set(max(due, clock.now()))
        await tick_both()
        steps += 1
        # people answer the questions they got, through whichever replica their click reaches
        for replica in replicas:
            for recipients, message in list(replica.messenger.sent):
                for button in message.buttons:
                    checkin_id, _, answer = button.value.partition(":")
                    pair = next(i for i, p in enumerate(PAIRS) if recipients[0].user_id in p[:2])
                    if button.action != checkins.ANSWER or answer != ANSWERS[pair] or checkin_id in answered:
                        continue
                    answered.add(checkin_id)
                    await replicas[len(answered) % 2].engine.dispatch(
                        ActionTaken(recipients[0], checkins.ANSWER, button.value))
        if not paused and clock.now() >= T0 + timedelta(days=9):  # Sam takes a week off, then comes back
            await say(b, Actor("console", "console", "sam"), "pause 1")
            paused = True
    await tick_both()
    assert steps > 20, "a month of due work, step by step"

    sent = [(r.name, recipients, message) for r in (a.messenger, b.messenger) for recipients, message in r.sent]
    # exactly once: every outbox row was sent, by one send; every send is recorded by one row
    async with AsyncSession(engines[0]) as session:
        rows = list((await session.scalars(select(OutboxRow))).all())
        jobs = list((await session.scalars(select(JobRow))).all())
    assert {r.state for r in rows} == {"sent"}
    refs = Counter(r.platform_ref for r in rows)
    assert max(refs.values()) == 1
    assert set(refs) == {f"{name}-{n}" for name in ("a", "b")
                         for n in range(1, len((a if name == "a" else b).messenger.sent) + 1)}
    duplicates = Counter((recipients, message) for _, recipients, message in sent)
    assert [k for k, n in duplicates.items() if n > 1] == []
    # every job ran once: none failed, none ran twice (a second run would have counted a second attempt)
    done = [j for j in jobs if j.state == "done"]
    assert [j for j in jobs if j.state == "failed"] == []
    assert {j.attempts for j in done} == {1}
    assert {j.kind for j in done} >= {checkins.ROUND, checkins.SEND, checkins.REMIND, checkins.CLOSE,
                                      nudges.NUDGE_DUE, nudges.NUDGE_SEND, "pause.end"}
    # check-ins and reminders: one question per person per check-in, and at most one reminder
    questions = Counter((recipients, message.text.startswith("A gentle reminder"),
                         message.buttons[0].value.split(":")[0]) for _, recipients, message in sent
                        if message.buttons and message.buttons[0].action == checkins.ANSWER)
    assert questions and max(questions.values()) == 1
    assert any(reminder for (_, reminder, _) in questions)
    # nudges: each planned nudge that went out reached its person once
    async with a.deps.uow() as uow:
        cohort = await uow.cohorts.current("console", "console")
        assert cohort is not None
        planned = await uow.nudges.in_cohort(cohort.id)
        people = {p.id: p for p in await uow.people.in_workspace("console", "console")}
    went_out = [n for n in planned if n.sent_at is not None]
    assert len({n.trigger for n in went_out}) >= 4, sorted({n.trigger for n in went_out})
    per_person = Counter(people[n.person_id].actor for n in went_out)
    nudged = Counter(recipients[0] for _, recipients, message in sent if _is_nudge(message))
    assert nudged == per_person
    # both replicas did some of the work, with their claims colliding
    assert a.jobs_run > 0 and b.jobs_run > 0
    assert a.messenger.sent and b.messenger.sent
    assert collide.meetings > steps


def _is_nudge(message: Message) -> bool:
    titles = {entry.mentor.title.split("{")[0] for entry in _catalogue() if hasattr(entry, "mentor")} | {
        entry.mentee.title.split("{")[0] for entry in _catalogue()}
    return any(t and message.text.startswith(t) for t in titles)


def _catalogue() -> list[Any]:
    catalogue = TEST_SETTINGS.nudges
    return [getattr(catalogue, name) for name in type(catalogue).model_fields]


async def _next_due(db: AsyncEngine) -> datetime | None:
    """The next moment anything is due: a job, or a message waiting to be retried."""
    async with AsyncSession(db) as session:
        job = (await session.execute(select(func.min(col(JobRow.due_at))).where(col(JobRow.state) == "pending"))
               ).scalar()
        message = (await session.execute(select(func.min(col(OutboxRow.next_attempt_at))).where(
            col(OutboxRow.state) == "pending"))).scalar()
    found = [d for d in (job, message) if d is not None]
    return min(found) if found else None


@pytest.mark.postgres
async def test_two_replicas_on_postgres_do_a_month_of_work_exactly_once(postgres_url: str) -> None:
    await _month_of_a_cohort(postgres_url)


async def test_two_replicas_on_sqlite_do_a_month_of_work_exactly_once(tmp_path: Any) -> None:
    await _month_of_a_cohort(f"sqlite+aiosqlite:///{tmp_path / 'replicas.db'}")
