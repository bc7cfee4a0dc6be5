"""Anonymous feedback over SQL: rounds, answers that cannot be linked back, receipts, and the scrub after close."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import and_, delete, or_, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col, select

from conversations.model import FeedbackAnswer, FeedbackRound, Role, RoundKind
from storage.models import FeedbackAnswerRow, FeedbackReceiptRow, FeedbackRoundRow
from storage.people import _known
from storage.platform import _rowcount, dialect_insert

_ROUND_STATES = ("open", "closed")
FEEDBACK_TABLES = ("feedback_answers", "feedback_receipts")
_CHECKPOINT_TRIES = 50
_LOCK_TIMEOUT = "5s"


def _to_round(row: FeedbackRoundRow) -> FeedbackRound:
    if row.state not in _ROUND_STATES:
        raise ValueError(f"unexpected round state in the database: {row.state!r}")
    return FeedbackRound(id=row.id, cohort_id=row.cohort_id, kind=cast(RoundKind, _known(row.kind, RoundKind)),
                         opened_at=row.opened_at, closes_at=row.closes_at, closed_at=row.closed_at,
                         state="closed" if row.state == "closed" else "open")


def _to_answer(row: FeedbackAnswerRow) -> FeedbackAnswer:
    return FeedbackAnswer(id=row.id, cohort_id=row.cohort_id, round_id=row.round_id,
                          role=cast(Role, _known(row.role, Role)), question=row.question, value=row.value,
                          text=row.text)


def _answer_values(answer: FeedbackAnswer, answer_id: str) -> dict[str, object]:
    return {"id": answer_id, "cohort_id": answer.cohort_id, "round_id": answer.round_id, "role": answer.role,
            "question": answer.question, "value": answer.value, "text": answer.text}


class SqlFeedbackRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def open_round(self, feedback_round: FeedbackRound) -> bool:
        # The partial unique index keeps one open round per cohort, even with two admins at once.
        stmt = (
            dialect_insert(self._session, FeedbackRoundRow)
            .values(id=feedback_round.id, cohort_id=feedback_round.cohort_id, kind=feedback_round.kind,
                    opened_at=feedback_round.opened_at, closes_at=feedback_round.closes_at,
                    closed_at=feedback_round.closed_at, state=feedback_round.state)
            .on_conflict_do_nothing()
        )
        return await _rowcount(self._session, stmt) > 0

    async def get_round(self, round_id: str) -> FeedbackRound | None:
        row = await self._session.get(FeedbackRoundRow, round_id, populate_existing=True)
        return None if row is None else _to_round(row)

    async def open_rounds(self, cohort_id: str | None = None) -> list[FeedbackRound]:
        stmt = select(FeedbackRoundRow).where(col(FeedbackRoundRow.state) == "open")
        if cohort_id is not None:
            stmt = stmt.where(col(FeedbackRoundRow.cohort_id) == cohort_id)
        stmt = stmt.order_by(col(FeedbackRoundRow.opened_at), col(FeedbackRoundRow.id))
        rows = await self._session.scalars(stmt.execution_options(populate_existing=True))
        return [_to_round(row) for row in rows]

    async def rounds_of(self, cohort_id: str) -> list[FeedbackRound]:
        stmt = (select(FeedbackRoundRow).where(col(FeedbackRoundRow.cohort_id) == cohort_id)
                .order_by(col(FeedbackRoundRow.opened_at), col(FeedbackRoundRow.id)))
        rows = await self._session.scalars(stmt.execution_options(populate_existing=True))
        return [_to_round(row) for row in rows]

    async def add_receipt(self, round_id: str, receipt: str) -> bool:
        stmt = (
            dialect_insert(self._session, FeedbackReceiptRow)
            .values(round_id=round_id, receipt=receipt)
            .on_conflict_do_nothing(index_elements=[col(FeedbackReceiptRow.round_id),
                                                     col(FeedbackReceiptRow.receipt)])
        )
        return await _rowcount(self._session, stmt) > 0

    async def has_receipt(self, round_id: str, receipt: str) -> bool:
        row = await self._session.get(FeedbackReceiptRow, (round_id, receipt))
        return row is not None

    async def remove_receipts(self, receipts: Sequence[tuple[str, str]]) -> None:
        if not receipts:
            return
        await self._session.execute(delete(FeedbackReceiptRow).where(or_(*(
            and_(col(FeedbackReceiptRow.round_id) == round_id, col(FeedbackReceiptRow.receipt) == receipt)
            for round_id, receipt in receipts))))

    async def add_answers(self, answers: Sequence[FeedbackAnswer]) -> None:
        if not answers:
            return
        # Fresh random ids here, whatever the caller passed: an id must never carry a counter or a clock.
        await self._session.execute(
            dialect_insert(self._session, FeedbackAnswerRow),
            [_answer_values(a, uuid.uuid4().hex) for a in answers])

    async def close_round(self, round_id: str, at: datetime) -> bool:
        postgres = self._session.get_bind().dialect.name == "postgresql"
        if postgres:
            # Nobody writes answers or receipts while they are rewritten (a submission in flight finishes first).
            await self._session.execute(text(
                "LOCK TABLE feedback_answers, feedback_receipts IN ACCESS EXCLUSIVE MODE"))
        closed = await _rowcount(self._session, (
            update(FeedbackRoundRow)
            .where(col(FeedbackRoundRow.id) == round_id, col(FeedbackRoundRow.state) == "open")
            .values(state="closed", closed_at=at)))
        if not closed:
            return False
        if postgres:
            await self._rewrite_all(round_id)
            return True
        # SQLite: deleted cells are overwritten with zeros instead of lingering in free space; the scrub
        # (VACUUM, then emptying the write-ahead log) removes the rest.
        await self._session.execute(text("PRAGMA secure_delete=ON"))
        rows = await self._session.scalars(
            select(FeedbackAnswerRow).where(col(FeedbackAnswerRow.round_id) == round_id))
        answers = [_to_answer(row) for row in rows]
        self._session.expunge_all()
        await self._session.execute(delete(FeedbackAnswerRow).where(col(FeedbackAnswerRow.round_id) == round_id))
        await self._session.execute(delete(FeedbackReceiptRow).where(col(FeedbackReceiptRow.round_id) == round_id))
        # Rewritten in an order and with ids nobody can predict, all in this one transaction: afterwards
        # neither position nor id tells when an answer arrived.
        secrets.SystemRandom().shuffle(answers)
        await self.add_answers(answers)
        return True

    async def _rewrite_all(self, round_id: str) -> None:
        """Postgres: both tables rewritten whole in random order, and TRUNCATE rather than DELETE.

        A deleted row version stays on disk while any snapshot might still see it, and VACUUM must keep it
        too; TRUNCATE gives the table a new file and unlinks the old one at commit, snapshots or not. Every
        answer gets this transaction's xmin and a fresh id, whichever round it belongs to."""
        answers = [_to_answer(row) for row in await self._session.scalars(select(FeedbackAnswerRow))]
        receipts = [(r.round_id, r.receipt) for r in await self._session.scalars(
            select(FeedbackReceiptRow).where(col(FeedbackReceiptRow.round_id) != round_id))]
        self._session.expunge_all()
        await self._session.execute(text("TRUNCATE feedback_answers, feedback_receipts"))
        shuffle = secrets.SystemRandom().shuffle
        shuffle(answers)
        shuffle(receipts)
        await self.add_answers(answers)
        if receipts:
            await self._session.execute(dialect_insert(self._session, FeedbackReceiptRow),
                                        [{"round_id": r, "receipt": h} for r, h in receipts])

    async def answers(self, round_id: str) -> list[FeedbackAnswer]:
        stmt = (
            select(FeedbackAnswerRow)
            .join(FeedbackRoundRow, col(FeedbackRoundRow.id) == col(FeedbackAnswerRow.round_id))
            .where(col(FeedbackAnswerRow.round_id) == round_id, col(FeedbackRoundRow.state) == "closed")
            .order_by(col(FeedbackAnswerRow.id))
        )
        rows = await self._session.scalars(stmt.execution_options(populate_existing=True))
        return [_to_answer(row) for row in rows]


async def scrub_feedback(engine: AsyncEngine) -> None:
    """Physically remove deleted answers and receipts; run outside any transaction.

    Postgres: the close already truncated and rewrote both tables (old files unlinked at its commit);
    VACUUM FULL writes each table to a new file once more, dropping dead rows later deletions left (a plain
    VACUUM would leave their bytes in free space); the indexes are rebuilt.
    SQLite: VACUUM rebuilds the database file, then a TRUNCATE checkpoint empties the write-ahead log,
    which still held the pages as they were when each answer arrived."""
    if engine.dialect.name == "postgresql":
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            # VACUUM FULL needs the table to itself; rather than queue every reader behind it for long,
            # give up after a few seconds: the job comes back a minute later.
            await autocommit.exec_driver_sql(f"SET lock_timeout = '{_LOCK_TIMEOUT}'")
            # The close truncated and rewrote both tables, so no old row version is left in them; this
            # compacts what deletions since (a person leaving takes their receipts) left behind.
            for table in FEEDBACK_TABLES:
                await autocommit.exec_driver_sql(f"VACUUM FULL {table}")
        return
    if engine.dialect.name != "sqlite":
        raise NotImplementedError(f"no feedback scrub for the {engine.dialect.name} dialect")
    async with engine.connect() as connection:
        # The raw driver connection: SQLAlchemy would wrap VACUUM in our BEGIN IMMEDIATE, where it cannot run.
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        for statement in ("PRAGMA secure_delete=ON", "VACUUM"):
            cursor = await driver.execute(statement)
            await cursor.close()
        for _ in range(_CHECKPOINT_TRIES):
            cursor = await driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            busy = await cursor.fetchone()
            await cursor.close()
            if busy is None or busy[0] == 0:
                return
            await asyncio.sleep(0.02)  # a reader still holds an old snapshot of the log; it ends soon
        # Old frames would stay in the log file: fail, so the job runs again in a minute.
        raise RuntimeError("feedback scrub: the write-ahead log is still in use by a reader")
