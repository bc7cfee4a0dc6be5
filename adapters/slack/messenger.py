"""The Messenger port for Slack: DMs through conversations.open (address reused), updates, user look-ups."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import translate
from conversations.events import Actor, MessageRef
from conversations.messages import Message
from conversations.ports import Clock, DeliveryError, UnitOfWorkFactory

log = logging.getLogger("mentorbot.slack")

# Slack: these errors mean the person or their DM is gone for good; retrying never helps (2026-11)
PERSON_GONE = frozenset({"user_not_found", "account_inactive", "channel_not_found", "not_in_channel",
                         "is_archived", "cannot_dm_bot", "user_disabled", "users_not_found"})
# Slack: the workspace no longer has us; every send there fails until it is reinstalled (2026-11)
WORKSPACE_GONE = frozenset({"invalid_auth", "account_inactive", "token_revoked", "not_authed", "team_not_found"})
CHANNEL_PACE_SECONDS = 1.0  # Slack allows about one message per second per channel
KNOWN_DM_CHANNELS = 50_000  # DM channel ids kept in memory, per process

_USER_ID = re.compile(r"[UW][A-Z0-9]{4,}")  # Slack member ids: U0123ABCD, or W… on Enterprise Grid
ClientFor = Callable[[str], Awaitable[AsyncWebClient]]


def delivery_error(error: SlackApiError | aiohttp.ClientError | TimeoutError) -> DeliveryError:
    """Map a Slack failure to retry-later, wait-this-long or gone-for-good."""
    if not isinstance(error, SlackApiError):
        return DeliveryError(f"network: {type(error).__name__}")
    status = error.response.status_code
    code = str(error.response.get("error", "") or f"http_{status}")
    if status == 429:
        raw = error.response.headers.get("Retry-After", error.response.headers.get("retry-after", "1"))
        try:
            retry_after = float(raw)
        except (TypeError, ValueError):
            retry_after = 1.0
        return DeliveryError("ratelimited", retry_after=retry_after)
    if code in PERSON_GONE or code in WORKSPACE_GONE:
        return DeliveryError(code, permanent=True)
    return DeliveryError(code)


def message_ref(workspace: str, channel: str, ts: str) -> MessageRef:
    """Everything needed to find a message again: `msg:TEAM:CHANNEL:TS`."""
    return MessageRef(f"msg:{workspace}:{channel}:{ts}")


class SlackMessenger:
    """Sends through the workspace's bot token; a person's DM channel is opened once and stored."""

    group_messages = True  # a pair's messages go to a group DM of the two people and the bot

    def __init__(self, *, client_for: ClientFor, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._client_for = client_for
        self._uow = uow
        self._clock = clock
        self.pace_seconds = CHANNEL_PACE_SECONDS
        self._channel_locks: dict[str, asyncio.Lock] = {}
        self._last_post: dict[str, float] = {}
        # Slack: a person's DM with the bot keeps its id for good (conversations.open answers the same one), so
        # once read (a whole outbox batch at a time, by prefetch) it is kept here; a failed send forgets it and the
        # next attempt reads the row again. No transaction per message on a fan-out (2026-11).
        self._dm_channels: dict[Actor, str] = {}

    async def send(self, to: Sequence[Actor], message: Message) -> MessageRef:
        if not to:
            raise DeliveryError("no recipient", permanent=False)
        workspace = to[0].workspace
        try:
            client = await self._client_for(workspace)
            channel = await self._channel(client, to)
            payload = translate.message_payload(message)
            async with self._pace(channel):
                response = await client.chat_postMessage(channel=channel, **payload)
            if message.file is not None:  # files_upload_v2: getUploadURLExternal, upload, completeUploadExternal
                await client.files_upload_v2(channel=channel, filename=message.file.name,
                                             content=message.file.content, title=message.file.name)
            if message.image is not None:  # the same three steps; alt_txt is what screen readers say
                await client.files_upload_v2(channel=channel, filename=message.image.name,
                                             content=message.image.content, title=message.image.name,
                                             alt_txt=message.image.alt[:translate.IMAGE_ALT_MAX])
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as error:
            self._dm_channels.pop(to[0], None)
            raise delivery_error(error) from None
        return message_ref(workspace, str(response["channel"]), str(response["ts"]))

    async def prefetch(self, recipients: Sequence[Actor]) -> None:
        """The stored DM channels of a whole outbox batch, in one read instead of one per message."""
        unknown = [a for a in recipients if a not in self._dm_channels]
        if not unknown:
            return
        async with self._uow() as uow:
            found = await uow.addresses.get_many(unknown)
        for actor, channel in found.items():
            self._remember(actor, channel)

    async def update(self, ref: MessageRef, message: Message) -> None:
        parts = ref.split(":")
        if len(parts) != 4 or parts[0] != "msg":
            raise DeliveryError(f"not a Slack message reference: {ref[:60]}")
        _, workspace, channel, ts = parts
        try:
            client = await self._client_for(workspace)
            await client.chat_update(channel=channel, ts=ts, **translate.message_payload(message))
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as error:
            raise delivery_error(error) from None

    async def find_user(self, workspace: str, query: str) -> Actor | None:
        user_id = translate.mention_user_id(query)
        if user_id is None and _USER_ID.fullmatch(query.strip()):
            user_id = query.strip()
        if user_id is not None:
            return Actor(translate.PLATFORM, workspace, user_id)
        if "@" in query:
            try:
                client = await self._client_for(workspace)
                found = await client.users_lookupByEmail(email=query.strip())
            except (SlackApiError, aiohttp.ClientError, TimeoutError):
                return None
            user: dict[str, Any] = found.get("user") or {}
            if user.get("id"):
                return Actor(translate.PLATFORM, workspace, str(user["id"]))
        return None

    async def _channel(self, client: AsyncWebClient, to: Sequence[Actor]) -> str:
        """The DM (or group DM) channel; a single person's is stored so it is opened only once."""
        if len(to) == 1:
            known = self._dm_channels.get(to[0])
            if known is None:
                async with self._uow() as uow:
                    known = await uow.addresses.get(to[0])
            if known:
                self._remember(to[0], known)
                return known
        opened = await client.conversations_open(users=",".join(a.user_id for a in to))
        channel = str(opened["channel"]["id"])
        if len(to) == 1:
            async with self._uow() as uow:
                await uow.addresses.put(to[0], channel, self._clock.now())
                await uow.commit()
            self._remember(to[0], channel)
        return channel

    def _remember(self, actor: Actor, channel: str) -> None:
        if len(self._dm_channels) >= KNOWN_DM_CHANNELS and actor not in self._dm_channels:
            self._dm_channels.clear()
        self._dm_channels[actor] = channel

    def _pace(self, channel: str) -> _Pace:
        lock = self._channel_locks.setdefault(channel, asyncio.Lock())
        return _Pace(lock, self._last_post, channel, self.pace_seconds)


class _Pace:
    """Holds a channel while posting to it, at most one post per CHANNEL_PACE_SECONDS."""

    def __init__(self, lock: asyncio.Lock, last: dict[str, float], channel: str, pace: float) -> None:
        self._lock, self._last, self._channel, self._pace = lock, last, channel, pace

    async def __aenter__(self) -> None:
        await self._lock.acquire()
        wait = self._last.get(self._channel, 0.0) + self._pace - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    async def __aexit__(self, *exc: object) -> None:
        self._last[self._channel] = time.monotonic()
        self._lock.release()
