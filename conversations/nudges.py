"""Psychological-safety and drift nudges from the catalogue in app.yaml. (Being built.)"""

from __future__ import annotations

from conversations.deps import Deps
from conversations.model import CheckIn, Cohort, Pair
from conversations.ports import UnitOfWork


async def pair_started(uow: UnitOfWork, deps: Deps, cohort: Cohort, pair: Pair) -> None:
    """Schedule the pair's time-based nudges (before the first meeting, mid-program, two-thirds, the end...)."""
    return None


async def checkin_answered(uow: UnitOfWork, deps: Deps, pair: Pair, checkin: CheckIn) -> None:
    """A check-in of this pair was just answered (its answer is in `checkin`): fire answer-driven triggers."""
    return None


async def checkin_closed(uow: UnitOfWork, deps: Deps, pair: Pair, checkin: CheckIn) -> None:
    """A check-in of this pair just closed without an answer ("no answer"): fire drift triggers."""
    return None
