"""Reports and exports end to end: the real Slack and Teams adapters over loopback HTTP, a real database."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.fakes.bot_connector import FakeBotConnector
from tests.fakes.memory import FakeClock
from tests.integration import slack_harness as slack_side
from tests.integration import teams_harness as teams_side
from tests.integration.slack_harness import SlackHarness, slack_harness
from tests.integration.teams_harness import TeamsHarness, card_problem, conversation_of, running_teams
from tests.report_seed import COHORT, seed_cohort
from tests.unit.test_reports import png_size

PNG_NAME = "report-spring-2027.png"


@pytest.fixture
async def slack(migrated_url: str) -> AsyncIterator[SlackHarness]:
    async with slack_harness(migrated_url, FakeClock(datetime.now(UTC))) as harness:
        await seed_cohort(harness.bot.deps.uow, platform="slack", workspace=slack_side.TEAM, now=datetime.now(UTC))
        yield harness
        assert harness.fake.invalid == [], "every Block Kit payload must validate"


@pytest.fixture
async def teams(migrated_url: str, connector: FakeBotConnector) -> AsyncIterator[TeamsHarness]:
    async with running_teams(migrated_url, connector, FakeClock(datetime.now(UTC))) as harness:
        await seed_cohort(harness.bot.deps.uow, platform="teams", workspace=teams_side.TENANT, now=datetime.now(UTC))
        yield harness


def _blocks_text(call_params: dict[str, Any]) -> str:
    return json.dumps(call_params["blocks"], ensure_ascii=False)


async def test_slack_admin_report_arrives_by_dm_with_the_chart_uploaded_as_a_file(slack: SlackHarness) -> None:
    answer = await slack.command("admin report", user=slack_side.ADMIN)
    assert answer.status == 200
    # a quick report rides on the ack as a note; a slow one (the first chart loads matplotlib) acks empty first
    assert answer.json() in (None, {"response_type": "ephemeral",
                                    "text": "I sent it to you by DM: a reply here cannot carry files."})
    channel = slack.dm_channel(slack_side.ADMIN)
    [post] = [c for c in slack.fake.calls_to("chat.postMessage") if c.params["channel"] == channel]
    text = _blocks_text(post.params)
    assert f"Report for '{COHORT}' (running)" in text
    assert "Everyone: 12 answers, safety 4.5/5" in text and "Mentors: not enough answers yet" in text
    methods = [c.method.split(":")[0] for c in slack.fake.calls if c.method.startswith(("files.", "upload"))]
    assert methods == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]
    [ask] = slack.fake.calls_to("files.getUploadURLExternal")
    assert ask.params["filename"] == PNG_NAME and ask.params["alt_txt"].startswith("Meeting rate per check-in round")
    [png] = slack.fake.uploads.values()
    assert png_size(png) == (1000, 460) and int(ask.params["length"]) == len(png)
    [done] = slack.fake.calls_to("files.completeUploadExternal")
    assert done.params["channel_id"] == channel and done.error is None


async def test_slack_admin_export_uploads_two_csv_files_and_a_non_admin_gets_none(slack: SlackHarness) -> None:
    refused = await slack.command("admin export", user="U0MALLORY")
    assert "Only program admins" in refused.text
    assert slack.fake.calls_to("files.getUploadURLExternal") == []
    await slack.command(f"admin export {COHORT}", user=slack_side.ADMIN)
    names = [c.params["filename"] for c in slack.fake.calls_to("files.getUploadURLExternal")]
    assert names == ["report-spring-2027-aggregates.csv", "report-spring-2027-pairs.csv"]
    aggregates, pairs = slack.fake.uploads.values()
    assert b"participation,,,signed_up,13\r\n" in aggregates and b"TikTok" not in aggregates
    assert b"Ada Park,Grace Liu,active" in pairs


def _activities(teams: TeamsHarness, user: str) -> list[dict[str, Any]]:
    return teams.fake.activities_to(conversation_of(user))


def _picture(activity: dict[str, Any]) -> bytes:
    """The chart's bytes, wherever Teams got it: an Image inside the card or an inline image beside it."""
    for attachment in activity["attachments"]:
        if attachment["contentType"] == "image/png":
            url = attachment["contentUrl"]
            break
    else:
        card = activity["attachments"][0]["content"]
        url = next(node["url"] for node in card["body"] if node["type"] == "Image")
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    return base64.b64decode(url.removeprefix(prefix))


async def test_teams_admin_report_is_a_valid_card_with_the_chart(teams: TeamsHarness) -> None:
    status, _ = await teams.say("admin report", user=teams_side.ADMIN)
    assert status in (200, 201)
    [activity] = [a for a in _activities(teams, teams_side.ADMIN) if "Report for" in json.dumps(a)]
    card = activity["attachments"][0]["content"]
    assert card_problem(card) is None
    words = json.dumps(card, ensure_ascii=False)
    assert "Everyone: 7 answers, safety 2.6/5" in words and "below the target of 3.5" in words
    assert png_size(_picture(activity)) == (1000, 460)


async def test_teams_admin_export_explains_that_files_cannot_be_attached(teams: TeamsHarness) -> None:
    await teams.say("admin export", user=teams_side.ADMIN)
    texts = " ".join(json.dumps(a, ensure_ascii=False) for a in _activities(teams, teams_side.ADMIN))
    assert "report-spring-2027-aggregates.csv" in texts and "cannot be attached in Teams" in texts
    assert "signed_up" not in texts  # the file's content is not pasted into the chat
