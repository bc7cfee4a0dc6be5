"""Program rhythm over SQL: check-ins, nudges and confidential help requests."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from conversations.model import (
    CheckIn,
    CheckInAnswer,
    CheckInState,
    HelpAuthor,
    HelpMessage,
    HelpRequest,
    Nudge,
)
from storage.models import CheckInRow, HelpMessageRow, HelpRequestRow, NudgeRow, PairRow
from storage.people import _known
from storage.platform import _rowcount, dialect_insert


def _to_checkin(row: CheckInRow) -> CheckIn:
    return CheckIn(
        id=row.id, pair_id=row.pair_id, person_id=row.person_id, round=row.round, due_at=row.due_at,
        state=cast(CheckInState, _known(row.state, CheckInState)), sent_at=row.sent_at,
        answer=None if row.answer is None else cast(CheckInAnswer, _known(row.answer, CheckInAnswer)),
        answered_at=row.answered_at, note=row.note,
        progress=tuple((str(objective), int(value)) for objective, value in row.progress),
        reminded=row.reminded,
    )


class SqlCheckInRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, checkin: CheckIn) -> bool:
        stmt = (
            dialect_insert(self._session, CheckInRow)
            .values(id=checkin.id, pair_id=checkin.pair_id, person_id=checkin.person_id, round=checkin.round,
                    due_at=checkin.due_at, state=checkin.state, sent_at=checkin.sent_at, answer=checkin.answer,
                    answered_at=checkin.answered_at, note=checkin.note,
                    progress=[list(p) for p in checkin.progress], reminded=checkin.reminded)
            .on_conflict_do_nothing(index_elements=[col(CheckInRow.pair_id), col(CheckInRow.person_id),
                                                     col(CheckInRow.round)])
        )
        return await _rowcount(self._session, stmt) > 0

    async def get(self, checkin_id: str) -> CheckIn | None:
        row = await self._session.get(CheckInRow, checkin_id, populate_existing=True)
        return None if row is None else _to_checkin(row)

    async def save(self, checkin: CheckIn) -> None:
        await self._session.execute(
            update(CheckInRow).where(col(CheckInRow.id) == checkin.id).values(
                due_at=checkin.due_at, state=checkin.state, sent_at=checkin.sent_at, answer=checkin.answer,
                answered_at=checkin.answered_at, note=checkin.note,
                progress=[list(p) for p in checkin.progress], reminded=checkin.reminded))

    async def answer(self, checkin_id: str, answer: CheckInAnswer, at: datetime) -> bool:
        # One conditional UPDATE: of two clicks in flight, the second finds the answer there and changes nothing.
        stmt = (
            update(CheckInRow)
            .where(col(CheckInRow.id) == checkin_id, col(CheckInRow.answer).is_(None),
                   col(CheckInRow.state) == "sent")
            .values(answer=answer, answered_at=at, state="answered")
        )
        return await _rowcount(self._session, stmt) > 0

    async def move(self, checkin_id: str, from_state: CheckInState, to_state: CheckInState, at: datetime) -> bool:
        # A conditional UPDATE: a second job (or replica) that read the same state finds it changed and writes
        # nothing; on Postgres it waits for the first one's row lock, then re-reads the condition.
        values: dict[str, object] = {"state": to_state}
        if to_state == "sent":
            values["sent_at"] = at
        stmt = (update(CheckInRow)
                .where(col(CheckInRow.id) == checkin_id, col(CheckInRow.state) == from_state).values(**values))
        return await _rowcount(self._session, stmt) > 0

    async def reschedule(self, checkin_id: str, due_at: datetime) -> bool:
        stmt = (update(CheckInRow).where(col(CheckInRow.id) == checkin_id, col(CheckInRow.state) == "scheduled")
                .values(due_at=due_at))
        return await _rowcount(self._session, stmt) > 0

    async def mark_reminded(self, checkin_id: str) -> bool:
        stmt = (update(CheckInRow)
                .where(col(CheckInRow.id) == checkin_id, col(CheckInRow.state) == "sent",
                       col(CheckInRow.answer).is_(None), col(CheckInRow.reminded).is_(False))
                .values(reminded=True))
        return await _rowcount(self._session, stmt) > 0

    async def of_pair(self, pair_id: str) -> list[CheckIn]:
        stmt = (select(CheckInRow).where(col(CheckInRow.pair_id) == pair_id)
                .order_by(col(CheckInRow.round), col(CheckInRow.person_id)))
        rows = await self._session.scalars(stmt.execution_options(populate_existing=True))
        return [_to_checkin(row) for row in rows]

    async def in_cohort(self, cohort_id: str) -> list[CheckIn]:
        stmt = (select(CheckInRow).join(PairRow, col(PairRow.id) == col(CheckInRow.pair_id))
                .where(col(PairRow.cohort_id) == cohort_id)
                .order_by(col(CheckInRow.pair_id), col(CheckInRow.round), col(CheckInRow.person_id)))
        rows = await self._session.scalars(stmt.execution_options(populate_existing=True))
        return [_to_checkin(row) for row in rows]


def _to_nudge(row: NudgeRow) -> Nudge:
    assert row.id is not None
    return Nudge(id=row.id, pair_id=row.pair_id, person_id=row.person_id, trigger=row.trigger, due_at=row.due_at,
                 sent_at=row.sent_at, sent_day=row.sent_day)


class SqlNudgeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, nudge: Nudge) -> int | None:
        stmt = (
            dialect_insert(self._session, NudgeRow)
            .values(pair_id=nudge.pair_id, person_id=nudge.person_id, trigger=nudge.trigger, due_at=nudge.due_at)
            .on_conflict_do_nothing(index_elements=[NudgeRow.pair_id, NudgeRow.person_id, NudgeRow.trigger])
            .returning(col(NudgeRow.id))
        )
        return (await self._session.execute(stmt)).scalar_one_or_none()

    async def get(self, nudge_id: int) -> Nudge | None:
        row = await self._session.get(NudgeRow, nudge_id, populate_existing=True)
        return None if row is None else _to_nudge(row)

    async def mark_sent(self, nudge_id: int, at: datetime, day: str) -> bool:
        row = await self._session.get(NudgeRow, nudge_id, populate_existing=True)
        if row is None:
            return False
        taken = select(NudgeRow.id).where(col(NudgeRow.person_id) == row.person_id, col(NudgeRow.sent_day) == day)
        if (await self._session.scalars(taken)).first() is not None:
            return False
        # A replica marking another nudge for this person and day at the same moment loses on the unique
        # index uq_nudges_one_a_day; its job fails, is retried, and then finds the day taken.
        row.sent_at = at
        row.sent_day = day
        await self._session.flush()
        return True

    async def reschedule(self, nudge_id: int, due_at: datetime) -> None:
        await self._session.execute(update(NudgeRow).where(col(NudgeRow.id) == nudge_id).values(due_at=due_at))

    async def of_pair(self, pair_id: str) -> list[Nudge]:
        stmt = select(NudgeRow).where(col(NudgeRow.pair_id) == pair_id).order_by(col(NudgeRow.id))
        return [_to_nudge(row) for row in await self._session.scalars(stmt.execution_options(populate_existing=True))]

    async def in_cohort(self, cohort_id: str) -> list[Nudge]:
        stmt = (select(NudgeRow).join(PairRow, col(PairRow.id) == col(NudgeRow.pair_id))
                .where(col(PairRow.cohort_id) == cohort_id).order_by(col(NudgeRow.id)))
        return [_to_nudge(row) for row in await self._session.scalars(stmt.execution_options(populate_existing=True))]


def _to_request(row: HelpRequestRow) -> HelpRequest:
    return HelpRequest(id=row.id, person_id=row.person_id, cohort_id=row.cohort_id, pair_id=row.pair_id,
                       opened_at=row.opened_at, state="closed" if row.state == "closed" else "open")


class SqlHelpRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def open(self, request: HelpRequest) -> None:
        self._session.add(HelpRequestRow(id=request.id, person_id=request.person_id, cohort_id=request.cohort_id,
                                         pair_id=request.pair_id, opened_at=request.opened_at, state=request.state))
        await self._session.flush()

    async def get(self, request_id: str) -> HelpRequest | None:
        row = await self._session.get(HelpRequestRow, request_id, populate_existing=True)
        return None if row is None else _to_request(row)

    async def add_message(self, message: HelpMessage) -> None:
        self._session.add(HelpMessageRow(request_id=message.request_id, author=message.author, text=message.text,
                                         at=message.at))
        await self._session.flush()

    async def messages(self, request_id: str) -> list[HelpMessage]:
        stmt = (select(HelpMessageRow).where(col(HelpMessageRow.request_id) == request_id)
                .order_by(col(HelpMessageRow.at), col(HelpMessageRow.id)))
        return [HelpMessage(request_id=row.request_id, author=cast(HelpAuthor, _known(row.author, HelpAuthor)),
                            text=row.text, at=row.at) for row in await self._session.scalars(stmt)]

    async def close(self, request_id: str) -> bool:
        stmt = (update(HelpRequestRow).where(col(HelpRequestRow.id) == request_id,
                                              col(HelpRequestRow.state) == "open").values(state="closed"))
        return await _rowcount(self._session, stmt) > 0

    async def of_person(self, person_id: str) -> list[HelpRequest]:
        stmt = (select(HelpRequestRow).where(col(HelpRequestRow.person_id) == person_id)
                .order_by(col(HelpRequestRow.opened_at)))
        return [_to_request(row) for row in await self._session.scalars(stmt.execution_options(populate_existing=True))]
