"""Teams with an app id: only requests carrying a valid Bot Framework token get in; outbound calls carry ours."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from tests.fakes.bot_connector import FakeBotConnector
from tests.fakes.identity import FakeIdentityProvider
from tests.fakes.memory import FakeClock
from tests.integration.teams_harness import TeamsHarness, conversation_of, running_teams

APP_ID = "3f1b2c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
APP_PASSWORD = "not-a-real-secret"
MEGAN = "6be4c67b-2b57-4d0e-9b0a-2e1d3c5a8f01"


@pytest.fixture
async def identity(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeIdentityProvider]:
    async with FakeIdentityProvider(app_id=APP_ID, app_password=APP_PASSWORD) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_bundle)  # msal insists on https: trust the fake's CA
        yield fake


@pytest.fixture
async def teams(migrated_url: str, identity: FakeIdentityProvider) -> AsyncIterator[TeamsHarness]:
    async with FakeBotConnector(expect_token=identity.access_token) as connector, running_teams(
            migrated_url, connector, FakeClock(datetime.now(UTC)), TEAMS_ALLOW_UNAUTHENTICATED="",
            TEAMS_APP_ID=APP_ID, TEAMS_APP_PASSWORD=APP_PASSWORD,
            TEAMS_OPENID_METADATA_URL=identity.metadata_url, TEAMS_LOGIN_URL=identity.login_url) as harness:
        yield harness


async def _people(teams: TeamsHarness) -> int:
    async with teams.bot.deps.uow() as uow:
        return len(await uow.people.in_workspace("teams", teams.actor(MEGAN).workspace))


async def test_a_valid_channel_token_gets_in_and_the_reply_carries_the_bots_token(
        teams: TeamsHarness, identity: FakeIdentityProvider) -> None:
    token = identity.channel_token(app_id=APP_ID, service_url=teams.fake.service_url)
    status, _ = await teams.say("help", user=MEGAN, headers={"Authorization": f"Bearer {token}"})
    assert status in (200, 201)
    (reply,) = teams.fake.activities_to(conversation_of(MEGAN))
    assert "join" in str(reply)
    assert all(c.authorization == f"Bearer {identity.access_token}" for c in teams.fake.calls)


@pytest.mark.parametrize("case", ["missing", "malformed", "unknown key", "other app", "expired"])
async def test_a_request_without_a_valid_token_gets_401_and_touches_nothing(
        teams: TeamsHarness, identity: FakeIdentityProvider, case: str) -> None:
    url = teams.fake.service_url
    other_app = "00000000-0000-4000-8000-000000000000"
    header = {
        "missing": None,
        "malformed": "Bearer not.a.jwt",
        "unknown key": f"Bearer {identity.channel_token(app_id=APP_ID, service_url=url, signed_by_unknown_key=True)}",
        "other app": f"Bearer {identity.channel_token(app_id=other_app, service_url=url)}",
        "expired": f"Bearer {identity.channel_token(app_id=APP_ID, service_url=url, expires_in=-3600)}",
    }[case]
    status, _ = await teams.say("join", user=MEGAN, headers={"Authorization": header} if header else None)
    assert status == 401
    assert teams.fake.calls == []
    async with teams.bot.deps.uow() as uow:
        assert await uow.addresses.get(teams.actor(MEGAN)) is None
    assert await _people(teams) == 0
