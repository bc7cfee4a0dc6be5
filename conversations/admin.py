"""Program admins' commands: cohorts, admins, participants; every one audited, allowed or not."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

from conversations import audit, checkins, feedback, helpdesk, nudges, pairing, privacy, report_flow
from conversations.deps import Deps
from conversations.directory import admins_of, resolve_user
from conversations.events import ActionTaken, Actor, Command
from conversations.membership import erase_person, parse_weeks, pause_person, person_label
from conversations.messages import Button, Fact, Message, Reply
from conversations.model import Cadence, Cohort, Person
from conversations.ports import UnitOfWork

SIGNUP_CLOSES = "cohort.signup_closes"
_CADENCES: tuple[Cadence, ...] = ("weekly", "biweekly", "monthly")

AdminHandler = Callable[[Command, UnitOfWork, Deps], Awaitable[Reply]]

ADMIN_HELP = (
    ("admin cohort open NAME [--weeks N] [--cadence weekly|biweekly|monthly] [--signup-until YYYY-MM-DD]",
     "open a cohort for sign-up and invite everyone signed up"),
    ("admin cohort close-signup", "close sign-up; the cohort is running"),
    ("admin cohort end", "end the running cohort"),
    ("admin cohort list", "every cohort of this workspace"),
    ("admin participants", "who is in the current cohort"),
    ("admin pause USER [weeks]", "pause someone"),
    ("admin admins add|remove USER", "manage program admins"),
    ("admin admins list", "who the program admins are"),
    ("admin match preview [--late]", "propose the optimal pairing, each pair with its score and reasons"),
    ("admin match confirm ID", "start exactly the previewed pairs and introduce them"),
    ("admin match why A B", "why two people were not paired"),
    ("admin pair A B [--force]", "pair two people by hand (the rules still apply unless forced)"),
    ("admin unpair A B", "end a pair; both go back on the waiting list"),
    ("admin exclude A B | list | remove A B", "keep two people apart in every future matching"),
    ("admin checkins now", "send the current round's check-ins at once (in each person's working hours)"),
    ("admin reply ID TEXT", "answer a confidential help request: the person sees it, their partner never"),
    ("admin report [COHORT]", "participation, meetings, objectives, nudges, anonymous feedback, with a chart"),
    ("admin export [COHORT]", "the report's numbers and the pairs with their reasons, as CSV"),
    ("admin feedback open|close|status", "an anonymous feedback round of the running cohort, on demand"),
    ("admin forget USER", "delete everything stored about a person (their anonymous answers stay, unlinkable)"),
    ("(send a .csv file to the bot)", "import HR people data: level, department, manager, location; all rows or "
                                       "none, every problem by line and column"),
)


class Invalid(Exception):
    """An admin typed something we can't act on; the message says how to fix it."""


def _options(args: tuple[str, ...], known: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
    """Split `NAME --weeks 8 --cadence=weekly` into positional words and options."""
    words: list[str] = []
    opts: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--"):
            key, eq, value = arg[2:].partition("=")
            if key not in known:
                raise Invalid(f"Unknown option `--{key[:30]}`; known options: "
                              + ", ".join(f"--{k}" for k in known) + ".")
            if not eq:
                if i + 1 >= len(args):
                    raise Invalid(f"`--{key}` needs a value.")
                i += 1
                value = args[i]
            opts[key] = value
        else:
            words.append(arg)
        i += 1
    return words, opts


async def _notify(uow: UnitOfWork, deps: Deps, to: list[Actor], message: Message) -> None:
    now = deps.clock.now()
    for actor in to:
        await uow.outbox.enqueue(actor, message, now)


async def cohort_open(cmd: Command, uow: UnitOfWork, deps: Deps) -> Reply:
    words, opts = _options(cmd.args[2:], ("weeks", "cadence", "signup-until"))
    name = " ".join(words).strip()
    if not name:
        raise Invalid("Name the cohort: `admin cohort open \"Spring 2027\"`.")
    if len(name) > 80:
        raise Invalid(f"The cohort name is {len(name)} characters; at most 80 are allowed.")
    defaults = deps.settings.cohort
    weeks_raw = opts.get("weeks", str(defaults.weeks))
    if not weeks_raw.isascii() or not weeks_raw.isdigit() or not 1 <= int(weeks_raw) <= 104:
        raise Invalid(f"`--weeks {weeks_raw[:20]}`: give a whole number of weeks from 1 to 104.")
    cadence = opts.get("cadence", defaults.cadence).lower()
    if cadence not in _CADENCES:
        raise Invalid(f"`--cadence {cadence[:20]}`: choose weekly, biweekly or monthly.")
    now = deps.clock.now()
    until: date | None = None
    if "signup-until" in opts:
        try:
            until = date.fromisoformat(opts["signup-until"])
        except ValueError:
            raise Invalid(f"`--signup-until {opts['signup-until'][:20]}`: write the date as YYYY-MM-DD.") from None
        if until < now.date():
            raise Invalid(f"`--signup-until {until.isoformat()}` is in the past; pick today or a later date.")
    actor = cmd.actor
    current = await uow.cohorts.current(actor.platform, actor.workspace)
    if current is not None:
        still = "in sign-up" if current.state == "signup" else "running"
        raise Invalid(f"The cohort '{current.name}' is still {still}; end it first with `admin cohort end`.")
    if await uow.cohorts.by_name(actor.platform, actor.workspace, name) is not None:
        raise Invalid(f"A cohort named '{name}' already exists; pick another name.")
    cohort = Cohort(id=uuid.uuid4().hex, platform=actor.platform, workspace=actor.workspace, name=name,
                    state="signup", weeks=int(weeks_raw), cadence=cadence, created_at=now, signup_until=until)
    await uow.cohorts.add(cohort)
    if until is not None:
        await uow.jobs.schedule(SIGNUP_CLOSES, cohort.id, datetime.combine(until + timedelta(days=1), time(), UTC))
    invited = [p for p in await uow.people.in_workspace(actor.platform, actor.workspace) if p.status == "active"]
    deadline = f" Sign-up closes on {until.isoformat()}." if until else ""
    for person in invited:
        await uow.outbox.enqueue(person.actor, Message(
            f"A new reverse-mentoring cohort is open: {name}",
            (f"{cohort.weeks} weeks, {cadence} check-ins.{deadline} Want to take part?",),
            buttons=(Button("Count me in", "cohort.join", cohort.id, style="primary"),),
        ), now)
    return Reply.say(f"Cohort '{name}' is open for sign-up.",
                     f"{cohort.weeks} weeks, {cadence} check-ins.{deadline} Invited {len(invited)} "
                     f"{'person' if len(invited) == 1 else 'people'} who signed up before.")


async def cohort_close_signup(cmd: Command, uow: UnitOfWork, deps: Deps) -> Reply:
    cohort = await uow.cohorts.current(cmd.actor.platform, cmd.actor.workspace)
    if cohort is None or cohort.state != "signup":
        raise Invalid("No cohort is in sign-up right now.")
    await close_signup(uow, deps, cohort)
    await uow.jobs.cancel(SIGNUP_CLOSES, cohort.id)  # closed by hand: the deadline job has nothing left to do
    members = await uow.cohorts.members(cohort.id)
    return Reply.say(f"Sign-up for '{cohort.name}' is closed; the cohort is running with {len(members)} members.")


async def close_signup(uow: UnitOfWork, deps: Deps, cohort: Cohort) -> None:
    await uow.cohorts.save(replace(cohort, state="running", started_at=deps.clock.now()))
    await feedback.schedule_rounds(uow, deps, cohort, deps.clock.now())


async def signup_deadline(subject: str, uow: UnitOfWork, deps: Deps) -> None:
    """The cohort.signup_closes job: close sign-up on the announced date and tell the admins."""
    cohort = await uow.cohorts.get(subject)
    if cohort is None or cohort.state != "signup":
        return
    await close_signup(uow, deps, cohort)
    members = await uow.cohorts.members(cohort.id)
    await _notify(uow, deps, await admins_of(uow, deps, cohort.platform, cohort.workspace), Message(
        f"Sign-up for '{cohort.name}' closed as announced.", (f"The cohort is running with {len(members)} members.",)))


async def cohort_end(cmd: Command, uow: UnitOfWork, deps: Deps) -> Reply:
    cohort = await uow.cohorts.current(cmd.actor.platform, cmd.actor.workspace)
    if cohort is None:
        raise Invalid("No cohort is in sign-up or running, so there is nothing to end.")
    await uow.cohorts.save(replace(cohort, state="ended", ended_at=deps.clock.now()))
    await uow.jobs.cancel(SIGNUP_CLOSES, cohort.id)
    await feedback.on_cohort_end(uow, deps, replace(cohort, state="ended"))
    await privacy.schedule_purge(uow, deps, replace(cohort, state="ended", ended_at=deps.clock.now()))
    # Ended early, each pair still gets its farewell (reflection, recognition, the final feedback round) now,
    # in each person's working time; members without a pair get the plain notice.
    farewelled: set[str] = set()
    for pair in await uow.pairs.active_in(cohort.id):
        if await nudges.fire(uow, deps, pair, nudges.COHORT_END):
            farewelled |= {pair.mentor_id, pair.mentee_id}
    members = await uow.cohorts.members(cohort.id)
    for person_id in members:
        person = await uow.people.get(person_id)
        if person is not None and person_id not in farewelled:
            await uow.outbox.enqueue(person.actor, Message(
                f"The cohort '{cohort.name}' has ended.", ("Thank you for taking part!",)), deps.clock.now())
    return Reply.say(f"Cohort '{cohort.name}' has ended.", f"I let its {len(members)} members know.")


async def cohort_list(cmd: Command, uow: UnitOfWork, deps: Deps) -> Reply:
    cohorts = await uow.cohorts.all(cmd.actor.platform, cmd.actor.workspace)
    if not cohorts:
        return Reply.say("No cohorts yet.", "Open one with `admin cohort open NAME`.")
    facts = []
    for c in cohorts:
        members = len(await uow.cohorts.members(c.id))
        facts.append(Fact(c.name, f"{c.state}, {c.weeks} weeks, {c.cadence}, {members} members"
                                  + (f", {c.members_left} left" if c.members_left else "")))
    return Reply.say("Cohorts", facts=tuple(facts))


async def participants(cmd: Command, uow: UnitOfWork, deps: Deps) -> Reply:
    actor = cmd.actor
    cohort = await uow.cohorts.current(actor.platform, actor.workspace)
    if cohort is not None:
        ids = set(await uow.cohorts.members(cohort.id))
        people = [p for p in await uow.people.in_workspace(actor.platform, actor.workspace) if p.id in ids]
        title = f"Participants of '{cohort.name}' ({len(people)})"
    else:
        people = await uow.people.in_workspace(actor.platform, actor.workspace)
        title = f"Signed up, no cohort open ({len(people)})"
    if not people:
        return Reply.say(title, "Nobody yet.")
    facts = tuple(Fact(person_label(p), p.status if p.status != "paused" or not p.paused_until
                       else f"paused until {p.paused_until.date().isoformat()}") for p in people[:200])
    more = (f"...and {len(people) - 200} more.",) if len(people) > 200 else ()
    return Reply.say(title, *more, facts=facts)


async def admin_pause(cmd: Command, uow: UnitOfWork, deps: Deps) -> Reply:
    if len(cmd.args) < 2:
        raise Invalid("Say who: `admin pause USER [weeks]`.")
    target = await _person_for(cmd, cmd.args[1], uow, deps)
    weeks = parse_weeks(cmd.args[2:], deps.settings.max_pause_weeks)
    if isinstance(weeks, str):
        raise Invalid(weeks)
    until = await pause_person(uow, deps, target[1], weeks)
    await uow.outbox.enqueue(target[0], Message(
        f"A program admin paused your participation until {until.strftime('%a %d %b %Y')}.",
        (f"No check-ins or nudges until then. `{deps.command_hint(target[0], 'resume')}` ends it sooner.",)),
        deps.clock.now(), about=target[1].id)
    return Reply.say(f"Paused {target[1].profile.name} until {until.date().isoformat()}.")


async def _person_for(cmd: Command, query: str, uow: UnitOfWork, deps: Deps) -> tuple[Actor, Person]:
    actor = await resolve_user(query, cmd.actor, uow, deps)
    person = await uow.people.by_actor(actor) if actor else None
    if actor is None or person is None:
        raise Invalid(f"I can't find a signed-up person for '{query[:60]}'. "
                      "Use a mention, their email, or platform:id.")
    return actor, person


async def admins_cmd(cmd: Command, uow: UnitOfWork, deps: Deps) -> Reply:
    verb = cmd.args[1] if len(cmd.args) > 1 else "list"
    if verb == "list":
        admins = await admins_of(uow, deps, cmd.actor.platform, cmd.actor.workspace)
        names = []
        for a in admins:
            person = await uow.people.by_actor(a)
            names.append((person.profile.name if person else a.user_id)
                         + (" (from app.yaml)" if deps.is_bootstrap_admin(a) else ""))
        return Reply.say("Program admins", "\n".join(names))
    if verb not in ("add", "remove") or len(cmd.args) < 3:
        raise Invalid("Use `admin admins add USER`, `admin admins remove USER` or `admin admins list`.")
    target = await resolve_user(cmd.args[2], cmd.actor, uow, deps)
    if target is None:
        raise Invalid(f"I can't find '{cmd.args[2][:60]}'. Use a mention, an email or platform:id.")
    if verb == "add":
        added = await uow.admins.add(target, deps.clock.now())
        if added:
            await uow.outbox.enqueue(target, Message(
                "You are now a program admin of reverse mentoring.",
                (f"See what you can do with `{deps.command_hint(target, 'admin help')}`.",)), deps.clock.now())
        return Reply.say("Admin added." if added else "They were already an admin.")
    if deps.is_bootstrap_admin(target):
        raise Invalid("That admin comes from app.yaml (program.admins) and can only be removed there.")
    removed = await uow.admins.remove(target)
    return Reply.say("Admin removed." if removed else "They weren't an admin.")


async def admin_forget(cmd: Command, uow: UnitOfWork, deps: Deps) -> Reply:
    """`admin forget USER`: a data-subject erasure on someone's behalf, as thorough as their own `leave`."""
    if len(cmd.args) < 2:
        raise Invalid("Say who: `admin forget USER` (a mention, their email, or platform:id).")
    actor, person = await _person_for(cmd, cmd.args[1], uow, deps)
    await feedback.erase_receipts(uow, deps, person)
    await erase_person(uow, actor, person, now=deps.clock.now())
    return Reply.say(f"Forgot {person.profile.name}.",
                     "Their profile, identities, memberships, check-ins and their notes, help requests, "
                     "feedback receipts and every message to or about them are deleted. Their anonymous feedback "
                     "answers stay: nothing links them to anyone.")


async def admin_help(cmd: Command, uow: UnitOfWork, deps: Deps) -> Reply:
    return Reply.say("Admin commands", "\n".join(
        f"{usage}: {what}" if usage.startswith("(") else f"`{deps.command_hint(cmd.actor, usage)}`: {what}"
        for usage, what in ADMIN_HELP))


_COHORT: dict[str, AdminHandler] = {
    "open": cohort_open, "close-signup": cohort_close_signup, "end": cohort_end, "list": cohort_list,
}
_ADMIN: dict[str, AdminHandler] = {
    "participants": participants, "pause": admin_pause, "admins": admins_cmd, "help": admin_help,
    "pair": pairing.pair_by_hand, "unpair": pairing.unpair, "exclude": pairing.exclude,
    "checkins": checkins.checkins_now, "reply": helpdesk.admin_reply,
    "report": report_flow.admin_report, "export": report_flow.admin_export,
    "feedback": feedback.admin_feedback, "forget": admin_forget,
}
_MATCH: dict[str, AdminHandler] = {"preview": pairing.preview, "confirm": pairing.confirm, "why": pairing.why}


def _route(cmd: Command) -> tuple[str, AdminHandler | None]:
    sub = cmd.args[0].lower() if cmd.args else "help"
    if sub in ("cohort", "match"):
        verb = cmd.args[1].lower() if len(cmd.args) > 1 else ""
        return f"admin.{sub}.{verb or 'missing'}", (_COHORT if sub == "cohort" else _MATCH).get(verb)
    return f"admin.{sub}", _ADMIN.get(sub)


async def on_admin(cmd: Command, *, deps: Deps) -> Reply:
    """Check the caller is an admin, run the subcommand, audit the outcome, all in one transaction."""
    action, handler = _route(cmd)
    async with deps.uow() as uow:
        if not await deps.is_admin(uow, cmd.actor):
            await audit.record(uow, deps.clock, cmd.actor, action[:60], "denied")
            await uow.commit()
            return Reply.say("Only program admins can use admin commands.",
                             "If you think you should be one, ask a current program admin.")
        if handler is None:
            await audit.record(uow, deps.clock, cmd.actor, "admin.unknown", "invalid")
            await uow.commit()
            return await admin_help(cmd, uow, deps)
        try:
            reply = await handler(cmd, uow, deps)
        except (Invalid, pairing.PairingRefused, report_flow.NoCohort, checkins.CheckinsRefused,
                helpdesk.HelpRefused, feedback.FeedbackRefused) as problem:
            await uow.rollback()
            refused = str(problem)
        else:
            await audit.record(uow, deps.clock, cmd.actor, action, "ok")
            await uow.commit()
            return reply
    async with deps.uow() as uow:  # the refusal is audited; whatever the handler wrote is not kept
        await audit.record(uow, deps.clock, cmd.actor, action, "invalid")
        await uow.commit()
    return Reply.say("That didn't work.", refused)


async def on_admin_button(action: ActionTaken, *, deps: Deps) -> Reply:
    """Admin buttons carry the command words they stand for."""
    return await on_admin(Command.parse(action.actor, action.value), deps=deps)
