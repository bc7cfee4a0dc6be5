"""A new pair's rhythm: the check-ins and the time-based nudges it gets until its cohort ends."""

from __future__ import annotations

from conversations import checkins, nudges
from conversations.deps import Deps
from conversations.model import Cohort, Pair
from conversations.ports import UnitOfWork


async def start_pair(uow: UnitOfWork, deps: Deps, cohort: Cohort, pair: Pair) -> None:
    """Called in the transaction that creates the pair, right after its introduction is queued."""
    await checkins.schedule_first_round(uow, deps, cohort, pair)
    await nudges.pair_started(uow, deps, cohort, pair)
