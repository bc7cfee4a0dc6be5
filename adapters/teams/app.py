"""Assemble the Teams side: CloudAdapter with Bot Framework auth at /api/messages, and the proactive messenger."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import (
    ConfigurationBotFrameworkAuthentication,
    ConfigurationServiceClientCredentialFactory,
)
from botframework.connector.auth import (
    AuthenticateRequestResult,
    AuthenticationConstants,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
    ServiceClientCredentialsFactory,
    UserTokenClient,
)
from botframework.connector.auth.jwt_token_extractor import JwtTokenExtractor
from msrest.authentication import Authentication

from adapters.teams.connector import ChannelTokens, FastCloudAdapter, ReusingAuthentication
from adapters.teams.listeners import Dispatch, MentorbotTeamsBot
from adapters.teams.messenger import TeamsMessenger
from conversations.ports import Clock, UnitOfWorkFactory

log = logging.getLogger("mentorbot.teams")

MESSAGES_PATH = "/api/messages"
KEY_REFRESH_SECONDS = 12 * 3600
TOKEN_REFRESH_SECONDS = 10 * 60
APP_TYPES = ("MultiTenant", "SingleTenant", "UserAssignedMSI")


class TeamsConfigError(Exception):
    """The Teams settings in the environment do not make a usable combination."""


@dataclass(frozen=True)
class TeamsConfig:
    """What the environment says about Teams; built by bot/ and never logged."""

    command: str
    app_id: str | None = None
    app_password: str | None = field(default=None, repr=False)
    app_type: str = "MultiTenant"
    tenant_id: str | None = None
    allow_unauthenticated: bool = False
    openid_metadata_url: str | None = None  # where channel signing keys come from (tests point it at a fake)
    login_url: str | None = None  # where the bot gets its own tokens (tests, sovereign clouds)
    token_issuer: str | None = None

    @property
    def authenticated(self) -> bool:
        return bool(self.app_id)

    def problem(self) -> str | None:
        """Why this combination cannot run, in one line, or None."""
        if not self.app_id and not self.allow_unauthenticated:
            return ("Teams needs TEAMS_APP_ID and TEAMS_APP_PASSWORD (an Azure Bot registration), "
                    "or TEAMS_ALLOW_UNAUTHENTICATED=1 for local testing only")
        if self.app_type not in APP_TYPES:
            return f"TEAMS_APP_TYPE = {self.app_type!r}: expected one of {', '.join(APP_TYPES)}"
        if self.app_id and self.app_type != "UserAssignedMSI" and not self.app_password:
            return "TEAMS_APP_ID is set but TEAMS_APP_PASSWORD is not; set the client secret of the bot's app"
        if self.app_type == "SingleTenant" and not self.tenant_id:
            return "TEAMS_APP_TYPE=SingleTenant needs TEAMS_APP_TENANT_ID"
        return None


class _BotFrameworkSettings:
    """The attribute names botbuilder's ConfigurationBotFrameworkAuthentication reads."""

    def __init__(self, config: TeamsConfig) -> None:
        self.APP_ID = config.app_id or ""
        self.APP_PASSWORD = config.app_password or ""
        self.APP_TYPE = config.app_type
        self.APP_TENANTID = config.tenant_id or ""
        if config.openid_metadata_url:
            self.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL = config.openid_metadata_url
            self.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER = (
                config.token_issuer or AuthenticationConstants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER)
            self.TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL = config.openid_metadata_url
            self.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE = AuthenticationConstants.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE
            self.TO_CHANNEL_FROM_BOT_LOGIN_URL = (
                config.login_url or AuthenticationConstants.TO_CHANNEL_FROM_BOT_LOGIN_URL_PREFIX + "botframework.com")
            self.VALIDATE_AUTHORITY = not config.login_url


class _CachedCredentials(ServiceClientCredentialsFactory):
    """botbuilder makes new credentials (and a new token cache) for every turn; we keep one per audience."""

    def __init__(self, inner: ServiceClientCredentialsFactory) -> None:
        self._inner = inner
        self.made: dict[tuple[str, str, str, bool], Authentication] = {}

    async def is_valid_app_id(self, app_id: str) -> bool:
        return await self._inner.is_valid_app_id(app_id)

    async def is_authentication_disabled(self) -> bool:
        return await self._inner.is_authentication_disabled()

    async def create_credentials(self, app_id: str, oauth_scope: str, login_endpoint: str,
                                 validate_authority: bool) -> Authentication:
        key = (app_id, oauth_scope, login_endpoint, validate_authority)
        if key not in self.made:
            self.made[key] = await self._inner.create_credentials(app_id, oauth_scope, login_endpoint,
                                                                  validate_authority)
        return self.made[key]


class StrictAuthentication(BotFrameworkAuthentication):
    """Bot Framework auth where every failure to authenticate is a 401, never a 500."""

    def __init__(self, inner: BotFrameworkAuthentication) -> None:
        self._inner = inner

    async def authenticate_request(self, activity: Any, auth_header: str) -> AuthenticateRequestResult:
        try:
            return await self._inner.authenticate_request(activity, auth_header)
        except PermissionError:
            raise
        except Exception as failure:  # e.g. a token whose key id is unknown raises IndexError inside botbuilder
            raise PermissionError(f"unauthenticated: {type(failure).__name__}") from None

    async def authenticate_streaming_request(self, auth_header: str, channel_id_header: str
                                             ) -> AuthenticateRequestResult:
        return await self._inner.authenticate_streaming_request(auth_header, channel_id_header)

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return self._inner.create_connector_factory(claims_identity)

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> UserTokenClient:
        return await self._inner.create_user_token_client(claims_identity)

    def create_bot_framework_client(self) -> Any:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return self._inner.get_originating_audience()

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self._inner.authenticate_channel_request(auth_header)


@dataclass
class TeamsSide:
    """The running Teams adapter: its route, the messenger for the outbox, and its background refreshers."""

    adapter: FastCloudAdapter
    bot: MentorbotTeamsBot
    messenger: TeamsMessenger
    config: TeamsConfig
    credentials: _CachedCredentials
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def routes(self) -> list[web.RouteDef]:
        return [web.post(MESSAGES_PATH, self._messages)]

    async def start(self) -> None:
        """Fetch signing keys and tokens now, in worker threads, and keep them fresh: botbuilder does this
        synchronously (requests, msal), which would otherwise stall the event loop on a request."""
        await self.adapter.open()
        if not self.config.authenticated:
            log.warning("Teams: TEAMS_ALLOW_UNAUTHENTICATED=1 and no TEAMS_APP_ID: /api/messages accepts "
                        "requests WITHOUT authentication. Anyone who can reach it can speak as any Teams user. "
                        "Use this only on your own machine with the Bot Framework Emulator.")
            return
        await self._refresh_keys()
        self._tasks.append(asyncio.ensure_future(self._every(KEY_REFRESH_SECONDS, self._refresh_keys)))
        self._tasks.append(asyncio.ensure_future(self._every(TOKEN_REFRESH_SECONDS, self._refresh_tokens)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.adapter.close()

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        if "application/json" not in request.headers.get("Content-Type", ""):
            return web.json_response({"error": "expected application/json"}, status=415)
        activity, problem = _activity(await request.read())
        if activity is None:
            return web.json_response({"error": problem}, status=400)
        return await self.adapter.process_parsed(request, activity, self.bot)

    async def _every(self, seconds: float, work: Any) -> None:
        while True:
            await asyncio.sleep(seconds)
            await work()

    async def _refresh_keys(self) -> None:
        urls = [self.config.openid_metadata_url] if self.config.openid_metadata_url else [
            AuthenticationConstants.TO_BOT_FROM_CHANNEL_OPEN_ID_METADATA_URL]
        for url in urls:
            metadata = JwtTokenExtractor.get_open_id_metadata(url)
            try:
                await asyncio.to_thread(asyncio.run, metadata._refresh())
            except Exception as failure:  # keys stay as they were; the next refresh tries again
                log.warning("Teams: could not refresh signing keys from %s: %s", url, type(failure).__name__)

    async def _refresh_tokens(self) -> None:
        await self.adapter.tokens.refresh(self.credentials.made.values())


def _activity(body: bytes) -> tuple[dict[str, Any] | None, str]:
    """The request's activity, parsed once; or None and why it is none (botbuilder would answer 500 with a
    traceback)."""
    try:
        activity = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None, "the body is not valid JSON"
    if not isinstance(activity, dict) or not isinstance(activity.get("type"), str) or not activity["type"]:
        return None, "expected a Bot Framework activity: a JSON object with a string \"type\""
    return activity, ""


def build_teams(config: TeamsConfig, *, dispatch: Dispatch, uow: UnitOfWorkFactory, clock: Clock) -> TeamsSide:
    """CloudAdapter (outbound calls on one aiohttp session) + our auth wrappers + the activity handler that only
    translates."""
    problem = config.problem()
    if problem:
        raise TeamsConfigError(problem)
    settings = _BotFrameworkSettings(config)
    credentials = _CachedCredentials(ConfigurationServiceClientCredentialFactory(settings))
    auth = ReusingAuthentication(StrictAuthentication(
        ConfigurationBotFrameworkAuthentication(settings, credentials_factory=credentials)))
    adapter = FastCloudAdapter(auth, tokens=ChannelTokens())

    async def on_error(context: TurnContext, error: Exception) -> None:
        log.error("Teams: a turn failed: %s", type(error).__name__, exc_info=error)

    adapter.on_turn_error = on_error
    messenger = TeamsMessenger(adapter=adapter, app_id=config.app_id or "", uow=uow, clock=clock)
    bot = MentorbotTeamsBot(dispatch=dispatch, messenger=messenger, uow=uow, clock=clock, command=config.command,
                            http=lambda: adapter.http)
    return TeamsSide(adapter=adapter, bot=bot, messenger=messenger, config=config, credentials=credentials)
