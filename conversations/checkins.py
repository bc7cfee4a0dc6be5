"""Check-ins: "Did you meet?" on the cohort's cadence, in each person's own working time, answered once.

A pair's rounds are beats of the cohort's cadence after the pair started (whole weeks as UTC instants, months by
the calendar). Each round is one CheckIn per person, unique per (pair, person, round), delivered in that person's
slot of the check-in window; every step is a job (round, send, remind, close), so each happens exactly once
whichever process claims it, and `admin checkins now` goes through the same rows and jobs.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from conversations import helpdesk, nudges
from conversations.calendar import (
    Window,
    after_working_days,
    beats_by,
    in_slot,
    next_slot,
    nth_cadence,
    slot_end,
    zone_of,
)
from conversations.caller import the_caller
from conversations.deps import Deps
from conversations.events import ActionTaken, Command, FormSubmitted, FormValue
from conversations.messages import Button, Field, Form, Message, Reply
from conversations.model import CheckIn, CheckInAnswer, Cohort, Objective, Pair, Person, Profile
from conversations.partners import cohort_end
from conversations.ports import UnitOfWork

log = logging.getLogger("mentorbot.checkins")

ROUND = "checkin.round"  # subject: a pair id; creates that round's check-ins, schedules the next round
SEND = "checkin.send"  # subject: a check-in id
REMIND = "checkin.remind"
CLOSE = "checkin.close"
ANSWER = "checkin.answer"  # button value: "{checkin id}:{answer}"
DETAILS_FORM = "checkin.details"
MAX_NOTE = 1000

ANSWERS: Mapping[str, tuple[str, str]] = {  # answer: (button, what was recorded)
    "yes": ("Yes", "you met"),
    "rescheduled": ("Rescheduled", "rescheduled"),
    "not_yet": ("Not yet", "not yet"),
    "help": ("I need help", "you asked for help"),
}
PROGRESS_HINT = "0 not started, 1 first steps, 2 halfway, 3 nearly there, 4 done"


class CheckinsRefused(Exception):
    """An admin asked for check-ins that cannot be sent; the message says why."""


def window_of(deps: Deps) -> Window:
    w = deps.settings.checkins.window
    return Window(days=w.days, start=w.start, end=w.end)


def _ends(cohort: Cohort, now: datetime) -> datetime:
    """When the cohort ends; one still in sign-up has all its weeks ahead of it."""
    return cohort_end(cohort) if cohort.started_at else now + timedelta(weeks=cohort.weeks)


def _partner_id(pair: Pair, person_id: str) -> str:
    return pair.mentee_id if pair.mentor_id == person_id else pair.mentor_id


def _day(profile: Profile, at: datetime) -> str:
    local = at.astimezone(zone_of(profile))
    return f"{local:%a} {local.day} {local:%b}"


# --- scheduling -----------------------------------------------------------------------------------------------

async def schedule_first_round(uow: UnitOfWork, deps: Deps, cohort: Cohort, pair: Pair) -> None:
    """Schedule the pair's first check-in round, one cadence after the pair starts."""
    first = nth_cadence(pair.created_at, cohort.cadence, 1)
    if first < _ends(cohort, deps.clock.now()):
        await uow.jobs.schedule(ROUND, pair.id, first)


async def _add(uow: UnitOfWork, pair: Pair, person: Person, round_no: int, due_at: datetime) -> CheckIn | None:
    """The person's check-in of this round with its send job; None if the round has it already."""
    checkin = CheckIn(id=uuid.uuid4().hex, pair_id=pair.id, person_id=person.id, round=round_no, due_at=due_at)
    if not await uow.checkins.add(checkin):
        return None
    await uow.jobs.schedule(SEND, checkin.id, due_at)
    return checkin


async def run_round(subject: str, uow: UnitOfWork, deps: Deps) -> None:
    """The checkin.round job: this round's check-in for each person, in their slot; then the next round."""
    pair = await uow.pairs.get(subject)
    cohort = await uow.cohorts.get(pair.cohort_id) if pair else None
    if pair is None or cohort is None or pair.state != "active" or cohort.state == "ended":
        return  # an ended pair or cohort gets no more rounds
    now = deps.clock.now()
    round_no = beats_by(pair.created_at, cohort.cadence, now)
    if round_no == 0:  # not yet (a clock set back): run at the first beat
        await uow.jobs.schedule(ROUND, pair.id, nth_cadence(pair.created_at, cohort.cadence, 1))
        return
    last = max((c.round for c in await uow.checkins.of_pair(pair.id)), default=0)
    if round_no > last + 1:
        log.info("pair %s: round(s) %s-%s fell due while the bot was down; skipped, round %s goes ahead",
                 pair.id, last + 1, round_no - 1, round_no)
    nominal = nth_cadence(pair.created_at, cohort.cadence, round_no)
    ends = _ends(cohort, now)
    if nominal < ends:
        for person_id in (pair.mentor_id, pair.mentee_id):
            person = await uow.people.get(person_id)
            if person is not None:
                await _add(uow, pair, person, round_no, next_slot(person.profile, nominal, window_of(deps)))
    following = nth_cadence(pair.created_at, cohort.cadence, round_no + 1)
    if following < ends:
        await uow.jobs.schedule(ROUND, pair.id, following)


def _stale_after(profile: Profile, due_at: datetime, window: Window) -> datetime:
    """The end of the slot the check-in was due in: past it, the moment has gone."""
    return slot_end(profile, due_at, window if in_slot(profile, due_at, window) else None)


async def _skip(uow: UnitOfWork, deps: Deps, checkin: CheckIn, reason: str) -> None:
    if await uow.checkins.move(checkin.id, "scheduled", "skipped", deps.clock.now()):
        log.info("check-in %s (round %s) skipped: %s", checkin.id, checkin.round, reason)


async def send(subject: str, uow: UnitOfWork, deps: Deps) -> None:
    """The checkin.send job: deliver the question, unless it should not reach this person any more."""
    checkin = await uow.checkins.get(subject)
    if checkin is None or checkin.state != "scheduled":
        return  # sent already (by `admin checkins now`, or another replica), or skipped
    pair = await uow.pairs.get(checkin.pair_id)
    person = await uow.people.get(checkin.person_id)
    partner = await uow.people.get(_partner_id(pair, checkin.person_id)) if pair else None
    cohort = await uow.cohorts.get(pair.cohort_id) if pair else None
    now = deps.clock.now()
    reason = ""
    if pair is None or person is None or partner is None or pair.state != "active":
        reason = "the pair has ended"
    elif cohort is None or cohort.state == "ended":
        reason = "the cohort has ended"
    elif person.status != "active":
        reason = f"the person is {person.status}"
    elif now >= _stale_after(person.profile, checkin.due_at, window_of(deps)):
        reason = (f"it was due {checkin.due_at.isoformat()} and its slot passed while the bot was down; "
                  "the next round is scheduled")
    if reason or pair is None or person is None or partner is None:
        await _skip(uow, deps, checkin, reason)
        return
    if not await uow.checkins.move(checkin.id, "scheduled", "sent", now):
        return
    since = await _since(uow, pair, checkin)
    await uow.outbox.enqueue(person.actor, question(checkin, partner.profile.name, _day(person.profile, since)),
                             now, about=partner.id)
    settings = deps.settings.checkins
    await uow.jobs.schedule(REMIND, checkin.id,
                            after_working_days(person.profile, now, settings.remind_after_working_days))
    await uow.jobs.schedule(CLOSE, checkin.id,
                            after_working_days(person.profile, now, settings.close_after_working_days))


async def _since(uow: UnitOfWork, pair: Pair, checkin: CheckIn) -> datetime:
    """The person's last check-in that reached them, or the pair's start."""
    earlier = [c.sent_at for c in await uow.checkins.of_pair(pair.id)
               if c.person_id == checkin.person_id and c.round < checkin.round and c.sent_at is not None]
    return max(earlier) if earlier else pair.created_at


def _buttons(checkin: CheckIn) -> tuple[Button, ...]:
    return tuple(Button(label, ANSWER, f"{checkin.id}:{answer}", style="primary" if answer == "yes" else "default")
                 for answer, (label, _) in ANSWERS.items())


def question(checkin: CheckIn, partner: str, since: str, *, reminder: bool = False) -> Message:
    """The check-in as the person reads it."""
    head = f"Did you meet {partner} since {since}?"
    return Message(
        f"A gentle reminder: {head[0].lower()}{head[1:]}" if reminder else head,
        ("One click is enough. \"I need help\" reaches the program admins only, never your partner.",),
        buttons=_buttons(checkin))


async def remind(subject: str, uow: UnitOfWork, deps: Deps) -> None:
    """The checkin.remind job: once, only while unanswered, only to someone still taking part."""
    checkin = await uow.checkins.get(subject)
    if checkin is None or checkin.state != "sent" or checkin.answer is not None:
        return
    pair = await uow.pairs.get(checkin.pair_id)
    person = await uow.people.get(checkin.person_id)
    partner = await uow.people.get(_partner_id(pair, checkin.person_id)) if pair else None
    cohort = await uow.cohorts.get(pair.cohort_id) if pair else None
    if pair is None or person is None or partner is None or pair.state != "active" or person.status != "active":
        return
    if cohort is None or cohort.state == "ended":
        return
    if not await uow.checkins.mark_reminded(checkin.id):
        return
    since = _day(person.profile, await _since(uow, pair, checkin))
    await uow.outbox.enqueue(person.actor, question(checkin, partner.profile.name, since, reminder=True),
                             deps.clock.now(), about=partner.id)


async def close(subject: str, uow: UnitOfWork, deps: Deps) -> None:
    """The checkin.close job: still unanswered after the working days allowed, it closes as "no answer"."""
    checkin = await uow.checkins.get(subject)
    if checkin is None or not await uow.checkins.move(checkin.id, "sent", "no_answer", deps.clock.now()):
        return
    closed = await uow.checkins.get(checkin.id)
    pair = await uow.pairs.get(checkin.pair_id)
    if pair is not None and closed is not None:
        await nudges.checkin_closed(uow, deps, pair, closed)


# --- `admin checkins now` -------------------------------------------------------------------------------------

async def checkins_now(cmd: Command, uow: UnitOfWork, deps: Deps) -> Reply:
    """`admin checkins now`: the current round of every active pair, at once or at each person's next working
    hour, through the same rows and jobs as the schedule, so nothing is ever sent twice."""
    if len(cmd.args) < 2 or cmd.args[1].lower() != "now":
        raise CheckinsRefused("Use `admin checkins now`.")
    cohort = await uow.cohorts.current(cmd.actor.platform, cmd.actor.workspace)
    if cohort is None:
        raise CheckinsRefused("No cohort is running, so there are no check-ins to send.")
    pairs = await uow.pairs.active_in(cohort.id)
    if not pairs:
        raise CheckinsRefused(f"'{cohort.name}' has no active pairs yet: confirm a matching first.")
    now = deps.clock.now()
    ends = _ends(cohort, now)
    scheduled = already = away = 0
    for pair in pairs:
        round_no = max(1, beats_by(pair.created_at, cohort.cadence, now))
        if nth_cadence(pair.created_at, cohort.cadence, round_no) >= ends:
            continue  # the cohort ends before this round would have come
        mine = {c.person_id: c for c in await uow.checkins.of_pair(pair.id) if c.round == round_no}
        for person_id in (pair.mentor_id, pair.mentee_id):
            person = await uow.people.get(person_id)
            if person is None or person.status != "active":
                away += 1
                continue
            due = next_slot(person.profile, now)  # working time only: the admin asked for now
            existing = mine.get(person_id)
            if existing is None:
                made = await _add(uow, pair, person, round_no, due)
            elif existing.state == "scheduled" and due < existing.due_at:
                made = existing if await uow.checkins.reschedule(existing.id, due) else None
                if made is not None:
                    await uow.jobs.schedule(SEND, existing.id, due)  # the old job will find it sent
            else:
                made = None
            if made is None:
                already += 1
            else:
                scheduled += 1
    lines = [f"{scheduled} check-in{'' if scheduled == 1 else 's'} scheduled: each arrives now, or at the "
             "person's next working hour."]
    if already:
        lines.append(f"{already} of this round's check-ins were scheduled or sent already; nobody gets one twice.")
    if away:
        lines.append(f"{away} paused or unreachable {'person gets' if away == 1 else 'people get'} none.")
    return Reply.say(f"Check-ins for '{cohort.name}'", *lines)


# --- answers ----------------------------------------------------------------------------------------------------

def _recorded_already(checkin: CheckIn) -> Message:
    said = ANSWERS[checkin.answer][1] if checkin.answer is not None else "an answer"
    return Message(f"Recorded already: {said}.", ("Each check-in takes one answer; the next comes on schedule.",))


def details_form(checkin: CheckIn, agreed: list[Objective]) -> Form:
    """After a "yes": a private note and progress on each agreed objective, all optional to change."""
    fields = [Field("note", "A private note for yourself (only you see it)", "long_text", required=False,
                    max_length=MAX_NOTE, initial=checkin.note or None)]
    progress = dict(checkin.progress)
    fields += [Field(f"progress_{o.id}", f"Progress (0-4): {o.text}", "number", hint=PROGRESS_HINT,
                     initial=str(progress.get(o.id, o.progress))) for o in agreed]
    return Form(id=DETAILS_FORM, title="Your check-in", submit_label="Save", context=checkin.id,
                intro="Glad you met. Note what you want to remember, and how far each objective has come (0-4).",
                fields=tuple(fields))


async def _agreed(uow: UnitOfWork, pair_id: str) -> list[Objective]:
    return [o for o in await uow.objectives.of_pair(pair_id) if o.agreed]


async def on_answer(action: ActionTaken, *, deps: Deps) -> Reply:
    """Record who answered what, once; the buttons give way to the answer."""
    checkin_id, _, raw = action.value.rpartition(":")
    if raw not in ANSWERS:
        return Reply.say("That button is out of date; the next check-in will have working ones.")
    answer: CheckInAnswer = raw  # type: ignore[assignment]  # checked against ANSWERS just above
    async with deps.uow() as uow:
        me = await the_caller(uow, action.actor)
        checkin = await uow.checkins.get(checkin_id) if me else None
        if me is None or checkin is None:
            await uow.commit()
            return Reply(replace=Message("This check-in no longer exists."))
        if checkin.person_id != me.id:
            await uow.commit()
            return Reply.say("That check-in is someone else's: only they can answer it.")
        if checkin.answer is not None:
            await uow.commit()
            return Reply(replace=_recorded_already(checkin))
        if checkin.state == "no_answer":
            await uow.commit()
            return Reply(replace=Message("This check-in closed without an answer.",
                                         ("No harm done: the next one comes on schedule.",)))
        now = deps.clock.now()
        if not await uow.checkins.answer(checkin.id, answer, now):  # another click got there first
            latest = await uow.checkins.get(checkin.id)
            await uow.commit()
            return Reply(replace=_recorded_already(latest or checkin))
        answered = await uow.checkins.get(checkin.id) or replace(checkin, answer=answer, answered_at=now,
                                                                 state="answered")
        pair = await uow.pairs.get(checkin.pair_id)
        form: Form | None = None
        if answer == "help":
            request = await helpdesk.open_request(
                uow, deps, me, pair, f"Asked for help from their check-in (round {checkin.round}).",
                acknowledge=False)
            shown = helpdesk.acknowledgement(request)
        elif answer == "yes":
            shown = Message("Recorded: you met. Well done!",
                            ("Add a private note and your objectives' progress in the form, if you like.",))
            form = details_form(answered, await _agreed(uow, checkin.pair_id))
        elif answer == "rescheduled":
            shown = Message("Recorded: rescheduled.", ("Thanks for keeping the date alive.",))
        else:
            shown = Message("Recorded: not yet.", ("Even 15 minutes counts: a short call keeps the thread going.",))
        if pair is not None:
            await nudges.checkin_answered(uow, deps, pair, answered)
        await uow.commit()
    return Reply(replace=shown, form=form)


def _value(values: Mapping[str, FormValue], name: str) -> str:
    raw = values.get(name, "")
    return (raw[0] if raw else "") if isinstance(raw, tuple) else raw.strip()


async def on_details(form: FormSubmitted, *, deps: Deps) -> Reply:
    """Save the private note and the objectives' progress given after a "yes"."""
    note = _value(form.values, "note")
    async with deps.uow() as uow:
        me = await the_caller(uow, form.actor)
        checkin = await uow.checkins.get(form.context) if me else None
        if me is None or checkin is None or checkin.person_id != me.id or checkin.answer != "yes":
            await uow.commit()
            return Reply.say("That check-in isn't yours to fill in, or it no longer exists.")
        agreed = await _agreed(uow, checkin.pair_id)
        errors: dict[str, str] = {}
        if len(note) > MAX_NOTE:
            errors["note"] = f"The note is {len(note)} characters; at most {MAX_NOTE} are kept."
        progress: list[tuple[Objective, int]] = []
        for objective in agreed:
            name = f"progress_{objective.id}"
            raw = _value(form.values, name)
            if not raw:
                continue  # not asked (agreed after the form opened) or left as it was
            if raw not in ("0", "1", "2", "3", "4"):
                errors[name] = "Pick a value from 0 (not started) to 4 (done)."
            else:
                progress.append((objective, int(raw)))
        if errors:
            await uow.commit()
            return Reply(errors=errors, form=details_form(checkin, agreed))
        told = replace(checkin, note=note, progress=tuple((o.id, v) for o, v in progress))
        await uow.checkins.save(told)
        for objective, value in progress:
            await uow.objectives.save(replace(objective, progress=value))
        pair = await uow.pairs.get(checkin.pair_id)
        if pair is not None and progress:  # the answer is complete now: progress-driven triggers can see it
            await nudges.checkin_answered(uow, deps, pair, told)
        await uow.commit()
    summary = "\n".join(f"- {o.text}: {v}/4" for o, v in progress)
    return Reply(replace=Message("Saved. Thank you!", tuple(s for s in (
        summary, "Your note stays private to you." if note else "") if s)))


# --- status -----------------------------------------------------------------------------------------------------

async def next_checkin(uow: UnitOfWork, deps: Deps, pair: Pair, person: Person) -> datetime | None:
    """When the person's next check-in is due to reach them, if one is still to come in this cohort."""
    waiting = [c.due_at for c in await uow.checkins.of_pair(pair.id)
               if c.person_id == person.id and c.state == "scheduled"]
    if waiting:
        return min(waiting)
    cohort = await uow.cohorts.get(pair.cohort_id)
    if cohort is None or cohort.state == "ended":
        return None
    now = deps.clock.now()
    beat = nth_cadence(pair.created_at, cohort.cadence, beats_by(pair.created_at, cohort.cadence, now) + 1)
    return next_slot(person.profile, beat, window_of(deps)) if beat < _ends(cohort, now) else None
