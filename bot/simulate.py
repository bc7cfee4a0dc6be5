"""`mentorbot simulate`: a whole cohort of synthetic people on the console platform, in simulated time.

The real engine, jobs, outbox and storage run on a temporary SQLite database; only the clock (jumping from one
due moment to the next) and the people (seeded, clicking like busy colleagues) are made up. Same seed, same output.
"""

from __future__ import annotations

import heapq
import random
import re
import secrets
import tempfile
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import event, select
from sqlmodel import col
from tqdm import tqdm

from bot.config import AppConfig
from bot.reports_cli import cohort_report_section
from bot.wiring import Bot, build_bot
from conversations.deps import Deps
from conversations.events import ActionTaken, Actor, Command, Event, FormSubmitted, FormValue, MessageRef
from conversations.jobs import run_due_jobs
from conversations.messages import Button, Form, Message, Reply
from conversations.model import Cadence
from conversations.partners import cohort_end
from conversations.settings import ProgramSettings
from storage.migrate import upgrade
from storage.models import JobRow, NudgeRow, OutboxRow

PLATFORM = WORKSPACE = "console"
ADMIN = Actor(PLATFORM, WORKSPACE, "program.admin")
COHORT_NAME = "Simulated cohort"
DEFAULT_START = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)  # a Monday; Europe and the US change clocks that month
MATCH_AFTER = timedelta(days=2, hours=2)  # sign-ups on Monday, pairs confirmed on Wednesday morning
AFTER_END = timedelta(days=7)  # the last reminders, closings and farewells come after the cohort's last day
JOB_BATCH = 100
MAX_STEPS_AT_ONE_MOMENT = 50

CHECKIN_ANSWER = "checkin.answer"
TIMED_KINDS = ("check-in", "reminder", "nudge", "other")
ANSWER_WORDS = {"yes": "yes, we met", "rescheduled": "rescheduled", "not_yet": "not yet", "help": "I need help"}

FIRST = ("Ava", "Ben", "Chloe", "Dev", "Elif", "Femi", "Gita", "Hugo", "Iris", "Jon", "Kemi", "Luca", "Mei", "Nils",
         "Omar", "Pia", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera", "Wen", "Ximena", "Yusuf", "Zoe")
LAST = ("Kim", "Okafor", "Silva", "Novak", "Haddad", "Berg", "Tanaka", "Rossi", "Mehta", "Dubois", "Ivanova",
        "Lopez", "Schmidt", "Nakamura", "Costa", "Fischer", "Moreau", "Singh", "Walsh", "Yilmaz")
DEPARTMENTS = ("Engineering", "Sales", "Finance", "Marketing", "Operations", "Legal", "People", "Design")
# (time zone, working days, working hours): most people in Europe and the Americas, some in India, and a
# Sunday-to-Thursday week in Dubai.
WORK_PATTERNS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("Europe/London", ("mon", "tue", "wed", "thu", "fri"), "09:00-17:00"),
    ("Europe/Paris", ("mon", "tue", "wed", "thu", "fri"), "09:00-17:00"),
    ("Europe/Berlin", ("mon", "tue", "wed", "thu", "fri"), "08:00-16:00"),
    ("America/New_York", ("mon", "tue", "wed", "thu", "fri"), "09:00-17:00"),
    ("America/Sao_Paulo", ("mon", "tue", "wed", "thu", "fri"), "10:00-18:00"),
    ("Asia/Kolkata", ("mon", "tue", "wed", "thu", "fri"), "10:00-18:00"),
    ("Asia/Dubai", ("sun", "mon", "tue", "wed", "thu"), "09:00-17:00"),
)
WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class SimulationError(Exception):
    """The simulated cohort could not be set up; the message says which step and what the bot answered."""


@dataclass(frozen=True, slots=True)
class SimulationOptions:
    people: int = 20
    weeks: int = 12
    seed: int = 1
    cadence: Cadence | None = None  # None: the cohort default from app.yaml
    start: datetime = DEFAULT_START


@dataclass(frozen=True, slots=True)
class SyntheticPerson:
    """One made-up participant and how they behave."""

    user: str
    name: str
    role: str
    level: str
    department: str
    time_zone: str
    days: tuple[str, ...]
    hours: str
    teach: tuple[str, ...]
    learn: tuple[str, ...]
    diligence: float  # 0-1: how quickly and how surely they answer

    @property
    def actor(self) -> Actor:
        return Actor(PLATFORM, WORKSPACE, self.user)

    def local(self, at: datetime) -> datetime:
        return at.astimezone(ZoneInfo(self.time_zone))

    def working_at(self, at: datetime) -> bool:
        """Inside this person's own working days and hours."""
        local = self.local(at)
        start, end = (time.fromisoformat(t) for t in self.hours.split("-"))
        return WEEKDAY_KEYS[local.weekday()] in self.days and start <= local.time() < end


@dataclass(frozen=True, slots=True)
class Delivery:
    at: datetime
    user: str
    message: Message
    ref: MessageRef


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: datetime
    user: str
    what: str
    local: str = ""  # the recipient's local time, for what the bot sent


@dataclass
class Summary:
    people: int = 0
    mentors: int = 0
    mentees: int = 0
    pairs: int = 0
    unmatched: int = 0
    intros: int = 0
    checkins_sent: int = 0
    checkins_skipped: int = 0
    answers: Counter[str] = field(default_factory=Counter)
    no_answer: int = 0
    reminders: int = 0
    meetings_held: int = 0
    pair_rounds: int = 0
    nudges: Counter[str] = field(default_factory=Counter)
    help_requests: int = 0
    timed: Counter[str] = field(default_factory=Counter)  # by kind: what the bot chose the moment of
    off_hours: Counter[str] = field(default_factory=Counter)  # of those, outside the recipient's working time


@dataclass
class FinishedRun:
    """A run that has ended, its database still open: what an epilogue may read."""

    options: SimulationOptions
    deps: Deps
    cohort_id: str
    admin: Actor
    people: list[SyntheticPerson]
    timeline: list[TimelineEntry]
    summary: Summary


# Sections printed after the summary, each given the finished run while its database is still open.
# Issue #7 (the cohort report) appends its report here: `EPILOGUES = (cohort_report_section,)`.
Epilogue = Callable[[FinishedRun], Awaitable[str]]
EPILOGUES: tuple[Epilogue, ...] = (cohort_report_section,)


class SimulatedClock:
    """The Clock port, moved by the simulation only."""

    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now

    def set(self, now: datetime) -> None:
        self._now = max(self._now, now)  # time never runs backwards


class RecordingMessenger:
    """The console platform's Messenger for synthetic people: records what each person received, and when."""

    group_messages = False

    def __init__(self, clock: SimulatedClock) -> None:
        self._clock = clock
        self._count = 0
        self.delivered: list[Delivery] = []

    async def send(self, to: Sequence[Actor], message: Message) -> MessageRef:
        self._count += 1
        ref = MessageRef(f"{PLATFORM}:{self._count}")
        for actor in dict.fromkeys(to):
            self.delivered.append(Delivery(self._clock.now(), actor.user_id, message, ref))
        return ref

    async def update(self, ref: MessageRef, message: Message) -> None:
        return None  # an edited message (buttons replaced by the answer) is nothing new to anyone

    async def find_user(self, workspace: str, query: str) -> Actor | None:
        user = query.strip().removeprefix("@").removeprefix(f"{PLATFORM}:")
        return Actor(PLATFORM, WORKSPACE, user) if re.fullmatch(r"[A-Za-z0-9._-]+", user) else None

    def take(self) -> list[Delivery]:
        taken, self.delivered = self.delivered, []
        return sorted(taken, key=lambda d: (d.at, d.user))  # stable: each person's in the order sent


def synthetic_people(count: int, rng: random.Random, *, levels: Sequence[str], topics: Sequence[str]
                     ) -> list[SyntheticPerson]:
    """Half mentors (junior levels), half mentees (senior levels), spread over time zones and departments."""
    junior, senior = levels[: max(1, len(levels) * 2 // 5)], levels[len(levels) // 2:]
    popular = list(topics[: max(4, len(topics) // 2)])  # mentees ask for a narrower set than mentors offer
    people: list[SyntheticPerson] = []
    names = [f"{first} {last}" for last in LAST for first in FIRST]
    rng.shuffle(names)
    for i in range(count):
        name = names[i % len(names)] + (f" {i // len(names) + 1}" if i >= len(names) else "")
        role = "mentor" if i % 2 == 0 else "mentee"
        zone, days, hours = WORK_PATTERNS[rng.choice((0, 0, 1, 1, 1, 2, 2, 3, 3, 4, 5, 6))]
        people.append(SyntheticPerson(
            user=re.sub(r"[^a-z0-9.]", "", name.lower().replace(" ", ".")),
            name=name, role=role, level=rng.choice(junior if role == "mentor" else senior),
            department=rng.choice(DEPARTMENTS), time_zone=zone, days=days, hours=hours,
            teach=tuple(rng.sample(list(topics), 3)) if role == "mentor" else (),
            learn=tuple(rng.sample(popular, 2)) if role == "mentee" else (),
            diligence=rng.uniform(0.55, 1.0)))
    return people


@dataclass(order=True)
class _Click:
    at: datetime
    seq: int
    user: str = field(compare=False)
    action: str = field(compare=False)
    value: str = field(compare=False)
    ref: MessageRef | None = field(compare=False)
    what: str = field(compare=False)


class _Simulation:
    def __init__(self, bot: Bot, clock: SimulatedClock, messenger: RecordingMessenger, options: SimulationOptions,
                 people: list[SyntheticPerson], rng: random.Random) -> None:
        self.bot, self.clock, self.messenger, self.options, self.rng = bot, clock, messenger, options, rng
        self.people = {p.user: p for p in people}
        self.person_ids: dict[str, str] = {}  # person id -> user
        self.timeline: list[TimelineEntry] = []
        self.clicks: list[_Click] = []
        self.seq = 0
        self.met: dict[tuple[str, int], bool] = {}  # (pair id, round) -> whether the pair met
        self.unanswered: dict[str, tuple[str, str]] = {}  # check-in id -> (user, answer it will give if reminded)
        self.summary = Summary(people=len(people), mentors=sum(p.role == "mentor" for p in people),
                               mentees=sum(p.role == "mentee" for p in people))
        self.cohort_id = ""
        self.ends = clock.now()
        self.last_step = clock.now()
        self._timed = False
        self.seen_nudges: set[int] = set()
        self._titles: dict[str, list[re.Pattern[str]]] = {}

    # --- the script: open, sign up, match ------------------------------------------------------------------

    async def setup(self) -> None:
        deps, now = self.bot.deps, self.clock.now()
        async with deps.uow() as uow:
            await uow.admins.add(ADMIN, now)
            await uow.commit()
        cadence = self.options.cadence or deps.settings.cohort.cadence
        await self._admin(f'admin cohort open "{COHORT_NAME}" --weeks {self.options.weeks} --cadence {cadence}',
                          f"opened '{COHORT_NAME}': {self.options.weeks} weeks, {cadence} check-ins",
                          expect=COHORT_NAME)
        signup_hours = (MATCH_AFTER - timedelta(hours=4)).total_seconds() / 3600
        order = sorted(self.people.values(), key=lambda p: p.user)
        moments = sorted(self.rng.uniform(0.1, signup_hours) for _ in order)
        for person, hours in zip(order, moments, strict=True):
            self.clock.set(self.options.start + timedelta(hours=hours))
            await self._sign_up(person)
        async with deps.uow() as uow:
            for person in order:
                found = await uow.people.by_actor(person.actor)
                if found is None:
                    raise SimulationError(f"{person.user} signed up but is not stored")
                self.person_ids[found.id] = person.user
            cohort = await uow.cohorts.current(PLATFORM, WORKSPACE)
        if cohort is None:
            raise SimulationError("the cohort did not open")
        self.cohort_id = cohort.id
        self.clock.set(self.options.start + MATCH_AFTER)
        await self._admin("admin cohort close-signup", "closed sign-up; the cohort runs", expect="")
        preview = await self._admin("admin match preview", "", expect="")
        facts = {f.label: f.value for m in preview.messages for f in m.facts}
        if "Preview id" not in facts:
            raise SimulationError(f"no preview: {_said(preview)}")
        self.summary.pairs = int(facts.get("Pairs", "0"))
        self.summary.unmatched = int(facts.get("Unmatched", "0"))
        await self._admin(f"admin match confirm {facts['Preview id']}",
                          f"confirmed {self.summary.pairs} pairs ({self.summary.unmatched} unmatched)",
                          expect="Confirmed:")
        async with deps.uow() as uow:
            running = await uow.cohorts.get(self.cohort_id)
        if running is None or running.state != "running":
            raise SimulationError("the cohort is not running after sign-up closed")
        self.ends = cohort_end(running)
        await self._deliver(immediate=True)

    async def _admin(self, line: str, what: str, *, expect: str) -> Reply:
        reply = await self.bot.engine.dispatch(Command.parse(ADMIN, line))
        if expect not in _said(reply):
            raise SimulationError(f"`{line}` was refused: {_said(reply)[:300]}")
        if what:
            self._note(ADMIN.user_id, what)
        return reply

    async def _sign_up(self, person: SyntheticPerson) -> None:
        engine = self.bot.engine
        reply = await engine.dispatch(Command.parse(person.actor, "join"))
        if reply.form is None:
            raise SimulationError(f"`join` as {person.user} gave no form: {_said(reply)}")
        settings = self.bot.deps.settings
        values: dict[str, FormValue] = {
            "name": person.name, "role": person.role, "level": person.level, "department": person.department,
            "time_zone": person.time_zone, "working_days": person.days, "working_hours": person.hours,
            "topics_teach": person.teach, "topics_learn": person.learn, "goals": "",
            "languages": (settings.languages[0],), "manager": "", "email": f"{person.user}@example.com", "avoid": ""}
        form = reply.form
        submitted = await engine.dispatch(FormSubmitted(person.actor, form.id, {
            f.name: values.get(f.name, f.initial or "") for f in form.fields}, context=form.context))
        if submitted.errors:
            raise SimulationError(f"sign-up of {person.user} refused: {dict(submitted.errors)}")
        self._note(person.user, f"signed up: {person.role}, {person.level}, {person.department}, {person.time_zone}")

    # --- the clock loop -----------------------------------------------------------------------------------

    async def run(self, progress: tqdm[None] | None) -> None:
        horizon = self.ends + AFTER_END
        started = self.clock.now()
        previous, stuck = started, 0
        while True:
            moment = await self._next_moment()
            if moment is None or moment > horizon:
                break
            stuck = stuck + 1 if moment <= previous else 0
            if stuck > MAX_STEPS_AT_ONE_MOMENT:  # something comes due again at once, forever: say so, don't spin
                raise SimulationError(f"work keeps coming due at {moment:%Y-%m-%d %H:%M} UTC without time passing")
            previous = moment
            self.clock.set(moment)
            await self._step()
            if progress is not None:  # tqdm redraws at most ten times a second
                progress.update(round((min(moment, horizon) - started).total_seconds() / 3600) - progress.n)
        self.clock.set(horizon)

    async def _next_moment(self) -> datetime | None:
        candidates: list[datetime] = []
        async with self.bot.db.connect() as conn:
            job = (await conn.execute(select(col(JobRow.due_at)).where(col(JobRow.state) == "pending")
                                      .order_by(col(JobRow.due_at)).limit(1))).scalar_one_or_none()
            item = (await conn.execute(select(col(OutboxRow.next_attempt_at)).where(col(OutboxRow.state) == "pending")
                                       .order_by(col(OutboxRow.next_attempt_at)).limit(1))).scalar_one_or_none()
        candidates += [_utc(t) for t in (job, item) if t is not None]
        if self.clicks:
            candidates.append(self.clicks[0].at)
        return max(min(candidates), self.clock.now()) if candidates else None

    async def _step(self) -> None:
        now = self.clock.now()
        while self.clicks and self.clicks[0].at <= now:
            await self._click(heapq.heappop(self.clicks))
            await self._deliver(immediate=True)  # what the click caused goes out at once
        while await run_due_jobs(self.bot.deps, limit=JOB_BATCH) == JOB_BATCH:
            pass
        await self._deliver(immediate=False)

    async def _deliver(self, *, immediate: bool) -> None:
        """Let the outbox send what is due; `immediate`: answers to someone's action, not timed by the bot."""
        await self.bot.sender.drain()
        deliveries = self.messenger.take()
        # a nudge is marked sent in the transaction that queues it, so no delivery means no nudge either
        nudged = await self._nudges_since(self.last_step) if deliveries else {}
        self.last_step = self.clock.now()
        for delivery in deliveries:
            await self._received(delivery, nudged, immediate=immediate)

    async def _nudges_since(self, since: datetime) -> dict[str, list[str]]:
        """Person user -> the triggers of nudges marked sent since the last step (oldest first)."""
        async with self.bot.db.connect() as conn:
            rows = (await conn.execute(
                select(col(NudgeRow.id), col(NudgeRow.person_id), col(NudgeRow.trigger))
                .where(col(NudgeRow.sent_at) >= since)
                .order_by(col(NudgeRow.sent_at), col(NudgeRow.trigger)))).all()
        found: dict[str, list[str]] = {}
        for nudge_id, person_id, trigger in rows:
            if nudge_id is not None and nudge_id not in self.seen_nudges:
                self.seen_nudges.add(nudge_id)
                found.setdefault(self.person_ids.get(person_id, person_id), []).append(trigger)
        return found

    # --- what people receive, and what they do about it ---------------------------------------------------

    async def _received(self, delivery: Delivery, nudged: dict[str, list[str]], *, immediate: bool) -> None:
        message, user = delivery.message, delivery.user
        self._timed = not immediate
        person = self.people.get(user)
        actions = {b.action: b for b in message.buttons}
        answer_buttons = [b for b in message.buttons if b.action == CHECKIN_ANSWER]
        if answer_buttons:
            checkin_id = answer_buttons[0].value.partition(":")[0]
            reminder = message.text.lower().startswith("a gentle reminder")
            async with self.bot.deps.uow() as uow:
                checkin = await uow.checkins.get(checkin_id)
            round_no = checkin.round if checkin else 0
            self._sent(delivery, f"{'reminder' if reminder else 'check-in'}, round {round_no}")
            if person is not None and checkin is not None:
                self._plan_answer(person, delivery, checkin_id, (checkin.pair_id, checkin.round), reminder=reminder)
            return
        if "objectives.propose" in actions and message.text.startswith("Meet "):
            self.summary.intros += 1
            self._sent(delivery, "introduction to their partner")
            if person is not None and person.role == "mentee":
                self._plan(person, delivery, actions["objectives.propose"], hours=(2, 30), what="proposed objectives")
            return
        trigger = self._nudge_of(message, nudged.get(user, []))
        if trigger is not None:
            self._sent(delivery, f"nudge: {trigger}")
            going_well = next((b for b in message.buttons if b.action == "nudge.going_well"), None)
            if person is not None and going_well is not None and self.rng.random() < 0.8:
                self._plan(person, delivery, going_well, hours=(1, 24), what="said the pairing is going well")
            return
        if "objectives.agree" in actions and person is not None:
            self._sent(delivery, "objectives proposed by their partner")
            self._plan(person, delivery, actions["objectives.agree"], hours=(1, 20), what="agreed the objectives")
            return
        self._sent(delivery, _first_line(message))

    def _nudge_of(self, message: Message, triggers: list[str]) -> str | None:
        """The trigger among those just sent to this person whose catalogue title this message carries."""
        for trigger in triggers:
            titles = self._titles.get(trigger)
            if titles is None:
                titles = self._titles[trigger] = nudge_titles(self.bot.deps.settings, trigger)
            if not titles or any(t.fullmatch(message.text) for t in titles):
                triggers.remove(trigger)
                return trigger
        return None

    def _plan_answer(self, person: SyntheticPerson, delivery: Delivery, checkin_id: str, key: tuple[str, int], *,
                     reminder: bool) -> None:
        rng = self.rng
        if key not in self.met:
            self.met[key] = rng.random() < 0.72
        if reminder:
            pending = self.unanswered.pop(checkin_id, None)
            if pending is None or rng.random() > 0.6:
                return  # no answer this time either: the check-in will close as "no answer"
            answer = pending[1]
        else:
            if self.met[key]:
                answer = "yes"
            else:
                answer = rng.choice(("rescheduled", "rescheduled", "not_yet", "not_yet", "not_yet"))
            if rng.random() < 0.04:
                answer = "help"
            if rng.random() > person.diligence:  # busy: no answer to the question itself
                self.unanswered[checkin_id] = (person.user, answer)
                return
        button = Button(ANSWER_WORDS[answer], CHECKIN_ANSWER, f"{checkin_id}:{answer}")
        self._plan(person, delivery, button, hours=(0.2, 6 + 30 * (1 - person.diligence)),
                   what=f"answered: {ANSWER_WORDS[answer]}")

    def _plan(self, person: SyntheticPerson, delivery: Delivery, button: Button, *, hours: tuple[float, float],
              what: str) -> None:
        self.seq += 1
        at = delivery.at + timedelta(hours=self.rng.uniform(*hours))
        for _ in range(7 * 48):  # people act in their own working hours: the next half hour they work
            if person.working_at(at):
                break
            at += timedelta(minutes=30)
        at = at.replace(microsecond=0) + timedelta(seconds=1)
        heapq.heappush(self.clicks, _Click(at, self.seq, person.user, button.action, button.value, delivery.ref, what))

    async def _click(self, click: _Click) -> None:
        person = self.people[click.user]
        event = ActionTaken(person.actor, click.action, click.value, click.ref)
        reply = await self.bot.engine.dispatch(event)
        self._note(click.user, click.what)
        if click.action == CHECKIN_ANSWER and click.value.endswith(":help"):
            self.summary.help_requests += 1
        await self._fill_forms(person, reply, event)

    async def _fill_forms(self, person: SyntheticPerson, reply: Reply, event: Event) -> None:
        for _ in range(3):  # a form whose answer is another form, and so on
            form = reply.form
            if form is None:
                return
            submitted = FormSubmitted(person.actor, form.id, self._answers(person, form), context=form.context,
                                      message_ref=getattr(event, "message_ref", None))
            reply = await self.bot.engine.dispatch(submitted)
            if reply.errors:
                return  # the synthetic answer was refused: the person gives up, as people do

    def _answers(self, person: SyntheticPerson, form: Form) -> dict[str, FormValue]:
        values: dict[str, FormValue] = {}
        for f in form.fields:
            if f.name.startswith("objective_"):
                number = int(f.name.rpartition("_")[2] or 1)
                topic = person.learn[(number - 1) % len(person.learn)] if person.learn else "our work"
                values[f.name] = f"Use {topic} in one real task" if number <= 2 else ""
            elif f.name.startswith("progress_"):
                before = int(f.initial) if isinstance(f.initial, str) and f.initial.isdigit() else 0
                values[f.name] = str(min(4, before + self.rng.choice((0, 1, 1))))
            elif f.initial:
                values[f.name] = f.initial
            elif f.kind in ("choice", "multi_choice") and f.choices and f.required:
                values[f.name] = f.choices[0].value
            else:
                values[f.name] = "" if not f.required else "ok"
        return values

    # --- the record ---------------------------------------------------------------------------------------

    def _note(self, user: str, what: str) -> None:
        self.timeline.append(TimelineEntry(self.clock.now(), user, what))

    def _sent(self, delivery: Delivery, what: str) -> None:
        person = self.people.get(delivery.user)
        local = ""
        if person is not None:
            at = person.local(delivery.at)
            local = f"{at:%a %H:%M} {person.time_zone}"
            if self._timed:
                kind = what.partition(",")[0].partition(":")[0] if _scheduled(what) else "other"
                self.summary.timed[kind] += 1
                if not person.working_at(delivery.at):
                    self.summary.off_hours[kind] += 1
        self.timeline.append(TimelineEntry(delivery.at, delivery.user, what, local))

    async def tally(self) -> None:
        """The summary's figures, read from the database: the bot's own record of what happened."""
        s = self.summary
        async with self.bot.deps.uow() as uow:
            checkins = await uow.checkins.in_cohort(self.cohort_id)
            nudges = await uow.nudges.in_cohort(self.cohort_id)
        s.checkins_sent = sum(c.sent_at is not None for c in checkins)
        s.checkins_skipped = sum(c.state == "skipped" for c in checkins)
        s.answers = Counter(c.answer for c in checkins if c.answer is not None)
        s.no_answer = sum(c.state == "no_answer" for c in checkins)
        s.reminders = sum(c.reminded for c in checkins)
        rounds = {(c.pair_id, c.round) for c in checkins if c.sent_at is not None}
        s.pair_rounds = len(rounds)
        s.meetings_held = len({(c.pair_id, c.round) for c in checkins if c.answer == "yes"})
        s.nudges = Counter(n.trigger for n in nudges if n.sent_at is not None)


def nudge_titles(settings: ProgramSettings, trigger: str) -> list[re.Pattern[str]]:
    """The catalogue's titles for a trigger (each side's wording), as patterns: `{partner}` matches any name."""
    entry = getattr(getattr(settings, "nudges", None), trigger, None)
    patterns = []
    for side in ("mentor", "mentee"):
        title = getattr(getattr(entry, side, None), "title", None)
        if isinstance(title, str):
            parts = re.split(r"\{[^{}]*\}", title)
            patterns.append(re.compile(".+?".join(re.escape(p) for p in parts), re.DOTALL))
    return patterns


def _throwaway_database(dbapi_connection: Any, _record: Any) -> None:
    # A temporary file that is deleted afterwards: no need to wait for the disk on every commit.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA synchronous=OFF")
    finally:
        cursor.close()


def _scheduled(what: str) -> bool:
    return what.startswith(("check-in", "reminder", "nudge"))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _said(reply: Reply) -> str:
    return " ".join(" ".join((m.text, *m.sections)) for m in reply.messages)


def _first_line(message: Message) -> str:
    line = message.text.splitlines()[0] if message.text else ""
    return line if len(line) <= 70 else line[:67] + "..."


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# --- output ---------------------------------------------------------------------------------------------------

def format_timeline(entries: Sequence[TimelineEntry]) -> list[str]:
    """One line per event: when (UTC), who, what, and the recipient's local time for what the bot sent."""
    width = max((len(e.user) for e in entries), default=8)
    ordered = sorted(entries, key=lambda e: (e.at, e.user, e.what))
    return [f"{e.at:%Y-%m-%d %a %H:%M} UTC  {e.user:<{width}}  {e.what}" + (f"  [{e.local}]" if e.local else "")
            for e in ordered]


def format_summary(s: Summary, options: SimulationOptions) -> list[str]:
    answered = sum(s.answers.values())
    answers = ", ".join(f"{ANSWER_WORDS[a]} {s.answers[a]}" for a in ANSWER_WORDS if s.answers[a]) or "none"
    nudges = ", ".join(f"{t} {n}" for t, n in sorted(s.nudges.items())) or "none"
    return [
        f"people: {s.people} ({_count(s.mentors, 'mentor')}, {_count(s.mentees, 'mentee')}); pairs: {s.pairs}; "
        f"unmatched: {s.unmatched}",
        f"introductions sent: {s.intros}",
        f"check-ins sent: {s.checkins_sent}; answered: {answered} ({answers}); no answer: {s.no_answer}; "
        f"reminders: {s.reminders}; skipped: {s.checkins_skipped}",
        f"meetings held: {s.meetings_held} of {s.pair_rounds} pair check-in rounds",
        f"nudges sent: {sum(s.nudges.values())} ({nudges})",
        f"help requests: {s.help_requests}",
        "sent outside the recipient's working hours: " + ", ".join(
            f"{kind if kind != 'other' else 'other timed messages'} {s.off_hours[kind]} of {s.timed[kind]}"
            for kind in TIMED_KINDS) + " (introductions and answers to a click go at once)",
    ]


@contextmanager
def seeded_ids(seed: int) -> Iterator[None]:
    """Ids drawn from the seed for the run: matching breaks ties between equal candidates by their ids (uuid4),
    and help requests show a short random code (secrets.choice), so random ids would make two runs of one seed
    differ. Only in this process, only for this run, only for synthetic people on a throwaway database."""
    ids, codes = random.Random(f"ids:{seed}"), random.Random(f"codes:{seed}")
    real_uuid4, real_choice = uuid.uuid4, secrets.choice
    uuid.uuid4 = lambda: uuid.UUID(int=ids.getrandbits(128), version=4)
    secrets.choice = codes.choice
    try:
        yield
    finally:
        uuid.uuid4, secrets.choice = real_uuid4, real_choice


async def simulate(config: AppConfig, options: SimulationOptions, out: TextIO, err: TextIO | None) -> FinishedRun:
    """Run the cohort on a temporary database and print its timeline and summary to `out` (progress to `err`)."""
    rng = random.Random(options.seed)
    with seeded_ids(options.seed), tempfile.TemporaryDirectory(prefix="mentorbot-simulate-") as folder:
        url = f"sqlite:///{Path(folder) / 'simulation.db'}"
        await upgrade(url)
        clock = SimulatedClock(options.start)
        messenger = RecordingMessenger(clock)
        # Nothing of the operator's is touched: not DATABASE_URL, nor the feedback key or its file.
        secrets = replace(config.secrets, feedback_key=None, feedback_key_file=str(Path(folder) / "feedback.key"))
        isolated = config.model_copy(update={"database_url": url, "secrets": secrets})
        bot = await build_bot(isolated, {PLATFORM: messenger}, clock=clock)
        event.listen(bot.db.sync_engine, "connect", _throwaway_database)
        try:
            settings = bot.deps.settings
            people = synthetic_people(options.people, rng, levels=settings.levels, topics=settings.topics)
            simulation = _Simulation(bot, clock, messenger, options, people, rng)
            total_hours = round((MATCH_AFTER + timedelta(weeks=options.weeks) + AFTER_END).total_seconds() / 3600)
            with tqdm(total=total_hours, unit="h", desc="simulating", file=err, disable=err is None,
                      leave=False, bar_format="{desc}: {percentage:3.0f}%|{bar}| {n}/{total} simulated hours") as bar:
                await simulation.setup()
                await simulation.run(bar)
            await simulation.tally()
            cadence = options.cadence or settings.cohort.cadence
            print(f"mentorbot simulate: {options.people} people, {options.weeks} weeks, {cadence} check-ins, "
                  f"seed {options.seed}, from {options.start:%a %Y-%m-%d}", file=out)
            print("\nTimeline (UTC; the recipient's local time in brackets)", file=out)
            for line in format_timeline(simulation.timeline):
                print(line, file=out)
            print("\nSummary", file=out)
            for line in format_summary(simulation.summary, options):
                print(f"  {line}", file=out)
            finished = FinishedRun(options, bot.deps, simulation.cohort_id, ADMIN, people, simulation.timeline,
                                   simulation.summary)
            for epilogue in EPILOGUES:
                print("\n" + await epilogue(finished), file=out)
            return finished
        finally:
            await bot.close()
