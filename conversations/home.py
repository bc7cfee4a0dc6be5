"""The app's home: a person's own status and shortcuts, and for admins the cohort at a glance."""

from __future__ import annotations

from conversations.deps import Deps
from conversations.events import Command, HomeOpened
from conversations.membership import on_status
from conversations.messages import Button, Fact, Message, Reply


async def on_home_opened(event: HomeOpened, *, deps: Deps) -> Reply:
    """What the home tab shows: status with its buttons, then the admin overview for admins."""
    status = await on_status(Command(event.actor, "status"), deps=deps)
    messages = list(status.messages)
    async with deps.uow() as uow:
        person = await uow.people.by_actor(event.actor)
        if person is None:
            messages = [Message(
                "Reverse mentoring",
                ("Junior colleagues mentor senior leaders on what they know best; the seniors share context back. "
                 "Sign up to take part in the next cohort.",),
                buttons=(Button("Join", "signup.start", style="primary"),),
            )]
        if not await deps.is_admin(uow, event.actor):
            return Reply(messages=tuple(messages))
        current = await uow.cohorts.current(event.actor.platform, event.actor.workspace)
        people = await uow.people.in_workspace(event.actor.platform, event.actor.workspace)
        members = await uow.cohorts.members(current.id) if current else []
    facts = [Fact("Signed up", str(len(people))),
             Fact("Paused", str(sum(p.status == "paused" for p in people))),
             Fact("Unreachable", str(sum(p.status == "unreachable" for p in people)))]
    if current is not None:
        facts.insert(0, Fact("Current cohort", f"{current.name} ({current.state}, {len(members)} members)"))
    else:
        facts.insert(0, Fact("Current cohort", "none: open one with `admin cohort open NAME`"))
    messages.append(Message(
        "Program admin", facts=tuple(facts),
        buttons=(Button("Participants", "admin.run", "admin participants"),
                 Button("Cohorts", "admin.run", "admin cohort list"),
                 Button("Admin help", "admin.run", "admin help")),
    ))
    return Reply(messages=tuple(messages))
