"""Purging an ended cohort's personal data once its retention period is over."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import (
    FeedbackReceiptRow,
    FeedbackRoundRow,
    HelpRequestRow,
    MembershipRow,
    PairRow,
    PreviewRow,
)
from storage.platform import _rowcount


class SqlRetentionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def purge_cohort(self, cohort_id: str) -> int:
        rounds = select(FeedbackRoundRow.id).where(col(FeedbackRoundRow.cohort_id) == cohort_id)
        removed = 0
        for statement in (
            # Objectives, check-ins (with their notes) and nudges go with their pair (ON DELETE CASCADE);
            # help messages with their request.
            delete(HelpRequestRow).where(col(HelpRequestRow.cohort_id) == cohort_id),
            delete(PairRow).where(col(PairRow.cohort_id) == cohort_id),
            delete(PreviewRow).where(col(PreviewRow.cohort_id) == cohort_id),
            delete(MembershipRow).where(col(MembershipRow.cohort_id) == cohort_id),
            delete(FeedbackReceiptRow).where(col(FeedbackReceiptRow.round_id).in_(rounds)),
        ):
            removed += await _rowcount(self._session, statement)
        return removed
