"""Assemble the Slack side: the bolt app (single workspace or OAuth), its HTTP routes, or Socket Mode."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.listeners import Dispatch, Listeners
from adapters.slack.messenger import SlackMessenger
from adapters.slack.stores import SqlOAuthStateStore, SqlSlackInstallationStore
from conversations.ports import Clock, DeliveryError, UnitOfWorkFactory

log = logging.getLogger("mentorbot.slack")

DEFAULT_API_URL = "https://slack.com/api/"
BOT_SCOPES = ("commands", "chat:write", "im:write", "mpim:write", "im:history", "users:read",
              "users:read.email", "files:write", "files:read")  # files:read: admins DM the HR CSV
EVENTS_PATH = "/slack/events"
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"


class SlackConfigError(Exception):
    """The Slack credentials in the environment do not make a usable combination."""


@dataclass(frozen=True)
class SlackConfig:
    """What the environment says about Slack; built by bot/ and never logged."""

    command: str
    signing_secret: str | None = field(default=None, repr=False)
    bot_token: str | None = field(default=None, repr=False)
    app_token: str | None = field(default=None, repr=False)
    client_id: str | None = field(default=None, repr=False)
    client_secret: str | None = field(default=None, repr=False)
    api_url: str = DEFAULT_API_URL

    @property
    def socket_mode(self) -> bool:
        return bool(self.app_token)

    @property
    def oauth(self) -> bool:
        return bool(self.client_id and self.client_secret)

    def problem(self) -> str | None:
        """Why this combination cannot run, in one line, or None."""
        if not self.oauth and not self.bot_token:
            return "Slack needs SLACK_BOT_TOKEN (one workspace) or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (OAuth)"
        if bool(self.client_id) != bool(self.client_secret):
            return "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET go together; set both or neither"
        if not self.socket_mode and not self.signing_secret:
            return "Slack over HTTP needs SLACK_SIGNING_SECRET (or set SLACK_APP_TOKEN for Socket Mode)"
        if self.app_token and not self.app_token.startswith("xapp-"):
            return "SLACK_APP_TOKEN must be an app-level token starting with xapp-"
        if self.socket_mode and self.oauth:
            return "Socket Mode (SLACK_APP_TOKEN) serves one workspace; unset SLACK_CLIENT_ID/SECRET or the app token"
        return None


@dataclass
class SlackSide:
    """The running Slack adapter: its bolt app, the messenger for the outbox, and how to start and stop it."""

    app: AsyncApp
    messenger: SlackMessenger
    config: SlackConfig
    listeners: Listeners
    http: aiohttp.ClientSession
    socket: AsyncSocketModeHandler | None = None

    def routes(self) -> list[web.RouteDef]:
        """HTTP mode: one endpoint for commands, interactivity, options and events, plus the OAuth pages."""
        if self.config.socket_mode:
            return []
        routes = [web.post(EVENTS_PATH, self._events)]
        if self.config.oauth:
            routes += [web.get(INSTALL_PATH, self._oauth), web.get(REDIRECT_PATH, self._oauth)]
        return routes

    async def start(self) -> None:
        if self.config.socket_mode:
            self.socket = AsyncSocketModeHandler(
                self.app, self.config.app_token,
                web_client=AsyncWebClient(base_url=self.config.api_url, session=self.http))
            await self.socket.connect_async()  # type: ignore[no-untyped-call]
            log.info("Slack: connected in Socket Mode")

    async def stop(self) -> None:
        if self.socket is not None:
            await self.socket.close_async()  # type: ignore[no-untyped-call]
        await self.listeners.drain()
        await self.http.close()

    async def _events(self, request: web.Request) -> web.Response:
        try:
            bolt_request = await to_bolt_request(request)
        except (ValueError, TypeError, AttributeError, KeyError):  # bolt parses before it checks the signature
            return await self._malformed(request)
        bolt_response = await self.app.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

    async def _malformed(self, request: web.Request) -> web.Response:
        """401 for a request Slack did not sign, 400 with the reason for a signed one we cannot read."""
        body = await request.text()
        verifier = SignatureVerifier(self.config.signing_secret or "")
        try:
            signed = bool(self.config.signing_secret) and verifier.is_valid(
                body, request.headers.get("X-Slack-Request-Timestamp", ""),
                request.headers.get("X-Slack-Signature", ""))
        except ValueError:  # no or a non-numeric timestamp
            signed = False
        if not signed:
            return web.json_response({"error": "invalid request signature"}, status=401)
        return web.json_response({"error": "the body is not a Slack payload this app understands"}, status=400)

    async def _oauth(self, request: web.Request) -> web.Response:
        flow = self.app.oauth_flow
        assert flow is not None
        bolt_request = await to_bolt_request(request)
        if request.path == INSTALL_PATH:
            bolt_response = await flow.handle_installation(bolt_request)
        else:
            bolt_response = await flow.handle_callback(bolt_request)
        return await to_aiohttp_response(bolt_response)


def build_slack(config: SlackConfig, *, dispatch: Dispatch, uow: UnitOfWorkFactory, clock: Clock,
                time_zones: tuple[str, ...]) -> SlackSide:
    """The bolt app with our listeners; single workspace by bot token, or many by OAuth install."""
    problem = config.problem()
    if problem:
        raise SlackConfigError(problem)
    installations = SqlSlackInstallationStore(uow, clock)
    # One connection pool for every Slack call; slack_sdk otherwise opens a new session per request.
    http = aiohttp.ClientSession()
    if config.oauth:
        app = AsyncApp(
            signing_secret=config.signing_secret,
            client=AsyncWebClient(base_url=config.api_url, session=http),
            oauth_settings=AsyncOAuthSettings(
                client_id=config.client_id, client_secret=config.client_secret, scopes=list(BOT_SCOPES),
                installation_store=installations, state_store=SqlOAuthStateStore(uow, clock),
                install_path=INSTALL_PATH, redirect_uri_path=REDIRECT_PATH, installation_store_bot_only=True),
            process_before_response=True,
        )
    else:
        app = AsyncApp(
            token=config.bot_token,
            signing_secret=config.signing_secret or "socket-mode-needs-no-signing-secret",
            client=AsyncWebClient(token=config.bot_token, base_url=config.api_url, session=http),
            request_verification_enabled=not config.socket_mode,
            process_before_response=True,
        )
    clients: dict[str, AsyncWebClient] = {}

    async def client_for(workspace: str) -> AsyncWebClient:
        if not config.oauth:
            return app.client
        if workspace not in clients:
            bot = await installations.async_find_bot(enterprise_id=None, team_id=workspace)
            if bot is None:
                raise DeliveryError(f"no Slack installation for workspace {workspace}")
            clients[workspace] = AsyncWebClient(token=bot.bot_token, base_url=config.api_url, session=http)
        return clients[workspace]

    messenger = SlackMessenger(client_for=client_for, uow=uow, clock=clock)
    listeners = Listeners(dispatch=dispatch, messenger=messenger, uow=uow, clock=clock, time_zones=time_zones)
    listeners.register(app, config.command)
    return SlackSide(app=app, messenger=messenger, config=config, listeners=listeners, http=http)

