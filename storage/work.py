"""Due work over SQL: scheduled jobs and the outbox, claimed so that replicas never share a row."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast, get_args

from sqlalchemy import Table, bindparam, delete, func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, or_, select
from sqlmodel.sql.expression import SelectOfScalar

from conversations.events import Actor
from conversations.messages import Message
from conversations.model import Job, JobState, OutboxItem, OutboxResult, OutboxState
from storage.models import JobRow, OutboxRow


def _to_job(row: JobRow) -> Job:
    assert row.id is not None
    if row.state not in get_args(JobState):
        raise ValueError(f"unexpected job state in the database: {row.state!r}")
    return Job(id=row.id, kind=row.kind, subject=row.subject, due_at=row.due_at,
               state=cast(JobState, row.state), attempts=row.attempts)


class SqlJobRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def schedule(self, kind: str, subject: str, due_at: datetime) -> None:
        """Idempotent: the same pending (kind, subject, due_at) is kept once."""
        existing = select(JobRow.id).where(
            col(JobRow.kind) == kind,
            col(JobRow.subject) == subject,
            col(JobRow.due_at) == due_at,
            col(JobRow.state) == "pending",
        )
        if (await self._session.scalars(existing)).first() is not None:
            return
        self._session.add(JobRow(kind=kind, subject=subject, due_at=due_at))
        await self._session.flush()

    async def cancel(self, kind: str, subject: str) -> int:
        """Drop the pending jobs of this kind for this subject; returns how many."""
        rows = await self._rows(
            select(JobRow).where(
                col(JobRow.kind) == kind, col(JobRow.subject) == subject, col(JobRow.state) == "pending"
            )
        )
        for row in rows:
            await self._session.delete(row)
        await self._session.flush()
        return len(rows)

    async def claim_due(self, now: datetime, limit: int) -> list[Job]:
        # Postgres: rows another replica holds are skipped. SQLite ignores FOR UPDATE, but every
        # transaction there starts with BEGIN IMMEDIATE (storage.db), so claims run one at a time.
        stmt = (
            select(JobRow)
            .where(col(JobRow.state) == "pending", col(JobRow.due_at) <= now)
            .order_by(col(JobRow.due_at), col(JobRow.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_to_job(row) for row in await self._rows(stmt)]

    async def finish(self, job_id: int) -> None:
        row = await self._get(job_id)
        row.state = "done"
        row.attempts += 1
        await self._session.flush()

    async def fail(self, job_id: int, error: str, retry_at: datetime | None) -> None:
        row = await self._get(job_id)
        row.attempts += 1
        row.last_error = error
        if retry_at is None:
            row.state = "failed"
        else:
            row.state = "pending"
            row.due_at = retry_at
        await self._session.flush()

    async def pending_for(self, subject: str) -> list[Job]:
        stmt = (
            select(JobRow)
            .where(col(JobRow.subject) == subject, col(JobRow.state) == "pending")
            .order_by(col(JobRow.due_at), col(JobRow.id))
        )
        return [_to_job(row) for row in await self._rows(stmt)]

    async def erase_subject(self, subject: str) -> None:
        await self._session.execute(delete(JobRow).where(col(JobRow.subject) == subject))

    async def _get(self, job_id: int) -> JobRow:
        row = await self._session.get(JobRow, job_id, populate_existing=True)
        if row is None:
            raise LookupError(f"no job {job_id}")
        return row

    async def _rows(self, stmt: SelectOfScalar[JobRow]) -> list[JobRow]:
        result = await self._session.scalars(stmt.execution_options(populate_existing=True))
        return list(result.all())


_OUTBOX = cast(Table, OutboxRow.__table__)  # type: ignore[attr-defined]  # sqlmodel types __table__ loosely
_ITEM_COLUMNS = tuple(_OUTBOX.c[name] for name in (
    "id", "platform", "workspace", "user_id", "message_json", "attempts", "state", "platform_ref", "also"))
_IDS_PER_STATEMENT = 500  # well under SQLite's limit of bound parameters
_SETTLE: dict[str, dict[str, Any]] = {
    "sent": {"state": "sent", "platform_ref": bindparam("b_ref"), "sent_at": bindparam("b_at"),
             "lease_until": None},
    "retry": {"next_attempt_at": bindparam("b_at"), "last_error": bindparam("b_error"), "lease_until": None},
    "dead": {"state": "dead", "last_error": bindparam("b_error"), "lease_until": None},
    "released": {"next_attempt_at": bindparam("b_at"), "attempts": _OUTBOX.c.attempts - 1, "lease_until": None},
}


class SqlOutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def enqueue(self, to: Actor, message: Message, at: datetime, *, about: str | None = None,
                      also: Sequence[Actor] = ()) -> int:
        if any((a.platform, a.workspace) != (to.platform, to.workspace) for a in also):
            raise ValueError("a group message stays within one platform workspace")
        row = OutboxRow(platform=to.platform, workspace=to.workspace, user_id=to.user_id,
                        message_json=message.to_json(), next_attempt_at=at, created_at=at, about=about,
                        also=json.dumps([a.user_id for a in also]))
        self._session.add(row)
        await self._session.flush()
        assert row.id is not None
        return row.id

    async def claim(self, now: datetime, limit: int, lease_seconds: float) -> list[OutboxItem]:
        # One statement: lease the due rows and read them back. The lease outlives this transaction: a sender
        # that dies mid-send frees its rows when it runs out, so they are due again without anyone cleaning up.
        # Postgres: rows another replica is claiming are skipped; SQLite has one writer (BEGIN IMMEDIATE).
        due = (
            select(_OUTBOX.c.id)
            .where(
                _OUTBOX.c.state == "pending",
                _OUTBOX.c.next_attempt_at <= now,
                or_(_OUTBOX.c.lease_until.is_(None), _OUTBOX.c.lease_until < now),
            )
            .order_by(_OUTBOX.c.next_attempt_at, _OUTBOX.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        stmt = (
            update(_OUTBOX)
            .where(_OUTBOX.c.id.in_(due.scalar_subquery()))
            .values(lease_until=now + timedelta(seconds=lease_seconds), attempts=_OUTBOX.c.attempts + 1)
            .returning(*_ITEM_COLUMNS, _OUTBOX.c.next_attempt_at)
        )
        rows = sorted((await self._session.execute(stmt)).all(), key=lambda r: (r.next_attempt_at, r.id))
        return [OutboxItem(id=r.id, to=Actor(r.platform, r.workspace, r.user_id), message_json=r.message_json,
                           attempts=r.attempts, state=cast(OutboxState, r.state), platform_ref=r.platform_ref,
                           also=tuple(Actor(r.platform, r.workspace, str(u)) for u in json.loads(r.also or "[]")))
                for r in rows]

    async def settle(self, results: Sequence[OutboxResult]) -> list[int]:
        # Fenced by the attempt count: every claim raises it, so a sender whose lease ran out (and whose item
        # another sender claimed) records nothing. Core executemany, one statement per outcome: a sender
        # records its outcomes in groups, and the ORM's per-row bookkeeping would cost more than the send.
        if not results:
            return []
        ids = sorted({r.item_id for r in results})
        held: dict[int, int] = {}
        for start in range(0, len(ids), _IDS_PER_STATEMENT):
            found = await self._session.execute(
                select(_OUTBOX.c.id, _OUTBOX.c.attempts)
                .where(_OUTBOX.c.id.in_(ids[start:start + _IDS_PER_STATEMENT]), _OUTBOX.c.state == "pending")
                .with_for_update())
            held.update((row.id, row.attempts) for row in found)
        ours = [r for r in results if held.get(r.item_id) == r.attempt]
        for outcome, values in _SETTLE.items():
            params = [{"b_id": r.item_id, "b_at": r.at, "b_ref": r.platform_ref, "b_error": r.error[:200]}
                      for r in ours if r.outcome == outcome]
            if params:
                await self._session.execute(update(_OUTBOX).where(_OUTBOX.c.id == bindparam("b_id")).values(values),
                                            params)
        return [r.item_id for r in results if held.get(r.item_id) != r.attempt]

    async def mark_sent(self, item_id: int, platform_ref: str, at: datetime) -> None:
        row = await self._get(item_id)
        row.state = "sent"
        row.platform_ref = platform_ref
        row.sent_at = at
        row.lease_until = None
        await self._session.flush()

    async def retry_later(self, item_id: int, error: str, at: datetime) -> None:
        row = await self._get(item_id)
        row.next_attempt_at = at
        row.last_error = error
        row.lease_until = None
        await self._session.flush()

    async def mark_dead(self, item_id: int, error: str) -> None:
        row = await self._get(item_id)
        row.state = "dead"
        row.last_error = error
        row.lease_until = None
        await self._session.flush()

    async def pending_count(self) -> int:
        stmt = select(func.count()).select_from(OutboxRow).where(col(OutboxRow.state) == "pending")
        return int((await self._session.scalars(stmt)).one())

    async def erase_recipient(self, actor: Actor) -> None:
        """Every message to this person, alone or in a group."""
        await self._session.execute(
            delete(OutboxRow).where(
                col(OutboxRow.platform) == actor.platform,
                col(OutboxRow.workspace) == actor.workspace,
                or_(col(OutboxRow.user_id) == actor.user_id,
                    col(OutboxRow.also).contains(json.dumps(actor.user_id), autoescape=True)),
            )
        )

    async def erase_about(self, person_id: str) -> None:
        """Every message that speaks of this person, whatever its state (sent ones keep their text)."""
        await self._session.execute(delete(OutboxRow).where(col(OutboxRow.about) == person_id))

    async def _get(self, item_id: int) -> OutboxRow:
        row = await self._session.get(OutboxRow, item_id, populate_existing=True)
        if row is None:
            raise LookupError(f"no outbox item {item_id}")
        return row
