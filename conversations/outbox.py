"""Delivering what the outbox holds: retries with backoff, Retry-After honoured, nothing lost."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from conversations.deps import Deps
from conversations.directory import admins_of
from conversations.events import Actor
from conversations.messages import Message
from conversations.model import OutboxItem
from conversations.partners import release_partners
from conversations.ports import DeliveryError, Messenger, UnitOfWork

log = logging.getLogger("mentorbot.outbox")

# (platform, outcome "sent" | "retried" | "dead") after each delivery attempt is recorded: a metrics hook
DeliveryObserver = Callable[[str, str], None]


@dataclass(frozen=True, slots=True)
class OutboxPolicy:
    batch: int = 50
    lease_seconds: float = 60.0
    max_attempts: int = 8
    base_backoff_seconds: float = 2.0
    max_backoff_seconds: float = 900.0
    concurrency: int = 8


class OutboxSender:
    """Claims due messages, delivers them through each person's platform, records the outcome."""

    def __init__(self, deps: Deps, policy: OutboxPolicy | None = None, *,
                 observe: DeliveryObserver | None = None) -> None:
        self._deps = deps
        self._policy = policy or OutboxPolicy()
        self._observe = observe
        self._stopping = False
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def messengers(self) -> Mapping[str, Messenger]:
        return self._deps.messengers

    async def drain_once(self) -> int:
        """Send one batch of due messages; returns how many were attempted."""
        if self._stopping:
            return 0
        self._idle.clear()
        try:
            deps, policy = self._deps, self._policy
            async with deps.uow() as uow:
                items = await uow.outbox.claim(deps.clock.now(), policy.batch, policy.lease_seconds)
                await uow.commit()
            gate = asyncio.Semaphore(policy.concurrency)

            async def one(item: OutboxItem) -> None:
                async with gate:
                    await self._deliver(item)

            # shield: a stop during the sends lets the in-flight ones finish and be recorded
            await asyncio.shield(asyncio.gather(*(one(i) for i in items)))
            return len(items)
        finally:
            self._idle.set()

    async def drain(self, max_rounds: int = 100) -> int:
        """Send until nothing is due (used by the console after each line, and by tests)."""
        total = 0
        for _ in range(max_rounds):
            sent = await self.drain_once()
            total += sent
            if sent == 0:
                break
        return total

    async def stop(self) -> None:
        """Start no new batch; wait for the one in flight to be delivered and recorded."""
        self._stopping = True
        await self._idle.wait()

    async def _deliver(self, item: OutboxItem) -> None:
        deps = self._deps
        messenger = deps.messengers.get(item.to.platform)
        now = deps.clock.now()
        try:
            if messenger is None:
                raise DeliveryError(f"no {item.to.platform} platform configured")
            ref = await messenger.send([item.to, *item.also], Message.from_json(item.message_json))
        except DeliveryError as failure:
            await self._failed(item, failure)
            return
        except Exception as bug:  # an outage or a bug in an adapter: retry later, never lose the message
            log.exception("outbox %s: unexpected error while sending", item.id)
            await self._failed(item, DeliveryError(type(bug).__name__))
            return
        async with deps.uow() as uow:
            await uow.outbox.mark_sent(item.id, str(ref), now)
            await uow.commit()
        self._observed(item, "sent")

    async def _failed(self, item: OutboxItem, failure: DeliveryError) -> None:
        deps, policy = self._deps, self._policy
        now = deps.clock.now()
        async with deps.uow() as uow:
            if failure.permanent or item.attempts >= policy.max_attempts:
                log.warning("outbox %s: giving up after %s attempts: %s", item.id, item.attempts, failure.reason)
                await uow.outbox.mark_dead(item.id, failure.reason[:200])
                if failure.permanent:
                    await mark_unreachable(uow, deps, item.to, failure.reason)
            else:
                backoff = min(policy.max_backoff_seconds, policy.base_backoff_seconds * 2 ** (item.attempts - 1))
                wait = max(backoff, failure.retry_after or 0.0)
                log.info("outbox %s: attempt %s failed (%s); retrying in %.0f s",
                         item.id, item.attempts, failure.reason, wait)
                await uow.outbox.retry_later(item.id, failure.reason[:200], now + timedelta(seconds=wait))
            await uow.commit()
        self._observed(item, "dead" if failure.permanent or item.attempts >= policy.max_attempts else "retried")

    def _observed(self, item: OutboxItem, outcome: str) -> None:
        if self._observe is not None:
            self._observe(item.to.platform, outcome)


async def mark_unreachable(uow: UnitOfWork, deps: Deps, actor: Actor, reason: str) -> None:
    """The platform says this person is gone: stop writing to them and tell the admins, once."""
    person = await uow.people.by_actor(actor)
    if person is None or person.status == "unreachable":
        return
    await uow.people.save(person.with_status("unreachable"))
    await release_partners(uow, deps, person, told="Your partner can no longer be reached by the bot.")
    now = deps.clock.now()
    for admin in await admins_of(uow, deps, actor.platform, actor.workspace):
        if admin != actor:
            await uow.outbox.enqueue(admin, Message(
                f"I can no longer reach {person.profile.name}.",
                (f"The platform said: {reason[:100]}. They get no messages until they talk to me again.",)), now,
                about=person.id)
