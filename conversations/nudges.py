"""Psychological-safety and drift nudges from the catalogue in app.yaml: when each fires, to whom, and delivery.

A trigger fires at most once per pair (a unique row per person and trigger), each nudge reaches its person in
their working time, and nobody gets more than one nudge a local day: a second one waits for their next working
day, never dropped. Time-based triggers are `nudge.due` jobs planned when the pair starts; the others follow from
check-in answers (the check-in flow calls `checkin_answered` and `checkin_closed`).
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from datetime import datetime, timedelta

from conversations import feedback, helpdesk
from conversations.calendar import in_slot, local_day, next_slot, next_working_day
from conversations.caller import the_caller
from conversations.deps import Deps
from conversations.directory import admins_of
from conversations.events import ActionTaken
from conversations.messages import Button, Message, Reply
from conversations.model import CheckIn, Cohort, Nudge, Pair, Person, Role
from conversations.nudge_catalogue import Farewell, FitCheck, Inactive, NudgeText, ToBoth, ToMentee
from conversations.partners import cohort_end
from conversations.ports import UnitOfWork

log = logging.getLogger("mentorbot.nudges")

NUDGE_DUE = "nudge.due"  # job subject "{pair_id}:{trigger}": a time-based trigger's moment has come
NUDGE_SEND = "nudge.send"  # job subject a nudge id: deliver it in the person's working time
FIT_GOOD = "nudge.going_well"  # button actions of the fit check, value the pair id
FIT_REPAIR = "nudge.not_a_fit"

BEFORE_FIRST_MEETING = "before_first_meeting"
AFTER_FIRST_MEETING = "after_first_meeting"
SENIOR_RESCHEDULED = "senior_rescheduled"
NO_MEETING_TWICE = "no_meeting_twice"
INACTIVE = "inactive_45_days"
MID_PROGRAM = "mid_program"
NO_PROGRESS = "no_progress"
TWO_THIRDS = "two_thirds"
COHORT_END = "cohort_end"

TIMED = (BEFORE_FIRST_MEETING, MID_PROGRAM, TWO_THIRDS, COHORT_END, INACTIVE)
INTRO_TO_FIRST_NUDGE = timedelta(days=1)  # then the person's next working slot: about one working day
INACTIVE_AFTER = timedelta(days=45)
_SETTLED = ("answered", "no_answer", "skipped")


# -- when ---------------------------------------------------------------------------------------------------------

def _span(cohort: Cohort, pair: Pair) -> tuple[datetime, datetime]:
    """The pair's part of the cohort: from when both it and the cohort started, to the cohort's end. A pair
    matched late gets its mid-point and two-thirds nudges on its own, shorter, span."""
    begin = pair.created_at if cohort.started_at is None else max(cohort.started_at, pair.created_at)
    return begin, cohort_end(cohort)


def _last_meeting(pair: Pair, history: list[CheckIn]) -> datetime:
    met = [c.answered_at for c in history if c.answer == "yes" and c.answered_at is not None]
    return max(met, default=pair.created_at)


async def _moment(uow: UnitOfWork, trigger: str, cohort: Cohort, pair: Pair) -> datetime:
    """When a time-based trigger is meant to fire, from what is known now (a cohort whose sign-up closed after
    the pair was made starts later; a meeting moves the inactivity deadline)."""
    begin, end = _span(cohort, pair)
    if trigger == BEFORE_FIRST_MEETING:
        return pair.created_at + INTRO_TO_FIRST_NUDGE
    if trigger == MID_PROGRAM:
        return begin + (end - begin) / 2
    if trigger == TWO_THIRDS:
        return begin + (end - begin) * 2 / 3
    if trigger == INACTIVE:
        return _last_meeting(pair, await uow.checkins.of_pair(pair.id)) + INACTIVE_AFTER
    return end


async def pair_started(uow: UnitOfWork, deps: Deps, cohort: Cohort, pair: Pair) -> None:
    """Schedule the pair's time-based nudges: before the first meeting, mid-program, two-thirds, the end, and the
    45-day inactivity check (moved on by every meeting). Each job re-checks its moment when it runs."""
    if cohort.started_at is not None and pair.created_at >= cohort_end(cohort):
        return  # paired after the cohort's end: nothing left to prepare them for
    for trigger in TIMED:
        await uow.jobs.schedule(NUDGE_DUE, f"{pair.id}:{trigger}", await _moment(uow, trigger, cohort, pair))


async def on_due(subject: str, uow: UnitOfWork, deps: Deps) -> None:
    """The nudge.due job: fire the trigger now, or later if its moment moved, or not at all once it is moot."""
    pair_id, _, trigger = subject.rpartition(":")
    pair = await uow.pairs.get(pair_id)
    cohort = await uow.cohorts.get(pair.cohort_id) if pair is not None else None
    if pair is None or cohort is None or pair.state != "active":
        return
    now = deps.clock.now()
    moment = await _moment(uow, trigger, cohort, pair)
    if cohort.state == "ended" and (trigger != COHORT_END or cohort.ended_at is None or cohort.ended_at < moment):
        return  # ended by an admin before this moment: their end message was the last word
    if moment > now:
        await uow.jobs.schedule(NUDGE_DUE, subject, moment)
        return
    if trigger != COHORT_END and now >= cohort_end(cohort):
        return  # e.g. 45 days without a meeting would fall after the end: the cohort_end nudge speaks then
    if trigger == BEFORE_FIRST_MEETING and any(c.answer == "yes" for c in await uow.checkins.of_pair(pair.id)):
        return  # they met already
    await fire(uow, deps, pair, trigger)


async def checkin_answered(uow: UnitOfWork, deps: Deps, pair: Pair, checkin: CheckIn) -> None:
    """A check-in of this pair was just answered (its answer is in `checkin`): fire answer-driven triggers."""
    if pair.state != "active":
        return
    history = await uow.checkins.of_pair(pair.id)
    if checkin.answer == "yes":
        await fire(uow, deps, pair, AFTER_FIRST_MEETING)
        if not any(n.trigger == INACTIVE for n in await uow.nudges.of_pair(pair.id)):
            subject = f"{pair.id}:{INACTIVE}"  # re-armed: 45 days from this meeting
            await uow.jobs.cancel(NUDGE_DUE, subject)
            await uow.jobs.schedule(NUDGE_DUE, subject, (checkin.answered_at or deps.clock.now()) + INACTIVE_AFTER)
    if checkin.answer == "rescheduled" and checkin.person_id == pair.mentee_id:
        moved = [c for c in history if c.person_id == pair.mentee_id and c.answer == "rescheduled"]
        if len(moved) >= 2:
            await fire(uow, deps, pair, SENIOR_RESCHEDULED)
    await _drift(uow, deps, pair, history)


async def checkin_closed(uow: UnitOfWork, deps: Deps, pair: Pair, checkin: CheckIn) -> None:
    """A check-in of this pair just closed without an answer ("no answer"): fire drift triggers."""
    if pair.state == "active":
        await _drift(uow, deps, pair, await uow.checkins.of_pair(pair.id))


async def _drift(uow: UnitOfWork, deps: Deps, pair: Pair, history: list[CheckIn]) -> None:
    if missed_twice(history):
        await fire(uow, deps, pair, NO_MEETING_TWICE)
    if stalled_twice(history):
        await fire(uow, deps, pair, NO_PROGRESS)


def _rounds(history: list[CheckIn]) -> list[list[CheckIn]]:
    by_round: dict[int, list[CheckIn]] = defaultdict(list)
    for checkin in history:
        by_round[checkin.round].append(checkin)
    return [by_round[r] for r in sorted(by_round)]


def missed_twice(history: list[CheckIn]) -> bool:
    """The last two settled rounds (every check-in answered or closed) both passed without a meeting: nobody
    answered Yes, and somebody answered or let it close (a round everyone skipped, paused, says nothing)."""
    settled = [r for r in _rounds(history)
               if all(c.state in _SETTLED for c in r) and any(c.state != "skipped" for c in r)]
    return len(settled) >= 2 and not any(c.answer == "yes" for r in settled[-2:] for c in r)


def stalled_twice(history: list[CheckIn]) -> bool:
    """The last two sessions (rounds where they met and told their progress) moved no objective above the best
    it had reached before."""
    best: dict[str, int] = {}
    moved: list[bool] = []
    for round_ in _rounds(history):
        told = [c for c in round_ if c.answer == "yes" and c.progress]
        if not told:
            continue
        now: dict[str, int] = {}
        for checkin in told:
            for objective, value in checkin.progress:
                now[objective] = max(now.get(objective, 0), value)
        moved.append(any(value > best.get(objective, 0) for objective, value in now.items()))
        for objective, value in now.items():
            best[objective] = max(best.get(objective, 0), value)
    return len(moved) >= 2 and not any(moved[-2:])


# -- to whom ------------------------------------------------------------------------------------------------------

def recipients(entry: ToBoth | ToMentee) -> tuple[Role, ...]:
    return ("mentor", "mentee") if isinstance(entry, ToBoth) else ("mentee",)


def _entry(deps: Deps, trigger: str) -> ToBoth | ToMentee | None:
    found = getattr(deps.settings.nudges, trigger, None)
    return found if isinstance(found, ToBoth | ToMentee) else None


async def fire(uow: UnitOfWork, deps: Deps, pair: Pair, trigger: str) -> int:
    """Plan this trigger's nudge for each of its recipients, once per pair; returns how many were planned."""
    entry = _entry(deps, trigger)
    if entry is None or not entry.enabled or pair.state != "active":
        return 0
    if any(n.trigger == trigger for n in await uow.nudges.of_pair(pair.id)):
        return 0  # fired before (a person who was paused then does not get it late)
    now = deps.clock.now()
    planned = 0
    for role in recipients(entry):
        person = await uow.people.get(pair.mentor_id if role == "mentor" else pair.mentee_id)
        if person is None or person.status != "active":
            continue
        due = next_slot(person.profile, now)
        nudge_id = await uow.nudges.add(Nudge(id=0, pair_id=pair.id, person_id=person.id, trigger=trigger,
                                              due_at=due))
        if nudge_id is None:
            continue  # another process planned it a moment ago
        await uow.jobs.schedule(NUDGE_SEND, str(nudge_id), due)
        planned += 1
    if planned and isinstance(entry, Inactive):
        await _tell_admins(uow, deps, pair, entry)
    log.info("nudge %s for pair %s: %d planned", trigger, pair.id[:8], planned)
    return planned


async def _tell_admins(uow: UnitOfWork, deps: Deps, pair: Pair, entry: Inactive) -> None:
    cohort = await uow.cohorts.get(pair.cohort_id)
    mentor, mentee = await uow.people.get(pair.mentor_id), await uow.people.get(pair.mentee_id)
    if cohort is None or mentor is None or mentee is None:
        return
    values = {"mentor": mentor.profile.name, "mentee": mentee.profile.name, "cohort": cohort.name}
    notice = Message(entry.admins.title.format(**values), tuple(p.format(**values) for p in entry.admins.text))
    for admin in await admins_of(uow, deps, cohort.platform, cohort.workspace):
        await uow.outbox.enqueue(admin, notice, deps.clock.now(), about=mentor.id)


# -- delivery -----------------------------------------------------------------------------------------------------

async def on_send(subject: str, uow: UnitOfWork, deps: Deps) -> None:
    """The nudge.send job: deliver in the person's working time, at most one nudge on their local day."""
    nudge = await uow.nudges.get(int(subject))
    if nudge is None or nudge.sent_at is not None:
        return
    person = await uow.people.get(nudge.person_id)
    pair = await uow.pairs.get(nudge.pair_id)
    cohort = await uow.cohorts.get(pair.cohort_id) if pair is not None else None
    entry = _entry(deps, nudge.trigger)
    if person is None or pair is None or cohort is None or entry is None:
        return
    if (person.status != "active" or pair.state != "active" or not entry.enabled
            or (cohort.state == "ended" and nudge.trigger != COHORT_END)):
        log.info("nudge %s not sent: person %s, pair %s, cohort %s, entry %s", nudge.id, person.status,
                 pair.state, cohort.state, "on" if entry.enabled else "off")
        return
    now = deps.clock.now()
    if not in_slot(person.profile, now):  # the bot was down past the slot: never at night or on their weekend
        await _defer(uow, nudge, next_slot(person.profile, now))
        return
    if not await uow.nudges.mark_sent(nudge.id, now, local_day(person.profile, now)):
        await _defer(uow, nudge, next_working_day(person.profile, now))  # one a day: tomorrow's, not dropped
        return
    partner = await uow.people.get(pair.mentee_id if person.id == pair.mentor_id else pair.mentor_id)
    if partner is None:
        return
    rounds = await uow.feedback.open_rounds(cohort.id) if isinstance(entry, Farewell) else []
    message = nudge_message(deps, entry, pair, cohort, person, partner,
                            feedback_round=rounds[-1].id if rounds else None)
    await uow.outbox.enqueue(person.actor, message, now, about=partner.id)


async def _defer(uow: UnitOfWork, nudge: Nudge, to: datetime) -> None:
    await uow.nudges.reschedule(nudge.id, to)
    await uow.jobs.schedule(NUDGE_SEND, str(nudge.id), to)


def _values(deps: Deps, cohort: Cohort, person: Person, partner: Person) -> dict[str, str]:
    return {"partner": partner.profile.name, "cohort": cohort.name, "weeks": str(cohort.weeks),
            "pause": f"`{deps.command_hint(person.actor, 'pause')}`",
            "objectives": f"`{deps.command_hint(person.actor, 'objectives')}`"}


def nudge_message(deps: Deps, entry: ToBoth | ToMentee, pair: Pair, cohort: Cohort, person: Person,
                  partner: Person, *, feedback_round: str | None = None) -> Message:
    """The nudge as this person reads it, worded for their side of the pair (the cohort's farewell with a button
    to its open feedback round, if there is one)."""
    text: NudgeText = entry.mentor if isinstance(entry, ToBoth) and person.id == pair.mentor_id else entry.mentee
    values = _values(deps, cohort, person, partner)
    buttons: tuple[Button, ...] = ()
    if isinstance(entry, FitCheck):
        buttons = (Button(entry.going_well, FIT_GOOD, pair.id, style="primary"),
                   Button(entry.not_a_fit, FIT_REPAIR, pair.id))
    if isinstance(entry, Farewell) and feedback_round is not None:
        buttons = (Button(entry.feedback_button, feedback.START, feedback_round, style="primary"),)
    return Message(text.title.format(**values), tuple(p.format(**values) for p in text.text), buttons=buttons)


# -- the fit check's buttons --------------------------------------------------------------------------------------

async def _fit_context(uow: UnitOfWork, action: ActionTaken) -> tuple[Person, Pair, Person] | None:
    """The clicker, their pair named by the button, and their partner; None if the button is not theirs."""
    me = await the_caller(uow, action.actor)
    pair = await uow.pairs.get(action.value)
    if me is None or pair is None or me.id not in (pair.mentor_id, pair.mentee_id):
        return None
    partner = await uow.people.get(pair.mentee_id if me.id == pair.mentor_id else pair.mentor_id)
    return None if partner is None else (me, pair, partner)


async def on_going_well(action: ActionTaken, *, deps: Deps) -> Reply:
    """"Going well": nothing is recorded, nobody is told; the buttons make way for a kind word."""
    entry = deps.settings.nudges.after_first_meeting
    async with deps.uow() as uow:
        found = await _fit_context(uow, action)
        cohort = await uow.cohorts.get(found[1].cohort_id) if found else None
        await uow.commit()
    if found is None or cohort is None:
        return Reply.say("This check is not about a pair of yours.")
    me, _, partner = found
    return Reply(replace=Message(entry.going_well_reply.format(**_values(deps, cohort, me, partner))))


async def on_not_a_fit(action: ActionTaken, *, deps: Deps) -> Reply:
    """"Not a fit: re-pair me": a confidential request to the admins, blame-free; the partner never learns."""
    entry = deps.settings.nudges.after_first_meeting
    async with deps.uow() as uow:
        found = await _fit_context(uow, action)
        if found is None:
            await uow.commit()
            return Reply.say("This check is not about a pair of yours.")
        me, pair, partner = found
        cohort = await uow.cohorts.get(pair.cohort_id)
        if pair.state != "active" or cohort is None:
            await uow.commit()
            return Reply(replace=Message("This pair has ended already, so there is nothing to change.",
                                         ("You are back on the waiting list for a new partner.",)))
        values = _values(deps, cohort, me, partner)
        # One request per person and pair, even for two clicks in flight: the claim is a unique row. Its key is
        # a digest, so once the person has left, no table holds their id, not even this guard.
        guard = hashlib.sha256(f"re-pair:{pair.id}:{me.id}".encode()).hexdigest()
        if not await uow.events.claim("nudge", f"re-pair:{guard}", deps.clock.now()):
            await uow.commit()
            return Reply(replace=Message("You asked for a new partner already.",
                                         ("The program admins have your request; {partner} is not told."
                                          .format(**values),)))
        request = await helpdesk.open_request(
            uow, deps, me, pair, "Fit check after the first meeting: not a fit, please find me a new partner.",
            topic="re-pair", acknowledge=False)
        await uow.commit()
    # the fit check turns into the acknowledgement: how confidential it is, the request id, a way to say more
    thanks = helpdesk.acknowledgement(request, topic="re-pair")
    return Reply(replace=Message(entry.not_a_fit_reply.format(**values), thanks.sections, buttons=thanks.buttons))
