"""Running due jobs: each claimed by one process, its effects committed with its completion."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta

from conversations import admin, checkins, feedback, membership, nudges, privacy
from conversations.deps import Deps
from conversations.ports import UnitOfWork

log = logging.getLogger("mentorbot.jobs")

JobHandler = Callable[[str, UnitOfWork, Deps], Awaitable[None]]
# (kind, outcome "done" | "retry" | "failed", seconds from due_at to the claim): a metrics hook, no more
JobObserver = Callable[[str, str, float], None]

HANDLERS: Mapping[str, JobHandler] = {
    membership.PAUSE_END: membership.end_pause,
    admin.SIGNUP_CLOSES: admin.signup_deadline,
    nudges.NUDGE_DUE: nudges.on_due,
    nudges.NUDGE_SEND: nudges.on_send,
    checkins.ROUND: checkins.run_round,
    checkins.SEND: checkins.send,
    checkins.REMIND: checkins.remind,
    checkins.CLOSE: checkins.close,
    feedback.ROUND_DUE: feedback.round_due,
    feedback.REMIND: feedback.remind,
    feedback.CLOSE: feedback.close_due,
    feedback.SCRUB: feedback.scrub_claimed,
    privacy.PURGE: privacy.purge_due,
}
# Work that cannot run inside a transaction (a VACUUM): the job's claim commits first, then this runs.
AFTER_COMMIT: Mapping[str, Callable[[Deps], Awaitable[None]]] = {feedback.SCRUB: feedback.scrub}
MAX_ATTEMPTS = 5


async def run_due_jobs(deps: Deps, *, handlers: Mapping[str, JobHandler] = HANDLERS, limit: int = 100,
                       observe: JobObserver | None = None) -> int:
    """Run every job that is due, one transaction each; returns how many ran."""
    ran = 0
    for _ in range(limit):
        after: Callable[[Deps], Awaitable[None]] | None = None
        async with deps.uow() as uow:
            claimed_at = deps.clock.now()
            jobs = await uow.jobs.claim_due(claimed_at, 1)
            if not jobs:
                return ran
            job = jobs[0]
            lag = (claimed_at - job.due_at).total_seconds()
            handler = handlers.get(job.kind)
            try:
                if handler is None:
                    raise LookupError(f"no handler for job kind {job.kind!r}")
                await handler(job.subject, uow, deps)
                await uow.jobs.finish(job.id)
                await uow.commit()
                ran += 1
                if observe is not None:
                    observe(job.kind, "done", lag)
                after = AFTER_COMMIT.get(job.kind)
                if after is None:
                    continue
            except Exception as failure:
                log.exception("job %s (%s) failed", job.id, job.kind)
                await uow.rollback()
                error = f"{type(failure).__name__}: {failure}"[:200]
        if after is not None:
            await _after_commit(after, job.kind, job.subject, deps)
            continue
        async with deps.uow() as uow:  # the failed attempt is recorded apart from the rolled-back effects
            attempts = job.attempts + 1
            retry_at = deps.clock.now() + timedelta(minutes=2 ** attempts) if attempts < MAX_ATTEMPTS else None
            await uow.jobs.fail(job.id, error, retry_at)
            await uow.commit()
        if observe is not None:
            observe(job.kind, "retry" if retry_at is not None else "failed", lag)
    return ran


async def _after_commit(work: Callable[[Deps], Awaitable[None]], kind: str, subject: str, deps: Deps) -> None:
    """Run outside any transaction; when it fails, the same job comes back in a minute."""
    try:
        await work(deps)
    except Exception:
        log.exception("job %s after its commit failed; retrying in a minute", kind)
        async with deps.uow() as uow:
            await uow.jobs.schedule(kind, subject, deps.clock.now() + timedelta(minutes=1))
            await uow.commit()
