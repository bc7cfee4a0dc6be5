"""When one side of a pair drops out (unreachable, paused past the cohort's end), the other is told and waits again."""

from __future__ import annotations

from datetime import datetime, timedelta

from conversations.deps import Deps
from conversations.messages import Message
from conversations.model import Cohort, Person
from conversations.ports import UnitOfWork


def cohort_end(cohort: Cohort) -> datetime:
    return (cohort.started_at or cohort.created_at) + timedelta(weeks=cohort.weeks)


async def release_partners(uow: UnitOfWork, deps: Deps, person: Person, *, told: str,
                           paused_until: datetime | None = None) -> int:
    """End the person's active pairs (only those whose cohort ends before `paused_until`, when given)."""
    now = deps.clock.now()
    ended = 0
    for pair in await uow.pairs.active_of(person.id):
        cohort = await uow.cohorts.get(pair.cohort_id)
        if paused_until is not None and cohort is not None and paused_until < cohort_end(cohort):
            continue  # back before the cohort ends: the pair waits for them
        await uow.pairs.end(pair.id, now)
        ended += 1
        partner = await uow.people.get(pair.mentee_id if pair.mentor_id == person.id else pair.mentor_id)
        if partner is not None:
            await uow.outbox.enqueue(partner.actor, Message(
                "Your pair has ended",
                (told, "You're back on the waiting list and will be matched again as soon as a good partner is "
                 "there. Nothing you shared is passed on."),
            ), now, about=person.id)
    return ended
