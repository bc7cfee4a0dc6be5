"""Route Slack traffic into the engine: ack in time, translate, dispatch, deliver the straight reply."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.downloads import fetch_capped, host_allowed
from adapters.payloads import text_or_none
from adapters.slack import translate
from adapters.slack.messenger import SlackMessenger
from conversations.events import Actor, Command, Event, FileReader, FileUnavailable, HomeOpened, WorkspaceRemoved
from conversations.messages import Form, Message, Reply
from conversations.ports import Clock, DeliveryError, UnitOfWorkFactory

log = logging.getLogger("mentorbot.slack")

Dispatch = Callable[[Event], Awaitable[Reply]]
ACK_BUDGET_SECONDS = 2.0  # Slack waits 3 s for the ack; past this we ack first and answer by response_url
HINT_TTL_SECONDS = 3600.0


class UserHints:
    """Name and time zone from users.info, to prefill forms; cached, since the 3-second window is short."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}

    async def for_user(self, client: AsyncWebClient, actor: Actor) -> dict[str, str]:
        key = (actor.workspace, actor.user_id)
        cached = self._cache.get(key)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        hints: dict[str, str] = {}
        try:
            info = await asyncio.wait_for(client.users_info(user=actor.user_id), timeout=1.0)
            user: Mapping[str, Any] = info.get("user") or {}
            profile: Mapping[str, Any] = user.get("profile") or {}
            name = profile.get("real_name") or user.get("real_name") or ""
            if name:
                hints["name"] = str(name)
            if user.get("tz"):
                hints["time_zone"] = str(user["tz"])
            if profile.get("email"):
                hints["email"] = str(profile["email"])
        except (SlackApiError, TimeoutError, OSError) as error:
            log.info("users.info failed for a form prefill: %s", type(error).__name__)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (time.monotonic() + HINT_TTL_SECONDS, hints)
        return hints


class Listeners:
    """The Slack listeners; each acks in time and hands the engine a neutral event."""

    def __init__(self, *, dispatch: Dispatch, messenger: SlackMessenger, uow: UnitOfWorkFactory, clock: Clock,
                 time_zones: tuple[str, ...]) -> None:
        self.dispatch = dispatch
        self.messenger = messenger
        self.uow = uow
        self.clock = clock
        self.time_zones = time_zones
        self.hints = UserHints()
        self._background: set[asyncio.Task[None]] = set()
        self.command = "/mentor"

    def later(self, work: Awaitable[None]) -> None:
        """Run what follows the ack without holding Slack's HTTP response (bolt runs us before responding)."""
        task = asyncio.ensure_future(self._logged(work))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _logged(self, work: Awaitable[None]) -> None:
        try:
            await work
        except Exception:
            log.exception("Slack: work after the ack failed")

    async def drain(self) -> None:
        """Let the work after acks finish (on shutdown)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    def register(self, app: AsyncApp, command: str) -> None:
        self.command = command
        # bolt runs in process_before_response mode: it answers Slack as soon as a listener returns, with
        # no 10 ms polling for the ack. Commands, buttons and modals go on after the ack through later();
        # events are handled before the answer, so a failure gets a 500 and Slack's retry takes effect.
        """Route Slack traffic into the engine; no decisions here."""
        app.command(command)(self.on_command)
        app.action(re.compile(r"^[a-z].*"))(self.on_action)
        app.view(re.compile(r".+"))(self.on_view_submission)
        app.options("time_zone")(self.on_time_zone_options)
        app.event("app_home_opened")(self.on_home_opened)
        app.event("app_uninstalled")(self.on_app_uninstalled)
        app.event("tokens_revoked")(self.on_tokens_revoked)
        app.event("message")(self.on_message)

    async def on_command(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient,
                         respond: AsyncRespond) -> None:
        """A slash command: the reply rides on the ack when the engine is quick, as it nearly always is."""
        event = translate.to_command(body)
        task = asyncio.ensure_future(self.dispatch(event))
        done, _ = await asyncio.wait({task}, timeout=ACK_BUDGET_SECONDS)
        if not done:
            await ack()
            self.later(self._deliver_when_done(task, event.actor, client, respond, event.trigger))
            return
        reply = task.result()
        if any(m.file is not None or m.image is not None for m in reply.messages):  # ephemeral: no files
            await ack(response_type="ephemeral", text="I sent it to you by DM: a reply here cannot carry files.")
            self.later(self._deliver(reply, event.actor, client, respond=None, trigger=event.trigger))
            return
        if reply.form is None and reply.messages and not reply.replace:
            first, *rest = reply.messages
            await ack(response_type="ephemeral", **translate.message_payload(first))
            for message in rest:
                await respond(response_type="ephemeral", **translate.message_payload(message))
            return
        await ack()
        self.later(self._deliver(reply, event.actor, client, respond=respond, trigger=event.trigger))

    async def _deliver_when_done(self, task: asyncio.Future[Reply], actor: Actor, client: AsyncWebClient,
                                 respond: AsyncRespond, trigger: str | None) -> None:
        await self._deliver(await task, actor, client, respond=respond, trigger=trigger)

    async def on_action(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any],
                        client: AsyncWebClient, respond: AsyncRespond) -> None:
        """A button: ack at once, then the engine; its reply replaces the clicked message or is whispered."""
        await ack()
        if action.get("type") != "button":
            return  # selects inside our modals change nothing until the modal is submitted
        self.later(self._after_action(body, action, client, respond))

    async def _after_action(self, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient,
                            respond: AsyncRespond) -> None:
        event = translate.to_action_taken(body, action)
        reply = await self.dispatch(event)
        in_home = (body.get("view") or {}).get("type") == "home"
        if in_home:  # the re-published home shows the new state; what else the engine said goes by DM
            await self._deliver(Reply(messages=reply.messages, form=reply.form), event.actor, client,
                                respond=None, trigger=event.trigger)
            await self._publish_home(event.actor, client)
            return
        await self._deliver(reply, event.actor, client, respond=respond, trigger=event.trigger)

    async def on_view_submission(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        """A modal: the engine validates before the ack, because only the ack can show per-field errors."""
        event = translate.to_form_submitted(body)
        reply = await self.dispatch(event)
        if reply.errors:
            await ack(**translate.field_errors(reply.errors))
            return
        if reply.form is not None:
            await ack(response_action="update", view=await self._form_view(reply.form, event.actor, client))
        else:
            await ack()
        if reply.messages or reply.replace:
            self.later(self._deliver(Reply(messages=reply.messages, replace=reply.replace), event.actor, client,
                                     respond=None, trigger=None))

    async def on_time_zone_options(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """Type-ahead for the time zone: 599 zones do not fit a 100-option select."""
        await ack(**translate.time_zone_options(str(body.get("value", "")), self.time_zones))

    async def on_home_opened(self, body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        await self._publish_home(translate.actor_of(body), client)

    async def on_app_uninstalled(self, body: dict[str, Any]) -> None:
        await self._workspace_gone(body, "app_uninstalled")

    async def on_tokens_revoked(self, body: dict[str, Any], event: dict[str, Any]) -> None:
        if (event.get("tokens") or {}).get("bot"):
            await self._workspace_gone(body, "tokens_revoked")

    async def _workspace_gone(self, body: dict[str, Any], reason: str) -> None:
        """Forget the installation (its token no longer works) and mark the workspace's people unreachable."""
        team = str(body.get("team_id", ""))
        async with self.uow() as uow:
            await uow.installations.delete(translate.PLATFORM, team)
            await uow.commit()
        await self._once(body, WorkspaceRemoved(translate.PLATFORM, team, reason))

    async def on_message(self, body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient) -> None:
        """Words typed in the DM with the bot work like the slash command; a file sent there is an HR import."""
        if event.get("channel_type") != "im" or event.get("bot_id"):
            return
        # Slack: a file sent in a DM arrives as subtype "file_share" with a "files" list (2026-11)
        if event.get("subtype") in (None, "file_share") and translate.files_of(event):
            await self._file_share(body, event, client)
            return
        if event.get("subtype"):
            return
        await self._dm_command(body, event, client)

    async def _file_share(self, body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient) -> None:
        """Claim the delivery, then download and import after the answer: a 5 MB file may take more than the
        3 seconds Slack waits, and its retry of the same event id would find the claim and stop there."""
        if not await self._claim(body):
            return
        self.later(self._after_file_share(body, event, client))

    async def _after_file_share(self, body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient) -> None:
        files = [await self._file_info(f, client) for f in translate.files_of(event)]
        shared = translate.to_file_shared(body, files, lambda file: self._reader(file, client))
        reply = await self.dispatch(shared)
        await self._deliver(Reply(messages=reply.messages, replace=reply.replace), shared.actor, client,
                            respond=None, trigger=None)

    async def _file_info(self, file: Mapping[str, Any], client: AsyncWebClient) -> Mapping[str, Any]:
        """The whole file object, from files.info when the event carried only its id."""
        if not translate.file_needs_info(file) or not text_or_none(file.get("id")):
            return file
        try:
            info = await client.files_info(file=str(file["id"]))
        except (SlackApiError, OSError, TimeoutError) as failure:  # the read then says no link was given
            log.info("Slack: files.info failed: %s", type(failure).__name__)
            return file
        found = info.get("file")
        return found if isinstance(found, Mapping) else file

    def _reader(self, file: Mapping[str, Any], client: AsyncWebClient) -> FileReader:
        """The download of one file with the bot token, which goes only to Slack's own hosts."""
        api_host = (urlsplit(client.base_url).hostname or "").lower()

        async def read(limit: int) -> bytes | None:
            url = translate.file_download_url(file)
            if url is None:
                raise FileUnavailable("Slack gave no download link for it")
            if not host_allowed(url, (api_host, f".{api_host}")):
                raise FileUnavailable("its download link is not on Slack")
            session = client.session
            if session is None:  # slack_sdk made its own; ours is always passed in (adapters/slack/app.py)
                raise FileUnavailable("no connection to Slack is open")
            return await fetch_capped(session, url, limit=limit, headers={"Authorization": f"Bearer {client.token}"},
                                      web_page_means="Slack sent a sign-in page; the app may lack the files:read "
                                                     "permission, so reinstall it")
        return read

    async def _dm_command(self, body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient) -> None:
        text = str(event.get("text", "")).strip()
        if not text:
            return
        actor = translate.actor_of(body)
        if not await self._claim(body):
            return
        try:
            reply = await self.dispatch(Command.parse(actor, text.removeprefix(self.command).strip()))
        except Exception:
            await self._release(body)
            raise
        if reply.form is not None:
            reply = Reply(messages=(*reply.messages, Message(
                "Let's do this in a form.", ("Type the slash command (e.g. `/mentor join`) to open it.",))))
        await self._deliver(Reply(messages=reply.messages, replace=reply.replace), actor, client,
                            respond=None, trigger=None)

    async def _once(self, body: Mapping[str, Any], event: Event) -> None:
        """Handle an Events API delivery once, even when Slack retries it."""
        if not await self._claim(body):
            return
        try:
            await self.dispatch(event)
        except Exception:
            await self._release(body)
            raise

    async def _claim(self, body: Mapping[str, Any]) -> bool:
        event_id = str(body.get("event_id") or "")
        if not event_id:
            return True
        async with self.uow() as uow:
            new = await uow.events.claim(translate.PLATFORM, event_id, self.clock.now())
            await uow.commit()
        return new

    async def _release(self, body: Mapping[str, Any]) -> None:
        event_id = str(body.get("event_id") or "")
        if event_id:
            async with self.uow() as uow:
                await uow.events.release(translate.PLATFORM, event_id)
                await uow.commit()

    async def _publish_home(self, actor: Actor, client: AsyncWebClient) -> None:
        reply = await self.dispatch(HomeOpened(actor))
        await client.views_publish(user_id=actor.user_id, view=translate.home_view(reply.messages))

    async def _form_view(self, form: Form, actor: Actor, client: AsyncWebClient) -> dict[str, Any]:
        defaults = await self.hints.for_user(client, actor)
        return translate.form_view(form, defaults=defaults)

    async def _deliver(self, reply: Reply, actor: Actor, client: AsyncWebClient, *,
                       respond: AsyncRespond | None, trigger: str | None) -> None:
        """Send the straight reply: open the form, replace the clicked message, whisper the rest."""
        if reply.form is not None and trigger:
            await client.views_open(trigger_id=trigger, view=await self._form_view(reply.form, actor, client))
        if reply.replace is not None:
            if respond is not None:
                await respond(replace_original=True, **translate.message_payload(reply.replace))
            else:
                await self._dm(actor, reply.replace)
        for message in reply.messages:
            if respond is not None and message.file is None and message.image is None:  # files only go by DM
                await respond(response_type="ephemeral", replace_original=False,
                              **translate.message_payload(message))
            else:
                await self._dm(actor, message)

    async def _dm(self, actor: Actor, message: Message) -> None:
        try:
            await self.messenger.send([actor], message)
        except DeliveryError as failure:
            log.warning("could not DM a straight reply: %s", failure.reason)
