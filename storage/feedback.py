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
_WAIT_TRIES = 50
# A transaction that began before the close may still see the old rows, and then VACUUM must keep them.
# Other databases' sessions do not count, but connections still starting up (no database yet) do.
_OLDER_TRANSACTIONS = text(
    "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_xmin IS NOT NULL "
    "AND (datname = current_database() OR datname IS NULL) AND xact_start < :started")


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
        closed = await _rowcount(self._session, (
            update(FeedbackRoundRow)
            .where(col(FeedbackRoundRow.id) == round_id, col(FeedbackRoundRow.state) == "open")
            .values(state="closed", closed_at=at)))
        if not closed:
            return False
        if self._session.get_bind().dialect.name == "sqlite":
            # Deleted cells are overwritten with zeros instead of lingering in the page's free space.
            await self._session.execute(text("PRAGMA secure_delete=ON"))
        rows = await self._session.scalars(
            select(FeedbackAnswerRow).where(col(FeedbackAnswerRow.round_id) == round_id))
        answers = [_to_answer(row) for row in rows]
        self._session.expunge_all()
        await self._session.execute(delete(FeedbackAnswerRow).where(col(FeedbackAnswerRow.round_id) == round_id))
        await self._session.execute(delete(FeedbackReceiptRow).where(col(FeedbackReceiptRow.round_id) == round_id))
        # Rewritten in an order and with ids nobody can predict, all in this one transaction: afterwards
        # neither position, row version (Postgres xmin) nor id tells when an answer arrived.
        secrets.SystemRandom().shuffle(answers)
        await self.add_answers(answers)
        return True

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

    Postgres: VACUUM FULL writes each table to a new file and drops the old one, so no dead tuple (nor
    the free space a plain VACUUM leaves holding old bytes) outlives the rewrite; the indexes are rebuilt.
    SQLite: VACUUM rebuilds the database file, then a TRUNCATE checkpoint empties the write-ahead log,
    which still held the pages as they were when each answer arrived."""
    if engine.dialect.name == "postgresql":
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            # VACUUM FULL needs the table to itself; rather than queue every reader behind it for long,
            # give up after a few seconds: the job comes back a minute later.
            await autocommit.exec_driver_sql(f"SET lock_timeout = '{_LOCK_TIMEOUT}'")
            # Transactions that begin after this moment began after the close committed: they never see old rows.
            started = (await autocommit.execute(text("SELECT statement_timestamp()"))).scalar_one()
            for _ in range(_WAIT_TRIES):
                if (await autocommit.execute(_OLDER_TRANSACTIONS, {"started": started})).scalar_one() == 0:
                    break
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("feedback scrub: a transaction older than the close is still open")
            # Twice: a connection starting up meanwhile can hold a snapshot for a moment, and VACUUM keeps
            # what any snapshot may still see; the second pass, a little later, takes what the first left.
            for pause in (0.2, 0.0):
                for table in FEEDBACK_TABLES:
                    await autocommit.exec_driver_sql(f"VACUUM FULL {table}")
                await asyncio.sleep(pause)
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
