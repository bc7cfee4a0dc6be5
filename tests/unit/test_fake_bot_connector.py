"""The fake Bot Connector and identity service answer botbuilder's real clients the way Azure Bot Service does."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import jwt
import msal
import pytest
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    Attachment,
    ChannelAccount,
    ConversationAccount,
    ConversationParameters,
    ConversationReference,
)
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import MicrosoftAppCredentials
from botframework.connector.models import ErrorResponseException

from tests.fakes.bot_connector import ADAPTIVE_CARD, FakeBotConnector
from tests.fakes.identity import CHANNEL_ISSUER, FakeIdentityProvider

APP_ID = "00000000-0000-0000-0000-0000000000b0"
APP_PASSWORD = "fake-secret"
TENANT = "tenant-1"
TEAMS_CHANNEL = "19:abc@thread.tacv2;messageid=1700000000001"  # Teams: ids hold ':', '@' and ';' (2025-01)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotConnector]:
    async with FakeBotConnector() as connector:
        yield connector


@pytest.fixture
def client(fake: FakeBotConnector) -> ConnectorClient:
    return ConnectorClient(MicrosoftAppCredentials.empty(), base_url=fake.service_url)


@pytest.fixture
async def identity(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeIdentityProvider]:
    async with FakeIdentityProvider(app_id=APP_ID, app_password=APP_PASSWORD) as provider:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", provider.ca_bundle)  # msal wants an https authority
        yield provider


class BotConfig:
    """What ConfigurationBotFrameworkAuthentication reads, pointed at the fakes."""

    def __init__(self, identity: FakeIdentityProvider) -> None:
        self.APP_ID = APP_ID
        self.APP_PASSWORD = APP_PASSWORD
        self.APP_TYPE = "MultiTenant"
        self.APP_TENANTID = ""
        self.CHANNEL_SERVICE = "https://botframework.test"  # ignored once any parameterized setting is present
        self.VALIDATE_AUTHORITY = False
        self.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL = identity.metadata_url
        self.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER = CHANNEL_ISSUER
        self.TO_CHANNEL_FROM_BOT_LOGIN_URL = identity.login_url
        self.TO_CHANNEL_FROM_BOT_OAUTH_SCOPE = "https://api.botframework.com"


def message(text: str, **extra: Any) -> Activity:
    return Activity(type=ActivityTypes.message, text=text, **extra)


def card(body_text: str) -> Attachment:
    return Attachment(content_type=ADAPTIVE_CARD, content={
        "type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": body_text}]})


def incoming(fake: FakeBotConnector, conversation_id: str = "a:conv-in") -> Activity:
    return Activity(type=ActivityTypes.message, id="1700000000999", channel_id="msteams", text="hello",
                    service_url=fake.service_url, from_property=ChannelAccount(id="29:ada", aad_object_id="aad-ada"),
                    recipient=ChannelAccount(id=f"28:{APP_ID}"),
                    conversation=ConversationAccount(id=conversation_id, tenant_id=TENANT,
                                                     conversation_type="personal"),
                    channel_data={"tenant": {"id": TENANT}})


def create_parameters(*member_ids: str) -> ConversationParameters:
    return ConversationParameters(bot=ChannelAccount(id=f"28:{APP_ID}"),
                                  members=[ChannelAccount(id=m) for m in member_ids], tenant_id=TENANT,
                                  channel_data={"tenant": {"id": TENANT}}, is_group=False)


# -- the connector endpoints --------------------------------------------------------------------------------------

async def test_service_url_is_a_localhost_url_ending_with_a_slash(fake: FakeBotConnector) -> None:
    assert fake.service_url.startswith("http://127.0.0.1:")
    assert fake.service_url.endswith("/")


async def test_create_conversation_gives_the_same_member_the_same_conversation(fake: FakeBotConnector,
                                                                             client: ConnectorClient) -> None:
    first = await client.conversations.create_conversation(create_parameters("29:ada"))
    again = await client.conversations.create_conversation(create_parameters("29:ada"))
    other = await client.conversations.create_conversation(create_parameters("29:bob"))

    assert first.id == again.id == "a:conv-1"
    assert other.id == "a:conv-2"
    assert first.service_url == fake.service_url
    [call, *_] = fake.calls_to("create")
    assert (call.http_method, call.status) == ("POST", 201)
    assert call.body is not None
    assert call.body["members"] == [{"id": "29:ada"}]
    assert call.body["channelData"] == {"tenant": {"id": TENANT}}
    assert call.body["tenantID"] == TENANT  # botbuilder-python spells it so; the REST reference says "tenantId"


async def test_send_reply_and_update_are_recorded_and_kept_per_conversation(fake: FakeBotConnector,
                                                                         client: ConnectorClient) -> None:
    sent = await client.conversations.send_to_conversation("a:conv-1", message("Welcome", attachments=[card("v1")]))
    reply = await client.conversations.reply_to_activity("a:conv-1", sent.id, message("A reply"))
    updated = await client.conversations.update_activity("a:conv-1", sent.id,
                                                         message("Welcome", attachments=[card("v2")]))

    assert sent.id != reply.id
    assert updated.id == sent.id
    [send] = fake.calls_to("send")
    [replied] = fake.calls_to("reply")
    [update] = fake.calls_to("update")
    assert (send.http_method, send.status, send.activity_id) == ("POST", 201, sent.id)
    assert (replied.http_method, replied.status, replied.activity_id) == ("POST", 201, sent.id)
    assert (update.http_method, update.status, update.activity_id) == ("PUT", 200, sent.id)
    welcome, answer = fake.activities_to("a:conv-1")
    assert welcome["id"] == sent.id
    assert welcome["attachments"][0]["content"]["body"][0]["text"] == "v2"
    assert (answer["text"], answer["replyToId"]) == ("A reply", sent.id)


async def test_conversation_ids_are_decoded_from_the_path(fake: FakeBotConnector, client: ConnectorClient) -> None:
    await client.conversations.send_to_conversation(TEAMS_CHANNEL, message("In a channel thread"))

    [call] = fake.calls_to("send")
    assert call.conversation_id == TEAMS_CHANNEL
    assert [a["text"] for a in fake.activities_to(TEAMS_CHANNEL)] == ["In a channel thread"]


async def test_updating_an_activity_the_bot_never_sent_is_not_found(fake: FakeBotConnector,
                                                                    client: ConnectorClient) -> None:
    with pytest.raises(ErrorResponseException) as raised:
        await client.conversations.update_activity("a:conv-1", "404", message("Nope"))

    assert raised.value.response.status_code == 404
    assert raised.value.error.error.code == "NotFound"
    seeded = fake.seed_activity("a:conv-1", {"type": "message", "text": "a card from a recording"})
    assert (await client.conversations.update_activity("a:conv-1", seeded, message("Answered"))).id == seeded


async def test_members_are_described_as_teams_accounts(fake: FakeBotConnector, client: ConnectorClient) -> None:
    fake.add_member("29:ada", aad_object_id="aad-ada", name="Ada Lovelace", email="ada@example.com", tenant_id=TENANT)
    fake.add_member("29:bob", aad_object_id="aad-bob", name="Bob Noyce", tenant_id=TENANT)
    conversation = await client.conversations.create_conversation(create_parameters("29:ada"))

    ada = await client.conversations.get_conversation_member(conversation.id, "29:ada")
    roster = await client.conversations.get_conversation_members(conversation.id)

    assert (ada.id, ada.name, ada.aad_object_id) == ("29:ada", "Ada Lovelace", "aad-ada")
    assert [m.id for m in roster] == ["29:ada"]
    assert [call.member_id for call in fake.calls_to("members")] == ["29:ada", None]
    with pytest.raises(ErrorResponseException) as raised:
        await client.conversations.get_conversation_member(conversation.id, "29:nobody")
    assert raised.value.response.status_code == 404


# -- failure injection ----------------------------------------------------------------------------------------

async def test_a_rate_limited_send_shows_its_retry_after(fake: FakeBotConnector, client: ConnectorClient) -> None:
    fake.fail("send", status=429, retry_after=2)

    with pytest.raises(ErrorResponseException) as raised:
        await client.conversations.send_to_conversation("a:conv-1", message("Too soon"))
    retried = await client.conversations.send_to_conversation("a:conv-1", message("Later"))

    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "2"
    assert [call.status for call in fake.calls_to("send")] == [429, 201]  # msrest does not retry a 429 itself
    assert [a["text"] for a in fake.activities_to("a:conv-1")] == ["Later"]
    assert retried.id


@pytest.mark.parametrize(("status", "code"), [(500, "ServiceError"), (403, "BotNotInConversationRoster")])
async def test_a_failed_send_carries_a_bot_framework_error(fake: FakeBotConnector, client: ConnectorClient,
                                                           status: int, code: str) -> None:
    fake.fail("send", status=status)

    with pytest.raises(ErrorResponseException) as raised:
        await client.conversations.send_to_conversation("a:conv-1", message("Hello?"))

    assert raised.value.response.status_code == status
    assert raised.value.error.error.code == code
    [call] = fake.calls_to("send")  # msrest retries 5xx only for idempotent methods: a POST is tried once
    assert (call.status, call.error) == (status, code)


async def test_fail_ratio_rate_limits_the_same_calls_for_the_same_seed() -> None:
    async def statuses() -> list[int]:
        async with FakeBotConnector() as connector:
            connector.fail_ratio("send", 0.5, seed=7)
            client = ConnectorClient(MicrosoftAppCredentials.empty(), base_url=connector.service_url)
            for i in range(8):
                with contextlib.suppress(ErrorResponseException):
                    await client.conversations.send_to_conversation("a:conv-1", message(f"m{i}"))
            return [call.status for call in connector.calls_to("send")]

    first, second = await statuses(), await statuses()

    assert first == second
    assert set(first) == {201, 429}


async def test_calls_without_the_expected_token_are_refused_and_recorded() -> None:
    async with FakeBotConnector(expect_token="the-token") as connector:
        client = ConnectorClient(MicrosoftAppCredentials.empty(), base_url=connector.service_url)
        with pytest.raises(ErrorResponseException) as raised:
            await client.conversations.send_to_conversation("a:conv-1", message("Who am I?"))

    assert raised.value.response.status_code == 401
    [call] = connector.calls_to("send")
    assert (call.status, call.authorization) == (401, None)
    assert connector.activities_to("a:conv-1") == []


async def test_card_validator_refuses_an_invalid_card_with_400(fake: FakeBotConnector, client: ConnectorClient) -> None:
    def needs_a_version(content: dict[str, Any]) -> str | None:
        return None if content.get("version") else "version is required"

    fake.card_validator = needs_a_version
    broken = Attachment(content_type=ADAPTIVE_CARD, content={"type": "AdaptiveCard", "body": []})

    await client.conversations.send_to_conversation("a:conv-1", message("Fine", attachments=[card("ok")]))
    with pytest.raises(ErrorResponseException) as raised:
        await client.conversations.send_to_conversation("a:conv-1", message("Broken", attachments=[broken]))

    assert raised.value.response.status_code == 400
    [(call, reason)] = fake.invalid
    assert call.status == 400
    assert reason == "attachments[0]: version is required"


async def test_wait_for_returns_once_enough_calls_arrived_and_names_them_when_not(fake: FakeBotConnector,
                                                                                 client: ConnectorClient) -> None:
    pending = asyncio.create_task(fake.wait_for("send", count=2))
    await client.conversations.send_to_conversation("a:conv-1", message("one"))
    await client.conversations.send_to_conversation("a:conv-1", message("two"))

    assert len(await pending) == 2
    with pytest.raises(TimeoutError, match=r"0/1 update calls in 0.05s; saw \['send', 'send'\]"):
        await fake.wait_for("update", timeout=0.05)


# -- authentication, both ways ------------------------------------------------------------------------------------

async def test_botbuilder_accepts_a_channel_token_signed_by_the_fake(identity: FakeIdentityProvider,
                                                                     fake: FakeBotConnector) -> None:
    auth = ConfigurationBotFrameworkAuthentication(BotConfig(identity))
    token = identity.channel_token(app_id=APP_ID, service_url=fake.service_url)

    result = await auth.authenticate_request(incoming(fake), f"Bearer {token}")

    assert result.claims_identity.is_authenticated
    assert result.claims_identity.claims["aud"] == APP_ID
    assert result.audience == "https://api.botframework.com"
    assert identity.hits_to("/v1/keys") == 1


@pytest.mark.parametrize(("case", "error", "reason"), [
    ("unknown key", jwt.InvalidSignatureError, "Signature verification failed"),
    ("unknown kid", IndexError, "out of range"),  # botbuilder: looks the kid up with `[...][0]` (4.17)
    ("malformed", jwt.DecodeError, "segments"),
    ("missing", PermissionError, "not authorized"),
    ("expired", jwt.ExpiredSignatureError, "expired"),
    ("wrong audience", PermissionError, "Invalid AppId"),
    ("wrong service url", PermissionError, "serviceurl"),
])
async def test_botbuilder_rejects_a_bad_channel_token(identity: FakeIdentityProvider, fake: FakeBotConnector,
                                                      case: str, error: type[Exception], reason: str | None) -> None:
    auth = ConfigurationBotFrameworkAuthentication(BotConfig(identity))
    service_url = fake.service_url
    tokens: dict[str, Callable[[], str | None]] = {
        "unknown key": lambda: "Bearer " + identity.channel_token(app_id=APP_ID, service_url=service_url,
                                                                  signed_by_unknown_key=True),
        "unknown kid": lambda: "Bearer " + identity.channel_token(app_id=APP_ID, service_url=service_url,
                                                                  kid="not-a-served-key"),
        "malformed": lambda: "Bearer not-a-jwt",
        "missing": lambda: None,
        # botbuilder: validation allows 5 minutes of clock skew, so "expired" means longer ago than that
        "expired": lambda: "Bearer " + identity.channel_token(app_id=APP_ID, service_url=service_url,
                                                              expires_in=-600),
        "wrong audience": lambda: "Bearer " + identity.channel_token(app_id="another-bot", service_url=service_url),
        "wrong service url": lambda: "Bearer " + identity.channel_token(app_id=APP_ID,
                                                                        service_url="https://evil.example/"),
    }
    header = tokens[case]()

    with pytest.raises(error, match=reason):
        await auth.authenticate_request(incoming(fake), header)


async def test_a_proactive_message_carries_the_token_msal_got_from_the_fake(identity: FakeIdentityProvider) -> None:
    auth = ConfigurationBotFrameworkAuthentication(BotConfig(identity))
    adapter = CloudAdapter(auth)
    async with FakeBotConnector(expect_token=identity.access_token) as connector:
        reference = TurnContext.get_conversation_reference(incoming(connector, "a:conv-7"))
        assert isinstance(reference, ConversationReference)

        async def say_hello(turn_context: TurnContext) -> None:
            await turn_context.send_activity("Time for your check-in")

        await adapter.continue_conversation(reference, say_hello, bot_app_id=APP_ID)

    # botbuilder: the continuation activity gets a made-up uuid id, and send_activity replies to it (4.17)
    [call] = connector.calls_to("reply")
    assert call.status == 201
    assert call.authorization == f"Bearer {identity.access_token}"
    assert call.conversation_id == "a:conv-7"
    assert [a["text"] for a in connector.activities_to("a:conv-7")] == ["Time for your check-in"]
    [token_request] = identity.token_log
    assert (token_request.tenant, token_request.client_id) == ("adfs", APP_ID)
    assert token_request.scope == "https://api.botframework.com/.default"
    assert identity.hits_to("/common/discovery/instance") == 0


async def test_a_proactive_conversation_is_created_then_written_to(identity: FakeIdentityProvider) -> None:
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(BotConfig(identity)))
    async with FakeBotConnector(expect_token=identity.access_token) as connector:
        written: list[str] = []

        async def say_hello(turn_context: TurnContext) -> None:
            written.append(turn_context.activity.conversation.id)
            await turn_context.send_activity("Hello from mentorbot")

        await adapter.create_conversation(APP_ID, say_hello, create_parameters("29:ada"), channel_id="msteams",
                                          service_url=connector.service_url,
                                          audience="https://api.botframework.com")

    assert written == ["a:conv-1"]
    # botbuilder: the turn's activity carries the create answer's activityId or a made-up id, so it replies to it
    assert [call.method for call in connector.calls] == ["create", "reply"]
    assert all(call.status == 201 for call in connector.calls)
    assert [a["text"] for a in connector.activities_to("a:conv-1")] == ["Hello from mentorbot"]


async def test_the_token_endpoint_refuses_a_wrong_secret(identity: FakeIdentityProvider) -> None:
    config = BotConfig(identity)
    config.APP_PASSWORD = "not-the-secret"
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(config))
    async with FakeBotConnector(expect_token=identity.access_token) as connector:
        reference = TurnContext.get_conversation_reference(incoming(connector))

        async def say_hello(turn_context: TurnContext) -> None:
            await turn_context.send_activity("never sent")

        with pytest.raises(PermissionError, match="invalid_client"):
            await adapter.continue_conversation(reference, say_hello, bot_app_id=APP_ID)

    assert connector.calls == []
    assert [r.status for r in identity.token_log] == [401]


async def test_every_proactive_turn_fetches_a_new_token_synchronously(identity: FakeIdentityProvider) -> None:
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(BotConfig(identity)))
    async with FakeBotConnector(expect_token=identity.access_token) as connector:
        reference = TurnContext.get_conversation_reference(incoming(connector))

        async def say_hello(turn_context: TurnContext) -> None:
            await turn_context.send_activity("hello")

        for _ in range(2):
            await adapter.continue_conversation(reference, say_hello, bot_app_id=APP_ID)

    # botbuilder 4.17: each turn builds new credentials, so a new msal app: discovery and token, both blocking
    assert identity.token_requests == 2
    assert identity.hits_to("/adfs/.well-known/openid-configuration") == 2


@pytest.mark.parametrize("way", ["validate_authority=False", "instance_discovery=fake"])
async def test_msal_built_directly_gets_a_token_for_a_tenant_authority(identity: FakeIdentityProvider,
                                                                      way: str) -> None:
    def acquire() -> dict[str, Any]:
        options: dict[str, Any] = ({"validate_authority": False} if way == "validate_authority=False"
                                   else {"instance_discovery": identity.instance_discovery_url})
        app = msal.ConfidentialClientApplication(APP_ID, client_credential=APP_PASSWORD,
                                                 authority=identity.authority_url("botframework.com"), **options)
        result: dict[str, Any] = app.acquire_token_for_client(["https://api.botframework.com/.default"])
        return result

    result = await asyncio.to_thread(acquire)  # msal is synchronous

    assert result["access_token"] == identity.access_token
    assert [r.tenant for r in identity.token_log] == ["botframework.com"]
