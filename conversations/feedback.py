"""Anonymous feedback rounds: the prompt, the form, one answer per person, reminders to all, and the close.

What makes an answer anonymous lives here and in storage: the answer carries no person; a receipt (a keyed
hash of person and round) stops a second answer, is written in a transaction of its own before the answers,
and goes when the round closes, when the answers are rewritten in random order and the old rows scrubbed.
Nothing here logs, audits or queues anything that depends on who answered or what they said."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from conversations.calendar import next_slot
from conversations.caller import the_caller
from conversations.deps import Deps
from conversations.directory import admins_of
from conversations.events import ActionTaken, Command, FormSubmitted, FormValue
from conversations.messages import Button, Choice, Field, Form, Message, Reply
from conversations.model import Cohort, FeedbackAnswer, FeedbackRound, Person, RoundKind
from conversations.ports import UnitOfWork
from conversations.report_flow import after_round_closed
from conversations.reports import scrub as scrub_names

FEEDBACK_FORM = "feedback"
START = "feedback.start"  # button action opening the form; value: a round id, or "" for the caller's open round
ROUND_DUE = "feedback.round"  # job: subject "<cohort id>:mid" or "<cohort id>:end"
REMIND = "feedback.remind"  # job: subject a round id
CLOSE = "feedback.close"  # job: subject a round id
SCRUB = "feedback.scrub"  # job run after its transaction commits: physically remove closed rounds' old rows

SCALE_QUESTIONS: tuple[tuple[str, str], ...] = (
    ("safety_tough_topic", "I could raise a difficult or sensitive topic with my partner."),
    ("safety_mistakes", "When I made a mistake, it was held against me."),
    ("safety_valued", "My knowledge and skills were valued."),
    ("value", "Our sessions were worth the time."),
)
AGAIN = "again"
COMMENT = "comment"
_SCALE = tuple(Choice(str(v), label) for v, label in (
    (1, "1 - strongly disagree"), (2, "2 - disagree"), (3, "3 - neither"), (4, "4 - agree"),
    (5, "5 - strongly agree")))
_AGAIN_CHOICES = (Choice("yes", "Yes"), Choice("no", "No"))
PLAIN_WORDS = (
    "Anonymous: these answers. They are stored with your role (mentor or mentee) and nothing else: not your "
    "name, not your partner, not the time. Admins only see totals over several people, once the round has "
    "closed. Not anonymous: whether you met (check-ins), which the program counts per pair.")


class FeedbackRefused(Exception):
    """An admin's feedback command can't be done; the message says why and what to do."""


def receipt_of(key: bytes, person_id: str, round_id: str) -> str:
    """The keyed hash that says "this person answered this round", useless without the key."""
    if not key:
        raise RuntimeError("no feedback key configured: receipts would be guessable")
    return hmac.new(key, f"{round_id}\x1f{person_id}".encode(), hashlib.sha256).hexdigest()


def feedback_form(feedback_round: FeedbackRound, cohort_name: str, comment_limit: int) -> Form:
    fields = [Field(name, label, "choice", choices=_SCALE) for name, label in SCALE_QUESTIONS]
    fields.append(Field(AGAIN, "Would you do reverse mentoring again?", "choice", choices=_AGAIN_CHOICES))
    fields.append(Field(COMMENT, "Anything else? (optional)", "long_text", required=False,
                        max_length=comment_limit, hint="Please leave out names: it makes you easier to recognise."))
    return Form(id=FEEDBACK_FORM, title="Anonymous feedback", submit_label="Send anonymously",
                intro=f"{cohort_name}: {_round_words(feedback_round.kind)}. {PLAIN_WORDS}",
                fields=tuple(fields), context=feedback_round.id)


def _round_words(kind: RoundKind) -> str:
    return {"mid": "half-way feedback", "end": "end-of-cohort feedback", "adhoc": "feedback"}[kind]


@dataclass(frozen=True, slots=True)
class _Valid:
    values: dict[str, int]
    comment: str


def _validate(values: dict[str, FormValue], comment_limit: int) -> _Valid | dict[str, str]:
    """The answers as numbers, or per-field errors; nothing is stored until every field is right."""
    errors: dict[str, str] = {}
    numbers: dict[str, int] = {}
    for name, _label in SCALE_QUESTIONS:
        raw = values.get(name, "")
        raw = raw[0] if isinstance(raw, tuple) and raw else raw
        if not isinstance(raw, str) or raw.strip() not in {"1", "2", "3", "4", "5"}:
            errors[name] = "Choose a number from 1 to 5."
        else:
            numbers[name] = int(raw.strip())
    again = values.get(AGAIN, "")
    again = again[0] if isinstance(again, tuple) and again else again
    if not isinstance(again, str) or again.strip().lower() not in {"yes", "no"}:
        errors[AGAIN] = "Choose yes or no."
    else:
        numbers[AGAIN] = 1 if again.strip().lower() == "yes" else 0
    raw_comment = values.get(COMMENT, "")
    comment = (" ".join(raw_comment) if isinstance(raw_comment, tuple) else raw_comment).strip()
    if len(comment) > comment_limit:
        errors[COMMENT] = f"The comment is {len(comment)} characters; at most {comment_limit} are allowed."
    return errors or _Valid(numbers, comment)


async def _participants(uow: UnitOfWork, cohort_id: str) -> list[Person]:
    """Everyone in an active pair of the cohort: the people a round asks."""
    ids: dict[str, None] = {}
    for pair in await uow.pairs.active_in(cohort_id):
        ids.setdefault(pair.mentor_id, None)
        ids.setdefault(pair.mentee_id, None)
    people = [await uow.people.get(pid) for pid in ids]
    return [p for p in people if p is not None and p.status != "unreachable"]


def _prompt(deps: Deps, person: Person, cohort: Cohort, feedback_round: FeedbackRound, *, reminder: bool) -> Message:
    closes = feedback_round.closes_at.strftime("%a %d %b") if feedback_round.closes_at else "soon"
    if reminder:
        return Message(
            f"A reminder: anonymous feedback on {cohort.name} closes {closes}",
            ("Everyone in the cohort gets this reminder, so it says nothing about whether you answered. "
             "If you have, thank you: there is nothing more to do.",
             f"Two minutes, five questions. Or type `{deps.command_hint(person.actor, 'feedback')}`."),
            buttons=(Button("Give feedback", START, feedback_round.id, style="primary"),))
    return Message(
        f"How is reverse mentoring going? Anonymous feedback on {cohort.name}",
        (f"Two minutes, five questions, open until {closes}. {PLAIN_WORDS}",
         f"Or type `{deps.command_hint(person.actor, 'feedback')}`."),
        buttons=(Button("Give feedback", START, feedback_round.id, style="primary"),))


async def open_round(uow: UnitOfWork, deps: Deps, cohort: Cohort, kind: RoundKind) -> FeedbackRound | None:
    """Open a round, prompt every participant and schedule its reminder and close; None if one is open."""
    now = deps.clock.now()
    settings = deps.settings.feedback
    feedback_round = FeedbackRound(id=uuid.uuid4().hex, cohort_id=cohort.id, kind=kind, opened_at=now,
                                   closes_at=now + timedelta(days=settings.open_days))
    if not await uow.feedback.open_round(feedback_round):
        return None
    await uow.jobs.schedule(REMIND, feedback_round.id, now + timedelta(days=settings.remind_after_days))
    assert feedback_round.closes_at is not None
    await uow.jobs.schedule(CLOSE, feedback_round.id, feedback_round.closes_at)
    for person in await _participants(uow, cohort.id):
        await uow.outbox.enqueue(person.actor, _prompt(deps, person, cohort, feedback_round, reminder=False),
                                 next_slot(person.profile, now))  # in their working time, never at night
    return feedback_round


async def close_round(uow: UnitOfWork, deps: Deps, feedback_round: FeedbackRound) -> bool:
    """Close and publish a round: answers reshuffled, receipts gone, and the scrub queued to run next."""
    now = deps.clock.now()
    if not await uow.feedback.close_round(feedback_round.id, now):
        return False
    await uow.jobs.cancel(REMIND, feedback_round.id)  # its close job, if still waiting, finds it closed
    await uow.jobs.schedule(SCRUB, feedback_round.id, now)
    await after_round_closed(uow, deps, feedback_round.id)  # safety below target: the admins hear, once a round
    return True


def schedule_dates(cohort: Cohort, started: datetime, deps: Deps) -> dict[RoundKind, datetime]:
    """When the scheduled rounds open: half-way, and so that the end round closes as the cohort ends."""
    settings = deps.settings.feedback
    length = timedelta(weeks=cohort.weeks)
    dates: dict[RoundKind, datetime] = {}
    if settings.mid_round and cohort.weeks >= 2:
        dates["mid"] = started + length / 2
    if settings.end_round:
        dates["end"] = max(started + length - timedelta(days=settings.open_days), started + length / 2
                           + timedelta(days=settings.open_days))
    return dates


async def schedule_rounds(uow: UnitOfWork, deps: Deps, cohort: Cohort, started: datetime) -> None:
    """Called when a cohort starts running: its mid-way and end rounds become due jobs."""
    for kind, due in schedule_dates(cohort, started, deps).items():
        await uow.jobs.cancel(ROUND_DUE, f"{cohort.id}:{kind}")
        await uow.jobs.schedule(ROUND_DUE, f"{cohort.id}:{kind}", due)


async def on_cohort_end(uow: UnitOfWork, deps: Deps, cohort: Cohort) -> FeedbackRound | None:
    """A cohort ended early by an admin still gets its end round, now."""
    await uow.jobs.cancel(ROUND_DUE, f"{cohort.id}:mid")
    if await uow.jobs.cancel(ROUND_DUE, f"{cohort.id}:end") == 0:
        return None  # no end round was waiting (already held, or rounds are off)
    return await _open_scheduled(uow, deps, cohort, "end")


async def _open_scheduled(uow: UnitOfWork, deps: Deps, cohort: Cohort, kind: RoundKind) -> FeedbackRound | None:
    if any(r.kind == kind for r in await uow.feedback.rounds_of(cohort.id)):
        return None
    for still_open in await uow.feedback.open_rounds(cohort.id):  # an ad-hoc round gives way, published
        await close_round(uow, deps, still_open)
    return await open_round(uow, deps, cohort, kind)


async def round_due(subject: str, uow: UnitOfWork, deps: Deps) -> None:
    """The feedback.round job: open the cohort's mid-way or end round."""
    cohort_id, _, kind = subject.rpartition(":")
    cohort = await uow.cohorts.get(cohort_id)
    if cohort is None or kind not in ("mid", "end"):
        return
    if cohort.state == "running" or (kind == "end" and cohort.state == "ended"):
        await _open_scheduled(uow, deps, cohort, "mid" if kind == "mid" else "end")


async def remind(subject: str, uow: UnitOfWork, deps: Deps) -> None:
    """The feedback.remind job: one reminder to everyone in the round, answered or not."""
    feedback_round = await uow.feedback.get_round(subject)
    cohort = await uow.cohorts.get(feedback_round.cohort_id) if feedback_round else None
    if feedback_round is None or cohort is None or feedback_round.state != "open":
        return
    now = deps.clock.now()
    for person in await _participants(uow, cohort.id):
        await uow.outbox.enqueue(person.actor, _prompt(deps, person, cohort, feedback_round, reminder=True),
                                 next_slot(person.profile, now))


async def close_due(subject: str, uow: UnitOfWork, deps: Deps) -> None:
    """The feedback.close job: the round closes when announced; the admins hear it is ready."""
    feedback_round = await uow.feedback.get_round(subject)
    cohort = await uow.cohorts.get(feedback_round.cohort_id) if feedback_round else None
    if feedback_round is None or cohort is None or not await close_round(uow, deps, feedback_round):
        return
    now = deps.clock.now()
    for admin in await admins_of(uow, deps, cohort.platform, cohort.workspace):
        await uow.outbox.enqueue(admin, Message(
            f"The {_round_words(feedback_round.kind)} round of {cohort.name} has closed.",
            (f"`{deps.command_hint(admin, 'admin report')}` shows what can be shown: groups of at least "
             f"{deps.settings.feedback.k} answers.",)), now)


async def scrub_claimed(subject: str, uow: UnitOfWork, deps: Deps) -> None:
    """The feedback.scrub job inside its transaction: nothing to do until the claim has committed."""


async def scrub(deps: Deps) -> None:
    """The feedback.scrub job, run after its claim committed: nothing of the old rows stays on disk."""
    if deps.scrubber is not None:
        await deps.scrubber.scrub_feedback()


async def _round_for(uow: UnitOfWork, person: Person, round_id: str) -> FeedbackRound | None:
    """The open round the person may answer: the one named, or their cohort's open one."""
    cohorts = {c.id for c in await uow.cohorts.cohorts_of(person.id)}
    if round_id:
        found = await uow.feedback.get_round(round_id)
        return found if found is not None and found.cohort_id in cohorts and found.state == "open" else None
    for cohort_id in cohorts:
        rounds = await uow.feedback.open_rounds(cohort_id)
        if rounds:
            return rounds[0]
    return None


_ALREADY = Reply.say("You've answered this round already: thank you!",
                     "Each person answers once per round. The results are shared once the round closes.")
_NONE_OPEN = Reply.say("There is no feedback round open for you right now.",
                       "You'll get a message when the next one opens.")


async def _form_for(deps: Deps, actor_reply: Person | None, round_id: str) -> Reply:
    async with deps.uow() as uow:
        if actor_reply is None:
            return Reply.say("You haven't signed up, so there is no feedback to give yet.")
        feedback_round = await _round_for(uow, actor_reply, round_id)
        if feedback_round is None:
            return _NONE_OPEN
        if await uow.feedback.has_receipt(feedback_round.id, receipt_of(deps.feedback_key, actor_reply.id,
                                                                         feedback_round.id)):
            return _ALREADY
        cohort = await uow.cohorts.get(feedback_round.cohort_id)
        await uow.commit()
    return Reply(form=feedback_form(feedback_round, cohort.name if cohort else "Your cohort",
                                    deps.settings.feedback.comment_limit))


async def on_feedback(cmd: Command, *, deps: Deps) -> Reply:
    """`feedback`: the form of the caller's open round, if they haven't answered it."""
    async with deps.uow() as uow:
        person = await the_caller(uow, cmd.actor)
        await uow.commit()
    return await _form_for(deps, person, "")


async def on_start(action: ActionTaken, *, deps: Deps) -> Reply:
    """The "Give feedback" button of a prompt or reminder."""
    async with deps.uow() as uow:
        person = await the_caller(uow, action.actor)
        await uow.commit()
    return await _form_for(deps, person, action.value)


async def on_submitted(form: FormSubmitted, *, deps: Deps) -> Reply:
    """Store one person's answers once: the receipt first, alone; then the answers, naming nobody."""
    limit = deps.settings.feedback.comment_limit
    valid = _validate(dict(form.values), limit)
    async with deps.uow() as uow:
        person = await the_caller(uow, form.actor)
        feedback_round = await _round_for(uow, person, form.context) if person else None
        if person is None or feedback_round is None:
            return Reply.say("This feedback round has closed, or isn't yours to answer; nothing was stored.")
        if isinstance(valid, dict):
            cohort = await uow.cohorts.get(feedback_round.cohort_id)
            return Reply(errors=valid, form=feedback_form(feedback_round, cohort.name if cohort else "", limit))
        receipt = receipt_of(deps.feedback_key, person.id, feedback_round.id)
        if not await uow.feedback.add_receipt(feedback_round.id, receipt):
            return _ALREADY
        # Names are taken out before the comment is stored, not only when shown: a partner's name would point
        # at the author, and a name outlives its person's leaving in a stored text.
        comment = scrub_names(valid.comment, [p.profile.name for p in await uow.people.in_workspace(
            person.actor.platform, person.actor.workspace)]) if valid.comment else ""
        await uow.commit()  # the receipt's own transaction: nothing of the answers is in it
    answers = [FeedbackAnswer(id="", cohort_id=feedback_round.cohort_id, round_id=feedback_round.id,
                              role=person.profile.role, question=q, value=v) for q, v in valid.values.items()]
    if comment:
        answers.append(FeedbackAnswer(id="", cohort_id=feedback_round.cohort_id, round_id=feedback_round.id,
                                      role=person.profile.role, question=COMMENT, value=None, text=comment))
    try:
        async with deps.uow() as uow:
            await uow.feedback.add_answers(answers)
            await uow.commit()
    except Exception:
        async with deps.uow() as uow:  # the answers could not be stored: let the person try again
            await uow.feedback.remove_receipts([(feedback_round.id, receipt)])
            await uow.commit()
        raise
    return Reply.say("Thank you: your feedback is in, anonymously.",
                     "It's stored without your name. The cohort's results are shared once the round closes, "
                     "and only as totals over several people.")


async def admin_feedback(cmd: Command, uow: UnitOfWork, deps: Deps) -> Reply:
    """`admin feedback open|close|status`: rounds on demand for the current cohort."""
    verb = cmd.args[1].lower() if len(cmd.args) > 1 else "status"
    cohort = await uow.cohorts.current(cmd.actor.platform, cmd.actor.workspace)
    if cohort is None or cohort.state != "running":
        raise FeedbackRefused("Feedback rounds are for a running cohort, and none is running right now.")
    rounds = await uow.feedback.rounds_of(cohort.id)
    current = next((r for r in rounds if r.state == "open"), None)
    if verb == "open":
        if current is not None:
            raise FeedbackRefused(f"A {_round_words(current.kind)} round of '{cohort.name}' is open already; "
                                  "close it first with `admin feedback close`.")
        opened = await open_round(uow, deps, cohort, "adhoc")
        if opened is None:
            raise FeedbackRefused("Another admin opened a round a moment ago.")
        asked = len(await _participants(uow, cohort.id))
        return Reply.say(f"Feedback round opened for '{cohort.name}'.",
                         f"I asked {asked} {'person' if asked == 1 else 'people'} in active pairs. It closes on "
                         f"{opened.closes_at.date().isoformat() if opened.closes_at else 'request'}; "
                         "results show once it has closed.")
    if verb == "close":
        if current is None:
            raise FeedbackRefused(f"No feedback round of '{cohort.name}' is open.")
        await close_round(uow, deps, current)
        return Reply.say(f"The feedback round of '{cohort.name}' is closed.",
                         f"`{deps.command_hint(cmd.actor, 'admin report')}` shows the results that can be shown.")
    if verb == "status":
        lines = [f"{_round_words(r.kind)}: {r.state}, opened {r.opened_at.date().isoformat()}"
                 + (f", closed {r.closed_at.date().isoformat()}" if r.closed_at else "") for r in rounds]
        return Reply.say(f"Feedback rounds of '{cohort.name}'", "\n".join(lines) or "None yet.")
    raise FeedbackRefused("Use `admin feedback open`, `admin feedback close` or `admin feedback status`.")


async def erase_receipts(uow: UnitOfWork, deps: Deps, person: Person) -> None:
    """A person who leaves takes their receipts of open rounds with them (their answers stay, unlinkable)."""
    if not deps.feedback_key:
        return  # without a key no receipt could have been written
    found: list[tuple[str, str]] = []
    for cohort in await uow.cohorts.cohorts_of(person.id):
        for feedback_round in await uow.feedback.open_rounds(cohort.id):
            found.append((feedback_round.id, receipt_of(deps.feedback_key, person.id, feedback_round.id)))
    await uow.feedback.remove_receipts(found)
