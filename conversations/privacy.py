"""Retention: an ended cohort's personal data is purged `program.retention_months` after it ended."""

from __future__ import annotations

from conversations.calendar import add_months
from conversations.deps import Deps
from conversations.model import Cohort
from conversations.ports import UnitOfWork

PURGE = "cohort.purge"  # job: subject a cohort id


async def schedule_purge(uow: UnitOfWork, deps: Deps, cohort: Cohort) -> None:
    """Called when a cohort ends: its purge becomes a due job."""
    ended = cohort.ended_at or deps.clock.now()
    await uow.jobs.schedule(PURGE, cohort.id, add_months(ended, deps.settings.retention_months))


async def purge_due(subject: str, uow: UnitOfWork, deps: Deps) -> None:
    """The cohort.purge job; if app.yaml now keeps data longer, it waits until then."""
    cohort = await uow.cohorts.get(subject)
    if cohort is None or cohort.state != "ended":
        return
    due = add_months(cohort.ended_at or deps.clock.now(), deps.settings.retention_months)
    if due > deps.clock.now():
        await uow.jobs.schedule(PURGE, cohort.id, due)
        return
    await uow.retention.purge_cohort(cohort.id)
