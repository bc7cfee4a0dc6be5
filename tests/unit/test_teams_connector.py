"""The Teams adapter's outbound calls: one shared aiohttp session, a token fetched once off the loop, clients reused."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from botbuilder.core import TurnContext
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    ChannelAccount,
    ConversationParameters,
    ConversationReference,
)
from botframework.connector.auth import MicrosoftAppCredentials
from msrest.authentication import Authentication

from adapters.teams import translate
from adapters.teams.app import TeamsConfig, TeamsSide, build_teams
from adapters.teams.connector import ChannelTokens, ConnectorError, FastCloudAdapter
from adapters.teams.messenger import reference_json
from adapters.teams.wire import to_wire
from conversations.events import Actor, Event
from conversations.messages import Button, Fact, Message, Reply
from conversations.ports import DeliveryError
from tests.fakes.bot_connector import FakeBotConnector
from tests.fakes.identity import FakeIdentityProvider
from tests.fakes.memory import FakeClock, MemoryUnitOfWorkFactory

APP_ID = "3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
APP_PASSWORD = "not-a-real-secret"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
MEGAN = "6be4c67b-2b57-4d0e-9b0a-2e1d3c5a8f01"
CONVERSATION = "a:1Mk6Jd4tVzKHQ2pFpR0xbE7nN8wYcXsLgZo3uAqTiBhC5vDyJeWfGm9rSaP-lUkO_1jQx2Yz"
PAYLOADS = Path(__file__).resolve().parents[1] / "payloads" / "teams"
T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


async def _no_reply(event: Event) -> Reply:
    return Reply()


@dataclass
class Teams:
    """The Teams side as build_teams wires it, against a fake connector and, when authenticated, a fake identity."""

    side: TeamsSide
    connector: FakeBotConnector
    uow: MemoryUnitOfWorkFactory
    identity: FakeIdentityProvider | None = None
    token_threads: list[threading.Thread] = field(default_factory=list)
    clock: FakeClock = field(default_factory=lambda: FakeClock(T0))

    @property
    def adapter(self) -> FastCloudAdapter:
        return self.side.adapter

    def reference(self) -> ConversationReference:
        """Megan's 1:1 chat as an incoming message leaves it."""
        return TurnContext.get_conversation_reference(Activity().deserialize(self.incoming("hello")))

    def incoming(self, text: str) -> dict[str, Any]:
        activity: dict[str, Any] = json.loads((PAYLOADS / "message_personal.json").read_text())
        activity.update(text=text, serviceUrl=self.connector.service_url)
        activity["recipient"] = {"id": f"28:{APP_ID}", "name": "mentorbot"}
        activity["conversation"]["id"] = CONVERSATION
        return activity

    async def turn(self, logic: Callable[[TurnContext], Awaitable[None]]) -> None:
        """One proactive turn, as the messenger runs it."""
        await self.adapter.continue_conversation(self.reference(), logic, APP_ID)

    async def inbound(self, text: str, logic: Callable[[TurnContext], Awaitable[None]]) -> None:
        """One turn for a message from Teams, signed by the fake channel when authentication is on."""
        header = ""
        if self.identity is not None:
            header = "Bearer " + self.identity.channel_token(app_id=APP_ID, service_url=self.connector.service_url)
        await self.adapter.process_activity(header, Activity().deserialize(self.incoming(text)), logic)

    async def remember_megan(self) -> Actor:
        actor = Actor("teams", TENANT, MEGAN)
        async with self.uow() as uow:
            await uow.addresses.put(actor, reference_json(self.reference()), T0)
            await uow.commit()
        return actor


@asynccontextmanager
async def _running(config: TeamsConfig, connector: FakeBotConnector, identity: FakeIdentityProvider | None
                   ) -> AsyncIterator[Teams]:
    uow = MemoryUnitOfWorkFactory()
    clock = FakeClock(T0)
    side = build_teams(config, dispatch=_no_reply, uow=uow, clock=clock)
    await side.start()
    try:
        yield Teams(side, connector, uow, identity, clock=clock)
    finally:
        await side.stop()


@pytest.fixture
async def identity(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeIdentityProvider]:
    async with FakeIdentityProvider(app_id=APP_ID, app_password=APP_PASSWORD) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_bundle)  # msal insists on https: trust the fake's CA
        yield fake


@pytest.fixture
def token_threads(monkeypatch: pytest.MonkeyPatch) -> list[threading.Thread]:
    """The threads botbuilder's get_access_token (msal over blocking `requests`) ran on; it still runs for real."""
    threads: list[threading.Thread] = []
    fetch = MicrosoftAppCredentials.get_access_token

    def recording(self: MicrosoftAppCredentials, force_refresh: bool = False) -> str:
        threads.append(threading.current_thread())
        return str(fetch(self, force_refresh))

    monkeypatch.setattr(MicrosoftAppCredentials, "get_access_token", recording)
    return threads


@pytest.fixture
async def authenticated(identity: FakeIdentityProvider, token_threads: list[threading.Thread]
                        ) -> AsyncIterator[Teams]:
    config = TeamsConfig(command="/mentor", app_id=APP_ID, app_password=APP_PASSWORD,
                         openid_metadata_url=identity.metadata_url, login_url=identity.login_url)
    async with FakeBotConnector(expect_token=identity.access_token) as connector, _running(
            config, connector, identity) as teams:
        teams.token_threads = token_threads
        yield teams


@pytest.fixture
async def unauthenticated() -> AsyncIterator[Teams]:
    config = TeamsConfig(command="/mentor", allow_unauthenticated=True)
    async with FakeBotConnector() as connector, _running(config, connector, None) as teams:
        yield teams


def _counting() -> tuple[aiohttp.TraceConfig, list[str], list[int]]:
    """A trace that lists each request's method and each new TCP connection."""
    requests: list[str] = []
    connections: list[int] = []

    async def on_request(session: aiohttp.ClientSession, context: Any, params: aiohttp.TraceRequestStartParams
                         ) -> None:
        requests.append(params.method)

    async def on_connection(session: aiohttp.ClientSession, context: Any, params: Any) -> None:
        connections.append(1)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_request)
    trace.on_connection_create_end.append(on_connection)
    return trace, requests, connections


# -- one shared session -------------------------------------------------------------------------------------------

async def test_replies_sends_updates_and_new_chats_go_through_one_connection_of_one_session(
        unauthenticated: Teams) -> None:
    teams = unauthenticated
    trace, requests, connections = _counting()
    adapter = FastCloudAdapter(teams.adapter.bot_framework_authentication, tokens=teams.adapter.tokens,
                               trace_configs=[trace])
    sessions: list[aiohttp.ClientSession] = []
    ids: list[str] = []

    async def reply_then_update(context: TurnContext) -> None:
        sent = await context.send_activity("first")
        ids.append(sent.id)
        sessions.append(adapter.http)
        await context.update_activity(Activity(type=ActivityTypes.message, id=sent.id, text="first, edited"))

    async def send(context: TurnContext) -> None:
        # a proactive turn replies to its continuation activity; only an activity without replyToId is a "send"
        reference = TurnContext.get_conversation_reference(context.activity)
        reference.activity_id = None
        outgoing = TurnContext.apply_conversation_reference(Activity(type=ActivityTypes.message, text="second"),
                                                            reference)
        await adapter.send_activities(context, [outgoing])
        sessions.append(adapter.http)

    async def reply(context: TurnContext) -> None:
        await context.send_activity("third")

    try:
        await adapter.continue_conversation(teams.reference(), reply_then_update, APP_ID)
        await adapter.continue_conversation(teams.reference(), send, APP_ID)
        await adapter.create_conversation(APP_ID, reply, _chat_with("29:someone-new"), "msteams",
                                          teams.connector.service_url, None)
    finally:
        await adapter.close()

    assert [c.method for c in teams.connector.calls] == ["reply", "update", "send", "create", "reply"]
    assert [c.status for c in teams.connector.calls] == [201, 200, 201, 201, 201]
    assert requests == ["POST", "PUT", "POST", "POST", "POST"]  # every call went through this session
    assert connections == [1]  # ... on one kept-alive connection
    assert len({id(s) for s in sessions}) == 1
    assert all(c.authorization is None for c in teams.connector.calls)  # authentication is off: no token
    assert teams.adapter.tokens.fetches == 0
    (edited, *_) = teams.connector.activities_to(CONVERSATION)
    assert (edited["id"], edited["text"]) == (ids[0], "first, edited")
    assert teams.connector.calls[0].conversation_id == CONVERSATION  # quoted on the way out, decoded by the fake


def _chat_with(member_id: str) -> ConversationParameters:
    return ConversationParameters(is_group=False, bot=ChannelAccount(id=f"28:{APP_ID}"),
                                  members=[ChannelAccount(id=member_id)], tenant_id=TENANT,
                                  channel_data={"tenant": {"id": TENANT}})


async def test_the_messenger_sends_updates_and_opens_chats_through_the_sides_session(unauthenticated: Teams) -> None:
    teams = unauthenticated
    megan = await teams.remember_megan()
    newcomer = Actor("teams", TENANT, "29:newcomer")
    async with teams.uow() as uow:
        await uow.installations.save("teams", TENANT, json.dumps({"serviceUrl": teams.connector.service_url}), T0)
        await uow.commit()
    session = teams.adapter.http

    ref = await teams.side.messenger.send([megan], Message("Your check-in is due"))
    await teams.side.messenger.update(ref, Message("Thanks, that's saved."))
    await teams.side.messenger.send([newcomer], Message("Welcome"))

    assert teams.adapter.http is session
    assert [c.method for c in teams.connector.calls] == ["reply", "update", "create", "reply"]
    async with teams.uow() as uow:
        assert await uow.addresses.get(newcomer) is not None  # the new chat is remembered for next time


# -- failures keep their meaning ----------------------------------------------------------------------------------

async def test_a_failed_call_raises_with_its_status_and_retry_after(unauthenticated: Teams) -> None:
    teams = unauthenticated
    teams.connector.fail("reply", status=429, retry_after=3)
    raised: list[Exception] = []

    async def send(context: TurnContext) -> None:
        try:
            await context.send_activity("too soon")
        except Exception as error:  # botbuilder would hand it to on_turn_error
            raised.append(error)

    await teams.turn(send)

    (error,) = raised
    assert isinstance(error, ConnectorError)
    assert error.status == 429
    assert error.response.headers["Retry-After"] == "3"
    assert "TooManyRequests" in str(error)


async def test_a_throttled_send_tells_the_outbox_how_long_to_wait(unauthenticated: Teams) -> None:
    teams = unauthenticated
    megan = await teams.remember_megan()
    teams.connector.fail("reply", status=429, retry_after=7)

    with pytest.raises(DeliveryError) as raised:
        await teams.side.messenger.send([megan], Message("Your check-in is due"))
    await teams.side.messenger.send([megan], Message("Your check-in is due"))

    assert (raised.value.reason, raised.value.retry_after, raised.value.permanent) == ("throttled", 7.0, False)
    assert [c.status for c in teams.connector.calls_to("reply")] == [429, 201]


@pytest.mark.parametrize("status", [403, 404])
async def test_a_removed_bot_or_a_gone_person_fails_for_good(unauthenticated: Teams, status: int) -> None:
    teams = unauthenticated
    megan = await teams.remember_megan()
    teams.connector.fail("reply", status=status)

    with pytest.raises(DeliveryError) as raised:
        await teams.side.messenger.send([megan], Message("Your check-in is due"))

    assert (raised.value.reason, raised.value.permanent) == (f"http_{status}", True)


async def test_an_outage_is_retried_later(unauthenticated: Teams) -> None:
    teams = unauthenticated
    megan = await teams.remember_megan()
    teams.connector.fail("reply", status=503)

    with pytest.raises(DeliveryError) as raised:
        await teams.side.messenger.send([megan], Message("Your check-in is due"))

    assert (raised.value.reason, raised.value.permanent, raised.value.retry_after) == ("http_503", False, None)


async def test_an_update_of_a_message_the_connector_lost_is_not_retried(unauthenticated: Teams) -> None:
    teams = unauthenticated
    megan = await teams.remember_megan()

    with pytest.raises(DeliveryError) as raised:
        await teams.side.messenger.update(f"teams:{TENANT}:{megan.user_id}:404", Message("gone"))  # type: ignore[arg-type]

    assert raised.value.permanent


# -- the bot's token --------------------------------------------------------------------------------------------

async def test_the_token_is_fetched_once_for_many_sends_and_never_on_the_event_loop(authenticated: Teams) -> None:
    teams = authenticated
    assert teams.identity is not None
    megan = await teams.remember_megan()

    await asyncio.gather(*(teams.side.messenger.send([megan], Message(f"note {i}")) for i in range(20)))

    assert teams.identity.token_requests == 1
    assert len(teams.connector.calls_to("reply")) == 20
    assert all(c.authorization == f"Bearer {teams.identity.access_token}" for c in teams.connector.calls)
    assert teams.token_threads and threading.current_thread() not in teams.token_threads


async def test_the_refresher_fetches_in_a_worker_thread_and_sends_keep_the_token(authenticated: Teams) -> None:
    teams = authenticated
    assert teams.identity is not None
    megan = await teams.remember_megan()
    await teams.side.messenger.send([megan], Message("one"))

    await teams.side._refresh_tokens()  # what the side runs every ten minutes
    await teams.side.messenger.send([megan], Message("two"))

    assert teams.adapter.tokens.fetches == 2
    assert threading.current_thread() not in teams.token_threads
    assert [c.status for c in teams.connector.calls] == [201, 201]


class _SigningCredentials(Authentication):
    """What ChannelTokens uses of botbuilder's AppCredentials: an app id and get_access_token."""

    microsoft_app_id = APP_ID

    def __init__(self, now: Callable[[], float], lifetime: float) -> None:
        self._now, self._lifetime = now, lifetime
        self.issued = 0

    def get_access_token(self, force_refresh: bool = False) -> str:
        self.issued += 1
        claims = {"exp": int(self._now() + self._lifetime), "n": self.issued}
        return jwt.encode(claims, "a-key-long-enough-for-hs256-signing!", algorithm="HS256")


async def test_a_token_is_kept_until_five_minutes_before_it_expires() -> None:
    clock = [1_800_000_000.0]
    tokens = ChannelTokens(now=lambda: clock[0])
    credentials = _SigningCredentials(lambda: clock[0], lifetime=3600)

    first = await tokens.authorization(credentials)
    clock[0] += 3600 - 301
    kept = await tokens.authorization(credentials)
    clock[0] += 2
    renewed = await tokens.authorization(credentials)

    assert first == kept != renewed
    assert credentials.issued == 2


async def test_concurrent_first_sends_wait_for_one_fetch() -> None:
    tokens = ChannelTokens()
    credentials = _SigningCredentials(lambda: 1_800_000_000.0, lifetime=3600)

    headers = await asyncio.gather(*(tokens.authorization(credentials) for _ in range(10)))

    assert len(set(headers)) == 1 and credentials.issued == 1


async def test_without_an_app_id_nothing_is_signed() -> None:
    tokens = ChannelTokens()

    assert await tokens.authorization(MicrosoftAppCredentials.empty()) is None
    assert tokens.fetches == 0


# -- clients built once -----------------------------------------------------------------------------------------

async def test_connector_and_user_token_clients_are_built_once_across_turns(authenticated: Teams) -> None:
    teams = authenticated
    assert teams.identity is not None
    adapter = teams.adapter
    seen: list[tuple[object, object]] = []

    async def pong(context: TurnContext) -> None:
        seen.append((context.turn_state[adapter.BOT_CONNECTOR_CLIENT_KEY],
                     context.turn_state[adapter.USER_TOKEN_CLIENT_KEY]))
        await context.send_activity("pong")

    for i in range(3):
        await teams.inbound(f"ping {i}", pong)
    for _ in range(3):
        await teams.turn(pong)

    inbound, proactive = seen[:3], seen[3:]
    assert len({id(client) for client, _ in inbound}) == 1
    assert len({id(client) for client, _ in proactive}) == 1
    assert len({id(user_tokens) for _, user_tokens in seen}) == 1
    assert len(adapter.bot_framework_authentication.connector_clients) == 2  # inbound and proactive audiences
    assert [c.status for c in teams.connector.calls] == [201] * 6
    assert teams.identity.token_requests == 1


# -- serialisation ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(p.stem for p in PAYLOADS.glob("*.json")))
def test_recorded_activities_go_on_the_wire_exactly_as_msrest_writes_them(name: str) -> None:
    activity = Activity().deserialize(json.loads((PAYLOADS / f"{name}.json").read_text()))

    assert to_wire(activity) == activity.serialize()
    assert to_wire(TurnContext.get_conversation_reference(activity)) == (
        TurnContext.get_conversation_reference(activity).serialize())


def test_outgoing_cards_and_new_chats_go_on_the_wire_exactly_as_msrest_writes_them() -> None:
    incoming = Activity().deserialize(json.loads((PAYLOADS / "message_personal.json").read_text()))
    card = Message("Weekly check-in", ("Did you meet?",), (Fact("Pair", "Megan & Alex"),),
                   (Button("We met", "checkin.met", "c1", "primary"), Button("Not yet", "checkin.missed", "c1")))
    for data in (translate.message_activity(card), translate.message_activity(Message("plain"))):
        reply = TurnContext.apply_conversation_reference(Activity().deserialize(data),
                                                         TurnContext.get_conversation_reference(incoming))
        reply.timestamp = datetime(2027, 3, 1, 9, 0, 0, 123000, tzinfo=UTC)
        assert to_wire(reply) == reply.serialize()
    assert to_wire(_chat_with("29:someone")) == _chat_with("29:someone").serialize()


def test_a_stored_reference_does_not_change_with_every_message() -> None:
    first = Activity().deserialize(json.loads((PAYLOADS / "message_personal.json").read_text()))
    second = Activity().deserialize({**first.serialize(), "id": "1762157599999"})

    stored = reference_json(TurnContext.get_conversation_reference(first))

    assert stored == reference_json(TurnContext.get_conversation_reference(second))
    assert "activityId" not in json.loads(stored)


# -- proactive messages without a turn ----------------------------------------------------------------------------

def _without_continuation_id(call: Any) -> tuple[Any, ...]:
    """A call as the channel sees it, less the id botbuilder gives each continuation activity (uuid1)."""
    body = dict(call.body or {})
    body.pop("replyToId", None)
    return call.method, call.http_method, call.conversation_id, body, call.authorization, call.status


async def test_a_proactive_message_goes_on_the_wire_exactly_as_through_a_turn(authenticated: Teams) -> None:
    teams = authenticated
    megan = await teams.remember_megan()
    message = Message("Weekly check-in: did you meet?", ("Only admins see it, as a count.",), facts=(
        Fact("Partner", "Ada"),), buttons=(Button("We met", "checkin.met", "c1", "primary"),))

    async def through_a_turn(context: TurnContext) -> None:
        await context.send_activity(Activity().deserialize(translate.message_activity(message)))

    await teams.turn(through_a_turn)  # what TeamsMessenger did before it skipped the turn
    ref = await teams.side.messenger.send([megan], message)

    turn_call, direct_call = teams.connector.calls
    assert _without_continuation_id(direct_call) == _without_continuation_id(turn_call)
    assert direct_call.method == "reply" and direct_call.body is not None
    assert direct_call.activity_id == direct_call.body["replyToId"] != turn_call.body["replyToId"]  # type: ignore[index]
    assert direct_call.authorization and direct_call.authorization.startswith("Bearer ")
    assert ref.startswith(f"teams:{TENANT}:{MEGAN}:") and ref.rsplit(":", 1)[1]  # the id the connector gave it


async def test_with_middleware_a_proactive_message_still_runs_a_turn(unauthenticated: Teams) -> None:
    teams = unauthenticated
    megan = await teams.remember_megan()
    seen: list[str] = []

    class Watching:
        async def on_turn(self, context: TurnContext, logic: Callable[[], Awaitable[None]]) -> None:
            kind = "event" if context.activity.type == ActivityTypes.event else str(context.activity.type)
            seen.append(f"{kind} {context.activity.relates_to.conversation.id}")
            await logic()

    teams.adapter.use(Watching())
    await teams.side.messenger.send([megan], Message("Your check-in is due"))
    assert seen == [f"event {CONVERSATION}"]  # botbuilder's continuation turn, through the middleware
    assert [c.method for c in teams.connector.calls] == ["reply"]


async def test_a_throttled_proactive_message_tells_the_outbox_how_long_to_wait(unauthenticated: Teams) -> None:
    teams = unauthenticated
    megan = await teams.remember_megan()
    teams.connector.fail("reply", status=429, retry_after=7)
    with pytest.raises(DeliveryError) as raised:
        await teams.side.messenger.send([megan], Message("Your check-in is due"))
    assert raised.value.retry_after == 7.0 and not raised.value.permanent


async def test_an_outbox_batch_reads_its_chats_once_and_each_is_used_for_one_send(unauthenticated: Teams) -> None:
    teams = unauthenticated
    megan = await teams.remember_megan()
    await teams.side.messenger.prefetch([megan, Actor("teams", TENANT, "29:never-talked")])
    moved = teams.reference()
    moved.conversation.id = "a:moved-chat"
    async with teams.uow() as uow:  # the row changes after the batch was read (Megan wrote from another chat)
        await uow.addresses.put(megan, reference_json(moved), T0)
        await uow.commit()

    await teams.side.messenger.send([megan], Message("First of the batch"))
    await teams.side.messenger.send([megan], Message("Next one"))

    assert [c.conversation_id for c in teams.connector.calls] == [CONVERSATION, "a:moved-chat"]


async def test_a_prefetched_chat_whose_send_never_came_is_not_used_a_minute_later(unauthenticated: Teams) -> None:
    teams = unauthenticated
    megan = await teams.remember_megan()
    await teams.side.messenger.prefetch([megan])  # its outbox item was released unsent
    moved = teams.reference()
    moved.conversation.id = "a:moved-chat"
    async with teams.uow() as uow:
        await uow.addresses.put(megan, reference_json(moved), T0)
        await uow.commit()
    teams.clock.advance(seconds=61)

    await teams.side.messenger.send([megan], Message("Much later"))

    assert [c.conversation_id for c in teams.connector.calls] == ["a:moved-chat"]
