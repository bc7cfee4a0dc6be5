"""Joining the program and keeping one's profile up to date."""

from __future__ import annotations

import uuid

from conversations import audit
from conversations.caller import the_caller
from conversations.deps import Deps
from conversations.events import ActionTaken, Command, FormSubmitted
from conversations.messages import Button, Message, Reply
from conversations.model import HrRecord, Person
from conversations.ports import UnitOfWork
from conversations.profiles import hr_keys, hr_overrides, profile_facts, signup_form, validate_profile


async def on_join(cmd: Command, *, deps: Deps) -> Reply:
    """New people get the sign-up form; people with a profile join the cohort in sign-up."""
    async with deps.uow() as uow:
        person = await the_caller(uow, cmd.actor)
        if person is None:
            return Reply(form=signup_form(deps.settings, hr=await uow.hr.find(hr_keys(cmd.actor))))
        cohort = await uow.cohorts.current(cmd.actor.platform, cmd.actor.workspace)
        if cohort is None or cohort.state != "signup":
            await uow.commit()
            return Reply.say(
                "You're already signed up.",
                "There is no cohort open for sign-up right now; you'll be invited when the next one opens.",
                buttons=(Button("Edit profile", "profile.edit"),),
            )
        added = await uow.cohorts.add_member(cohort.id, person.id, deps.clock.now())
        await uow.commit()
    if not added:
        return Reply.say(f"You're already in the cohort '{cohort.name}'.")
    return Reply.say(f"You're in the cohort '{cohort.name}'.",
                     "You'll hear from me when the pairs are made.")


async def on_signup_submitted(form: FormSubmitted, *, deps: Deps) -> Reply:
    """Store a valid profile in one transaction, HR's values winning; otherwise say, per field, what to fix."""
    now = deps.clock.now()
    async with deps.uow() as uow:
        hr = await uow.hr.find(hr_keys(form.actor, form.values.get("email")))
        result = validate_profile(form.values, deps.settings, hr)
        if isinstance(result, dict):  # the form comes along for platforms that redraw it
            return Reply(errors=result, form=signup_form(deps.settings, hr=hr))
        from_hr = _set_by_hr(hr, deps)
        person = await the_caller(uow, form.actor)
        if person is not None:
            await uow.people.save(Person(id=person.id, actor=person.actor, profile=result, status=person.status,
                                         paused_until=person.paused_until, created_at=person.created_at))
            await uow.commit()
            return Reply.say("Your profile is saved.", *from_hr, facts=profile_facts(result))
        person = Person(id=uuid.uuid4().hex, actor=form.actor, profile=result, created_at=now)
        await uow.people.add(person)
        cohort = await uow.cohorts.current(form.actor.platform, form.actor.workspace)
        joined = cohort is not None and cohort.state == "signup"
        if cohort is not None and joined:
            await uow.cohorts.add_member(cohort.id, person.id, now)
        await audit.record(uow, deps.clock, form.actor, "signup", "ok")
        await uow.commit()
    lines = [f"Welcome, {result.name}! You're signed up as a {result.role}.", *from_hr]
    if cohort is not None and joined:
        lines.append(f"You're in the cohort '{cohort.name}'; you'll hear from me when the pairs are made.")
    else:
        lines.append("You'll be invited when the next cohort opens.")
    lines.append(f"See where you stand any time with `{deps.command_hint(form.actor, 'status')}`.")
    return Reply.say(lines[0], *lines[1:])


async def on_profile(cmd: Command, *, deps: Deps) -> Reply:
    """Show the profile; `profile edit` opens the form prefilled."""
    async with deps.uow() as uow:
        person = await the_caller(uow, cmd.actor)
        hr = await _hr_of(uow, person) if person is not None and cmd.args[:1] == ("edit",) else None
        await uow.commit()
    if person is None:
        return Reply.say("You haven't signed up yet.",
                         f"Type `{deps.command_hint(cmd.actor, 'join')}` to start.")
    if cmd.args[:1] == ("edit",):
        return Reply(form=signup_form(deps.settings, person.profile, hr=hr))
    return Reply(messages=(Message("Your profile", facts=profile_facts(person.profile),
                                   buttons=(Button("Edit profile", "profile.edit"),)),))


async def on_profile_edit(action: ActionTaken, *, deps: Deps) -> Reply:
    """The Edit profile button."""
    return await on_profile(Command(action.actor, "profile", ("edit",), trigger=action.trigger), deps=deps)


async def on_signup_start(action: ActionTaken, *, deps: Deps) -> Reply:
    """The Join button of the home tab: same as typing `join`."""
    return await on_join(Command(action.actor, "join", trigger=action.trigger), deps=deps)


async def on_cohort_join(action: ActionTaken, *, deps: Deps) -> Reply:
    """The invitation's button: join that cohort if it is still in sign-up."""
    async with deps.uow() as uow:
        person = await the_caller(uow, action.actor)
        cohort = await uow.cohorts.get(action.value)
        if person is None:
            return Reply(form=signup_form(deps.settings, hr=await uow.hr.find(hr_keys(action.actor))))
        if cohort is None or cohort.state != "signup":
            await uow.commit()
            return Reply(replace=Message("This cohort is no longer open for sign-up."))
        added = await uow.cohorts.add_member(cohort.id, person.id, deps.clock.now())
        await uow.commit()
    text = f"You're in the cohort '{cohort.name}'." if added else f"You were already in '{cohort.name}'."
    return Reply(replace=Message(text, ("You'll hear from me when the pairs are made.",)))


async def _hr_of(uow: UnitOfWork, person: Person) -> HrRecord | None:
    return await uow.hr.find(hr_keys(person.actor, person.profile.email))


def _set_by_hr(hr: HrRecord | None, deps: Deps) -> list[str]:
    """One line naming what HR decided, so nobody wonders why their answer did not stick."""
    fixed = hr_overrides(hr, deps.settings.levels)
    if not fixed:
        return []
    return ["Set by HR: " + ", ".join(f"{name} {value}" for name, value in fixed.items()) + "."]
