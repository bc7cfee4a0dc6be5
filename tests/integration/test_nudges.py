"""Nudges through the real job runner, outbox and storage, on SQLite and Postgres: who gets what, when, once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from conversations import feedback, membership, nudges
from conversations.calendar import in_slot, local_day
from conversations.deps import Deps
from conversations.engine import Engine
from conversations.events import ActionTaken, Actor, Command, MessageRef
from conversations.jobs import run_due_jobs
from conversations.messages import Message
from conversations.model import CheckIn, CheckInAnswer, Cohort, Nudge, Pair, Person, Profile
from conversations.nudge_catalogue import TRIGGERS
from conversations.outbox import OutboxSender
from conversations.settings import Admins, ProgramSettings
from storage.models import JobRow, OutboxRow, ProcessedEventRow
from storage.unit_of_work import SqlUnitOfWorkFactory
from tests.fakes.memory import FakeClock
from tests.fakes.messenger import FakeMessenger

START = datetime(2027, 3, 1, 7, 0, tzinfo=UTC)  # a Monday: 08:00 in Paris, 02:00 in New York
BOB = Actor("console", "console", "bob")  # the junior: the mentor
ALICE = Actor("console", "console", "alice")  # the senior: the mentee
BOSS = Actor("console", "console", "boss")  # a program admin
SETTINGS = ProgramSettings(admins=Admins(console=("boss",)))


def _profile(name: str, role: str, zone: str) -> Profile:
    return Profile(name=name, role="mentor" if role == "mentor" else "mentee", level="L2", department=role,
                   time_zone=zone, working_days=("mon", "tue", "wed", "thu", "fri"), work_start="09:00",
                   work_end="17:00", topics_teach=("GenAI",), topics_learn=("GenAI",), languages=("English",))


@dataclass(frozen=True)
class Sent:
    at: datetime
    to: Actor
    message: Message


class ClockedMessenger(FakeMessenger):
    """Records when each message was delivered, by the fake clock."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock
        self.log: list[Sent] = []

    async def send(self, to: Sequence[Actor], message: Message) -> MessageRef:
        ref = await super().send(to, message)
        self.log.extend(Sent(self.clock.now(), actor, message) for actor in to)
        return ref

    def titles(self, actor: Actor) -> list[str]:
        return [s.message.text for s in self.log if s.to == actor]


@dataclass
class Rig:
    """One pair of a running 12-week cohort: Bob (mentor, Paris) and Alice (mentee, New York)."""

    deps: Deps
    clock: FakeClock
    platform: ClockedMessenger
    db: AsyncEngine
    cohort: Cohort
    pair: Pair
    mentor: Person
    mentee: Person
    checkins: dict[tuple[int, str], str] = field(default_factory=dict)

    @property
    def sender(self) -> OutboxSender:
        return OutboxSender(self.deps)

    async def run_until(self, end: datetime) -> None:
        """Move the clock from one due job to the next up to `end`, running jobs and delivering at each."""
        while True:
            async with self.db.connect() as conn:  # the next job, or the next message waiting for its slot
                jobs = (await conn.execute(select(func.min(col(JobRow.due_at))).where(col(JobRow.state) == "pending"))
                        ).scalar_one()
                mail = (await conn.execute(select(func.min(col(OutboxRow.next_attempt_at)))
                                           .where(col(OutboxRow.state) == "pending"))).scalar_one()
            due = min((d for d in (jobs, mail) if d is not None), default=None)
            if due is not None and due.tzinfo is None:
                due = due.replace(tzinfo=UTC)  # SQLite hands back naive UTC through Core
            if due is None or due > end:
                break
            self.clock.set(max(due, self.clock.now()))
            await run_due_jobs(self.deps)
            await self.sender.drain()
        self.clock.set(max(end, self.clock.now()))
        await run_due_jobs(self.deps)
        await self.sender.drain()

    def person(self, actor: Actor) -> Person:
        return self.mentor if actor == BOB else self.mentee

    async def fired(self) -> dict[str, list[str]]:
        """Each trigger's recipients, by name, as stored."""
        out: dict[str, list[str]] = {}
        async with self.deps.uow() as uow:
            for n in await uow.nudges.of_pair(self.pair.id):
                out.setdefault(n.trigger, []).append("bob" if n.person_id == self.mentor.id else "alice")
        return {k: sorted(v) for k, v in out.items()}

    async def open_round(self, number: int) -> None:
        """Round `number`'s check-in to each of the two, sent and waiting for an answer."""
        async with self.deps.uow() as uow:
            for person in (self.mentor, self.mentee):
                checkin_id = uuid.uuid4().hex
                now = self.clock.now()
                assert await uow.checkins.add(CheckIn(id=checkin_id, pair_id=self.pair.id, person_id=person.id,
                                                      round=number, due_at=now, state="sent", sent_at=now))
                self.checkins[(number, person.id)] = checkin_id
            await uow.commit()

    async def answer(self, number: int, who: Actor, answer: CheckInAnswer,
                     progress: tuple[tuple[str, int], ...] = ()) -> None:
        """What the check-in flow does on an answer: record it, then tell the nudges."""
        checkin_id = self.checkins[(number, self.person(who).id)]
        async with self.deps.uow() as uow:
            assert await uow.checkins.answer(checkin_id, answer, self.clock.now())
            checkin = await uow.checkins.get(checkin_id)
            assert checkin is not None
            checkin = replace(checkin, progress=progress)
            await uow.checkins.save(checkin)
            pair = await uow.pairs.get(self.pair.id)
            assert pair is not None
            await nudges.checkin_answered(uow, self.deps, pair, checkin)
            await uow.commit()

    async def close(self, number: int, who: Actor) -> None:
        """What the check-in flow does when a check-in closes unanswered."""
        checkin_id = self.checkins[(number, self.person(who).id)]
        async with self.deps.uow() as uow:
            checkin = await uow.checkins.get(checkin_id)
            assert checkin is not None
            checkin = replace(checkin, state="no_answer")
            await uow.checkins.save(checkin)
            pair = await uow.pairs.get(self.pair.id)
            assert pair is not None
            await nudges.checkin_closed(uow, self.deps, pair, checkin)
            await uow.commit()


async def _rig(uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine, *, settings: ProgramSettings = SETTINGS,
               weeks: int = 12, started: bool = True, now: datetime = START) -> Rig:
    clock = FakeClock(now)
    platform = ClockedMessenger(clock)
    deps = Deps(uow=uow_factory, settings=settings, clock=clock, messengers={"console": platform},
                feedback_key=b"k" * 32)
    mentor = Person(id=uuid.uuid4().hex, actor=BOB, profile=_profile("Bob Brown", "mentor", "Europe/Paris"))
    mentee = Person(id=uuid.uuid4().hex, actor=ALICE, profile=_profile("Alice Adams", "mentee", "America/New_York"))
    cohort = Cohort(id=uuid.uuid4().hex, platform="console", workspace="console", name="Spring 2027",
                    state="running" if started else "signup", weeks=weeks, cadence="biweekly", created_at=now,
                    started_at=now if started else None)
    pair = Pair(id=uuid.uuid4().hex, cohort_id=cohort.id, mentor_id=mentor.id, mentee_id=mentee.id, score=80,
                reasons=(), created_at=now)
    async with deps.uow() as uow:
        await uow.people.add(mentor)
        await uow.people.add(mentee)
        await uow.cohorts.add(cohort)
        await uow.cohorts.add_member(cohort.id, mentor.id, now)
        await uow.cohorts.add_member(cohort.id, mentee.id, now)
        await uow.pairs.add(pair)
        await nudges.pair_started(uow, deps, cohort, pair)  # as rhythm.start_pair does, in the same transaction
        await uow.commit()
    return Rig(deps, clock, platform, engine, cohort, pair, mentor, mentee)


def _local(rig: Rig, sent: Sent) -> str:
    return local_day(rig.person(sent.to).profile if sent.to != BOSS else rig.mentor.profile, sent.at)


async def test_the_time_based_nudges_reach_each_side_in_their_own_working_time_once(
        uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine) -> None:
    rig = await _rig(uow_factory, engine)
    await rig.run_until(START + timedelta(weeks=13))

    def timeline(actor: Actor) -> list[tuple[str, str]]:
        return [(_local(rig, s), s.message.text) for s in rig.platform.log if s.to == actor]

    assert timeline(BOB) == [
        ("2027-03-02", "Before you meet Alice Adams"),
        ("2027-04-12", "Halfway: tell Alice Adams one thing you see differently"),
        ("2027-04-15", "It has been a while since you and Alice Adams met"),  # nobody recorded a meeting
        ("2027-05-24", "'Spring 2027' is ending: thank you for mentoring"),
    ]
    assert timeline(ALICE) == [
        ("2027-03-02", "Before you meet Bob Brown"),
        ("2027-04-12", "Halfway: a question for Bob Brown"),
        ("2027-04-15", "It has been a while since you and Bob Brown met"),
        ("2027-04-26", "Tell Bob Brown one thing you changed"),  # the senior only
        ("2027-05-24", "'Spring 2027' is ending: time to reflect"),
    ]
    # each in the person's own working hours, across New York's and Paris's clock changes (14 and 28 March)
    for sent in rig.platform.log:
        if sent.to != BOSS:
            assert in_slot(rig.person(sent.to).profile, sent.at), (sent.at, sent.message.text)
    assert rig.platform.log[0].at == datetime(2027, 3, 2, 8, 0, tzinfo=UTC)  # 09:00 in Paris (CET)
    alice_mid = next(s for s in rig.platform.log if s.to == ALICE and s.message.text.startswith("Halfway"))
    assert alice_mid.at == datetime(2027, 4, 12, 13, 0, tzinfo=UTC)  # 09:00 in New York (EDT)
    first = next(s.message for s in rig.platform.log if s.to == BOB)
    assert "You set the agenda." in first.sections[1]
    assert "Meet on neutral ground" in first.sections[2]
    assert "Let Alice Adams set the agenda" not in " ".join(first.sections)  # the mentee's words are theirs
    assert "Let Bob Brown set the agenda." in next(s.message for s in rig.platform.log if s.to == ALICE).sections[1]
    # the admins hear once that the pair is inactive
    assert [s.message.text for s in rig.platform.log if s.to == BOSS] == ["Pair inactive: Bob Brown and Alice Adams"]
    assert "'Spring 2027'" in rig.platform.to(BOSS)[0].sections[0]

    # firing every trigger again, by hand or by its job, plans nothing more
    async with rig.deps.uow() as uow:
        for trigger in nudges.TIMED:
            assert await nudges.fire(uow, rig.deps, rig.pair, trigger) == 0
            await nudges.on_due(f"{rig.pair.id}:{trigger}", uow, rig.deps)
        await uow.commit()
    before = len(rig.platform.log)
    await rig.run_until(START + timedelta(weeks=20))
    assert len(rig.platform.log) == before
    async with rig.deps.uow() as uow:
        stored = await uow.nudges.of_pair(rig.pair.id)
    assert len(stored) == 9 and all(n.sent_at is not None for n in stored)
    assert len({(n.person_id, n.sent_day) for n in stored}) == 9  # never two on one person's day


async def test_a_second_nudge_on_the_same_day_waits_for_the_next_working_day(
        uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine) -> None:
    friday = datetime(2027, 3, 5, 15, 0, tzinfo=UTC)  # 10:00 in New York, 16:00 in Paris
    rig = await _rig(uow_factory, engine)
    await rig.run_until(friday)
    assert rig.platform.titles(ALICE) == ["Before you meet Bob Brown"]  # on Tuesday
    rig.platform.log.clear()
    async with rig.deps.uow() as uow:
        assert await nudges.fire(uow, rig.deps, rig.pair, nudges.MID_PROGRAM) == 2
        assert await nudges.fire(uow, rig.deps, rig.pair, nudges.TWO_THIRDS) == 1
        await uow.commit()
    await rig.run_until(friday + timedelta(hours=1))
    assert rig.platform.titles(ALICE) == ["Halfway: a question for Bob Brown"]
    assert rig.platform.titles(BOB) == ["Halfway: tell Alice Adams one thing you see differently"]
    await rig.run_until(datetime(2027, 3, 7, 23, 0, tzinfo=UTC))  # the weekend: nothing
    assert len(rig.platform.titles(ALICE)) == 1
    await rig.run_until(datetime(2027, 3, 8, 20, 0, tzinfo=UTC))
    (late,) = [s for s in rig.platform.log if s.message.text == "Tell Bob Brown one thing you changed"]
    assert late.at == datetime(2027, 3, 8, 14, 0, tzinfo=UTC)  # Monday 09:00 in New York (EST)
    async with rig.deps.uow() as uow:
        days = sorted((n.trigger, n.sent_day) for n in await uow.nudges.of_pair(rig.pair.id)
                      if n.person_id == rig.mentee.id)
    assert days == [("before_first_meeting", "2027-03-02"), ("mid_program", "2027-03-05"),
                    ("two_thirds", "2027-03-08")]


async def test_check_in_answers_fire_the_fit_check_reschedule_and_drift_nudges_once(
        uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine) -> None:
    rig = await _rig(uow_factory, engine)
    # round 1: Alice (the senior) reschedules, Bob says they haven't met yet
    await rig.open_round(1)
    await rig.answer(1, ALICE, "rescheduled")
    await rig.answer(1, BOB, "not_yet")
    assert await rig.fired() == {}
    # round 2: Bob reschedules too, which is not the senior; the round is open until Alice answers
    await rig.open_round(2)
    await rig.answer(2, BOB, "rescheduled")
    assert await rig.fired() == {}
    await rig.answer(2, ALICE, "rescheduled")
    assert await rig.fired() == {"senior_rescheduled": ["alice"], "no_meeting_twice": ["alice", "bob"]}
    # round 3: they meet, both say so: one fit check each, once
    await rig.open_round(3)
    await rig.answer(3, BOB, "yes", (("o1", 1),))
    await rig.answer(3, ALICE, "yes", (("o1", 1),))
    fired = await rig.fired()
    assert fired["after_first_meeting"] == ["alice", "bob"]
    # rounds 4 and 5: they meet, the objective stays where it was: no progress for two sessions
    await rig.open_round(4)
    await rig.answer(4, ALICE, "yes", (("o1", 1),))
    await rig.close(4, BOB)
    assert "no_progress" not in await rig.fired()
    await rig.open_round(5)
    await rig.answer(5, BOB, "yes", (("o1", 1),))
    assert (await rig.fired())["no_progress"] == ["alice", "bob"]
    # two more missed rounds: the drift nudge was given already, so nothing more
    for number in (6, 7):
        await rig.open_round(number)
        await rig.answer(number, ALICE, "rescheduled")
        await rig.close(number, BOB)
    fired = await rig.fired()
    assert all(len(who) == len(set(who)) for who in fired.values())
    assert sorted(fired) == ["after_first_meeting", "no_meeting_twice", "no_progress", "senior_rescheduled"]

    # delivered one a day each: Alice has four nudges, on four working days, the fit check with its buttons
    await rig.run_until(START + timedelta(days=8))
    alice = [s for s in rig.platform.log if s.to == ALICE]
    assert sorted(s.message.text for s in alice) == sorted([
        "Your sessions with Bob Brown keep moving", "A reset with Bob Brown?", "How is it going with Bob Brown?",
        "Your objectives with Bob Brown haven't moved"])
    assert len({_local(rig, s) for s in alice}) == 4
    fit = next(s.message for s in alice if s.message.text == "How is it going with Bob Brown?")
    assert [(b.label, b.action, b.value) for b in fit.buttons] == [
        ("Going well", nudges.FIT_GOOD, rig.pair.id), ("Not a fit: re-pair me", nudges.FIT_REPAIR, rig.pair.id)]
    assert "Bob Brown never sees your answer" in fit.sections[0]
    reset = next(s.message for s in alice if s.message.text == "A reset with Bob Brown?")
    assert "a 15-minute call just to reconnect, a new date in both calendars, or a pause" in reset.sections[1]
    assert "`pause`" in reset.sections[1]  # how to type it on the console


async def test_a_meeting_moves_the_inactivity_nudge_45_days_on(
        uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine) -> None:
    rig = await _rig(uow_factory, engine, weeks=16)
    await rig.run_until(START + timedelta(days=30))
    await rig.open_round(1)
    await rig.answer(1, BOB, "yes")  # day 30
    await rig.run_until(START + timedelta(days=74))
    assert "inactive_45_days" not in await rig.fired()
    assert rig.platform.titles(BOSS) == []
    await rig.run_until(START + timedelta(days=77))
    assert (await rig.fired())["inactive_45_days"] == ["alice", "bob"]
    assert rig.platform.titles(BOSS) == ["Pair inactive: Bob Brown and Alice Adams"]


async def test_switched_off_entries_never_fire(uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine) -> None:
    off = ProgramSettings.model_validate({
        "admins": {"console": ["boss"]},
        "nudges": {name: {"enabled": False} for name in TRIGGERS if name != "before_first_meeting"}})
    rig = await _rig(uow_factory, engine, settings=off)
    await rig.run_until(START + timedelta(days=3))
    await rig.open_round(1)
    await rig.answer(1, BOB, "yes")
    await rig.open_round(2)
    await rig.answer(2, ALICE, "rescheduled")
    await rig.close(2, BOB)
    await rig.run_until(START + timedelta(weeks=13))
    assert await rig.fired() == {"before_first_meeting": ["alice", "bob"]}
    assert rig.platform.titles(BOB) == ["Before you meet Alice Adams"]
    assert rig.platform.titles(BOSS) == []


async def test_paused_people_ended_pairs_and_ended_cohorts_get_nothing(
        uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine) -> None:
    rig = await _rig(uow_factory, engine)
    async with rig.deps.uow() as uow:  # Alice pauses before the first nudge is due
        await uow.people.save(rig.mentee.with_status("paused", START + timedelta(weeks=2)))
        await uow.commit()
    await rig.run_until(START + timedelta(days=3))
    assert await rig.fired() == {"before_first_meeting": ["bob"]}
    assert rig.platform.titles(ALICE) == []

    # a nudge planned while she was active is not sent once she is paused
    async with rig.deps.uow() as uow:
        await uow.people.save(rig.mentee)
        rig.clock.set(datetime(2027, 3, 5, 23, 0, tzinfo=UTC))  # Friday night: due Monday
        assert await nudges.fire(uow, rig.deps, rig.pair, nudges.MID_PROGRAM) == 2
        await uow.people.save(rig.mentee.with_status("paused", START + timedelta(weeks=3)))
        await uow.commit()
    await rig.run_until(datetime(2027, 3, 9, 0, 0, tzinfo=UTC))
    assert rig.platform.titles(ALICE) == []
    assert rig.platform.titles(BOB)[-1].startswith("Halfway")

    # the pair ends: the time-based nudges still planned find nothing to do
    async with rig.deps.uow() as uow:
        await uow.people.save(rig.mentee)
        await uow.pairs.end(rig.pair.id, rig.clock.now())
        await uow.commit()
    sent = len(rig.platform.log)
    await rig.run_until(START + timedelta(weeks=13))
    assert len(rig.platform.log) == sent
    assert "two_thirds" not in await rig.fired()


async def test_a_cohort_an_admin_ended_early_gets_no_more_nudges(
        uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine) -> None:
    rig = await _rig(uow_factory, engine)
    await rig.run_until(START + timedelta(days=3))
    async with rig.deps.uow() as uow:
        await uow.cohorts.save(replace(rig.cohort, state="ended", ended_at=rig.clock.now()))
        await uow.commit()
    await rig.run_until(START + timedelta(weeks=13))
    assert rig.platform.titles(BOB) == ["Before you meet Alice Adams"]
    assert await rig.fired() == {"before_first_meeting": ["alice", "bob"]}


async def test_a_pair_made_before_sign_up_closed_counts_its_midpoint_from_the_cohort_start(
        uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine) -> None:
    rig = await _rig(uow_factory, engine, started=False)
    async with rig.deps.uow() as uow:  # sign-up closes a week after the pair was made
        await uow.cohorts.save(replace(rig.cohort, state="running", started_at=START + timedelta(weeks=1)))
        await uow.commit()
    await rig.run_until(START + timedelta(weeks=6, days=3))
    assert "mid_program" not in await rig.fired()
    await rig.run_until(START + timedelta(weeks=7, days=1))
    assert (await rig.fired())["mid_program"] == ["alice", "bob"]
    await rig.run_until(START + timedelta(weeks=12, days=6))
    assert "cohort_end" not in await rig.fired()  # the cohort runs until the end of week 13
    await rig.run_until(START + timedelta(weeks=14))
    assert (await rig.fired())["cohort_end"] == ["alice", "bob"]


async def test_the_fit_check_buttons_going_well_and_a_blame_free_re_pair(
        uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine) -> None:
    rig = await _rig(uow_factory, engine)
    bot = Engine(rig.deps)
    good = await bot.dispatch(ActionTaken(BOB, nudges.FIT_GOOD, rig.pair.id))
    assert good.replace is not None and good.replace.text == "Glad to hear it. Enjoy the next one."

    asked = await bot.dispatch(ActionTaken(ALICE, nudges.FIT_REPAIR, rig.pair.id))
    assert asked.replace is not None
    assert asked.replace.text.startswith("Thank you for saying so. It is nobody's fault, and Bob Brown is not told")
    assert "Only the program admins see this" in asked.replace.sections[0]
    again = await bot.dispatch(ActionTaken(ALICE, nudges.FIT_REPAIR, rig.pair.id))
    assert again.replace is not None and again.replace.text == "You asked for a new partner already."
    stranger = await bot.dispatch(ActionTaken(Actor("console", "console", "eve"), nudges.FIT_REPAIR, rig.pair.id))
    assert stranger.messages[0].text == "This check is not about a pair of yours."

    await rig.sender.drain()
    async with rig.deps.uow() as uow:
        (request,) = await uow.help.of_person(rig.mentee.id)
        assert (request.pair_id, request.state) == (rig.pair.id, "open")
        assert "not a fit" in (await uow.help.messages(request.id))[0].text
        assert await uow.help.of_person(rig.mentor.id) == []
    assert len(rig.platform.to(BOSS)) == 1  # the admins get the request once
    assert request.id in " ".join([rig.platform.to(BOSS)[0].text, *rig.platform.to(BOSS)[0].sections,
                                   *(f.value for f in rig.platform.to(BOSS)[0].facts)])
    assert rig.platform.to(BOB) == []  # the partner never learns
    assert rig.platform.to(ALICE) == []  # her answer was the fit check itself, turned into the acknowledgement
    assert f"your request is {request.id}" in asked.replace.sections[1]
    (write,) = asked.replace.buttons
    assert (write.label, write.value) == ("Write to the admins", request.id)
    more = await bot.dispatch(ActionTaken(ALICE, write.action, write.value))
    assert more.form is not None  # she can tell the admins more, in the same confidential thread

    # Once she leaves, not even the guard against a double request holds her id.
    async with rig.deps.uow() as uow:
        await membership.erase_person(uow, ALICE, rig.mentee, now=rig.clock.now())
        await uow.commit()
    async with engine.connect() as connection:
        guards = (await connection.execute(select(col(ProcessedEventRow.event_id)))).scalars().all()
    assert any(g.startswith("re-pair:") for g in guards)
    assert not [g for g in guards if rig.mentee.id in g or rig.pair.id in g]


async def test_a_cohort_ended_early_by_an_admin_says_farewell_to_its_pairs_with_the_final_round(
        uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine) -> None:
    rig = await _rig(uow_factory, engine)
    async with rig.deps.uow() as uow:  # as closing sign-up does
        await feedback.schedule_rounds(uow, rig.deps, rig.cohort, START)
        await uow.commit()
    await rig.run_until(START + timedelta(weeks=3))
    ended = await Engine(rig.deps).dispatch(Command.parse(BOSS, "admin cohort end"))
    assert ended.messages[0].text == "Cohort 'Spring 2027' has ended."
    await rig.run_until(START + timedelta(weeks=4))
    assert (await rig.fired())["cohort_end"] == ["alice", "bob"]
    for actor in (BOB, ALICE):
        (farewell,) = [s.message for s in rig.platform.log if s.to == actor and "is ending" in s.message.text]
        assert farewell.buttons and farewell.buttons[0].action == feedback.START  # the end round opened at once
        assert not [t for t in rig.platform.titles(actor) if t == "The cohort 'Spring 2027' has ended."]
    late = [(s.to.user_id, s.message.text, s.at) for s in rig.platform.log
            if s.to != BOSS and not in_slot(rig.person(s.to).profile, s.at)]
    assert late == []
    await rig.run_until(START + timedelta(weeks=13))
    assert len([s for s in rig.platform.log if s.to == BOB and "is ending" in s.message.text]) == 1


async def test_the_farewell_links_to_the_final_feedback_round_while_it_is_open(
        uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine) -> None:
    rig = await _rig(uow_factory, engine, weeks=2)
    await rig.run_until(START + timedelta(weeks=1, days=6))
    async with rig.deps.uow() as uow:
        final = await feedback.open_round(uow, rig.deps, rig.cohort, "end")
        assert final is not None
        await uow.commit()
    await rig.run_until(START + timedelta(weeks=2, days=1))
    (farewell,) = [s.message for s in rig.platform.log if s.to == BOB and "is ending" in s.message.text]
    assert farewell.text == "'Spring 2027' is ending: thank you for mentoring"
    assert "final feedback round is anonymous" in farewell.sections[-1]
    (button,) = farewell.buttons
    assert (button.label, button.action, button.value) == ("Give anonymous feedback", feedback.START, final.id)
    opened = await Engine(rig.deps).dispatch(ActionTaken(BOB, button.action, button.value))
    assert opened.form is not None and opened.form.id == feedback.FEEDBACK_FORM


async def test_a_pair_made_after_the_cohort_s_end_gets_no_nudges(
        uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine) -> None:
    rig = await _rig(uow_factory, engine, weeks=1, now=START)
    late = Pair(id=uuid.uuid4().hex, cohort_id=rig.cohort.id, mentor_id=rig.mentor.id, mentee_id=rig.mentee.id,
                score=60, reasons=(), created_at=START + timedelta(weeks=1, days=1))
    async with rig.deps.uow() as uow:
        await uow.pairs.end(rig.pair.id, START)
        await uow.pairs.add(late)
        await nudges.pair_started(uow, rig.deps, rig.cohort, late)
        assert await uow.jobs.pending_for(f"{late.id}:{nudges.COHORT_END}") == []
        await uow.commit()
    await rig.run_until(START + timedelta(weeks=4))
    assert rig.platform.log == []


async def test_the_database_keeps_once_per_trigger_and_one_a_day_even_across_two_processes(
        uow_factory: SqlUnitOfWorkFactory, replica_uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine) -> None:
    rig = await _rig(uow_factory, engine)
    person = rig.mentee.id
    async with uow_factory() as uow:
        first = await uow.nudges.add(Nudge(0, rig.pair.id, person, nudges.MID_PROGRAM, START))
        assert first is not None
        assert await uow.nudges.add(Nudge(0, rig.pair.id, person, nudges.MID_PROGRAM, START)) is None
        second = await uow.nudges.add(Nudge(0, rig.pair.id, person, nudges.TWO_THIRDS, START))
        third = await uow.nudges.add(Nudge(0, rig.pair.id, person, nudges.COHORT_END, START))
        assert second is not None and third is not None
        await uow.commit()

    # two processes mark two nudges of one person sent on the same local day at the same moment
    async with uow_factory() as one:
        assert await one.nudges.mark_sent(first, START, "2027-03-01")

        async def other_process() -> bool:
            async with replica_uow_factory() as two:
                marked = await two.nudges.mark_sent(second, START, "2027-03-01")
                await two.commit()
                return marked

        racing = asyncio.create_task(other_process())
        await asyncio.sleep(0.2)  # the other is waiting on this transaction (a row lock, or SQLite's one writer)
        await one.commit()
    try:
        lost = await racing
    except IntegrityError:
        lost = False  # Postgres: the unique index uq_nudges_one_a_day refused it; the job is retried later
    assert lost is False
    async with uow_factory() as uow:
        assert await uow.nudges.mark_sent(third, START, "2027-03-02")
        await uow.commit()
        stored = {n.id: n.sent_day for n in await uow.nudges.of_pair(rig.pair.id)}
    assert stored == {first: "2027-03-01", second: None, third: "2027-03-02"}
