"""Matching over SQL: pairs and their objectives, previews, exclusions and HR records."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import delete, insert, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from conversations.model import HrRecord, Objective, Pair, PairState, Preview, Reason
from storage import hot_reads
from storage.models import ExclusionRow, HrRecordRow, ObjectiveRow, PairRow, PreviewRow, utc_now
from storage.people import _known
from storage.platform import _rowcount, dialect_insert

IN_CHUNK = 500  # ids per IN (...): SQLite allows 999 parameters in one statement before 3.32


def _to_pair(row: Any) -> Pair:
    """From an ORM PairRow or a Core row of the pairs table alike."""
    return Pair(
        id=row.id,
        cohort_id=row.cohort_id,
        mentor_id=row.mentor_id,
        mentee_id=row.mentee_id,
        score=row.score,
        reasons=tuple(Reason(str(criterion), int(points), str(text)) for criterion, points, text in row.reasons),
        created_at=row.created_at,
        state=cast(PairState, _known(row.state, PairState)),
        forced=row.forced,
        ended_at=row.ended_at,
    )


def _reasons(pair: Pair) -> list[list[Any]]:
    return [[r.criterion, r.points, r.text] for r in pair.reasons]


class SqlPairRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, pair: Pair) -> None:
        """Raises IntegrityError when this mentor and mentee are already an active pair."""
        self._session.add(PairRow(id=pair.id, cohort_id=pair.cohort_id, mentor_id=pair.mentor_id,
                                  mentee_id=pair.mentee_id, score=pair.score, reasons=_reasons(pair),
                                  state=pair.state, forced=pair.forced, created_at=pair.created_at,
                                  ended_at=pair.ended_at))
        await self._session.flush()

    async def get(self, pair_id: str) -> Pair | None:
        row = await self._session.get(PairRow, pair_id, populate_existing=True)
        return None if row is None else _to_pair(row)

    async def active_in(self, cohort_id: str) -> list[Pair]:
        return await self._pairs(
            select(PairRow).where(col(PairRow.cohort_id) == cohort_id, col(PairRow.state) == "active")
        )

    async def active_of(self, person_id: str) -> list[Pair]:
        # every `status` asks: a prebuilt Core statement costs a fifth of building this ORM query each time
        result = await self._session.execute(hot_reads.ACTIVE_PAIRS_OF, {"person_id": person_id})
        return [_to_pair(row) for row in result.all()]

    async def ever(self, person_ids: Sequence[str]) -> list[tuple[str, str]]:
        """(mentor, mentee) of every pair, in any cohort and state, where both are among these people."""
        ids = list(person_ids)
        if not ids:
            return []
        stmt = (
            select(PairRow.mentor_id, PairRow.mentee_id)
            .where(col(PairRow.mentor_id).in_(ids), col(PairRow.mentee_id).in_(ids))
            .order_by(col(PairRow.created_at), col(PairRow.id))
        )
        return [(mentor, mentee) for mentor, mentee in (await self._session.execute(stmt)).all()]

    async def end(self, pair_id: str, at: datetime) -> None:
        row = await self._session.get(PairRow, pair_id, populate_existing=True)
        if row is None:
            raise LookupError(f"no pair {pair_id}")
        row.state = "ended"
        row.ended_at = at
        await self._session.flush()

    async def _pairs(self, stmt: SelectOfScalar[PairRow]) -> list[Pair]:
        stmt = stmt.order_by(col(PairRow.created_at), col(PairRow.id)).execution_options(populate_existing=True)
        return [_to_pair(row) for row in (await self._session.scalars(stmt)).all()]


class SqlPreviewRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, preview: Preview) -> None:
        self._session.add(PreviewRow(id=preview.id, cohort_id=preview.cohort_id, created_at=preview.created_at,
                                     fingerprint=preview.fingerprint, payload=preview.payload,
                                     late=preview.late, used=preview.used))
        await self._session.flush()

    async def get(self, preview_id: str) -> Preview | None:
        row = await self._session.get(PreviewRow, preview_id, populate_existing=True)
        if row is None:
            return None
        return Preview(id=row.id, cohort_id=row.cohort_id, created_at=row.created_at, fingerprint=row.fingerprint,
                       payload=row.payload, late=row.late, used=row.used)

    async def mark_used(self, preview_id: str) -> bool:
        # One statement settles a race: a second confirmer waits for the first's row lock (Postgres)
        # or write lock (SQLite), then finds the preview used and updates nothing. get() reads with
        # populate_existing, so a row this session loaded before is not served stale afterwards.
        stmt = (
            update(PreviewRow)
            .where(col(PreviewRow.id) == preview_id, col(PreviewRow.used).is_(False))
            .values(used=True)
            .execution_options(synchronize_session=False)
        )
        return await _rowcount(self._session, stmt) == 1

    async def erase_mentioning(self, person_id: str) -> None:
        # person ids are random hex: a substring match on the payload finds exactly the previews naming them
        await self._session.execute(
            delete(PreviewRow).where(col(PreviewRow.payload).contains(person_id, autoescape=True)))


class SqlExclusionRepository:
    """Each pair of people is one row, stored in canonical order (a < b)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, a: str, b: str, at: datetime) -> bool:
        """False if these two were already kept apart."""
        first, second = _canonical(a, b)
        stmt = (
            dialect_insert(self._session, ExclusionRow)
            .values(a=first, b=second, created_at=at)
            .on_conflict_do_nothing(index_elements=[ExclusionRow.a, ExclusionRow.b])
        )
        return await _rowcount(self._session, stmt) > 0

    async def remove(self, a: str, b: str) -> bool:
        first, second = _canonical(a, b)
        stmt = delete(ExclusionRow).where(col(ExclusionRow.a) == first, col(ExclusionRow.b) == second)
        return await _rowcount(self._session, stmt) > 0

    async def among(self, person_ids: Sequence[str]) -> list[tuple[str, str]]:
        """The exclusions where both people are among these, each as (a, b) with a < b."""
        ids = list(person_ids)
        if not ids:
            return []
        stmt = select(ExclusionRow.a, ExclusionRow.b).where(col(ExclusionRow.a).in_(ids), col(ExclusionRow.b).in_(ids))
        # Sorted here, not by the database: its collation may order strings otherwise than Python.
        return sorted((a, b) for a, b in (await self._session.execute(stmt)).all())


def _canonical(a: str, b: str) -> tuple[str, str]:
    if a == b:
        raise ValueError("an exclusion needs two different people")
    return (a, b) if a < b else (b, a)


def _to_objective(row: ObjectiveRow) -> Objective:
    return Objective(id=row.id, pair_id=row.pair_id, text=row.text, proposed_by=row.proposed_by,
                     agreed=row.agreed, progress=row.progress)


def _objective_row(objective: Objective, at: datetime) -> ObjectiveRow:
    return ObjectiveRow(id=objective.id, pair_id=objective.pair_id, text=objective.text,
                        proposed_by=objective.proposed_by, agreed=objective.agreed, progress=objective.progress,
                        created_at=at)


def _all_of(pair_id: str, objectives: Sequence[Objective]) -> None:
    strays = [o.id for o in objectives if o.pair_id != pair_id]
    if strays:
        raise ValueError(f"objectives {strays} are not of pair {pair_id}")


class SqlObjectiveRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, objective: Objective) -> None:
        self._session.add(_objective_row(objective, utc_now()))
        await self._session.flush()

    async def of_pair(self, pair_id: str) -> list[Objective]:
        """In the order they were proposed."""
        stmt = (
            select(ObjectiveRow)
            .where(col(ObjectiveRow.pair_id) == pair_id)
            .order_by(col(ObjectiveRow.created_at), col(ObjectiveRow.id))
            .execution_options(populate_existing=True)
        )
        return [_to_objective(row) for row in (await self._session.scalars(stmt)).all()]

    async def of_pairs(self, pair_ids: Sequence[str]) -> list[Objective]:
        found: list[Objective] = []
        ids = list(dict.fromkeys(pair_ids))
        for start in range(0, len(ids), IN_CHUNK):  # SQLite caps the parameters of one statement
            stmt = (
                select(ObjectiveRow)
                .where(col(ObjectiveRow.pair_id).in_(ids[start : start + IN_CHUNK]))
                .order_by(col(ObjectiveRow.created_at), col(ObjectiveRow.id))
                .execution_options(populate_existing=True)
            )
            found += [_to_objective(row) for row in (await self._session.scalars(stmt)).all()]
        return found

    async def replace(self, pair_id: str, objectives: Sequence[Objective]) -> None:
        """Delete the pair's objectives and add these, keeping their order."""
        _all_of(pair_id, objectives)
        await self._session.execute(delete(ObjectiveRow).where(col(ObjectiveRow.pair_id) == pair_id))
        # One clock reading for the batch, a microsecond apart, so of_pair() gives them back in order.
        at = utc_now()
        for i, objective in enumerate(objectives):
            self._session.add(_objective_row(objective, at + timedelta(microseconds=i)))
        await self._session.flush()

    async def agree(self, pair_id: str, by: str) -> list[Objective]:
        agreed: list[Objective] = []
        for objective in await self.of_pair(pair_id):
            if objective.agreed or objective.proposed_by == by:
                continue
            # one conditional write each: of two transactions in flight, only one changes the row
            stmt = (update(ObjectiveRow)
                    .where(col(ObjectiveRow.id) == objective.id, col(ObjectiveRow.agreed).is_(False))
                    .values(agreed=True).execution_options(synchronize_session=False))
            if await _rowcount(self._session, stmt) == 1:
                agreed.append(replace(objective, agreed=True))
        return agreed

    async def save(self, objective: Objective) -> None:
        """Write text, agreement and progress of an existing objective."""
        row = await self._session.get(ObjectiveRow, objective.id, populate_existing=True)
        if row is None:
            raise LookupError(f"no objective {objective.id}")
        row.text = objective.text
        row.agreed = objective.agreed
        row.progress = objective.progress
        await self._session.flush()


class SqlHrRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def replace_all(self, records: Sequence[HrRecord], at: datetime) -> None:
        """Delete every record, then insert these, in the caller's transaction; a repeated key keeps its last."""
        await self._session.execute(delete(HrRecordRow))
        latest = {record.key: record for record in records}
        if latest:
            await self._session.execute(
                insert(HrRecordRow),
                [{"key": r.key, "level": r.level, "department": r.department, "manager": r.manager,
                  "location": r.location, "imported_at": at} for r in latest.values()],
            )

    async def find_many(self, keys: Sequence[str]) -> dict[str, HrRecord]:
        wanted = list(dict.fromkeys(keys))
        found: dict[str, HrRecord] = {}
        for start in range(0, len(wanted), 500):  # SQLite caps the parameters of one statement
            stmt = select(HrRecordRow).where(col(HrRecordRow.key).in_(wanted[start:start + 500]))
            for row in (await self._session.scalars(stmt.execution_options(populate_existing=True))).all():
                found[row.key] = HrRecord(key=row.key, level=row.level, department=row.department,
                                          manager=row.manager, location=row.location)
        return found

    async def find(self, keys: Sequence[str]) -> HrRecord | None:
        """The record of the first of these keys that has one."""
        found = await self.find_many(keys)
        return next((found[k] for k in keys if k in found), None)
