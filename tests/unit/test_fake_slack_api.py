"""The fake Slack Web API answers slack_sdk's real client the way Slack does, and refuses what Slack would refuse."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import FakeSlackApi


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi() as api:
        yield api


@pytest.fixture
def client(fake: FakeSlackApi) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=fake.base_url)


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(text: str, action_id: str = "checkin.met") -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id, "value": "c1"}


def modal(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "modal", "callback_id": "signup", "title": {"type": "plain_text", "text": "Sign up"},
            "submit": {"type": "plain_text", "text": "Save"}, "blocks": blocks}


async def test_base_url_ends_with_a_slash_on_localhost(fake: FakeSlackApi) -> None:
    assert fake.base_url.startswith("http://127.0.0.1:")
    assert fake.base_url.endswith("/api/")


async def test_auth_test_names_the_bot_and_records_the_bearer_token(fake: FakeSlackApi,
                                                                   client: AsyncWebClient) -> None:
    response = await client.auth_test()

    assert response["ok"] is True
    assert {"url", "team", "user", "team_id", "user_id", "bot_id"} <= set(response.data)
    assert response["team_id"] == "T0001"
    [call] = fake.calls_to("auth.test")
    assert call.token == "xoxb-test"
    assert call.status == 200


async def test_users_info_describes_a_registered_user(fake: FakeSlackApi, client: AsyncWebClient) -> None:
    fake.add_user("U1", name="Ada Lovelace", email="ada@example.com")

    user = (await client.users_info(user="U1"))["user"]

    assert user["id"] == "U1"
    assert user["real_name"] == "Ada Lovelace"
    assert user["tz"] == "Europe/Paris"
    assert user["tz_offset"] in (3600, 7200)
    assert user["deleted"] is False
    assert user["profile"] == {"email": "ada@example.com", "real_name": "Ada Lovelace", "display_name": "Ada",
                               "real_name_normalized": "Ada Lovelace", "display_name_normalized": "Ada"}


async def test_users_info_of_an_unknown_user_is_user_not_found(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as raised:
        await client.users_info(user="U404")

    assert raised.value.response["error"] == "user_not_found"


async def test_users_lookup_by_email_finds_the_registered_user_or_says_users_not_found(
        fake: FakeSlackApi, client: AsyncWebClient) -> None:
    fake.add_user("U2", name="Grace Hopper", email="grace@example.com", tz="America/New_York")

    found = await client.users_lookupByEmail(email="Grace@Example.com")
    with pytest.raises(SlackApiError) as raised:
        await client.users_lookupByEmail(email="nobody@example.com")

    assert found["user"]["id"] == "U2"
    assert found["user"]["tz"] == "America/New_York"
    assert raised.value.response["error"] == "users_not_found"


async def test_conversations_open_gives_the_same_channel_for_the_same_people(client: AsyncWebClient) -> None:
    one = await client.conversations_open(users="U1")
    again = await client.conversations_open(users=["U1"])
    pair = await client.conversations_open(users=["U1", "U2"])
    pair_reversed = await client.conversations_open(users="U2,U1")

    assert one["channel"]["id"].startswith("D")
    assert one["channel"]["id"] == again["channel"]["id"]
    assert pair["channel"]["id"].startswith("G")
    assert pair["channel"]["id"] == pair_reversed["channel"]["id"]
    assert pair["channel"]["id"] != one["channel"]["id"]


async def test_post_message_answers_increasing_timestamps_and_decodes_blocks(fake: FakeSlackApi,
                                                                            client: AsyncWebClient) -> None:
    blocks = [section("Did you meet?"), {"type": "actions", "elements": [button("Yes")]}]

    first = await client.chat_postMessage(channel="D1", text="Did you meet?", blocks=blocks)
    second = await client.chat_postMessage(channel="D1", text="again")

    assert first["ts"] < second["ts"]
    assert first["channel"] == "D1"
    assert first["message"]["blocks"] == blocks
    assert fake.calls_to("chat.postMessage")[0].params["blocks"] == blocks
    assert fake.invalid == []


async def test_chat_update_and_ephemeral_answer_like_slack(fake: FakeSlackApi, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="D1", text="Did you meet?")

    updated = await client.chat_update(channel="D1", ts=posted["ts"], text="Thanks!", blocks=[section("Thanks!")])
    ephemeral = await client.chat_postEphemeral(channel="D1", user="U1", text="Only you can see this")

    assert updated["ts"] == posted["ts"]
    assert fake.messages[("D1", posted["ts"])]["text"] == "Thanks!"
    assert ephemeral["message_ts"]


async def test_views_open_update_and_publish_answer_a_view_id(fake: FakeSlackApi, client: AsyncWebClient) -> None:
    opened = await client.views_open(trigger_id="123.456", view=modal([section("Hello")]))
    updated = await client.views_update(view_id=opened["view"]["id"], view=modal([section("Bye")]))
    published = await client.views_publish(user_id="U1", view={"type": "home", "blocks": [section("Home")]})

    assert opened["view"]["id"].startswith("V")
    assert updated["view"]["id"] == opened["view"]["id"]
    assert published["view"]["type"] == "home"
    assert fake.calls_to("views.open")[0].params["view"]["callback_id"] == "signup"
    assert fake.invalid == []


@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")  # slack_sdk 3.48 on aiohttp 3.14
async def test_oauth_v2_access_takes_client_credentials_as_basic_auth(fake: FakeSlackApi) -> None:
    client = AsyncWebClient(base_url=fake.base_url)

    response = await client.oauth_v2_access(client_id="111.222", client_secret="s3cret", code="abc")

    assert response["access_token"].startswith("xoxb-fake-")
    assert response["token_type"] == "bot"
    assert response["team"] == {"id": "T0001", "name": "Mentorbot Test"}
    assert response["enterprise"] is None
    assert response["is_enterprise_install"] is False
    assert response["authed_user"]["id"]
    [call] = fake.calls_to("oauth.v2.access")
    assert (call.params["client_id"], call.params["client_secret"], call.params["code"]) == ("111.222", "s3cret", "abc")


async def test_files_upload_v2_runs_all_three_steps(fake: FakeSlackApi, client: AsyncWebClient) -> None:
    response = await client.files_upload_v2(channel="C1", filename="report.csv", content="a,b\n1,2\n")

    assert response["file"]["id"] in fake.uploads
    assert fake.uploads[response["file"]["id"]] == b"a,b\n1,2\n"
    assert [c.method.split(":")[0] for c in fake.calls] == [
        "files.getUploadURLExternal", "upload", "files.completeUploadExternal"]
    assert fake.calls_to("files.completeUploadExternal")[0].params["files"][0]["title"] == "report.csv"


async def test_unknown_method_is_refused(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as raised:
        await client.api_call("mentorbot.nonsense")

    assert raised.value.response["error"] == "unknown_method"


async def test_rate_limit_shows_retry_after_then_recovers(fake: FakeSlackApi, client: AsyncWebClient) -> None:
    fake.fail("chat.postMessage", times=1, status=429, retry_after=7)

    with pytest.raises(SlackApiError) as raised:
        await client.chat_postMessage(channel="D1", text="hi")
    after = await client.chat_postMessage(channel="D1", text="hi")

    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "7"
    assert raised.value.response["error"] == "ratelimited"
    assert after["ok"] is True
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [429, 200]


async def test_server_error_and_error_codes_can_be_injected(fake: FakeSlackApi, client: AsyncWebClient) -> None:
    fake.fail("chat.postMessage", status=500)
    fake.fail("chat.postMessage", error="channel_not_found")

    with pytest.raises(SlackApiError) as server_error:
        await client.chat_postMessage(channel="D1", text="hi")
    with pytest.raises(SlackApiError) as code:
        await client.chat_postMessage(channel="D1", text="hi")

    assert server_error.value.response.status_code == 500
    assert code.value.response.status_code == 200
    assert code.value.response["error"] == "channel_not_found"
    assert [(c.status, c.error) for c in fake.calls] == [(500, "fatal_error"), (200, "channel_not_found")]


async def test_fail_ratio_is_deterministic_for_a_seed(client: AsyncWebClient) -> None:
    async def statuses(seed: int) -> list[int]:
        async with FakeSlackApi() as api:
            api.fail_ratio("auth.test", 0.5, retry_after=0, seed=seed)
            c = AsyncWebClient(token="xoxb-test", base_url=api.base_url)
            for _ in range(20):
                with contextlib.suppress(SlackApiError):
                    await c.auth_test()
            return [call.status for call in api.calls]

    first, second = await statuses(3), await statuses(3)

    assert first == second
    assert 0 < first.count(429) < 20


async def test_a_bad_block_is_refused_and_recorded(fake: FakeSlackApi, client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as raised:
        await client.chat_postMessage(channel="D1", text="hi", blocks=[{"type": "sektion", "text": "typo"}])

    assert raised.value.response["error"] == "invalid_blocks"
    [(call, reason)] = fake.invalid
    assert call.method == "chat.postMessage"
    assert call.error == "invalid_blocks"
    assert "sektion" in reason


async def test_blocks_without_fallback_text_are_refused(fake: FakeSlackApi, client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError), pytest.warns(UserWarning, match="text"):  # slack_sdk warns too
        await client.chat_postMessage(channel="D1", blocks=[section("no fallback")])

    assert "text is required" in fake.invalid[0][1]


@pytest.mark.parametrize(("method", "payload", "why"), [
    ("chat.postMessage", {"blocks": [section("x")] * 51}, "51 blocks"),
    ("views.open", {"view": modal([section("x")] * 101)}, "101 blocks"),
    ("chat.postMessage", {"blocks": [section("x" * 3001)]}, "3000"),
    ("chat.update", {"blocks": [{"type": "actions", "elements": [button("b" * 76)]}]}, "75"),
    ("chat.postMessage", {"blocks": [section("pick") | {"accessory": {
        "type": "static_select", "action_id": "pick",
        "options": [{"text": {"type": "plain_text", "text": str(i)}, "value": str(i)} for i in range(101)]}}]},
     "100"),
    ("views.publish", {"view": {"type": "home", "blocks": [{"type": "actions", "elements": [button("b" * 76)]}]}},
     "75"),
])
async def test_slack_limits_are_enforced(fake: FakeSlackApi, client: AsyncWebClient, method: str,
                                         payload: dict[str, Any], why: str) -> None:
    args = {"channel": "D1", "ts": "1700000000.000100", "text": "fallback", "trigger_id": "1.2", "user_id": "U1"}
    with pytest.raises(SlackApiError) as raised:
        await client.api_call(method, json=args | payload)

    assert raised.value.response["error"] == "invalid_blocks"
    assert why in fake.invalid[0][1]


async def test_wait_for_returns_once_the_calls_arrive(fake: FakeSlackApi, client: AsyncWebClient) -> None:
    async def later() -> None:
        await asyncio.sleep(0.05)
        await client.chat_postMessage(channel="D1", text="one")
        await client.chat_postMessage(channel="D1", text="two")

    task = asyncio.create_task(later())
    calls = await fake.wait_for("chat.postMessage", count=2, timeout=2.0)
    await task

    assert [c.params["text"] for c in calls] == ["one", "two"]
    assert calls[0].at <= calls[1].at


async def test_wait_for_times_out_naming_what_arrived(fake: FakeSlackApi, client: AsyncWebClient) -> None:
    await client.auth_test()

    with pytest.raises(TimeoutError, match=r"auth\.test"):
        await fake.wait_for("chat.postMessage", timeout=0.05)


async def test_socket_mode_says_hello_pushes_envelopes_and_collects_acks(fake: FakeSlackApi) -> None:
    app_client = AsyncWebClient(token="xapp-1-test", base_url=fake.base_url)
    url = (await app_client.apps_connections_open(app_token="xapp-1-test"))["url"]
    assert url == f"ws://127.0.0.1:{fake.base_url.split(':')[2].split('/')[0]}/socket"

    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        hello = await ws.receive_json(timeout=2)
        envelope_id = await fake.socket_send({"envelope_id": "e1", "type": "slash_commands",
                                              "accepts_response_payload": True,
                                              "payload": {"command": "/mentor", "text": "help"}})
        pushed = await ws.receive_json(timeout=2)
        await ws.send_str(json.dumps({"envelope_id": pushed["envelope_id"], "payload": {"text": "ok"}}))
        acks = await fake.socket_acks(1, timeout=2.0)

    assert hello["type"] == "hello"
    assert hello["connection_info"] == {"app_id": "A1"}
    assert envelope_id == "e1"
    assert pushed["payload"]["command"] == "/mentor"
    assert acks == [{"envelope_id": "e1", "payload": {"text": "ok"}}]


async def test_response_url_posts_are_recorded(fake: FakeSlackApi) -> None:
    async with aiohttp.ClientSession() as session:
        response = await session.post(fake.response_url("cmd1"),
                                      json={"text": "Done", "response_type": "ephemeral"})
        assert response.status == 200

    [call] = await fake.wait_for("response_url:cmd1")
    assert call.params == {"text": "Done", "response_type": "ephemeral"}
