"""People and cohorts over SQL: who signed up, with which identity, in which cohort."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast, get_args

from sqlalchemy import delete, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import Select, SelectOfScalar

from conversations.events import Actor
from conversations.model import Cadence, Cohort, CohortState, Person, PersonStatus, Profile, Role
from storage import hot_reads
from storage.models import (
    CohortRow,
    ExclusionRow,
    IdentityRow,
    MembershipRow,
    ObjectiveRow,
    PairRow,
    PersonRow,
    utc_now,
)


def _to_person(row: Any, identity: Any) -> Person:
    """From ORM rows or Core rows alike: both read by attribute."""
    profile = Profile(
        name=row.name,
        role=_role(row.role),
        level=row.level,
        department=row.department,
        time_zone=row.time_zone,
        working_days=tuple(row.working_days),
        work_start=row.work_start,
        work_end=row.work_end,
        topics_teach=tuple(row.topics_teach),
        topics_learn=tuple(row.topics_learn),
        languages=tuple(row.languages),
        avoid=tuple(row.avoid or ()),
        goals=row.goals,
        manager=row.manager,
        email=row.email,
    )
    return Person(
        id=row.id,
        actor=Actor(identity.platform, identity.workspace, identity.user_id),
        profile=profile,
        status=_status(row.status),
        paused_until=row.paused_until,
        created_at=row.created_at,
    )


def _role(value: str) -> Role:
    return cast(Role, _known(value, Role))


def _status(value: str) -> PersonStatus:
    return cast(PersonStatus, _known(value, PersonStatus))


def _known(value: str, literal: Any) -> str:
    """Guard the Literal types: a value we never write means the database was changed behind us."""
    if value not in get_args(literal):
        raise ValueError(f"unexpected value in the database: {value!r}, expected one of {get_args(literal)}")
    return value


def _person_columns(person: Person) -> dict[str, Any]:
    """The people columns that profile and status own; lists go to JSON as lists."""
    p = person.profile
    return {
        "name": p.name, "role": p.role, "level": p.level, "department": p.department,
        "manager": p.manager, "email": p.email, "time_zone": p.time_zone,
        "working_days": list(p.working_days), "work_start": p.work_start, "work_end": p.work_end,
        "topics_teach": list(p.topics_teach), "topics_learn": list(p.topics_learn), "goals": p.goals,
        "languages": list(p.languages), "avoid": list(p.avoid), "status": person.status,
        "paused_until": person.paused_until,
    }


class SqlPeopleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, person_id: str) -> Person | None:
        stmt = (
            select(PersonRow, IdentityRow)
            .join(IdentityRow, col(IdentityRow.person_id) == col(PersonRow.id))
            .where(col(PersonRow.id) == person_id)
            .order_by(col(IdentityRow.id))
            .limit(1)
        )
        return await self._one(stmt)

    async def by_actor(self, actor: Actor) -> Person | None:
        result = await self._session.execute(
            hot_reads.PERSON_BY_ACTOR,
            {"platform": actor.platform, "workspace": actor.workspace, "user_id": actor.user_id})
        row = result.first()
        return None if row is None else _to_person(row, row)

    async def by_email(self, platform: str, workspace: str, email: str) -> Person | None:
        """Emails match case-insensitively; an empty email matches no one."""
        if not email.strip():
            return None
        stmt = (
            self._in_workspace(platform, workspace)
            .where(func.lower(col(PersonRow.email)) == email.strip().lower())
            .limit(1)
        )
        return await self._one(stmt)

    async def add(self, person: Person) -> None:
        at = utc_now()
        self._session.add(
            PersonRow(id=person.id, created_at=person.created_at or at, updated_at=at, **_person_columns(person))
        )
        await self._session.flush()
        identity = IdentityRow(
            person_id=person.id,
            platform=person.actor.platform,
            workspace=person.actor.workspace,
            user_id=person.actor.user_id,
        )
        self._session.add(identity)
        await self._session.flush()

    async def save(self, person: Person) -> None:
        row = await self._session.get(PersonRow, person.id, populate_existing=True)
        if row is None:
            raise LookupError(f"no person {person.id}")
        for name, value in _person_columns(person).items():
            setattr(row, name, value)
        row.updated_at = utc_now()
        await self._session.flush()

    async def in_workspace(self, platform: str, workspace: str) -> list[Person]:
        stmt = self._in_workspace(platform, workspace).execution_options(populate_existing=True)
        result = await self._session.execute(stmt)
        return [_to_person(row, identity) for row, identity in result]

    async def erase(self, person_id: str) -> None:
        cohort_ids = select(MembershipRow.cohort_id).where(col(MembershipRow.person_id) == person_id)
        await self._session.execute(
            update(CohortRow)
            .where(col(CohortRow.id).in_(cohort_ids))
            .values(members_left=col(CohortRow.members_left) + 1)
        )
        pair_ids = select(PairRow.id).where(
            or_(col(PairRow.mentor_id) == person_id, col(PairRow.mentee_id) == person_id)
        )
        # The foreign keys cascade too, but only where SQLite was told to enforce them.
        for stmt in (
            delete(ObjectiveRow).where(col(ObjectiveRow.pair_id).in_(pair_ids)),
            delete(PairRow).where(or_(col(PairRow.mentor_id) == person_id, col(PairRow.mentee_id) == person_id)),
            delete(ExclusionRow).where(or_(col(ExclusionRow.a) == person_id, col(ExclusionRow.b) == person_id)),
            delete(MembershipRow).where(col(MembershipRow.person_id) == person_id),
            delete(IdentityRow).where(col(IdentityRow.person_id) == person_id),
            delete(PersonRow).where(col(PersonRow.id) == person_id),
        ):
            await self._session.execute(stmt)

    @staticmethod
    def _in_workspace(platform: str, workspace: str) -> Select[PersonRow, IdentityRow]:
        return (
            select(PersonRow, IdentityRow)
            .join(IdentityRow, col(IdentityRow.person_id) == col(PersonRow.id))
            .where(col(IdentityRow.platform) == platform, col(IdentityRow.workspace) == workspace)
            .order_by(col(PersonRow.created_at), col(PersonRow.id))
        )

    async def _one(self, stmt: Select[PersonRow, IdentityRow]) -> Person | None:
        result = await self._session.execute(stmt.execution_options(populate_existing=True))
        found = result.first()
        return None if found is None else _to_person(*found)


def _to_cohort(row: Any) -> Cohort:
    return Cohort(
        id=row.id,
        platform=row.platform,
        workspace=row.workspace,
        name=row.name,
        state=_cohort_state(row.state),
        weeks=row.weeks,
        cadence=_cadence(row.cadence),
        created_at=row.created_at,
        signup_until=row.signup_until,
        started_at=row.started_at,
        ended_at=row.ended_at,
        members_left=row.members_left,
    )


def _cohort_state(value: str) -> CohortState:
    return cast(CohortState, _known(value, CohortState))


def _cadence(value: str) -> Cadence:
    return cast(Cadence, _known(value, Cadence))


class SqlCohortRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, cohort_id: str) -> Cohort | None:
        row = await self._session.get(CohortRow, cohort_id, populate_existing=True)
        return None if row is None else _to_cohort(row)

    async def current(self, platform: str, workspace: str) -> Cohort | None:
        result = await self._session.execute(hot_reads.CURRENT_COHORT, {"platform": platform, "workspace": workspace})
        row = result.first()
        return None if row is None else _to_cohort(row)

    async def by_name(self, platform: str, workspace: str, name: str) -> Cohort | None:
        return await self._first(
            select(CohortRow).where(
                col(CohortRow.platform) == platform,
                col(CohortRow.workspace) == workspace,
                col(CohortRow.name) == name,
            )
        )

    async def all(self, platform: str, workspace: str) -> list[Cohort]:
        stmt = (
            select(CohortRow)
            .where(col(CohortRow.platform) == platform, col(CohortRow.workspace) == workspace)
            .order_by(col(CohortRow.created_at), col(CohortRow.id))
            .execution_options(populate_existing=True)
        )
        return [_to_cohort(row) for row in (await self._session.scalars(stmt)).all()]

    async def add(self, cohort: Cohort) -> None:
        """Raises IntegrityError when another cohort is already open here: the database keeps that rule."""
        row = CohortRow(id=cohort.id, platform=cohort.platform, workspace=cohort.workspace, name=cohort.name,
                        state=cohort.state, weeks=cohort.weeks, cadence=cohort.cadence,
                        created_at=cohort.created_at)
        _write_cohort(row, cohort)
        self._session.add(row)
        await self._session.flush()

    async def save(self, cohort: Cohort) -> None:
        row = await self._session.get(CohortRow, cohort.id, populate_existing=True)
        if row is None:
            raise LookupError(f"no cohort {cohort.id}")
        _write_cohort(row, cohort)
        await self._session.flush()

    async def add_member(self, cohort_id: str, person_id: str, at: datetime) -> bool:
        if await self._is_member(cohort_id, person_id):
            return False
        try:
            async with self._session.begin_nested():
                self._session.add(MembershipRow(cohort_id=cohort_id, person_id=person_id, joined_at=at))
        except IntegrityError:  # a concurrent join won the race
            return False
        return True

    async def members(self, cohort_id: str) -> list[str]:
        stmt = (
            select(MembershipRow.person_id)
            .where(col(MembershipRow.cohort_id) == cohort_id)
            .order_by(col(MembershipRow.joined_at), col(MembershipRow.person_id))
        )
        return list((await self._session.scalars(stmt)).all())

    async def cohorts_of(self, person_id: str) -> list[Cohort]:
        result = await self._session.execute(hot_reads.COHORTS_OF, {"person_id": person_id})
        return [_to_cohort(row) for row in result]

    async def _is_member(self, cohort_id: str, person_id: str) -> bool:
        stmt = select(MembershipRow.person_id).where(
            col(MembershipRow.cohort_id) == cohort_id, col(MembershipRow.person_id) == person_id
        )
        return (await self._session.scalars(stmt)).first() is not None

    async def _first(self, stmt: SelectOfScalar[CohortRow]) -> Cohort | None:
        row = (await self._session.scalars(stmt.execution_options(populate_existing=True))).first()
        return None if row is None else _to_cohort(row)


def _write_cohort(row: CohortRow, cohort: Cohort) -> None:
    row.name = cohort.name
    row.state = cohort.state
    row.weeks = cohort.weeks
    row.cadence = cohort.cadence
    row.signup_until = cohort.signup_until
    row.started_at = cohort.started_at
    row.ended_at = cohort.ended_at
    row.members_left = cohort.members_left
