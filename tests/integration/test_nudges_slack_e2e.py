"""Nudges end to end on Slack: each side's own nudge in their DM, and the fit check a "Yes" brings, with its buttons."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from conversations import nudges
from conversations.jobs import run_due_jobs
from storage.models import JobRow
from tests.fakes.memory import FakeClock
from tests.fakes.slack_api import Call
from tests.integration.slack_harness import ADMIN, SlackHarness, blocks_problem, slack_harness

START = datetime(2027, 3, 1, 7, 0, tzinfo=UTC)  # a Monday, 08:00 in Paris and Berlin
BOB = "U0BOB0001"  # the junior: the mentor, in Berlin
ALICE = "U0ALICE01"  # the senior: the mentee, in Paris


@pytest.fixture
async def slack(migrated_url: str) -> AsyncIterator[SlackHarness]:
    async with slack_harness(migrated_url, FakeClock(START)) as harness:
        yield harness
        assert harness.fake.invalid == [], "every Block Kit payload must validate"


def _words(call: Call) -> str:
    return json.dumps(call.params["blocks"], ensure_ascii=False).replace("&amp;", "&")


def _button(call: Call, label: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [e for b in call.params["blocks"] if b["type"] == "actions" for e in b["elements"]
             if e["type"] == "button" and e["text"]["text"] == label]
    assert len(found) == 1, label
    return found[0]


async def _run_until(slack: SlackHarness, until: datetime) -> None:
    """The scheduler's ticks, from one due job to the next, up to `until`: run due jobs, deliver the outbox."""
    while True:
        async with slack.bot.db.connect() as conn:
            due = (await conn.execute(select(func.min(col(JobRow.due_at))).where(col(JobRow.state) == "pending"))
                   ).scalar()
        if due is None or due > until:
            break
        slack.clock.set(max(due, slack.clock.now()))
        await run_due_jobs(slack.bot.deps)
        await slack.bot.sender.drain()
    slack.clock.set(until)
    await run_due_jobs(slack.bot.deps)
    await slack.bot.sender.drain()


def _titles(slack: SlackHarness, user: str) -> list[str]:
    return [c.params["text"] for c in slack.posted_to(user)]


async def test_nudges_reach_each_side_in_their_dm_and_a_re_pair_stays_confidential(slack: SlackHarness) -> None:
    await slack.command('admin cohort open "Spring 2027" --weeks 12', user=ADMIN)
    for user, name, role, level, tz in ((BOB, "Bob Brown", "mentor", "L2 Analyst", "Europe/Berlin"),
                                        (ALICE, "Alice Adams", "mentee", "L9 Vice President", "Europe/Paris")):
        answer = await slack.join(user, name=name, role=role, level=level, tz=tz, department=name.split()[0])
        assert (answer.status, answer.text) == (200, ""), answer.text
    await slack.command("admin cohort close-signup", user=ADMIN)
    paired = await slack.command(f"admin pair slack:{BOB} slack:{ALICE}", user=ADMIN)
    assert "Paired Bob Brown (mentor) with Alice Adams" in paired.text
    await slack.bot.sender.drain()
    slack.fake.calls.clear()

    # a working day after the introduction, each gets the nudge for their side, at 09:00 their time
    await _run_until(slack, START + timedelta(days=1))
    assert _titles(slack, BOB) == [] and _titles(slack, ALICE) == []  # 08:00 local: not yet
    await _run_until(slack, START + timedelta(days=1, hours=1))
    (bob_first,) = slack.posted_to(BOB)
    assert bob_first.params["text"] == "Before you meet Alice Adams"
    assert "You set the agenda." in _words(bob_first) and "Meet on neutral ground" in _words(bob_first)
    (alice_first,) = slack.posted_to(ALICE)
    assert alice_first.params["text"] == "Before you meet Bob Brown"
    assert "Let Bob Brown set the agenda." in _words(alice_first)
    assert slack.posted_to(BOB, ALICE) == []  # nudges are private, never in the pair's group DM

    # two weeks on, the first check-in: Bob answers "Yes", and each of them gets the private fit check
    await _run_until(slack, START + timedelta(days=15, hours=3))  # Tuesday, 11:00 in Berlin and Paris
    (question,) = [c for c in slack.posted_to(BOB) if "id you meet" in c.params["text"]]
    yes = _button(question, "Yes")
    await slack.click(yes["action_id"], yes["value"], user=BOB, name="yes")
    assert (await slack.fake.wait_for("response_url:yes"))[0].params["text"] == "Recorded: you met. Well done!"
    await _run_until(slack, slack.clock.now())
    bob_fit, alice_fit = slack.posted_to(BOB)[-1], slack.posted_to(ALICE)[-1]
    assert bob_fit.params["text"] == "How is it going with Alice Adams?"
    assert "Alice Adams never sees your answer" in _words(bob_fit)
    assert alice_fit.params["text"] == "How is it going with Bob Brown?"

    # Alice asks for a new partner: a confidential request to the admin; Bob hears nothing of it
    repair = _button(alice_fit, "Not a fit: re-pair me")
    assert repair["action_id"].split("|")[0] == nudges.FIT_REPAIR
    before_bob = len(slack.fake.calls_to("chat.postMessage"))
    await slack.click(repair["action_id"], repair["value"], user=ALICE, name="repair")
    (replaced,) = await slack.fake.wait_for("response_url:repair")
    assert replaced.params["replace_original"] is True
    assert blocks_problem(replaced.params["blocks"]) is None
    assert "It is nobody's fault, and Bob Brown is not told" in replaced.params["text"]
    assert "Only the program admins see this" in json.dumps(replaced.params["blocks"])
    assert [e["text"]["text"] for b in replaced.params["blocks"] if b["type"] == "actions"
            for e in b["elements"]] == ["Write to the admins"]
    await slack.bot.sender.drain()
    (to_admin,) = [c for c in slack.posted_to(ADMIN) if "Confidential" in c.params["text"]]
    assert to_admin.params["text"].startswith("Confidential: Alice Adams asks for a new partner, blame-free")
    assert len(slack.posted_to(BOB)) == 3  # still only his two nudges and his check-in
    assert all("Alice Adams asks" not in c.params["text"] for c in slack.fake.calls_to("chat.postMessage")[
        before_bob:] if c.params.get("channel") == slack.dm_channel(BOB))

    async with slack.bot.deps.uow() as uow:
        bob = await uow.people.by_actor(slack.actor(BOB))
        assert bob is not None
        (pair,) = await uow.pairs.active_of(bob.id)
    good = _button(bob_fit, "Going well")
    await slack.click(good["action_id"], good["value"], user=BOB, name="good")
    (glad,) = await slack.fake.wait_for("response_url:good")
    assert glad.params["text"] == "Glad to hear it. Enjoy the next one."
    async with slack.bot.deps.uow() as uow:
        assert len(await uow.help.of_person(bob.id)) == 0
        stored = await uow.nudges.of_pair(pair.id)
    assert sorted((n.trigger, n.sent_day) for n in stored if n.person_id == bob.id) == [
        ("after_first_meeting", "2027-03-16"), ("before_first_meeting", "2027-03-02")]
