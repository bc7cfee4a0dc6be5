"""A 429 storm end to end: the real server and adapters, the fake platform answering most calls 429 with
Retry-After. slack_sdk retries no 429 (its default handlers retry a dropped connection only) and we add no
handler: the outbox alone retries, so every message arrives exactly once and every attempt is one request."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlmodel import col, select

from conversations.messages import Button, Message
from storage.models import OutboxRow
from tests.fakes.bot_connector import FakeBotConnector
from tests.fakes.memory import FakeClock
from tests.integration.slack_harness import TEAM, SlackHarness, slack_harness
from tests.integration.teams_harness import TeamsHarness, conversation_of, running_teams

PEOPLE = 40


@pytest.fixture
async def slack(migrated_url: str) -> AsyncIterator[SlackHarness]:
    async with slack_harness(migrated_url, FakeClock(datetime.now(UTC))) as harness:
        yield harness
        assert harness.fake.invalid == [], "every Block Kit payload must validate"


def checkin(user: str) -> Message:
    return Message(f"Did you meet this week, {user}?", buttons=(
        Button("Yes", "checkin.met", f"ci-{user}", "primary"), Button("Not yet", "checkin.not_yet", f"ci-{user}")))


async def _rows(harness: SlackHarness | TeamsHarness) -> list[OutboxRow]:
    async with harness.bot.deps.uow() as uow:
        session = uow._session  # type: ignore[attr-defined]  # the test reads the rows as they stand
        return list((await session.scalars(select(OutboxRow).order_by(col(OutboxRow.id)))).all())


async def _drain_through_the_storm(harness: SlackHarness | TeamsHarness, clock: FakeClock) -> int:
    """Tick like the scheduler: deliver what is due, let Retry-After pass; returns how many ticks it took."""
    for tick in range(1, 60):
        await harness.bot.sender.drain()
        async with harness.bot.deps.uow() as uow:
            if await uow.outbox.pending_count() == 0:
                return tick
        clock.advance(seconds=2)
    raise AssertionError("the outbox did not drain")


async def test_a_429_storm_on_slack_delivers_every_message_exactly_once(slack: SlackHarness) -> None:
    handlers = [type(h).__name__ for h in slack.side.app.client.retry_handlers]
    assert "AsyncRateLimitErrorRetryHandler" not in handlers  # the outbox, not the SDK, retries a 429
    users = [f"U0S{i:04d}" for i in range(PEOPLE)]
    async with slack.bot.deps.uow() as uow:
        now = slack.clock.now()
        for i, user in enumerate(users):
            actor = slack.actor(user)
            if i % 2:  # half have a DM channel on record; the others need conversations.open first
                await uow.addresses.put(actor, slack.dm_channel(user), now)
            await uow.outbox.enqueue(actor, checkin(user), now)
        await uow.commit()
    slack.fake.fail_ratio("chat.postMessage", 0.6, retry_after=1, seed=11)
    slack.fake.fail_ratio("conversations.open", 0.3, retry_after=2, seed=12)

    ticks = await _drain_through_the_storm(slack, slack.clock)

    posts = slack.fake.calls_to("chat.postMessage")
    accepted = [c for c in posts if c.status == 200]
    limited_opens = [c for c in slack.fake.calls_to("conversations.open") if c.status == 429]
    assert Counter(c.params["channel"] for c in accepted) == Counter(slack.dm_channel(u) for u in users)
    for user in users:
        [call] = [c for c in accepted if c.params["channel"] == slack.dm_channel(user)]
        assert call.params["text"] == f"Did you meet this week, {user}?"
    assert sum(c.status == 429 for c in posts) > PEOPLE // 2 and ticks > 3, "the storm must really happen"
    rows = await _rows(slack)
    assert {r.state for r in rows} == {"sent"}
    # every attempt was exactly one request: no hidden retry inside the SDK, no attempt lost or doubled
    assert sum(r.attempts for r in rows) == len(posts) + len(limited_opens)
    assert {r.platform_ref for r in rows} == {f"msg:{TEAM}:{channel}:{ts}" for channel, ts in slack.fake.messages}


async def test_a_429_storm_on_teams_delivers_every_message_exactly_once(migrated_url: str) -> None:
    clock = FakeClock(datetime.now(UTC))
    users = [f"5a0e0000-0000-4000-8000-{i:012d}" for i in range(12)]
    async with FakeBotConnector() as connector, running_teams(migrated_url, connector, clock) as teams:
        for user in users:
            await teams.say("status", user=user)  # each person's 1:1 chat, and its reference, exist
        async with teams.bot.deps.uow() as uow:
            for user in users:
                await uow.outbox.enqueue(teams.actor(user), checkin(user), clock.now())
            await uow.commit()
        connector.calls.clear()
        connector.fail_ratio("reply", 0.6, retry_after=1, seed=5)

        await _drain_through_the_storm(teams, clock)

        for user in users:
            got = [a for a in connector.activities_to(conversation_of(user)) if f"this week, {user}" in json.dumps(a)]
            assert len(got) == 1, user
        replies = connector.calls_to("reply")
        assert any(c.status == 429 for c in replies)
        rows = await _rows(teams)
        assert {r.state for r in rows} == {"sent"}
        assert sum(r.attempts for r in rows) == len(replies)
