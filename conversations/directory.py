"""Finding the person an admin means: a mention, an email or `platform:id`."""

from __future__ import annotations

import re

from conversations.deps import Deps
from conversations.events import Actor
from conversations.ports import UnitOfWork

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PLATFORMS = ("slack", "teams", "console")


async def resolve_user(query: str, caller: Actor, uow: UnitOfWork, deps: Deps) -> Actor | None:
    """The person `query` names in the caller's workspace, or None."""
    query = query.strip()
    prefix, sep, rest = query.partition(":")
    if sep and prefix.lower() in PLATFORMS and rest:
        if prefix.lower() != caller.platform:
            return None  # people are managed in their own platform's workspace
        return Actor(caller.platform, caller.workspace, rest)
    if _EMAIL.match(query):
        person = await uow.people.by_email(caller.platform, caller.workspace, query)
        if person is not None:
            return person.actor
    messenger = deps.messengers.get(caller.platform)
    if messenger is None:
        return None
    return await messenger.find_user(caller.workspace, query)


async def admins_of(uow: UnitOfWork, deps: Deps, platform: str, workspace: str) -> list[Actor]:
    """Everyone who administers this workspace: app.yaml's bootstrap admins and the added ones."""
    found = {a: None for a in await uow.admins.in_workspace(platform, workspace)}
    for user_id in deps.settings.admins.for_platform(platform):
        found.setdefault(Actor(platform, workspace, user_id), None)
    return list(found)
