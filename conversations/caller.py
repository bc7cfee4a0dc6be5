"""The person behind an event, read in the flow's own transaction."""

from __future__ import annotations

from conversations.events import Actor
from conversations.model import Person
from conversations.ports import UnitOfWork


async def the_caller(uow: UnitOfWork, actor: Actor) -> Person | None:
    """The caller's person; one the platform had reported gone is talking to us, so reachable again.

    The flow commits its transaction whatever it decides, so that change is kept.
    """
    person = await uow.people.by_actor(actor)
    if person is not None and person.status == "unreachable":
        person = person.with_status("active")
        await uow.people.save(person)
    return person
