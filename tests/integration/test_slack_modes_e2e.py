"""Slack's other ways in: Socket Mode, and the multi-workspace OAuth install shared by two replicas."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlparse

from tests.fakes.memory import FakeClock
from tests.integration.slack_harness import TEAM, payload, slack_harness


async def test_a_slash_command_round_trips_over_socket_mode(migrated_url: str) -> None:
    async with slack_harness(migrated_url, FakeClock(datetime.now(UTC)), SLACK_APP_TOKEN="xapp-1-A1-test") as slack:
        assert slack.side.routes() == []  # no public endpoint in Socket Mode
        connected = await slack.fake.wait_for("apps.connections.open")
        assert connected[0].token == "xapp-1-A1-test"
        command = {**payload("slash_command"), "text": "help", "team_id": TEAM, "user_id": "U0SOCK"}
        envelope_id = await slack.fake.socket_send({
            "envelope_id": "env-1", "type": "slash_commands", "accepts_response_payload": True,
            "payload": command})
        acks = await slack.fake.socket_acks(1)
        assert acks[0]["envelope_id"] == envelope_id
        assert acks[0]["payload"]["response_type"] == "ephemeral"
        assert "/mentor join" in str(acks[0]["payload"]["blocks"])
        assert slack.fake.invalid == []


async def test_an_oauth_install_started_on_one_replica_finishes_on_another(migrated_url: str) -> None:
    env = {"SLACK_BOT_TOKEN": "", "SLACK_CLIENT_ID": "111.222", "SLACK_CLIENT_SECRET": "oauth-secret"}
    clock = FakeClock(datetime.now(UTC))
    async with slack_harness(migrated_url, clock, **env) as first, slack_harness(migrated_url, clock, **env) as second:
        async with first.http.get(f"{first.url}/slack/install", allow_redirects=False) as resp:
            assert resp.status in (200, 302)
            page = await resp.text()
            cookie = resp.headers.get("Set-Cookie", "")
            location = resp.headers.get("Location", "")
        link = location or re.search(r'href="([^"]*oauth/v2/authorize[^"]*)"', page).group(1)  # type: ignore[union-attr]
        query = parse_qs(urlparse(link.replace("&amp;", "&")).query)
        assert query["client_id"] == ["111.222"]
        state = query["state"][0]

        cookie_pair = cookie.split(";", 1)[0]
        async with second.http.get(f"{second.url}/slack/oauth_redirect", params={"code": "c0de", "state": state},
                                   headers={"Cookie": cookie_pair}, allow_redirects=False) as resp:
            assert resp.status in (200, 302), await resp.text()
        access = second.fake.calls_to("oauth.v2.access")
        assert len(access) == 1 and access[0].params["code"] == "c0de"

        # the installation is in the shared database: the first replica serves the new workspace with its token
        answer = await first.command("help", user="U0NEW")
        assert answer.status == 200
        assert answer.json()["response_type"] == "ephemeral"
        async with second.http.get(f"{second.url}/slack/oauth_redirect", params={"code": "again", "state": state},
                                   headers={"Cookie": cookie_pair}, allow_redirects=False) as resp:
            assert resp.status != 200 or "error" in (await resp.text()).lower()  # a state works once
        assert len(second.fake.calls_to("oauth.v2.access")) == 1

        # uninstalling forgets the installation: its bot token no longer works anyway
        uninstalled = payload("event_app_uninstalled")
        uninstalled["team_id"] = TEAM
        answer = await first.post(json.dumps(uninstalled), "application/json")
        assert answer.status == 200
        async with first.bot.deps.uow() as uow:
            assert await uow.installations.find("slack", TEAM) is None
