"""Slack end to end: signed real-shaped requests to the real server, a fake Slack Web API, a real database."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from tests.fakes.memory import FakeClock
from tests.integration.slack_harness import ADMIN, TEAM, SlackHarness, payload, signature_headers, slack_harness


@pytest.fixture
async def slack(migrated_url: str) -> AsyncIterator[SlackHarness]:
    async with slack_harness(migrated_url, FakeClock(datetime.now(UTC))) as harness:
        yield harness
        assert harness.fake.invalid == [], "every Block Kit payload must validate"


async def _person_count(slack: SlackHarness) -> int:
    async with slack.bot.deps.uow() as uow:
        return len(await uow.people.in_workspace("slack", TEAM))


async def test_url_verification_echoes_the_challenge(slack: SlackHarness) -> None:
    body = payload("url_verification")
    answer = await slack.post(json.dumps(body), "application/json")
    assert answer.status == 200
    assert body["challenge"] in answer.text


@pytest.mark.parametrize("case", ["missing", "wrong secret", "stale"])
async def test_a_badly_signed_request_gets_401_and_touches_nothing(slack: SlackHarness, case: str) -> None:
    form = urlencode({**payload("slash_command"), "text": "join", "team_id": TEAM})
    headers = {
        "missing": {},
        "wrong secret": signature_headers(form, secret="not-the-secret"),
        "stale": signature_headers(form, timestamp=int(time.time()) - 6 * 60),
    }[case]
    answer = await slack.post(form, "application/x-www-form-urlencoded", signed=False, extra=headers)
    assert answer.status == 401
    await asyncio.sleep(0.05)
    assert slack.fake.calls == []
    assert await _person_count(slack) == 0


async def test_help_is_an_ephemeral_reply_riding_on_the_ack(slack: SlackHarness) -> None:
    answer = await slack.command("help")
    assert answer.status == 200
    body = answer.json()
    assert body["response_type"] == "ephemeral"
    assert "/mentor join" in json.dumps(body["blocks"])
    assert slack.fake.calls_to("chat.postMessage") == []


async def test_an_unknown_subcommand_gets_help_with_the_nearest_command(slack: SlackHarness) -> None:
    body = (await slack.command("stauts")).json()
    assert "Did you mean `/mentor status`?" in json.dumps(body)


async def test_join_opens_the_signup_modal_prefilled_from_slack(slack: SlackHarness) -> None:
    slack.fake.add_user("U0STEVE", name="Steve Jobs", tz="America/Los_Angeles")
    answer = await slack.command("join")
    assert answer.status == 200
    opened = await slack.fake.wait_for("views.open")
    view = opened[0].params["view"]
    assert opened[0].params["trigger_id"] == "trigger.1"
    assert view["callback_id"] == "signup"
    blocks = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert blocks["time_zone"]["element"]["type"] == "external_select"
    assert blocks["time_zone"]["element"]["initial_option"]["value"] == "America/Los_Angeles"
    assert blocks["name"]["element"]["initial_value"] == "Steve Jobs"


async def test_time_zone_type_ahead_serves_matching_zones(slack: SlackHarness) -> None:
    body = payload("block_suggestion_time_zone")
    body["value"] = "new_y"
    body["team"]["id"] = TEAM
    answer = await slack.interactive(body)
    assert answer.status == 200
    values = [o["value"] for o in answer.json()["options"]]
    assert values[0] == "America/New_York"


async def test_signup_through_the_modal_stores_the_profile_and_confirms_by_dm(slack: SlackHarness) -> None:
    answer = await slack.join("U0STEVE", name="Steve", tz="Europe/Berlin")
    assert answer.status == 200
    assert answer.text == ""  # closes the modal
    posted = await slack.fake.wait_for("chat.postMessage")
    assert "Welcome, Steve!" in posted[0].params["text"]
    assert [c.params["users"] for c in slack.fake.calls_to("conversations.open")] == ["U0STEVE"]
    async with slack.bot.deps.uow() as uow:
        person = await uow.people.by_actor(slack.actor("U0STEVE"))
    assert person is not None and person.profile.time_zone == "Europe/Berlin"


async def test_a_validation_error_comes_back_in_the_modal_per_field(slack: SlackHarness) -> None:
    answer = await slack.join("U0STEVE", name="x" * 81, tz="Mars/Olympus_Mons", topics_teach=[])
    assert answer.status == 200
    body = answer.json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {"name", "time_zone", "topics_teach"}
    assert "at most 80" in body["errors"]["name"]
    assert await _person_count(slack) == 0
    assert slack.fake.calls_to("chat.postMessage") == []


async def test_leave_asks_then_a_click_erases_and_replaces_the_message(slack: SlackHarness) -> None:
    await slack.join("U0STEVE", name="Steve")
    asked = (await slack.command("leave")).json()
    buttons = [e for b in asked["blocks"] if b["type"] == "actions" for e in b["elements"]]
    confirm = next(b for b in buttons if b["action_id"].startswith("leave.confirm"))
    answer = await slack.click(confirm["action_id"], confirm.get("value", ""), name="leave")
    assert answer.status == 200
    replaced = await slack.fake.wait_for("response_url:leave")
    assert replaced[0].params["replace_original"] is True
    assert "your data is deleted" in replaced[0].params["text"]
    assert await _person_count(slack) == 0


async def test_two_clicks_in_flight_on_the_same_button_record_one_answer(slack: SlackHarness) -> None:
    await slack.join("U0STEVE", name="Steve")
    await slack.command('admin cohort open "Spring" --weeks 8', user=ADMIN)
    async with slack.bot.deps.uow() as uow:
        cohort = await uow.cohorts.current("slack", TEAM)
        assert cohort is not None
        # steve signed up before: he was invited, not enrolled
        assert await uow.cohorts.members(cohort.id) == []
    first, second = await asyncio.gather(
        slack.click("cohort.join|0", cohort.id, name="a"), slack.click("cohort.join|0", cohort.id, name="b"))
    assert first.status == second.status == 200
    replies = (await slack.fake.wait_for("response_url:a")) + (await slack.fake.wait_for("response_url:b"))
    async with slack.bot.deps.uow() as uow:
        assert len(await uow.cohorts.members(cohort.id)) == 1
    texts = sorted(r.params["text"] for r in replies)
    assert texts == ["You were already in 'Spring'.", "You're in the cohort 'Spring'."]


async def test_app_home_shows_status_and_the_admin_overview(slack: SlackHarness) -> None:
    await slack.event("event_app_home_opened", event_id="Ev01", user=ADMIN)
    published = await slack.fake.wait_for("views.publish")
    assert published[0].params["user_id"] == ADMIN
    text = json.dumps(published[0].params["view"])
    assert "Program admin" in text and "Join" in text


async def test_a_retried_event_does_not_double_its_effect(slack: SlackHarness) -> None:
    await slack.event("event_message_im", event_id="Ev42", text="status")
    await slack.event("event_message_im", event_id="Ev42", text="status", retry=1)
    await slack.fake.wait_for("chat.postMessage")
    await asyncio.sleep(0.2)
    assert len(slack.fake.calls_to("chat.postMessage")) == 1


async def test_uninstalling_marks_the_workspace_unreachable(slack: SlackHarness) -> None:
    await slack.join("U0STEVE", name="Steve")
    await slack.event("event_app_uninstalled", event_id="Ev77")
    for _ in range(50):
        async with slack.bot.deps.uow() as uow:
            person = await uow.people.by_actor(slack.actor("U0STEVE"))
        if person is not None and person.status == "unreachable":
            break
        await asyncio.sleep(0.02)
    assert person is not None and person.status == "unreachable"


async def test_a_429_storm_while_the_outbox_drains_loses_and_doubles_nothing(slack: SlackHarness) -> None:
    people = [f"U0P{i:03d}" for i in range(12)]
    for user in people:
        await slack.join(user, name=f"Person {user}")
    await slack.fake.wait_for("chat.postMessage", count=len(people))
    slack.fake.calls.clear()
    await slack.command('admin cohort open "Storm" --weeks 6', user=ADMIN)
    slack.fake.fail_ratio("chat.postMessage", 0.5, retry_after=1, seed=7)
    for _ in range(40):
        await slack.bot.sender.drain()
        async with slack.bot.deps.uow() as uow:
            if await uow.outbox.pending_count() == 0:
                break
        slack.clock.advance(seconds=60)
    delivered = [c for c in slack.fake.calls_to("chat.postMessage") if c.status == 200]
    assert sorted(c.params["channel"] for c in delivered) == sorted(
        {c.params["channel"] for c in delivered})  # one each, no duplicate
    assert len(delivered) == len(people)
    assert any(c.status == 429 for c in slack.fake.calls_to("chat.postMessage"))


async def test_a_person_gone_from_slack_is_unreachable_and_admins_are_told_once(slack: SlackHarness) -> None:
    await slack.join("U0GONE", name="Gone Person")
    await slack.command('admin cohort open "Ghosts"', user=ADMIN)
    slack.fake.calls.clear()
    slack.fake.fail("chat.postMessage", times=1, status=200, error="account_inactive")
    await slack.bot.sender.drain()
    await slack.bot.sender.drain()
    async with slack.bot.deps.uow() as uow:
        person = await uow.people.by_actor(slack.actor("U0GONE"))
    assert person is not None and person.status == "unreachable"
    told = [c for c in slack.fake.calls_to("chat.postMessage") if "can no longer reach Gone Person" in
            c.params.get("text", "")]
    assert len(told) == 1


@pytest.mark.parametrize(("body", "content_type"), [
    ("payload={bad", "application/x-www-form-urlencoded"),
    ("payload=%5B%5D", "application/x-www-form-urlencoded"),
    ("{bad json", "application/json"),
])
async def test_a_malformed_payload_gets_400_when_signed_and_401_when_not(slack: SlackHarness, body: str,
                                                                         content_type: str) -> None:
    signed = await slack.post(body, content_type)
    assert signed.status == 400
    assert "not a Slack payload" in signed.text
    unsigned = await slack.post(body, content_type, signed=False)
    assert unsigned.status == 401
    assert slack.fake.calls == []
    assert await _person_count(slack) == 0
