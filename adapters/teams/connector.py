"""Bot Connector calls through one shared aiohttp session, with botbuilder's clients and the bot's token reused.

botbuilder 4.17 builds a ConnectorClient and a TokenApiClient for every turn (msrest's retry policy alone costs about
5 ms of event-loop time per client) and sends each activity through a new requests.Session from a worker thread.
Here the clients are built once, and the hot path (send, reply, update, delete, create a 1:1 chat) talks to the
Bot Connector REST API v3 directly; everything else (auth of inbound requests, turn pipeline) stays botbuilder's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import jwt
import msal
from aiohttp import web
from botbuilder.core import Bot, TurnContext, serializer_helper
from botbuilder.core.conversation_reference_extension import get_continuation_activity
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    ConversationParameters,
    ConversationReference,
    ConversationResourceResponse,
    ResourceResponse,
)
from botframework.connector import Channels
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    UserTokenClient,
)
from msrest.authentication import Authentication
from multidict import CIMultiDict
from yarl import URL

from adapters.teams.wire import from_wire, to_wire

log = logging.getLogger("mentorbot.teams")

USER_AGENT = "mentorbot (Microsoft-BotFramework/3.1)"
TIMEOUT_SECONDS = 15.0
TOKEN_MARGIN_SECONDS = 300.0  # a token is fetched again this long before it expires
UNKNOWN_TOKEN_LIFETIME = 600.0  # when neither msal's cache nor the token itself says when it expires
MAX_CLIENTS = 64  # ConnectorClients kept per app id; service URLs are a handful of regions in practice


@dataclass(frozen=True, slots=True)
class ConnectorResponse:
    """What messenger.delivery_error needs from a failed answer: the status and the headers (Retry-After)."""

    status: int
    headers: Mapping[str, str]
    body: str


class ConnectorError(Exception):
    """The Bot Connector answered a call with a status other than 2xx."""

    def __init__(self, operation: str, response: ConnectorResponse) -> None:
        super().__init__(f"Bot Connector {operation}: HTTP {response.status} {_error_code(response.body)}".rstrip())
        self.operation = operation
        self.response = response

    @property
    def status(self) -> int:
        return self.response.status


# -- the bot's own token ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
    authorization: str  # "Bearer <access token>"
    fresh_until: float  # epoch seconds


class ChannelTokens:
    """The bot's tokens for calling the channel: fetched in a worker thread (msal is synchronous), one fetch at a
    time, and kept until five minutes before they expire."""

    def __init__(self, *, now: Callable[[], float] = time.time, margin: float = TOKEN_MARGIN_SECONDS) -> None:
        self._now = now
        self._margin = margin
        self._tokens: dict[Authentication, _Token] = {}
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def authorization(self, credentials: Authentication) -> str | None:
        """The Authorization header for calls made with these credentials; None when authentication is off."""
        if not _signs(credentials):
            return None
        token = self._tokens.get(credentials)
        if token is not None and token.fresh_until > self._now():
            return token.authorization
        async with self._lock:
            token = self._tokens.get(credentials)  # another call may have fetched it while this one waited
            if token is None or token.fresh_until <= self._now():
                token = await self._fetch(credentials)
        return token.authorization

    async def refresh(self, credentials: Iterable[Authentication] = ()) -> None:
        """Fetch again the tokens of these credentials and of every one already used, so no send has to wait."""
        for each in {*credentials, *self._tokens}:
            if not _signs(each):
                continue
            async with self._lock:
                try:
                    await self._fetch(each)
                except Exception as failure:  # the cached token stays; a send past its expiry fetches again
                    log.warning("Teams: could not refresh the bot's token: %s", type(failure).__name__)

    def forget(self, credentials: Authentication) -> None:
        """Drop a token the channel refused (401), so the next call fetches a new one."""
        self._tokens.pop(credentials, None)

    async def _fetch(self, credentials: Authentication) -> _Token:
        access_token, expires_on = await asyncio.to_thread(_acquire, credentials)
        self.fetches += 1
        now = self._now()
        if expires_on is None:
            fresh_until = now + UNKNOWN_TOKEN_LIFETIME
        elif expires_on - now > 2 * self._margin:
            fresh_until = expires_on - self._margin
        else:  # a token this short-lived is kept for half of what is left
            fresh_until = now + max(0.0, expires_on - now) / 2
        token = _Token(f"Bearer {access_token}", fresh_until)
        self._tokens[credentials] = token
        return token


def _signs(credentials: Any) -> bool:
    """botbuilder's AppCredentials._should_set_token: no app id (authentication off) means no token."""
    app_id = getattr(credentials, "microsoft_app_id", None)
    return bool(app_id) and app_id != AuthenticationConstants.ANONYMOUS_SKILL_APP_ID and hasattr(
        credentials, "get_access_token")


def _acquire(credentials: Any) -> tuple[str, float | None]:
    """In a worker thread: botbuilder's get_access_token asks msal, which uses `requests` (blocking)."""
    token = str(credentials.get_access_token())
    return token, _expiry(credentials, token)


def _expiry(credentials: Any, token: str) -> float | None:
    """When the token expires (epoch seconds): from msal's cache entry for it, else its own `exp` claim."""
    cache = getattr(getattr(credentials, "app", None), "token_cache", None)  # MicrosoftAppCredentials' msal app
    if isinstance(cache, msal.TokenCache):
        for entry in cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN):
            if entry.get("secret") == token and entry.get("expires_on"):
                return float(entry["expires_on"])
    try:
        return float(jwt.decode(token, options={"verify_signature": False})["exp"])
    except (jwt.PyJWTError, KeyError, TypeError, ValueError):
        return None


# -- clients built once ----------------------------------------------------------------------------------------


class _ReusingConnectorFactory(ConnectorFactory):
    """One ConnectorClient per (service URL, audience) for one app id; botbuilder's factory makes one per call."""

    def __init__(self, inner: ConnectorFactory) -> None:
        self._inner = inner
        self.clients: dict[tuple[str, str | None], ConnectorClient] = {}

    async def create(self, service_url: str, audience: str | None = None) -> ConnectorClient:
        key = (service_url, audience)
        client = self.clients.get(key)
        if client is None:
            client = await self._inner.create(service_url, audience)
            if len(self.clients) >= MAX_CLIENTS:
                self.clients.pop(next(iter(self.clients)))
            self.clients[key] = client
        return client


class ReusingAuthentication(BotFrameworkAuthentication):
    """Bot Framework auth whose connector factories, ConnectorClients and UserTokenClients outlive the turn."""

    def __init__(self, inner: BotFrameworkAuthentication) -> None:
        self._inner = inner
        self._factories: dict[str | None, _ReusingConnectorFactory] = {}
        self._user_token_clients: dict[str | None, UserTokenClient] = {}

    @property
    def connector_clients(self) -> list[ConnectorClient]:
        """Every ConnectorClient built so far."""
        return [client for factory in self._factories.values() for client in factory.clients.values()]

    async def authenticate_request(self, activity: Activity, auth_header: str) -> AuthenticateRequestResult:
        result = await self._inner.authenticate_request(activity, auth_header)
        if result.connector_factory is not None:  # botbuilder builds this factory itself, not through ours
            result.connector_factory = self._factory(result.claims_identity, lambda: result.connector_factory)
        return result

    async def authenticate_streaming_request(self, auth_header: str, channel_id_header: str
                                             ) -> AuthenticateRequestResult:
        return await self._inner.authenticate_streaming_request(auth_header, channel_id_header)

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return self._factory(claims_identity, lambda: self._inner.create_connector_factory(claims_identity))

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        app_id = _app_id(claims_identity)
        client = self._user_token_clients.get(app_id)
        if client is None:
            client = await self._inner.create_user_token_client(claims_identity)
            self._user_token_clients[app_id] = client
        return client

    def create_bot_framework_client(self) -> Any:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return self._inner.get_originating_audience()

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self._inner.authenticate_channel_request(auth_header)

    def _factory(self, claims_identity: ClaimsIdentity, make: Callable[[], ConnectorFactory]
                 ) -> _ReusingConnectorFactory:
        # botbuilder's factories differ only by the app id they read from the claims
        app_id = _app_id(claims_identity)
        factory = self._factories.get(app_id)
        if factory is None:
            factory = self._factories[app_id] = _ReusingConnectorFactory(make())
        return factory


def _app_id(claims_identity: ClaimsIdentity | None) -> str | None:
    """The app id botbuilder's factories are built for: the audience claim, else the appid claim."""
    if claims_identity is None:
        return None
    value = claims_identity.get_claim_value(AuthenticationConstants.AUDIENCE_CLAIM)
    if value is None:
        value = claims_identity.get_claim_value(AuthenticationConstants.APP_ID_CLAIM)
    return None if value is None else str(value)


# -- the adapter ----------------------------------------------------------------------------------------------


class FastCloudAdapter(CloudAdapter):
    """CloudAdapter whose outbound calls go through one shared aiohttp session with a cached bot token."""

    def __init__(self, auth: BotFrameworkAuthentication, *, tokens: ChannelTokens, timeout: float = TIMEOUT_SECONDS,
                 trace_configs: Sequence[aiohttp.TraceConfig] = ()) -> None:
        super().__init__(auth)
        self.tokens = tokens
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._trace_configs = list(trace_configs)  # e.g. to count requests and connections
        self._http: aiohttp.ClientSession | None = None

    @property
    def http(self) -> aiohttp.ClientSession:
        """The shared session, opened on first use if start() has not opened it yet."""
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=self._timeout, trace_configs=self._trace_configs,
                                               connector=aiohttp.TCPConnector(limit=256, limit_per_host=0))
        return self._http

    async def open(self) -> None:
        """Open the shared session (call inside the running loop)."""
        _ = self.http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def process_parsed(self, request: web.Request, body: dict[str, Any], bot: Bot) -> web.Response:
        """CloudAdapter.process for a POST whose JSON body the caller has already parsed (and checked): the same
        steps, without parsing it again or msrest's Deserializer set-up."""
        activity = from_wire(Activity, body)
        if not activity.type:
            raise web.HTTPBadRequest
        try:
            invoke_response = await self.process_activity(request.headers.get("Authorization", ""), activity,
                                                          bot.on_turn)
        except PermissionError:
            raise web.HTTPUnauthorized from None
        if invoke_response:
            return web.json_response(data=serializer_helper(invoke_response.body), status=invoke_response.status)
        return web.Response(status=201)

    async def send_proactive(self, reference: ConversationReference, activity: Activity, bot_app_id: str
                             ) -> str | None:
        """continue_conversation(reference) whose turn only does send_activity(activity), without the turn: the
        same continuation activity, credentials, addressing and call, minus TurnContext, the pipeline and a
        deepcopy of the card. Returns the sent activity's id; None when this adapter has middleware, which must see
        the turn (then use continue_conversation). `activity` is addressed in place."""
        if self._middleware._middleware:  # botbuilder's MiddlewareSet keeps them in this list
            return None
        continuation = get_continuation_activity(reference)
        claims_identity = self.create_claims_identity(bot_app_id)
        factory = self.bot_framework_authentication.create_connector_factory(claims_identity)
        client = await factory.create(continuation.service_url, None)
        # TurnContext.send_activities: addressed from the continuation's reference, typed, hinted, no id
        outgoing = TurnContext.apply_conversation_reference(
            activity, TurnContext.get_conversation_reference(continuation))
        if not outgoing.type:
            outgoing.type = ActivityTypes.message
        if not outgoing.input_hint:
            outgoing.input_hint = "acceptingInput"
        outgoing.id = None
        if not _goes_to_the_channel(outgoing):
            return None
        return await self._post_activity(client.config.credentials, outgoing, continuation.service_url) or ""

    async def send_activities(self, context: TurnContext, activities: list[Activity]) -> list[ResourceResponse]:
        if not context:
            raise TypeError("Expected TurnContext but got None instead")
        if not activities:
            raise TypeError("Expecting one or more activities, but the list was empty.")
        responses: list[ResourceResponse] = []
        for activity in activities:
            if not _goes_to_the_channel(activity):  # delays, invoke responses, traces: botbuilder's handling
                responses.extend(await super().send_activities(context, [activity]))
                continue
            activity.id = None
            activity_id = await self._post_activity(self._credentials(context), activity,
                                                    context.activity.service_url)
            responses.append(ResourceResponse(id=activity_id or ""))
        return responses

    async def _post_activity(self, credentials: Authentication, activity: Activity, service_url: str
                             ) -> str | None:
        """Send (or, with reply_to_id, reply with) one activity; the id the channel gave it."""
        conversation_id = activity.conversation.id
        path = f"v3/conversations/{_quote(conversation_id)}/activities"
        headers: dict[str, str] = {}
        if activity.reply_to_id:
            path += f"/{_quote(activity.reply_to_id)}"
            headers["x-ms-conversation-id"] = conversation_id
        answer = await self._call(credentials, "POST", activity.service_url or service_url, path,
                                  to_wire(activity), operation="reply" if activity.reply_to_id else "send",
                                  headers=headers)
        return _id_of(answer)

    async def update_activity(self, context: TurnContext, activity: Activity) -> ResourceResponse | None:
        if not context:
            raise TypeError("Expected TurnContext but got None instead")
        if activity is None:
            raise TypeError("Expected Activity but got None instead")
        path = f"v3/conversations/{_quote(activity.conversation.id)}/activities/{_quote(activity.id)}"
        answer = await self._call(self._credentials(context), "PUT",
                                  activity.service_url or context.activity.service_url, path, to_wire(activity),
                                  operation="update")
        response_id = _id_of(answer)
        return ResourceResponse(id=response_id) if response_id else None

    async def delete_activity(self, context: TurnContext, reference: ConversationReference) -> None:
        if not context:
            raise TypeError("Expected TurnContext but got None instead")
        if not reference:
            raise TypeError("Expected ConversationReference but got None instead")
        path = f"v3/conversations/{_quote(reference.conversation.id)}/activities/{_quote(reference.activity_id)}"
        await self._call(self._credentials(context), "DELETE", reference.service_url or context.activity.service_url,
                         path, None, operation="delete")

    async def create_conversation(
            self, bot_app_id: str, callback: Callable[[TurnContext], Awaitable[Any]] | None = None,
            conversation_parameters: ConversationParameters | None = None, channel_id: str | None = None,
            service_url: str | None = None, audience: str | None = None) -> None:
        """CloudAdapterBase.create_conversation, with the POST on the shared session."""
        if not service_url:
            raise TypeError("CloudAdapter.create_conversation(): service_url is required.")
        if not conversation_parameters:
            raise TypeError("CloudAdapter.create_conversation(): conversation_parameters is required.")
        if not callback:
            raise TypeError("CloudAdapter.create_conversation(): callback is required.")
        claims_identity = self.create_claims_identity(bot_app_id)
        claims_identity.claims[AuthenticationConstants.SERVICE_URL_CLAIM] = service_url
        connector_factory = self.bot_framework_authentication.create_connector_factory(claims_identity)
        connector_client = await connector_factory.create(service_url, audience)
        answer = await self._call(connector_client.config.credentials, "POST", service_url, "v3/conversations",
                                  to_wire(conversation_parameters), operation="create")
        created = from_wire(ConversationResourceResponse, answer if isinstance(answer, dict) else {})
        create_activity = self._create_create_activity(created, channel_id, service_url, conversation_parameters)
        user_token_client = await self.bot_framework_authentication.create_user_token_client(claims_identity)
        context = self._create_turn_context(create_activity, claims_identity, None, connector_client,
                                            user_token_client, callback, connector_factory)
        await self.run_pipeline(context, callback)

    def _credentials(self, context: TurnContext) -> Authentication:
        client = context.turn_state.get(self.BOT_CONNECTOR_CLIENT_KEY)
        if client is None:
            raise RuntimeError("Unable to extract ConnectorClient from turn context.")
        return client.config.credentials

    async def _call(self, credentials: Authentication, method: str, service_url: str, path: str,
                    body: dict[str, Any] | None, *, operation: str, headers: Mapping[str, str] | None = None) -> Any:
        """One REST call; the answer's JSON, or ConnectorError for any status but 2xx."""
        sent = {"Accept": "application/json", "User-Agent": USER_AGENT, **(headers or {})}
        authorization = await self.tokens.authorization(credentials)
        if authorization is not None:
            sent["Authorization"] = authorization
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
            sent["Content-Type"] = "application/json; charset=utf-8"
        # already percent-encoded: yarl must not requote it
        url = URL(f"{service_url.rstrip('/')}/{path}", encoded=True)
        async with self.http.request(method, url, data=data, headers=sent) as response:
            raw = await response.read()
            if not 200 <= response.status < 300:
                if response.status == 401:
                    self.tokens.forget(credentials)
                raise ConnectorError(operation, ConnectorResponse(
                    response.status, CIMultiDict(response.headers), raw[:2000].decode("utf-8", "replace")))
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None


def _goes_to_the_channel(activity: Activity) -> bool:
    if activity.type in ("delay", ActivityTypes.invoke_response):
        return False
    return not (activity.type == ActivityTypes.trace and activity.channel_id != Channels.emulator)


def _quote(value: str | None) -> str:
    """Ids hold ':', '@' and ';' in Teams; msrest quotes every path argument with nothing kept safe."""
    return quote(str(value or ""), safe="")


def _id_of(answer: Any) -> str | None:
    value = answer.get("id") if isinstance(answer, dict) else None
    return str(value) if value else None


def _error_code(body: str) -> str:
    try:
        parsed = json.loads(body)
    except ValueError:
        return ""
    error = parsed.get("error") if isinstance(parsed, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return str(code) if code else ""
