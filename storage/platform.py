"""Platform state over SQL: installations, one-time OAuth states and processed event ids.

Each write that two replicas may race on is one statement the database settles by its primary
key: an upsert, an INSERT ... ON CONFLICT DO NOTHING, or a DELETE whose row count tells who won.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import InstallationRow, OAuthStateRow, ProcessedEventRow


def dialect_insert(session: AsyncSession, table: type[Any]) -> postgresql.Insert | sqlite.Insert:
    """An INSERT with ON CONFLICT clauses, in the dialect of the session's database."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no upsert for the {dialect} dialect")


async def _rowcount(session: AsyncSession, statement: Any) -> int:
    result = cast(CursorResult[Any], await session.execute(statement))
    return result.rowcount


class SqlInstallationStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def save(self, platform: str, workspace: str, data: str, at: datetime) -> None:
        """Insert or replace: a reinstall overwrites the previous installation."""
        insert = dialect_insert(self._session, InstallationRow).values(
            platform=platform, workspace=workspace, data=data, installed_at=at
        )
        upsert = insert.on_conflict_do_update(
            index_elements=[InstallationRow.platform, InstallationRow.workspace],
            set_={"data": insert.excluded.data, "installed_at": insert.excluded.installed_at},
        )
        await self._session.execute(upsert)

    async def find(self, platform: str, workspace: str) -> str | None:
        stmt = select(InstallationRow.data).where(
            col(InstallationRow.platform) == platform, col(InstallationRow.workspace) == workspace
        )
        return (await self._session.scalars(stmt)).first()

    async def delete(self, platform: str, workspace: str) -> bool:
        """False if there was no installation to delete."""
        stmt = delete(InstallationRow).where(
            col(InstallationRow.platform) == platform, col(InstallationRow.workspace) == workspace
        )
        return await _rowcount(self._session, stmt) > 0


class SqlOAuthStates:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def issue(self, state: str, expires_at: datetime) -> None:
        self._session.add(OAuthStateRow(state=state, expires_at=expires_at))
        await self._session.flush()

    async def consume(self, state: str, now: datetime) -> bool:
        # Deleting is the claim: of two concurrent consumers the second waits for the first's row
        # lock (Postgres) or write lock (SQLite) and then finds nothing to delete.
        live = delete(OAuthStateRow).where(
            col(OAuthStateRow.state) == state, col(OAuthStateRow.expires_at) > now
        )
        if await _rowcount(self._session, live) > 0:
            return True
        # Not there, or expired: an expired one is dropped now that it has been seen.
        await self._session.execute(delete(OAuthStateRow).where(col(OAuthStateRow.state) == state))
        return False


class SqlProcessedEvents:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def claim(self, platform: str, event_id: str, at: datetime) -> bool:
        # The primary key settles races: a concurrent claimer waits for the first to commit or roll
        # back, then either inserts nothing (False) or takes over the claim (True).
        stmt = (
            dialect_insert(self._session, ProcessedEventRow)
            .values(platform=platform, event_id=event_id, claimed_at=at)
            .on_conflict_do_nothing(index_elements=[ProcessedEventRow.platform, ProcessedEventRow.event_id])
        )
        return await _rowcount(self._session, stmt) > 0

    async def release(self, platform: str, event_id: str) -> None:
        await self._session.execute(
            delete(ProcessedEventRow).where(
                col(ProcessedEventRow.platform) == platform, col(ProcessedEventRow.event_id) == event_id
            )
        )
