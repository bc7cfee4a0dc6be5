"""Check-ins end to end on Slack: the scheduled round reaches each person's DM in their own Tuesday-Thursday
slot, a Yes click replaces the buttons and opens the modal, the note and progress are saved; a second click
records nothing more. Real slack-bolt app over loopback HTTP, fake Slack Web API, real database."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from conversations.jobs import run_due_jobs
from conversations.model import Objective
from storage.models import JobRow
from tests.fakes.memory import FakeClock
from tests.fakes.slack_api import Call
from tests.integration.slack_harness import ADMIN, Answer, SlackHarness, blocks_problem, slack_harness

BOB, ALICE = "U0BOB0001", "U0ALICE01"
START = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
async def slack(migrated_url: str) -> AsyncIterator[SlackHarness]:
    async with slack_harness(migrated_url, FakeClock(START)) as harness:
        yield harness
        assert harness.fake.invalid == [], "every Block Kit payload must validate"


def _shown(answer: Answer) -> str:
    assert answer.status == 200
    body = answer.json()
    assert blocks_problem(body["blocks"]) is None
    return json.dumps(body["blocks"], ensure_ascii=False)


def _button(call: Call, label: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [e for b in call.params["blocks"] if b["type"] == "actions" for e in b["elements"]
             if e["type"] == "button" and e["text"]["text"] == label]
    assert len(found) == 1, call.params["blocks"]
    return found[0]


async def _run_until(slack: SlackHarness, until: datetime) -> None:
    """The scheduler's ticks, from one due job to the next, up to `until`."""
    clock = slack.clock
    while True:
        async with AsyncSession(slack.bot.db) as session:
            due = (await session.execute(
                select(func.min(col(JobRow.due_at))).where(col(JobRow.state) == "pending"))).scalar()
        if due is None or due > until:
            break
        clock.set(max(due, clock.now()))
        await run_due_jobs(slack.bot.deps)
        await slack.bot.sender.drain()
    clock.set(until)


def _questions(slack: SlackHarness, user: str) -> list[Call]:
    return [c for c in slack.posted_to(user) if "id you meet" in c.params["text"]]


async def test_a_scheduled_check_in_is_answered_yes_with_a_note_and_progress_on_slack(slack: SlackHarness) -> None:
    opened = await slack.command("admin cohort open Spring --weeks 12 --cadence biweekly", user=ADMIN)
    assert "is open for sign-up" in _shown(opened)
    for user, name, role, level, tz in ((BOB, "Bob Brown", "mentor", "L2 Analyst", "Europe/Paris"),
                                        (ALICE, "Alice Adams", "mentee", "L9 Vice President", "America/New_York")):
        answer = await slack.join(user, name=name, role=role, level=level, tz=tz, department=name.split()[0])
        assert (answer.status, answer.text) == (200, ""), answer.text
    assert "the cohort is running" in _shown(await slack.command("admin cohort close-signup", user=ADMIN))
    assert "Paired Bob Brown" in _shown(await slack.command(f"admin pair slack:{BOB} slack:{ALICE}", user=ADMIN))
    async with slack.bot.deps.uow() as uow:
        bob = await uow.people.by_actor(slack.actor(BOB))
        assert bob is not None
        (pair,) = await uow.pairs.active_of(bob.id)
        objective = Objective(id=uuid.uuid4().hex, pair_id=pair.id, text="Ship one GenAI prototype",
                              proposed_by=bob.id, agreed=True)
        await uow.objectives.add(objective)
        await uow.commit()

    await _run_until(slack, START + timedelta(days=16, hours=8))  # round 1 is two weeks after the pair started
    (bob_q,) = _questions(slack, BOB)
    (alice_q,) = _questions(slack, ALICE)
    assert bob_q.params["text"] == "Did you meet Alice Adams since Mon 1 Mar?"
    assert alice_q.params["text"] == "Did you meet Bob Brown since Mon 1 Mar?"
    async with slack.bot.deps.uow() as uow:
        sent = {c.person_id: c.sent_at for c in await uow.checkins.of_pair(pair.id)}
    bob_sent = sent[bob.id]
    assert bob_sent is not None and bob_sent.astimezone(ZoneInfo("Europe/Paris")).strftime("%a %H:%M") == "Tue 10:00"
    assert [e["text"]["text"] for b in bob_q.params["blocks"] if b["type"] == "actions" for e in b["elements"]] == [
        "Yes", "Rescheduled", "Not yet", "I need help"]

    modals = len(slack.fake.calls_to("views.open"))  # the sign-up forms
    yes = _button(bob_q, "Yes")
    assert yes["action_id"].split("|")[0] == "checkin.answer"
    clicked = await slack.click(yes["action_id"], yes["value"], user=BOB, name="yes")
    assert clicked.status == 200
    (replaced,) = await slack.fake.wait_for("response_url:yes")
    assert replaced.params["replace_original"] is True
    assert replaced.params["text"] == "Recorded: you met. Well done!"
    assert blocks_problem(replaced.params["blocks"]) is None
    opened_modal = (await slack.fake.wait_for("views.open", count=modals + 1))[-1]
    view = opened_modal.params["view"]
    assert view["callback_id"] == "checkin.details"
    fields = [b["block_id"] for b in view["blocks"] if b["type"] == "input"]
    assert fields == ["note", f"progress_{objective.id}"]
    submitted = await slack.submit(view, {"note": "We met over lunch.", f"progress_{objective.id}": "2"}, user=BOB)
    assert (submitted.status, submitted.text) == (200, "")
    await slack.side.listeners.drain()

    again = await slack.click(yes["action_id"], yes["value"], user=BOB, name="again")
    assert again.status == 200
    (second,) = await slack.fake.wait_for("response_url:again")
    assert second.params["text"] == "Recorded already: you met."
    assert len(slack.fake.calls_to("views.open")) == modals + 1  # no second form

    not_mine = await slack.click(yes["action_id"], yes["value"], user=ALICE, name="intruder")
    assert not_mine.status == 200
    (refused,) = await slack.fake.wait_for("response_url:intruder")
    assert "someone else's" in refused.params["text"] and not refused.params.get("replace_original")

    async with slack.bot.deps.uow() as uow:
        checkins = {c.person_id: c for c in await uow.checkins.of_pair(pair.id)}
        (stored,) = await uow.objectives.of_pair(pair.id)
    assert (checkins[bob.id].answer, checkins[bob.id].note) == ("yes", "We met over lunch.")
    assert checkins[bob.id].progress == ((objective.id, 2),)
    assert stored.progress == 2
    (alice_checkin,) = [c for p, c in checkins.items() if p != bob.id]
    assert alice_checkin.answer is None  # Alice's own check-in is untouched
    await _run_until(slack, START + timedelta(days=30))
    reminders = [c for c in slack.posted_to(BOB) if c.params["text"].startswith("A gentle reminder")]
    assert reminders == []  # answered: no reminder for Bob
    assert [c.params["text"] for c in slack.posted_to(ALICE) if "gentle reminder" in c.params["text"]] == [
        "A gentle reminder: did you meet Bob Brown since Mon 1 Mar?"]
