"""The Messenger port for Teams: proactive 1:1 messages through stored conversation references."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import aiohttp
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity, ChannelAccount, ConversationParameters, ConversationReference
from msrest.exceptions import HttpOperationError

from adapters.teams import translate
from adapters.teams.connector import ConnectorError, FastCloudAdapter
from adapters.teams.wire import from_wire, to_wire
from conversations.events import Actor, MessageRef
from conversations.messages import Message
from conversations.ports import Clock, DeliveryError, UnitOfWorkFactory

log = logging.getLogger("mentorbot.teams")

CHANNEL = "msteams"
PARSED_REFERENCES = 10_000  # stored references kept parsed, per process
PREFETCH_SECONDS = 60.0  # a reference read for an outbox batch serves a send within this long (a batch's lease)


def delivery_error(error: Exception) -> DeliveryError:
    """Map a Bot Connector failure (ours: ConnectorError; msrest's: HttpOperationError) to retry-later,
    wait-this-long or gone-for-good."""
    response: Any = getattr(error, "response", None)
    status = int(getattr(response, "status_code", 0) or getattr(response, "status", 0) or 0)
    if status == 429:
        headers = getattr(response, "headers", {}) or {}
        try:
            retry_after = float(headers.get("Retry-After", "1"))
        except (TypeError, ValueError):
            retry_after = 1.0
        return DeliveryError("throttled", retry_after=retry_after)
    if status in (403, 404):  # Teams: the app was removed, or the user is gone (2026-11)
        return DeliveryError(f"http_{status}", permanent=True)
    return DeliveryError(f"http_{status}" if status else type(error).__name__)


def reference_json(reference: ConversationReference) -> str:
    """The stored form of a 1:1 chat's reference, without the id of the message it was taken from: that changes with
    every message (so keeping it rewrote the row on every turn), and continue_conversation never uses it (the
    continuation activity gets an id of its own)."""
    data = to_wire(reference)
    data.pop("activityId", None)
    return json.dumps(data, separators=(",", ":"))


def message_ref(actor: Actor, activity_id: str) -> MessageRef:
    return MessageRef(f"teams:{actor.workspace}:{actor.user_id}:{activity_id}")


class TeamsMessenger:
    """Sends through CloudAdapter.continue_conversation; without a stored reference it creates the 1:1 chat."""

    group_messages = False  # Teams: a bot cannot create group chats; each person gets their own copy

    def __init__(self, *, adapter: CloudAdapter, app_id: str, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._adapter = adapter
        self._app_id = app_id
        self._uow = uow
        self._clock = clock
        # msrest takes ~100 us to parse a reference; the row is still read on every send, so nothing goes stale.
        # botbuilder only reads the reference (the continuation activity shares its accounts), never changes it.
        self._parsed: dict[str, ConversationReference] = {}
        # references an outbox batch read in one go (prefetch), each used by the next send to that person only
        self._prefetched: dict[Actor, tuple[datetime, str]] = {}

    async def send(self, to: Sequence[Actor], message: Message) -> MessageRef:
        # Teams: a bot cannot create a group chat, so a pair's message goes to each person's 1:1 chat (2026-11)
        refs = [await self._send_one(actor, message) for actor in to]
        return refs[0]

    async def update(self, ref: MessageRef, message: Message) -> None:
        parts = ref.split(":", 3)
        if len(parts) != 4 or parts[0] != "teams":
            raise DeliveryError(f"not a Teams message reference: {ref[:60]}")
        _, tenant, user_id, activity_id = parts
        reference = await self._reference(Actor(translate.PLATFORM, tenant, user_id))
        if reference is None:
            raise DeliveryError("no conversation with this person", permanent=False)
        activity = from_wire(Activity, translate.message_activity(message))
        activity.id = activity_id
        failures: list[Exception] = []

        async def update(context: TurnContext) -> None:
            try:
                await context.update_activity(activity)
            except Exception as error:
                failures.append(error)

        await self._run(lambda: self._adapter.continue_conversation(reference, update, self._app_id), failures)

    async def find_user(self, workspace: str, query: str) -> Actor | None:
        """1:1 chats have no mentions: people are named by email (handled by the engine) or `teams:id`."""
        return None

    async def _send_one(self, actor: Actor, message: Message) -> MessageRef:
        return await self.send_activity(actor, translate.message_activity(message))

    async def send_activity(self, actor: Actor, data: dict[str, Any]) -> MessageRef:
        """Send one activity to a person's 1:1 chat, creating the chat if we have none yet."""
        activity = from_wire(Activity, data)
        sent: list[str] = []
        failures: list[Exception] = []

        async def deliver(context: TurnContext) -> None:
            # botbuilder hands a failure inside the turn to on_turn_error and carries on as if all went well;
            # catching it here is what lets the outbox know the message was not delivered
            try:
                response = await context.send_activity(activity)
            except Exception as error:
                failures.append(error)
                return
            sent.append(response.id if response and response.id else "")

        reference = await self._reference(actor)
        if reference is not None and isinstance(self._adapter, FastCloudAdapter):
            try:  # the turn continue_conversation would run, without the turn (same call on the wire)
                sent_id = await self._adapter.send_proactive(reference, activity, self._app_id)
            except (ConnectorError, HttpOperationError, aiohttp.ClientError, OSError, TimeoutError) as error:
                raise delivery_error(error) from None
            if sent_id is not None:
                return message_ref(actor, sent_id)
        if reference is not None:
            await self._run(lambda: self._adapter.continue_conversation(reference, deliver, self._app_id), failures)
        else:
            await self._run(lambda: self._create_and_send(actor, deliver), failures)
        if not sent:
            raise DeliveryError("the connector returned no activity id")
        return message_ref(actor, sent[0])

    async def _run(self, turn: Any, failures: list[Exception]) -> None:
        try:
            await turn()
        except DeliveryError:
            raise
        except (ConnectorError, HttpOperationError, aiohttp.ClientError, OSError, TimeoutError) as error:
            raise delivery_error(error) from None
        if failures:
            first = failures[0]
            if isinstance(first, DeliveryError):
                raise first
            raise delivery_error(first) from None

    async def _create_and_send(self, actor: Actor, deliver: Any) -> None:
        service_url = await self._service_url(actor.workspace)
        if service_url is None:
            raise DeliveryError("this tenant has not talked to the bot yet, so there is no service URL")
        parameters = ConversationParameters(
            is_group=False, bot=ChannelAccount(id=f"28:{self._app_id}" if self._app_id else "bot"),
            members=[ChannelAccount(id=actor.user_id)], tenant_id=actor.workspace,
            channel_data={"tenant": {"id": actor.workspace}})

        async def remember_then_deliver(context: TurnContext) -> None:
            reference = TurnContext.get_conversation_reference(context.activity)
            async with self._uow() as uow:
                await uow.addresses.put(actor, reference_json(reference), self._clock.now())
                await uow.commit()
            await deliver(context)

        await self._adapter.create_conversation(self._app_id, remember_then_deliver, parameters, CHANNEL,
                                                service_url, None)

    async def prefetch(self, recipients: Sequence[Actor]) -> None:
        """The stored 1:1 chats of a whole outbox batch, in one read instead of a transaction per message."""
        wanted = [a for a in recipients if a not in self._prefetched]
        if not wanted:
            return
        if len(self._prefetched) >= PARSED_REFERENCES:  # sends that never came (a batch cut short)
            self._prefetched.clear()
        async with self._uow() as uow:
            found = await uow.addresses.get_many(wanted)
        read_at = self._clock.now()
        self._prefetched.update((actor, (read_at, raw)) for actor, raw in found.items())

    async def _reference(self, actor: Actor) -> ConversationReference | None:
        raw: str | None = None
        prefetched = self._prefetched.pop(actor, None)  # read for this batch, used once
        if prefetched is not None and (self._clock.now() - prefetched[0]).total_seconds() < PREFETCH_SECONDS:
            raw = prefetched[1]  # a send that never came (a released item) leaves no older one behind
        if raw is None:
            async with self._uow() as uow:
                raw = await uow.addresses.get(actor)
        if not raw:
            return None
        reference = self._parsed.get(raw)
        if reference is None:
            if len(self._parsed) >= PARSED_REFERENCES:
                self._parsed.clear()
            reference = self._parsed[raw] = from_wire(ConversationReference, json.loads(raw))
        return reference

    async def _service_url(self, tenant: str) -> str | None:
        async with self._uow() as uow:
            raw = await uow.installations.find(translate.PLATFORM, tenant)
        return str(json.loads(raw).get("serviceUrl")) if raw else None
