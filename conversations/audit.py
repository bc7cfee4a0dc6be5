"""Writing the audit trail: who did what, by pseudonym, whatever the outcome."""

from __future__ import annotations

from typing import Literal

from conversations.events import Actor
from conversations.model import AuditEntry
from conversations.ports import Clock, UnitOfWork


async def record(uow: UnitOfWork, clock: Clock, actor: Actor, action: str,
                 outcome: Literal["ok", "denied", "invalid"], *, target: Actor | None = None,
                 detail: str = "") -> None:
    """Add one entry; people are named by pseudonym, never by platform id or name."""
    await uow.audit.record(AuditEntry(
        at=clock.now(),
        actor=await uow.audit.pseudonym(actor),
        action=action,
        outcome=outcome,
        target=await uow.audit.pseudonym(target) if target else None,
        detail=detail[:500],
    ))
