"""Delivering what the outbox holds: retries with backoff, Retry-After honoured, nothing lost."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from conversations.deps import Deps
from conversations.directory import admins_of
from conversations.events import Actor
from conversations.messages import Message
from conversations.model import OutboxItem, OutboxResult
from conversations.partners import release_partners
from conversations.ports import DeliveryError, Messenger, Prefetching, UnitOfWork

log = logging.getLogger("mentorbot.outbox")

RECORD_ATTEMPTS = 3  # a database hiccup while recording results: try again before letting the leases run out
MIN_RETRY_AFTER_SECONDS = 1.0  # Slack and the Bot Connector say Retry-After in whole seconds
RECORD_LINGER_SECONDS = 0.05  # how long a result waits for others of its batch to share its write

# (platform, outcome "sent" | "retried" | "dead") after each delivery attempt is recorded: a metrics hook
DeliveryObserver = Callable[[str, str], None]


@dataclass(frozen=True, slots=True)
class OutboxPolicy:
    batch: int = 100
    lease_seconds: float = 60.0
    send_timeout_seconds: float = 20.0  # one delivery, all its platform requests included, never takes longer
    max_attempts: int = 8
    base_backoff_seconds: float = 2.0
    max_backoff_seconds: float = 900.0
    concurrency: int = 16

    @property
    def send_deadline(self) -> float:
        """How long one delivery may take: the send timeout, but never more than a third of the lease."""
        return min(self.send_timeout_seconds, self.lease_seconds / 3)

    @property
    def start_window(self) -> timedelta:
        """How long after its claim a delivery may still start: it then ends (sent, failed or cut off by the
        deadline) with a whole deadline of lease to spare, for clock skew between replicas and the write that
        records it. Nothing but the one request in flight when a process dies can be sent twice."""
        return timedelta(seconds=self.lease_seconds - 2 * self.send_deadline)


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
        self._unrecorded: list[OutboxResult] = []
        self._recording = asyncio.Lock()
        self._next_write: asyncio.Future[None] | None = None  # resolved when the next write of results commits
        self._sending = 0  # sends of the current batches not finished yet

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
            claimed_at = deps.clock.now()
            async with deps.uow() as uow:
                items = await uow.outbox.claim(claimed_at, policy.batch, policy.lease_seconds)
                await uow.commit()
            if not items:
                return 0
            await self._prefetch(items)
            start_by = claimed_at + policy.start_window
            gate = asyncio.Semaphore(policy.concurrency)
            self._sending += len(items)

            async def one(item: OutboxItem) -> None:
                result: OutboxResult | None
                try:
                    async with gate:
                        if deps.clock.now() > start_by:  # too little lease left: another sender may take it mid-send
                            result = OutboxResult(item.id, item.attempts, "released", deps.clock.now())
                        else:
                            result = await self._deliver(item)
                finally:
                    self._sending -= 1
                if result is not None:  # recorded outside the gate: the next send need not wait for the write
                    await self._record(result)
                    if result.outcome != "released":
                        self._observed(item, "sent" if result.outcome == "sent" else "retried")

            # shield: a stop during the sends lets the in-flight ones finish and be recorded
            await asyncio.shield(asyncio.gather(*(one(i) for i in items)))
            return len(items)
        finally:
            self._idle.set()

    async def drain(self, max_rounds: int = 100) -> int:
        """Send until nothing is due: each scheduler tick, the console after each line, tests."""
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

    async def _prefetch(self, items: list[OutboxItem]) -> None:
        """Let each platform read what reaching these people needs in one go, not once per message."""
        for platform in {i.to.platform for i in items}:
            messenger = self._deps.messengers.get(platform)
            if isinstance(messenger, Prefetching):
                try:
                    await messenger.prefetch([i.to for i in items if i.to.platform == platform and not i.also])
                except Exception:  # only an optimisation: each send reads what it needs itself
                    log.warning("outbox: %s could not prefetch addresses", platform, exc_info=True)

    async def _deliver(self, item: OutboxItem) -> OutboxResult | None:
        """One attempt, bounded by the deadline; its result to record (None: recorded already, as dead)."""
        deps, deadline = self._deps, self._policy.send_deadline
        messenger = deps.messengers.get(item.to.platform)
        try:
            if messenger is None:
                raise DeliveryError(f"no {item.to.platform} platform configured")
            message = Message.from_json(item.message_json)
            # The one window where a repeat can happen: the platform takes no idempotency key, so if it accepted
            # the message and the answer is lost (timeout, crash), the next attempt sends it again.
            async with asyncio.timeout(deadline):
                ref = await messenger.send([item.to, *item.also], message)
        except DeliveryError as failure:
            return await self._failed(item, failure)
        except TimeoutError:
            return await self._failed(item, DeliveryError(f"no answer within {deadline:g} s"))
        except Exception as bug:  # an outage or a bug in an adapter: retry later, never lose the message
            log.exception("outbox %s: unexpected error while sending", item.id)
            return await self._failed(item, DeliveryError(type(bug).__name__))
        return OutboxResult(item.id, item.attempts, "sent", deps.clock.now(), platform_ref=str(ref))

    async def _record(self, result: OutboxResult) -> None:
        """Record this result with the others that finish about now, in one transaction; returns once it is.
        While sends of the batch are still in flight, a result waits up to RECORD_LINGER_SECONDS for company: a
        fan-out of thousands then costs a write per few dozen messages. A crash in that moment repeats them."""
        self._unrecorded.append(result)
        if self._next_write is None:
            self._next_write = asyncio.get_running_loop().create_future()
        written = self._next_write  # resolved by the write that takes this result
        if self._sending > 0 and len(self._unrecorded) < max(1, self._policy.batch // 2):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(written), RECORD_LINGER_SECONDS)
            if written.done():
                return
        async with self._recording:
            if not self._unrecorded:
                return  # a write that finished while we waited took ours too
            results, self._unrecorded = self._unrecorded, []
            written, self._next_write = self._next_write, None
            try:
                stale = await self._settle(results)
            finally:
                if written is not None:
                    written.set_result(None)
        for result in results:
            if result.item_id in stale:
                log.warning("outbox %s: no longer held by this sender (its lease ran out, or it was erased); "
                            "%s not recorded", result.item_id, result.outcome)

    async def _settle(self, results: list[OutboxResult]) -> list[int]:
        for attempt in range(1, RECORD_ATTEMPTS + 1):
            try:
                async with self._deps.uow() as uow:
                    stale = await uow.outbox.settle(results)
                    await uow.commit()
                return stale
            except Exception:
                if attempt == RECORD_ATTEMPTS:  # the leases run out, and these are sent again
                    log.exception("outbox: could not record %s results", len(results))
                    return []
                await asyncio.sleep(0.5 * attempt)
        return []

    async def _failed(self, item: OutboxItem, failure: DeliveryError) -> OutboxResult | None:
        deps, policy = self._deps, self._policy
        now = deps.clock.now()
        rate_limited = failure.retry_after is not None
        # a rate limit is the platform pacing us, not failing: it never makes us give up a message
        if failure.permanent or (item.attempts >= policy.max_attempts and not rate_limited):
            log.warning("outbox %s: giving up after %s attempts: %s", item.id, item.attempts, failure.reason)
            async with deps.uow() as uow:
                dead = OutboxResult(item.id, item.attempts, "dead", now, error=failure.reason)
                if await uow.outbox.settle([dead]):
                    return None  # another sender holds it now
                if failure.permanent:
                    await mark_unreachable(uow, deps, item.to, failure.reason)
                await uow.commit()
            self._observed(item, "dead")
            return None
        if failure.retry_after is not None:  # the platform said when: wait that long (a second at least), no more
            wait = max(MIN_RETRY_AFTER_SECONDS, failure.retry_after)
        else:
            wait = min(policy.max_backoff_seconds, policy.base_backoff_seconds * 2 ** (item.attempts - 1))
        log.info("outbox %s: attempt %s failed (%s); retrying in %.0f s", item.id, item.attempts, failure.reason, wait)
        return OutboxResult(item.id, item.attempts, "retry", now + timedelta(seconds=wait), error=failure.reason)

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
