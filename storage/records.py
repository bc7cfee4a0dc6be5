"""Admins, addresses and the audit log over SQL: small keyed records per platform identity."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Literal, cast

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from conversations.events import Actor
from conversations.model import AuditEntry
from storage import hot_reads
from storage.models import AddressRow, AdminRow, AuditRow, PseudonymRow
from storage.platform import dialect_insert

Outcome = Literal["ok", "denied", "invalid"]
_IDS_PER_READ = 500  # well under SQLite's limit of bound parameters


class SqlAdminRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def is_admin(self, actor: Actor) -> bool:
        result = await self._session.execute(
            hot_reads.IS_ADMIN, {"platform": actor.platform, "workspace": actor.workspace, "user_id": actor.user_id})
        return result.first() is not None

    async def add(self, actor: Actor, at: datetime) -> bool:
        """False if they already were an admin."""
        if await self._find(actor) is not None:
            return False
        try:
            async with self._session.begin_nested():
                self._session.add(AdminRow(platform=actor.platform, workspace=actor.workspace,
                                           user_id=actor.user_id, added_at=at))
        except IntegrityError:  # added concurrently
            return False
        return True

    async def remove(self, actor: Actor) -> bool:
        row = await self._find(actor)
        if row is None:
            return False
        await self._session.delete(row)
        await self._session.flush()
        return True

    async def in_workspace(self, platform: str, workspace: str) -> list[Actor]:
        stmt = (
            select(AdminRow)
            .where(col(AdminRow.platform) == platform, col(AdminRow.workspace) == workspace)
            .order_by(col(AdminRow.added_at), col(AdminRow.id))
        )
        return [Actor(r.platform, r.workspace, r.user_id) for r in (await self._session.scalars(stmt)).all()]

    async def _find(self, actor: Actor) -> AdminRow | None:
        stmt = select(AdminRow).where(
            col(AdminRow.platform) == actor.platform,
            col(AdminRow.workspace) == actor.workspace,
            col(AdminRow.user_id) == actor.user_id,
        )
        return (await self._session.scalars(stmt)).first()


class SqlAddressBook:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, actor: Actor) -> str | None:
        result = await self._session.execute(
            hot_reads.ADDRESS_OF, {"platform": actor.platform, "workspace": actor.workspace, "user_id": actor.user_id})
        return result.scalar()

    async def get_many(self, actors: Sequence[Actor]) -> dict[Actor, str]:
        by_workspace: dict[tuple[str, str], list[str]] = {}
        for actor in actors:
            by_workspace.setdefault((actor.platform, actor.workspace), []).append(actor.user_id)
        found: dict[Actor, str] = {}
        for (platform, workspace), user_ids in by_workspace.items():
            for start in range(0, len(user_ids), _IDS_PER_READ):
                rows = await self._session.execute(
                    select(col(AddressRow.user_id), col(AddressRow.data)).where(
                        col(AddressRow.platform) == platform, col(AddressRow.workspace) == workspace,
                        col(AddressRow.user_id).in_(user_ids[start:start + _IDS_PER_READ])))
                found.update((Actor(platform, workspace, user_id), data) for user_id, data in rows)
        return found

    async def put(self, actor: Actor, data: str, at: datetime) -> None:
        """One upsert: a person's first messages arriving at once on two replicas must not collide."""
        insert = dialect_insert(self._session, AddressRow).values(
            platform=actor.platform, workspace=actor.workspace, user_id=actor.user_id, data=data, updated_at=at)
        await self._session.execute(insert.on_conflict_do_update(
            index_elements=[AddressRow.platform, AddressRow.workspace, AddressRow.user_id],
            set_={"data": insert.excluded.data, "updated_at": insert.excluded.updated_at}))

    async def erase(self, actor: Actor) -> None:
        await self._session.execute(
            delete(AddressRow).where(
                col(AddressRow.platform) == actor.platform,
                col(AddressRow.workspace) == actor.workspace,
                col(AddressRow.user_id) == actor.user_id,
            )
        )


class SqlAuditLog:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def pseudonym(self, actor: Actor) -> str:
        token = await self._token(actor)
        if token is not None:
            return token
        try:
            async with self._session.begin_nested():
                self._session.add(PseudonymRow(platform=actor.platform, workspace=actor.workspace,
                                               user_id=actor.user_id, token=secrets.token_hex(8)))
        except IntegrityError:  # another transaction named them first: use that name
            pass
        token = await self._token(actor)
        if token is None:
            raise RuntimeError("pseudonym vanished right after it was written")
        return token

    async def record(self, entry: AuditEntry) -> None:
        self._session.add(AuditRow(at=entry.at, actor=entry.actor, action=entry.action, outcome=entry.outcome,
                                   target=entry.target, detail=entry.detail))
        await self._session.flush()

    async def recent(self, limit: int) -> list[AuditEntry]:
        """Newest first."""
        stmt = select(AuditRow).order_by(col(AuditRow.at).desc(), col(AuditRow.id).desc()).limit(limit)
        return [
            AuditEntry(at=r.at, actor=r.actor, action=r.action, outcome=cast(Outcome, r.outcome),
                       target=r.target, detail=r.detail, id=r.id)
            for r in (await self._session.scalars(stmt)).all()
        ]

    async def forget(self, actor: Actor) -> None:
        await self._session.execute(
            delete(PseudonymRow).where(
                col(PseudonymRow.platform) == actor.platform,
                col(PseudonymRow.workspace) == actor.workspace,
                col(PseudonymRow.user_id) == actor.user_id,
            )
        )

    async def _token(self, actor: Actor) -> str | None:
        stmt = select(PseudonymRow.token).where(
            col(PseudonymRow.platform) == actor.platform,
            col(PseudonymRow.workspace) == actor.workspace,
            col(PseudonymRow.user_id) == actor.user_id,
        )
        return (await self._session.scalars(stmt)).first()
