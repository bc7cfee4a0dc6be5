"""Check-ins through the real engine and storage, on SQLite and PostgreSQL: rounds in each person's slot on the
cadence, one reminder, closing as "no answer", nothing for paused people or ended pairs, restart after downtime,
answers recorded once, `admin checkins now` never sending twice, and the confidential help path."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from conversations.deps import Deps
from conversations.engine import Engine
from conversations.events import ActionTaken, Actor, Command, FormSubmitted, FormValue
from conversations.jobs import run_due_jobs
from conversations.messages import Message, Reply
from conversations.model import CheckIn
from conversations.outbox import OutboxSender
from storage.models import JobRow
from storage.unit_of_work import SqlUnitOfWorkFactory
from tests.fakes.memory import TEST_SETTINGS, FakeClock, profile_values, text_of
from tests.fakes.messenger import FakeMessenger

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)  # a Monday
BOSS = Actor("console", "console", "boss")  # an admin from the settings
BOB = Actor("console", "console", "bob")  # mentor, Paris
ALICE = Actor("console", "console", "alice")  # mentee, New York
PARIS, NEW_YORK = ZoneInfo("Europe/Paris"), ZoneInfo("America/New_York")


class Rig:
    """The engine on a real database, a fake clock, and a console messenger that records what it sends."""

    def __init__(self, uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine, start: datetime = T0) -> None:
        self.clock = FakeClock(start)
        self.messenger = FakeMessenger()
        self.deps = Deps(uow=uow_factory, settings=TEST_SETTINGS, clock=self.clock,
                         messengers={"console": self.messenger})
        self.engine = Engine(self.deps)
        self.sender = OutboxSender(self.deps)
        self._db = engine

    async def say(self, actor: Actor, text: str) -> str:
        return text_of(await self.engine.dispatch(Command.parse(actor, text)))

    async def click(self, actor: Actor, action: str, value: str) -> Reply:
        return await self.engine.dispatch(ActionTaken(actor, action, value))

    async def submit(self, actor: Actor, form: str, values: Mapping[str, FormValue], context: str = "") -> Reply:
        return await self.engine.dispatch(FormSubmitted(actor, form, values, context=context))

    async def tick(self) -> None:
        await run_due_jobs(self.deps)
        await self.sender.drain()

    async def run_until(self, until: datetime) -> None:
        """Move the clock to each due job in turn, as the scheduler would, up to `until`."""
        while True:
            async with AsyncSession(self._db) as session:
                due = (await session.execute(
                    select(func.min(col(JobRow.due_at))).where(col(JobRow.state) == "pending"))).scalar()
            if due is None or due > until:
                break
            self.clock.set(max(due, self.clock.now()))
            await self.tick()
        self.clock.set(max(until, self.clock.now()))
        await self.tick()

    def questions(self, actor: Actor) -> list[Message]:
        return [m for m in self.messenger.to(actor) if "Did you meet" in m.text or "did you meet" in m.text]

    async def checkins(self) -> list[CheckIn]:
        """Every check-in of the cohort (one pair per test), ended pairs included."""
        async with self.deps.uow() as uow:
            cohort = await uow.cohorts.current("console", "console")
            assert cohort is not None
            return await uow.checkins.in_cohort(cohort.id)

    async def person_id(self, actor: Actor) -> str:
        async with self.deps.uow() as uow:
            person = await uow.people.by_actor(actor)
        assert person is not None
        return person.id


async def _pair_up(rig: Rig, *, weeks: int = 6, cadence: str = "biweekly", mentor_tz: str = "Europe/Paris",
                   mentee_tz: str = "America/New_York", force: bool = False) -> None:
    """A running cohort with Bob (mentor) and Alice (mentee) paired by hand at T0."""
    assert "is open for sign-up" in await rig.say(BOSS, f"admin cohort open Spring --weeks {weeks} "
                                                        f"--cadence {cadence}")
    for actor, name, role, level, dept, tz, topics in (
            (BOB, "Bob Brown", "mentor", "L2", "Engineering", mentor_tz, {"topics_teach": ("GenAI",)}),
            (ALICE, "Alice Adams", "mentee", "L9", "Leadership", mentee_tz,
             {"topics_teach": (), "topics_learn": ("GenAI",)})):
        reply = await rig.submit(actor, "signup", profile_values(name=name, role=role, level=level, department=dept,
                                                                 time_zone=tz, **topics))
        assert not reply.errors, reply.errors
    assert "the cohort is running" in await rig.say(BOSS, "admin cohort close-signup")
    paired = await rig.say(BOSS, "admin pair console:bob console:alice" + (" --force" if force else ""))
    assert "Paired Bob Brown (mentor) with Alice Adams" in paired, paired
    await rig.sender.drain()
    rig.messenger.sent.clear()  # intros and welcomes are other tests' business


def _answer_value(message: Message, label: str) -> str:
    (button,) = [b for b in message.buttons if b.label == label]
    assert button.action == "checkin.answer"
    return button.value


async def test_rounds_come_in_each_persons_slot_with_one_reminder_after_two_working_days_then_no_answer(
        uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine) -> None:
    start = datetime(2027, 2, 22, 9, 0, tzinfo=UTC)  # a Monday: round 1 before New York's clock change, 2 after
    rig = Rig(uow_factory, engine, start)
    await _pair_up(rig)
    bob_id, alice_id = await rig.person_id(BOB), await rig.person_id(ALICE)
    assert "Next check-in: Tue 9 Mar, 10:00 your time" in await rig.say(BOB, "status")
    await rig.run_until(datetime(2027, 3, 9, 9, 0, tzinfo=UTC))  # Tuesday 10:00 in Paris
    assert len(rig.questions(BOB)) == 1
    await rig.run_until(datetime(2027, 3, 11, 8, 59, tzinfo=UTC))
    assert len(rig.questions(BOB)) == 1  # no reminder before two working days
    await rig.run_until(datetime(2027, 3, 11, 9, 0, tzinfo=UTC))
    assert rig.questions(BOB)[-1].text.startswith("A gentle reminder")
    assert "Next check-in: Tue 23 Mar, 10:00 your time" in await rig.say(BOB, "status")
    await rig.run_until(datetime(2027, 3, 16, 8, 59, tzinfo=UTC))  # Tuesday next week, just before
    assert {c.state for c in await rig.checkins() if c.person_id == bob_id} == {"sent"}
    await rig.run_until(datetime(2027, 3, 16, 9, 0, tzinfo=UTC))  # five working days after it was sent
    assert {c.state for c in await rig.checkins() if c.person_id == bob_id} == {"no_answer"}
    late = await rig.click(BOB, "checkin.answer", _answer_value(rig.questions(BOB)[0], "Yes"))
    assert late.replace is not None and late.replace.text == "This check-in closed without an answer."
    await rig.run_until(start + timedelta(weeks=8))

    checkins = await rig.checkins()
    # biweekly over 6 weeks: rounds at 2 and 4 weeks (6 weeks is the cohort's end), one check-in per person
    assert sorted((c.round, c.person_id) for c in checkins) == sorted(
        (r, p) for r in (1, 2) for p in (bob_id, alice_id))
    for c in checkins:
        zone = PARIS if c.person_id == bob_id else NEW_YORK
        assert c.sent_at is not None
        assert c.sent_at.astimezone(zone).strftime("%a %H:%M") == "Tue 10:00", c  # their own Tuesday 10:00
        assert (c.state, c.reminded, c.answer) == ("no_answer", True, None)
    for actor, partner in ((BOB, "Alice Adams"), (ALICE, "Bob Brown")):
        texts = [m.text for m in rig.questions(actor)]
        assert texts == [f"Did you meet {partner} since Mon 22 Feb?",
                         f"A gentle reminder: did you meet {partner} since Mon 22 Feb?",
                         f"Did you meet {partner} since Tue 9 Mar?",
                         f"A gentle reminder: did you meet {partner} since Tue 9 Mar?"], texts
        first = rig.questions(actor)[0]
        assert [b.label for b in first.buttons] == ["Yes", "Rescheduled", "Not yet", "I need help"]
    # New York moved its clocks on 14 March: its deliveries moved in UTC, the Paris ones did not
    assert [c.sent_at.hour for c in checkins if c.person_id == alice_id and c.sent_at] == [15, 14]
    assert [c.sent_at.hour for c in checkins if c.person_id == bob_id and c.sent_at] == [9, 9]
    async with rig.deps.uow() as uow:
        assert await uow.jobs.pending_for((checkins[0]).pair_id) == []  # no round past the cohort's end


async def test_answers_are_recorded_once_and_only_by_their_person(uow_factory: SqlUnitOfWorkFactory,
                                                                   engine: AsyncEngine) -> None:
    rig = Rig(uow_factory, engine)
    await _pair_up(rig)
    bob_id = await rig.person_id(BOB)
    async with rig.deps.uow() as uow:
        (pair,) = await uow.pairs.active_of(bob_id)
    # Bob proposes two objectives, Alice agrees
    await rig.submit(BOB, "objectives", {"objective_1": "Ship a GenAI prototype", "objective_2": "Write prompts"},
                     context=pair.id)
    await rig.click(ALICE, "objectives.agree", pair.id)
    await rig.run_until(datetime(2027, 3, 16, 15, 0, tzinfo=UTC))
    (bob_q,) = rig.questions(BOB)
    (alice_q,) = rig.questions(ALICE)

    refused = await rig.click(ALICE, "checkin.answer", _answer_value(bob_q, "Yes"))
    assert "someone else's" in text_of(refused) and refused.replace is None

    yes = await rig.click(BOB, "checkin.answer", _answer_value(bob_q, "Yes"))
    assert yes.replace is not None and yes.replace.text == "Recorded: you met. Well done!"
    assert yes.form is not None and yes.form.id == "checkin.details"
    progress_fields = [f.name for f in yes.form.fields if f.name.startswith("progress_")]
    assert len(progress_fields) == 2
    again = await rig.click(BOB, "checkin.answer", _answer_value(bob_q, "Not yet"))
    assert again.replace is not None and again.replace.text == "Recorded already: you met."
    assert again.form is None

    bad = await rig.submit(BOB, "checkin.details", {"note": "x" * 1001, progress_fields[0]: "7"},
                           context=yes.form.context)
    assert set(bad.errors) == {"note", progress_fields[0]}
    saved = await rig.submit(BOB, "checkin.details", {"note": "She asked the hard question first.",
                                                      progress_fields[0]: "3", progress_fields[1]: "1"},
                             context=yes.form.context)
    assert not saved.errors and saved.replace is not None and "Saved" in saved.replace.text
    async with rig.deps.uow() as uow:
        objectives = {o.id: o.progress for o in await uow.objectives.of_pair(pair.id)}
    assert sorted(objectives.values()) == [1, 3]
    (bob,) = [c for c in await rig.checkins() if c.person_id == bob_id]
    assert (bob.answer, bob.state, bob.note) == ("yes", "answered", "She asked the hard question first.")
    assert sorted(v for _, v in bob.progress) == [1, 3]

    # two clicks in flight on Alice's check-in: one answer is recorded, the other click is told so
    first, second = await asyncio.gather(
        rig.click(ALICE, "checkin.answer", _answer_value(alice_q, "Rescheduled")),
        rig.click(ALICE, "checkin.answer", _answer_value(alice_q, "Not yet")))
    shown = sorted(r.replace.text for r in (first, second) if r.replace)
    assert len(shown) == 2 and sum(t.startswith("Recorded already") for t in shown) == 1, shown
    alice_id = await rig.person_id(ALICE)
    (alice,) = [c for c in await rig.checkins() if c.person_id == alice_id]
    assert alice.answer in ("rescheduled", "not_yet") and alice.state == "answered"

    await rig.run_until(datetime(2027, 3, 25, 12, 0, tzinfo=UTC))  # past reminder and close times
    assert len(rig.questions(BOB)) == len(rig.questions(ALICE)) == 1  # answered: no reminder
    assert {c.state for c in await rig.checkins()} == {"answered"}


async def test_paused_people_and_ended_pairs_get_nothing(uow_factory: SqlUnitOfWorkFactory,
                                                          engine: AsyncEngine) -> None:
    rig = Rig(uow_factory, engine)
    await _pair_up(rig, weeks=12)
    assert "Paused until" in await rig.say(ALICE, "pause 3")  # over round 1, back before the cohort ends
    await rig.run_until(datetime(2027, 3, 17, 12, 0, tzinfo=UTC))
    assert len(rig.questions(BOB)) == 1
    assert rig.questions(ALICE) == []
    alice_id = await rig.person_id(ALICE)
    states = {c.person_id == alice_id: c.state for c in await rig.checkins()}
    assert states == {True: "skipped", False: "sent"}

    assert "Unpaired" in await rig.say(BOSS, "admin unpair console:bob console:alice")
    await rig.run_until(T0 + timedelta(weeks=13))
    assert len(rig.questions(BOB)) == 1 and rig.questions(ALICE) == []  # no reminder, no later round
    checkins = await rig.checkins()
    assert max(c.round for c in checkins) == 1
    bob_id = await rig.person_id(BOB)
    (bob,) = [c for c in checkins if c.person_id == bob_id]
    assert bob.state == "no_answer" and not bob.reminded  # closed, but nobody chased after the pair ended


async def test_after_downtime_a_check_in_still_in_its_slot_is_sent_and_a_stale_one_skipped(
        uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine, caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig(uow_factory, engine)
    # Bob in Kolkata (Tuesday 10:00-16:00 IST is 04:30-10:30 UTC), Alice in New York (14:00-20:00 UTC)
    await _pair_up(rig, mentor_tz="Asia/Kolkata", force=True, weeks=12)
    rig.clock.set(datetime(2027, 3, 16, 16, 0, tzinfo=UTC))  # the bot was down from Monday until Tuesday 16:00
    await rig.tick()
    assert rig.questions(BOB) == []
    assert [m.text for m in rig.questions(ALICE)] == ["Did you meet Bob Brown since Mon 1 Mar?"]
    bob_id = await rig.person_id(BOB)
    states = {c.person_id == bob_id: c.state for c in await rig.checkins()}
    assert states == {True: "skipped", False: "sent"}
    async with rig.deps.uow() as uow:
        (pair,) = await uow.pairs.active_of(bob_id)
        (next_round,) = await uow.jobs.pending_for(pair.id)
    assert next_round.kind == "checkin.round" and next_round.due_at == T0 + timedelta(weeks=4)
    await rig.run_until(datetime(2027, 3, 30, 12, 0, tzinfo=UTC))
    assert [m.text for m in rig.questions(BOB)] == ["Did you meet Alice Adams since Mon 1 Mar?"]  # round 2

    # down again from before round 3 (12 April) until Tuesday 27 April 16:00 UTC, past round 4 (26 April)
    await rig.run_until(datetime(2027, 4, 11, 0, 0, tzinfo=UTC))
    rig.clock.set(datetime(2027, 4, 27, 16, 0, tzinfo=UTC))  # round 3 never ran
    with caplog.at_level(logging.INFO, logger="mentorbot.checkins"):
        await rig.tick()
    assert "round(s) 3-3 fell due while the bot was down" in caplog.text
    assert "skipped: it was due" in caplog.text  # Bob's round 4: its Kolkata slot had passed
    rounds = {(c.round, c.person_id == bob_id): c.state for c in await rig.checkins()}
    assert rounds[(4, True)] == "skipped" and rounds[(4, False)] == "sent"
    assert (3, True) not in rounds and (3, False) not in rounds
    async with rig.deps.uow() as uow:
        (next_round,) = await uow.jobs.pending_for(pair.id)
    assert next_round.kind == "checkin.round" and next_round.due_at == T0 + timedelta(weeks=10)


async def test_admin_checkins_now_twice_sends_each_once(uow_factory: SqlUnitOfWorkFactory,
                                                       engine: AsyncEngine) -> None:
    rig = Rig(uow_factory, engine)
    await _pair_up(rig)
    first = await rig.say(BOSS, "admin checkins now")
    assert "2 check-ins scheduled" in first, first
    second = await rig.say(BOSS, "admin checkins now")
    assert "0 check-ins scheduled" in second and "2 of this round's check-ins were scheduled or sent" in second
    await rig.tick()
    assert len(rig.questions(BOB)) == 1  # 10:00 in Paris: now
    assert rig.questions(ALICE) == []  # 04:00 in New York: at her next working hour
    await rig.run_until(datetime(2027, 3, 1, 14, 0, tzinfo=UTC))
    assert len(rig.questions(ALICE)) == 1
    assert "0 check-ins scheduled" in await rig.say(BOSS, "admin checkins now")
    # the regular round 1 comes due two weeks later: it finds the round sent and only schedules round 2
    await rig.run_until(T0 + timedelta(weeks=3))
    checkins = await rig.checkins()
    assert sorted(c.round for c in checkins) == [1, 1]
    assert len([m for m in rig.questions(BOB) if m.text.startswith("Did")]) == 1
    assert len([m for m in rig.questions(ALICE) if m.text.startswith("Did")]) == 1
    async with rig.deps.uow() as uow:
        audit = await uow.audit.recent(10)
    assert [e.action for e in audit].count("admin.checkins") == 3


async def test_i_need_help_reaches_the_admins_only_and_they_answer_through_the_bot(
        uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine) -> None:
    rig = Rig(uow_factory, engine)
    await _pair_up(rig)
    await rig.say(BOSS, "admin checkins now")
    await rig.tick()
    (question,) = rig.questions(BOB)
    before_bob = len(rig.messenger.to(BOB))
    alice_before = list(rig.messenger.to(ALICE))

    helped = await rig.click(BOB, "checkin.answer", _answer_value(question, "I need help"))
    assert helped.replace is not None
    shown = text_of(helped)
    assert "is with the program admins" in shown and "your partner doesn't" in shown
    await rig.tick()
    (request,) = [m for m in rig.messenger.to(BOSS) if m.text.startswith("Confidential")]
    found = re.search(r"request ([A-Z0-9]{5})\)", request.text)
    assert found is not None, request.text
    request_id = found.group(1)
    assert "Bob Brown asks for help" in request.text
    assert any(f.label == "Their partner" and "does not know" in f.value for f in request.facts)

    assert "Only program admins" in await rig.say(ALICE, f"admin reply {request_id} what is it?")
    assert "There is no help request 'ZZZZZ'" in await rig.say(BOSS, "admin reply ZZZZZ hello")
    assert "Write the answer after the id" in await rig.say(BOSS, f"admin reply {request_id}")
    sent = await rig.say(BOSS, f'admin reply {request_id} "Thanks for telling us. Can we talk on Thursday?"')
    assert "Sent to Bob Brown." in sent
    await rig.tick()
    (answer,) = [m for m in rig.messenger.to(BOB)[before_bob:] if m.text.startswith("A program admin answered")]
    assert answer.sections[0] == "Thanks for telling us. Can we talk on Thursday?"
    (write,) = answer.buttons
    form = await rig.click(BOB, write.action, write.value)
    assert form.form is not None and form.form.id == "help.message"
    back = await rig.submit(BOB, "help.message", {"message": "Thursday works, thank you."},
                            context=form.form.context)
    assert back.replace is not None and back.replace.text == "Sent to the program admins."
    assert "isn't yours" in text_of(await rig.click(ALICE, "help.write", request_id))
    await rig.tick()
    assert any(m.sections == ("Thursday works, thank you.",) for m in rig.messenger.to(BOSS))

    async with rig.deps.uow() as uow:
        thread = await uow.help.messages(request_id)
        audit = await uow.audit.recent(20)
    assert [(m.author, m.text) for m in thread] == [
        ("person", "Asked for help from their check-in (round 1)."),
        ("admin", "Thanks for telling us. Can we talk on Thursday?"),
        ("person", "Thursday works, thank you.")]
    replies = [e for e in audit if e.action == "admin.reply"]
    assert sorted(e.outcome for e in replies) == ["denied", "invalid", "invalid", "ok"]
    assert all("Thursday" not in e.detail for e in audit)  # audited without the text
    # the partner saw nothing of it
    assert rig.messenger.to(ALICE) == alice_before
    assert all(request_id not in m.text and "help" not in m.text.lower() for m in rig.messenger.to(ALICE))
    # a typed reply keeps its apostrophes and quotes as typed
    await rig.say(BOSS, f"admin reply {request_id} Don't worry: it's \"normal\" to feel stuck.")
    await rig.tick()
    assert rig.messenger.to(BOB)[-1].sections[0] == "Don't worry: it's \"normal\" to feel stuck."

    # leaving deletes the thread and the check-ins with it
    await rig.click(BOB, "leave.confirm", "")
    async with rig.deps.uow() as uow:
        assert await uow.help.get(request_id) is None and await uow.help.messages(request_id) == []
        assert await uow.checkins.get(question.buttons[0].value.split(":")[0]) is None  # Bob's check-in
