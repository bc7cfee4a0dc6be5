"""A participant's own state: status, pause, resume, and leaving with their data deleted."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from conversations import audit, checkins
from conversations.calendar import zone_of
from conversations.caller import the_caller
from conversations.deps import Deps
from conversations.events import ActionTaken, Actor, Command
from conversations.feedback import erase_receipts
from conversations.messages import Button, Fact, Message, Reply
from conversations.model import Pair, Person
from conversations.partners import release_partners
from conversations.ports import UnitOfWork

PAUSE_END = "pause.end"
DEFAULT_PAUSE_WEEKS = 2


def _day(at: datetime) -> str:
    return at.strftime("%a %d %b %Y")


async def on_status(cmd: Command, *, deps: Deps) -> Reply:
    """Where the person stands: signed up, paused, which cohort."""
    async with deps.uow() as uow:
        person = await the_caller(uow, cmd.actor)
        is_admin = await deps.is_admin(uow, cmd.actor)
        current = await uow.cohorts.current(cmd.actor.platform, cmd.actor.workspace)
        cohorts = await uow.cohorts.cohorts_of(person.id) if person else []
        pairs: list[tuple[Pair, str, list[str], datetime | None]] = []
        for pair in (await uow.pairs.active_of(person.id) if person else []):
            other = await uow.people.get(pair.mentee_id if person and pair.mentor_id == person.id else pair.mentor_id)
            agreed = [o.text for o in await uow.objectives.of_pair(pair.id) if o.agreed]
            upcoming = await checkins.next_checkin(uow, deps, pair, person) if person else None
            pairs.append((pair, other.profile.name if other else "someone", agreed, upcoming))
        await uow.commit()
    facts: list[Fact] = []
    if person is None:
        if current is not None:
            facts.append(Fact("Current cohort", f"{current.name} ({_cohort_state(current.state)})"))
        lines = [f"Type `{deps.command_hint(cmd.actor, 'join')}` to sign up."]
        if is_admin:
            lines.append(f"You are a program admin: `{deps.command_hint(cmd.actor, 'admin help')}`.")
        return Reply.say("You haven't signed up yet.", *lines, facts=tuple(facts))
    facts.append(Fact("You", f"{person.profile.name}, {person.profile.role}, {person.profile.level}"))
    facts.append(Fact("State", _person_state(person)))
    mine = [c for c in cohorts if c.state != "ended"]
    facts.append(Fact("Your cohort", ", ".join(f"{c.name} ({_cohort_state(c.state)})" for c in mine)
                      if mine else "none yet"))
    if current is not None and current.state == "signup" and current not in mine:
        facts.append(Fact("Open for sign-up", f"{current.name}: type `{deps.command_hint(cmd.actor, 'join')}`"))
    for pair, partner_name, agreed, upcoming in pairs:
        role = "your mentee" if pair.mentor_id == person.id else "your mentor"
        facts.append(Fact("Partner", f"{partner_name} ({role})"))
        facts.append(Fact("Objectives", "; ".join(agreed) if agreed else
                          f"none agreed yet: `{deps.command_hint(cmd.actor, 'objectives')}`"))
        if upcoming is not None and person.status == "active":
            local = upcoming.astimezone(zone_of(person.profile))
            facts.append(Fact("Next check-in", f"{local:%a} {local.day} {local:%b}, {local:%H:%M} your time"))
    if is_admin:
        facts.append(Fact("Admin", "yes"))
    buttons = [Button("Edit profile", "profile.edit")]
    buttons.append(Button("Resume", "pause.resume", style="primary") if person.status == "paused"
                   else Button("Pause 2 weeks", "pause.start", str(DEFAULT_PAUSE_WEEKS)))
    return Reply(messages=(Message("Your status", facts=tuple(facts), buttons=tuple(buttons)),))


def _cohort_state(state: str) -> str:
    return {"signup": "sign-up open", "running": "running", "ended": "ended"}.get(state, state)


def _person_state(person: Person) -> str:
    if person.status == "paused" and person.paused_until:
        return f"paused until {_day(person.paused_until)}"
    return {"active": "active", "paused": "paused", "unreachable": "unreachable (the bot can't reach you)"}[
        person.status]


def parse_weeks(args: tuple[str, ...], limit: int) -> int | str:
    """Weeks of a pause from the command's argument, or the message saying what is wrong."""
    if not args:
        return DEFAULT_PAUSE_WEEKS
    raw = args[0].lower().removesuffix("weeks").removesuffix("week").removesuffix("w")
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= limit:
        return f"'{args[0][:20]}' is not a number of weeks; give a whole number from 1 to {limit}, e.g. `pause 2`."
    return int(raw)


async def pause_person(uow: UnitOfWork, deps: Deps, person: Person, weeks: int) -> datetime:
    """Pause someone until a date; a job ends the pause by itself."""
    until = deps.clock.now() + timedelta(weeks=weeks)
    await uow.people.save(person.with_status("paused", until))
    await release_partners(uow, deps, person, paused_until=until,
                           told="Your partner is taking a break that lasts past the end of the cohort.")
    await uow.jobs.cancel(PAUSE_END, person.id)
    await uow.jobs.schedule(PAUSE_END, person.id, until)
    return until


async def on_pause(cmd: Command, *, deps: Deps) -> Reply:
    """`pause [weeks]`: no check-ins or nudges until then."""
    weeks = parse_weeks(cmd.args, deps.settings.max_pause_weeks)
    if isinstance(weeks, str):
        return Reply.say("I couldn't pause you.", weeks)
    async with deps.uow() as uow:
        person = await the_caller(uow, cmd.actor)
        if person is None:
            return Reply.say("You haven't signed up yet, so there is nothing to pause.")
        until = await pause_person(uow, deps, person, weeks)
        await uow.commit()
    return Reply.say(f"Paused until {_day(until)}.",
                     "You'll get no check-ins or nudges until then; I'll tell you when the pause ends. "
                     f"Come back sooner with `{deps.command_hint(cmd.actor, 'resume')}`.")


async def on_pause_button(action: ActionTaken, *, deps: Deps) -> Reply:
    reply = await on_pause(Command(action.actor, "pause", (action.value or str(DEFAULT_PAUSE_WEEKS),)), deps=deps)
    return Reply(replace=reply.messages[0]) if reply.messages else reply


async def on_resume(cmd: Command, *, deps: Deps) -> Reply:
    async with deps.uow() as uow:
        person = await the_caller(uow, cmd.actor)
        if person is None:
            return Reply.say("You haven't signed up yet.")
        if person.status != "paused":
            await uow.commit()
            return Reply.say("You're not paused; nothing to resume.")
        await uow.people.save(person.with_status("active"))
        await uow.jobs.cancel(PAUSE_END, person.id)
        await uow.commit()
    return Reply.say("Welcome back! Your pause has ended.")


async def on_resume_button(action: ActionTaken, *, deps: Deps) -> Reply:
    reply = await on_resume(Command(action.actor, "resume"), deps=deps)
    return Reply(replace=reply.messages[0]) if reply.messages else reply


async def end_pause(subject: str, uow: UnitOfWork, deps: Deps) -> None:
    """The pause.end job: reactivate and say so, unless they resumed or re-paused meanwhile."""
    person = await uow.people.get(subject)
    if person is None or person.status != "paused":
        return
    if person.paused_until and person.paused_until > deps.clock.now():
        return  # paused again for longer; that pause has its own job
    await uow.people.save(person.with_status("active"))
    await uow.outbox.enqueue(person.actor, Message(
        "Your pause is over. Welcome back!",
        (f"Check-ins and nudges start again. Need more time? `{deps.command_hint(person.actor, 'pause 2')}`.",),
    ), deps.clock.now())


async def on_leave(cmd: Command, *, deps: Deps) -> Reply:
    """Ask before deleting: leaving is final."""
    async with deps.uow() as uow:
        person = await the_caller(uow, cmd.actor)
        await uow.commit()
    if person is None:
        return Reply.say("You haven't signed up, so I hold no profile of yours.")
    return Reply.say(
        "Leave the program and delete your data?",
        "This deletes your profile, your memberships and everything addressed to you. "
        "Anonymous totals (like how many people took part) stay. This can't be undone.",
        buttons=(Button("Yes, delete my data", "leave.confirm", style="danger"),
                 Button("Cancel", "leave.cancel")),
    )


async def erase_person(uow: UnitOfWork, actor: Actor, person: Person | None, *, now: datetime) -> None:
    """Remove every trace of one person; the audit entries stay but lose their link to them."""
    if person is not None:
        for pair in await uow.pairs.active_of(person.id):
            partner = await uow.people.get(pair.mentee_id if pair.mentor_id == person.id else pair.mentor_id)
            if partner is not None:  # told without a name: nothing about the leaver may outlive them
                await uow.outbox.enqueue(partner.actor, Message(
                    "Your partner has left the program",
                    ("You're back on the waiting list and will be matched again as soon as a good partner "
                     "is there. Nothing you shared is lost or passed on.",)), now)
        await uow.jobs.erase_subject(person.id)
        if person.profile.email:  # someone may have named them privately: that name goes too
            gone = person.profile.email.lower()
            for other in await uow.people.in_workspace(actor.platform, actor.workspace):
                if gone in other.profile.avoid:
                    kept = tuple(e for e in other.profile.avoid if e != gone)
                    await uow.people.save(replace(other, profile=replace(other.profile, avoid=kept)))
        await uow.outbox.erase_about(person.id)
        await uow.previews.erase_mentioning(person.id)
        await uow.people.erase(person.id)
    await uow.outbox.erase_recipient(actor)
    await uow.addresses.erase(actor)
    await uow.admins.remove(actor)
    await uow.audit.forget(actor)


async def on_leave_confirm(action: ActionTaken, *, deps: Deps) -> Reply:
    async with deps.uow() as uow:
        person = await uow.people.by_actor(action.actor)
        if person is None:
            return Reply(replace=Message("There's nothing left to delete: you're not signed up."))
        await audit.record(uow, deps.clock, action.actor, "leave", "ok")
        await erase_receipts(uow, deps, person)
        await erase_person(uow, action.actor, person, now=deps.clock.now())
        await uow.commit()
    return Reply(replace=Message(
        "You've left the program and your data is deleted.",
        (f"Thank you for taking part. You're welcome back any time: `{deps.command_hint(action.actor, 'join')}`.",),
    ))


async def on_leave_cancel(action: ActionTaken, *, deps: Deps) -> Reply:
    return Reply(replace=Message("Good: you're still in. Nothing was deleted."))


def person_label(person: Person) -> str:
    """How admins see a person in lists."""
    return f"{person.profile.name} ({person.profile.role}, {person.profile.level}, {person.profile.department})"
