"""Route Teams activities into the engine and its replies back as activities and cards; no decisions here."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from botbuilder.core import TurnContext
from botbuilder.core.teams import TeamsActivityHandler
from botbuilder.schema import Activity

from adapters.downloads import fetch_capped, host_allowed
from adapters.teams import translate
from adapters.teams.messenger import TeamsMessenger, reference_json
from adapters.teams.wire import from_wire, to_wire
from conversations.events import Actor, Event, FileReader, FileUnavailable, FormSubmitted
from conversations.messages import Message, Reply
from conversations.ports import Clock, DeliveryError, UnitOfWorkFactory

log = logging.getLogger("mentorbot.teams")

Dispatch = Callable[[Event], Awaitable[Reply]]
SAVED = Message("Thanks, that's saved.")
# Teams: a file sent to the bot is fetched from the sender's OneDrive, i.e. SharePoint, in every cloud (2026-11)
FILE_HOSTS = (".sharepoint.com", ".sharepoint-df.com", ".sharepoint.us", ".sharepoint-mil.us", ".sharepoint.de",
              ".sharepoint.cn")


class MentorbotTeamsBot(TeamsActivityHandler):
    """Every activity becomes one engine event; the straight reply goes back in the same turn."""

    def __init__(self, *, dispatch: Dispatch, messenger: TeamsMessenger, uow: UnitOfWorkFactory, clock: Clock,
                 command: str, http: Callable[[], aiohttp.ClientSession] | None = None) -> None:
        self._dispatch = dispatch
        self._http = http  # the adapter's shared session, for downloading files people send
        self.file_hosts: tuple[str, ...] = FILE_HOSTS
        self._messenger = messenger
        self._uow = uow
        self._clock = clock
        self._command = command
        self._stored: dict[str, str] = {}  # what this process last stored, so unchanged data is not rewritten

    async def on_turn(self, turn_context: TurnContext) -> None:
        raw: dict[str, Any] = to_wire(turn_context.activity)
        try:
            event = translate.to_event(raw, command=self._command,
                                       reader=self._reader if self._http is not None else None)
        except ValueError as problem:  # no tenant or no sender: nothing we can act on
            log.info("Teams: ignoring an activity: %s", problem)
            return
        if event is None:
            return
        actor = getattr(event, "actor", None)
        if isinstance(actor, Actor):
            await self._remember(turn_context, raw, actor)
        reply = await self._dispatch(event)
        if isinstance(actor, Actor):
            await self._deliver(turn_context, raw, event, actor, reply)

    def _reader(self, attachment: Any) -> FileReader:
        """The download of one sent file: its link is pre-authenticated, so it gets no token of ours."""
        async def read(limit: int) -> bytes | None:
            url = translate.file_download_url(attachment)
            if url is None:
                raise FileUnavailable("Teams gave no download link for it")
            if not host_allowed(url, self.file_hosts):
                raise FileUnavailable("its download link is not on SharePoint or OneDrive")
            assert self._http is not None  # no reader is made without a session
            return await fetch_capped(self._http(), url, limit=limit)
        return read

    async def _remember(self, turn_context: TurnContext, raw: dict[str, Any], actor: Actor) -> None:
        """Keep the 1:1 conversation reference (for proactive messages) and the tenant's service URL."""
        writes: dict[str, str] = {}
        if translate.is_personal(raw):
            writes[f"address|{actor.key}"] = reference_json(
                TurnContext.get_conversation_reference(turn_context.activity))
        if raw.get("serviceUrl"):
            writes[f"tenant|{actor.workspace}"] = json.dumps({"serviceUrl": raw["serviceUrl"]})
        changed = {k: v for k, v in writes.items() if self._stored.get(k) != v}
        if not changed:
            return
        now = self._clock.now()
        async with self._uow() as uow:
            for key, data in changed.items():
                if key.startswith("address|"):
                    await uow.addresses.put(actor, data, now)
                else:
                    await uow.installations.save(translate.PLATFORM, actor.workspace, data, now)
            await uow.commit()
        self._stored.update(changed)

    async def _deliver(self, turn_context: TurnContext, raw: dict[str, Any], event: Event, actor: Actor,
                       reply: Reply) -> None:
        """Answer in the same 1:1 chat; an @mention in a channel is answered privately."""
        reply_to = str(raw.get("replyToId") or "")
        if isinstance(event, FormSubmitted):
            if reply.errors:  # redraw the card in place: each error beside its field, the answers kept
                if reply.form is not None and reply_to:
                    card = translate.form_activity(reply.form, values=event.values, errors=reply.errors)
                    await self._update(turn_context, reply_to, card)
                    return
                reply = Reply(messages=(Message("Please check your answers.", tuple(reply.errors.values())),))
            elif reply_to:  # the card becomes its outcome, so it cannot be submitted twice
                await self._update(turn_context, reply_to, translate.message_activity(reply.replace or SAVED))
                reply = Reply(messages=reply.messages, form=reply.form)
        elif reply.replace is not None and reply_to:
            await self._update(turn_context, reply_to, translate.message_activity(reply.replace))
        outgoing = [translate.message_activity(m) for m in reply.messages]
        if reply.form is not None:
            outgoing.append(translate.form_activity(reply.form))
        personal = translate.is_personal(raw)
        for data in outgoing:
            if personal:
                await turn_context.send_activity(from_wire(Activity, data))
            else:
                await self._privately(actor, data)

    async def _update(self, turn_context: TurnContext, activity_id: str, data: dict[str, Any]) -> None:
        activity = from_wire(Activity, data)
        activity.id = activity_id
        await turn_context.update_activity(activity)

    async def _privately(self, actor: Actor, data: dict[str, Any]) -> None:
        try:
            await self._messenger.send_activity(actor, data)
        except DeliveryError as failure:
            log.warning("Teams: could not answer privately: %s", failure.reason)
