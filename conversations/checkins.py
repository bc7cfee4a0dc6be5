"""Check-ins: "Did you meet?" on the cohort's cadence, in each person's own working time. (Being built.)"""

from __future__ import annotations

from conversations.deps import Deps
from conversations.model import Cohort, Pair
from conversations.ports import UnitOfWork


async def schedule_first_round(uow: UnitOfWork, deps: Deps, cohort: Cohort, pair: Pair) -> None:
    """Schedule the pair's first check-in round, one cadence after the pair starts."""
    return None
