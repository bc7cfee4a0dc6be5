"""Teams end to end: real-shaped activities to the real server, a fake Bot Connector, a real database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from conversations.model import Person
from tests.fakes.bot_connector import FakeBotConnector
from tests.fakes.memory import FakeClock
from tests.integration.teams_harness import (
    ADMIN,
    TENANT,
    TeamsHarness,
    conversation_of,
    running_teams,
)

MEGAN = "6be4c67b-2b57-4d0e-9b0a-2e1d3c5a8f01"
ALEX = "7cf5d78c-3c68-4e1f-8c1b-3f2e4d6b9a12"


@pytest.fixture
async def teams(migrated_url: str, connector: FakeBotConnector) -> AsyncIterator[TeamsHarness]:
    async with running_teams(migrated_url, connector, FakeClock(datetime.now(UTC))) as harness:
        yield harness


async def _person(teams: TeamsHarness, user: str) -> Person | None:
    async with teams.bot.deps.uow() as uow:
        return await uow.people.by_actor(teams.actor(user))


async def test_a_typed_command_is_answered_in_the_same_chat(teams: TeamsHarness) -> None:
    status, _ = await teams.say("help", user=MEGAN)
    assert status in (200, 201)
    (reply,) = teams.fake.activities_to(conversation_of(MEGAN))
    assert "join" in json.dumps(reply)


async def test_signup_through_the_card_stores_the_profile(teams: TeamsHarness) -> None:
    status, _ = await teams.join(MEGAN, name="Megan Bowen", time_zone="America/New_York")
    assert status in (200, 201)
    person = await _person(teams, MEGAN)
    assert person is not None and person.profile.time_zone == "America/New_York"
    assert person.profile.working_days == ("mon", "tue", "wed")
    updates = teams.fake.calls_to("update")
    assert len(updates) == 1  # the card became its outcome and cannot be submitted twice
    assert "Welcome, Megan Bowen!" in "".join(teams.texts_to(MEGAN))


async def test_a_validation_error_redraws_the_card_with_the_error_beside_the_field(teams: TeamsHarness) -> None:
    await teams.join(MEGAN, time_zone="Mars/Olympus_Mons", name="x" * 81)
    assert await _person(teams, MEGAN) is None
    (update,) = teams.fake.calls_to("update")
    assert update.body is not None
    card = update.body["attachments"][0]["content"]
    text = json.dumps(card)
    assert "Unknown time zone" in text and "at most 80" in text
    name = next(b for b in card["body"] if b.get("id") == "name")
    assert name["value"].startswith("x" * 79)  # the answers are kept (cut to the field's maxLength)


async def test_a_channel_mention_is_answered_privately(teams: TeamsHarness) -> None:
    await teams.say("status", user=ALEX)  # the 1:1 chat exists
    before = len(teams.fake.activities_to(conversation_of(ALEX)))
    status, _ = await teams.mention("status", user=ALEX)
    assert status in (200, 201)
    assert len(teams.fake.activities_to(conversation_of(ALEX))) == before + 1
    channel_posts = [c for c in teams.fake.calls if c.conversation_id and "@thread" in c.conversation_id]
    assert channel_posts == []


async def test_installing_the_app_stores_where_to_reach_the_person(teams: TeamsHarness) -> None:
    await teams.installed(user=ALEX)
    async with teams.bot.deps.uow() as uow:
        stored = await uow.addresses.get(teams.actor(ALEX))
    assert stored is not None and conversation_of(ALEX) in stored


async def test_uninstalling_makes_the_person_unreachable(teams: TeamsHarness) -> None:
    await teams.join(MEGAN)
    await teams.uninstalled(user=MEGAN)
    person = await _person(teams, MEGAN)
    assert person is not None and person.status == "unreachable"


async def test_two_submits_in_flight_record_one_answer(teams: TeamsHarness) -> None:
    await teams.join(MEGAN)
    await teams.say('admin cohort open "Autumn"', user=ADMIN)
    await teams.bot.sender.drain()
    async with teams.bot.deps.uow() as uow:
        cohort = await uow.cohorts.current("teams", TENANT)
    assert cohort is not None
    invitation = next(a for a in reversed(teams.fake.activities_to(conversation_of(MEGAN)))
                      if "Count me in" in json.dumps(a))
    click = {"mb_action": "cohort.join", "mb_value": cohort.id}
    first, second = await asyncio.gather(teams.submit(click, user=MEGAN, reply_to=invitation["id"]),
                                         teams.submit(click, user=MEGAN, reply_to=invitation["id"]))
    assert first[0] in (200, 201) and second[0] in (200, 201)
    async with teams.bot.deps.uow() as uow:
        assert len(await uow.cohorts.members(cohort.id)) == 1


async def test_a_proactive_invitation_after_a_restart_uses_the_stored_reference(
        migrated_url: str, connector: FakeBotConnector) -> None:
    clock = FakeClock(datetime.now(UTC))
    async with running_teams(migrated_url, connector, clock) as first:
        await first.join(MEGAN, name="Megan Bowen")
    connector.calls.clear()
    async with running_teams(migrated_url, connector, clock) as restarted:  # a new process, same database
        await restarted.say('admin cohort open "Spring 27"', user=ADMIN)
        await restarted.bot.sender.drain()
        invited = [a for a in connector.activities_to(conversation_of(MEGAN)) if "Spring 27" in json.dumps(a)]
        assert len(invited) == 1
        assert connector.calls_to("create") == []  # the stored conversation reference was enough


async def test_throttling_and_outages_retry_and_lose_nothing(teams: TeamsHarness) -> None:
    await teams.join(MEGAN)
    await teams.join(ALEX)
    teams.fake.calls.clear()
    await teams.say('admin cohort open "Retry"', user=ADMIN)
    teams.fake.fail("reply", times=2, status=429, retry_after=1)  # proactive messages go out as replies
    teams.fake.fail("reply", times=1, status=500)
    clock = teams.bot.deps.clock
    for _ in range(10):
        await teams.bot.sender.drain()
        async with teams.bot.deps.uow() as uow:
            if await uow.outbox.pending_count() == 0:
                break
        clock.advance(seconds=30)  # type: ignore[attr-defined]
    for user in (MEGAN, ALEX):
        invitations = [a for a in teams.fake.activities_to(conversation_of(user)) if "Retry" in json.dumps(a)]
        assert len(invitations) == 1, user


async def test_a_person_who_removed_the_bot_is_unreachable_and_admins_are_told_once(teams: TeamsHarness) -> None:
    await teams.say("status", user=ADMIN)  # the admin's 1:1 chat exists
    await teams.join(MEGAN, name="Megan Bowen")
    await teams.say('admin cohort open "Gone"', user=ADMIN)
    teams.fake.fail("reply", times=1, status=403)
    await teams.bot.sender.drain()
    await teams.bot.sender.drain()
    person = await _person(teams, MEGAN)
    assert person is not None and person.status == "unreachable"
    told = [a for a in teams.fake.activities_to(conversation_of(ADMIN)) if "can no longer reach Megan Bowen"
            in json.dumps(a)]
    assert len(told) == 1


@pytest.mark.parametrize(("body", "status"), [
    ("{not json", 400), ("[]", 400), ('{"type": 5}', 400), ("plain words", 415)])
async def test_a_malformed_body_gets_a_clear_error_and_touches_nothing(teams: TeamsHarness, body: str,
                                                                        status: int) -> None:
    content_type = "text/plain" if status == 415 else "application/json"
    async with teams.http.post(f"{teams.url}/api/messages", data=body,
                               headers={"Content-Type": content_type}) as resp:
        assert resp.status == status
        assert "error" in await resp.json()
    assert teams.fake.calls == []
