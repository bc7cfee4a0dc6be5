"""Check-ins end to end on Teams: the scheduled round reaches each 1:1 chat in the person's own slot, Yes turns the
card into its outcome and sends the details card, whose note and progress are saved; "I need help" reaches the
admins only and `admin reply` reaches the person. Real botbuilder adapter over loopback HTTP, fake Bot Connector,
Adaptive Cards checked against the official 1.5 schema, real database."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from conversations.jobs import run_due_jobs
from conversations.model import Objective
from storage.models import JobRow
from tests.fakes.bot_connector import FakeBotConnector
from tests.fakes.memory import FakeClock
from tests.integration.teams_harness import (
    ADMIN,
    TeamsHarness,
    card_words,
    conversation_of,
    running_teams,
)

BOB = "b0b00000-0000-4000-8000-000000000003"
ALICE = "a11ce000-0000-4000-8000-000000000001"
START = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def teams(migrated_url: str, connector: FakeBotConnector, clock: FakeClock) -> AsyncIterator[TeamsHarness]:
    async with running_teams(migrated_url, connector, clock) as harness:
        yield harness


def _saying(teams: TeamsHarness, user: str, words: str) -> list[dict[str, Any]]:
    return [c for c in teams.cards_to(user) if words in card_words(c)]


def _action(card: dict[str, Any], title: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [a for a in card.get("actions", []) if a.get("title") == title]
    assert len(found) == 1, [a.get("title") for a in card.get("actions", [])]
    return found[0]


async def _run_until(teams: TeamsHarness, clock: FakeClock, until: datetime) -> None:
    while True:
        async with AsyncSession(teams.bot.db) as session:
            due = (await session.execute(
                select(func.min(col(JobRow.due_at))).where(col(JobRow.state) == "pending"))).scalar()
        if due is None or due > until:
            break
        clock.set(max(due, clock.now()))
        await run_due_jobs(teams.bot.deps)
        await teams.bot.sender.drain()
    clock.set(until)


async def _say(teams: TeamsHarness, text: str, *, user: str) -> str:
    """Type to the bot; returns what it answered in that turn, plain text and cards alike."""
    before = len(teams.fake.activities_to(conversation_of(user)))
    status, _ = await teams.say(text, user=user)
    assert status in (200, 201)
    said = []
    for activity in teams.fake.activities_to(conversation_of(user))[before:]:
        said.append(str(activity.get("text") or ""))
        said += [card_words(a["content"]) for a in activity.get("attachments") or []]
    return "\n".join(said)


async def test_a_check_in_is_answered_and_help_stays_between_person_and_admins_on_teams(
        teams: TeamsHarness, clock: FakeClock) -> None:
    assert "is open for sign-up" in await _say(teams, "admin cohort open Spring --weeks 12 --cadence biweekly",
                                               user=ADMIN)
    for user, name, role, level, tz, topics in (
            (BOB, "Bob Brown", "mentor", "L2 Analyst", "Europe/Berlin", {"topics_teach": "GenAI"}),
            (ALICE, "Alice Adams", "mentee", "L9 Vice President", "Asia/Kolkata",
             {"topics_teach": "", "topics_learn": "GenAI"})):
        status, _ = await teams.join(user, name=name, role=role, level=level, department=name.split()[0],
                                     time_zone=tz, working_days="mon,tue,wed,thu,fri", **topics)
        assert status in (200, 201)
    assert "the cohort is running" in await _say(teams, "admin cohort close-signup", user=ADMIN)
    assert "Paired Bob Brown" in await _say(teams, f"admin pair teams:{BOB} teams:{ALICE}", user=ADMIN)
    async with teams.bot.deps.uow() as uow:
        bob = await uow.people.by_actor(teams.actor(BOB))
        assert bob is not None
        (pair,) = await uow.pairs.active_of(bob.id)
        objective = Objective(id=uuid.uuid4().hex, pair_id=pair.id, text="Ship one GenAI prototype",
                              proposed_by=bob.id, agreed=True)
        await uow.objectives.add(objective)
        await uow.commit()
    await teams.bot.sender.drain()
    admin_cards = len(teams.cards_to(ADMIN))

    # round 1, two weeks on: Tuesday 10:00 in Kolkata (04:30 UTC) comes before Tuesday 10:00 in Berlin (09:00 UTC)
    await _run_until(teams, clock, datetime(2027, 3, 16, 6, 0, tzinfo=UTC))
    (alice_q,) = _saying(teams, ALICE, "Did you meet")
    assert _saying(teams, BOB, "Did you meet") == []
    await _run_until(teams, clock, datetime(2027, 3, 16, 10, 0, tzinfo=UTC))
    (bob_q,) = _saying(teams, BOB, "Did you meet")
    assert card_words(bob_q).startswith("Did you meet Alice Adams since Mon 1 Mar?")
    assert [a["title"] for a in bob_q["actions"]] == ["Yes", "Rescheduled", "Not yet", "I need help"]

    # Bob: Yes, then the details card
    before = len(teams.cards_to(BOB))
    status, _ = await teams.submit(_action(bob_q, "Yes")["data"], user=BOB, reply_to=bob_q["_id"])
    assert status in (200, 201)
    (bob_q_now,) = [a for a in teams.fake.activities_to(conversation_of(BOB)) if a.get("id") == bob_q["_id"]]
    assert "Recorded: you met. Well done!" in json.dumps(bob_q_now) and "I need help" not in json.dumps(bob_q_now)
    (details,) = teams.cards_to(BOB)[before:]
    assert [b["id"] for b in details["body"] if str(b.get("type", "")).startswith("Input.")] == [
        "note", f"progress_{objective.id}"]
    save = _action(details, "Save")
    status, _ = await teams.submit({**save["data"], "note": "Coffee and a demo.", f"progress_{objective.id}": "4"},
                                   user=BOB, reply_to=details["_id"])
    assert status in (200, 201)
    async with teams.bot.deps.uow() as uow:
        checkins = {c.person_id: c for c in await uow.checkins.of_pair(pair.id)}
        (stored,) = await uow.objectives.of_pair(pair.id)
    assert (checkins[bob.id].answer, checkins[bob.id].note, stored.progress) == ("yes", "Coffee and a demo.", 4)

    # Alice: I need help; the admin answers through the bot; Bob sees none of it
    bob_seen = len(teams.fake.activities_to(conversation_of(BOB)))
    status, _ = await teams.submit(_action(alice_q, "I need help")["data"], user=ALICE, reply_to=alice_q["_id"])
    assert status in (200, 201)
    (alice_q_now,) = [a for a in teams.fake.activities_to(conversation_of(ALICE)) if a.get("id") == alice_q["_id"]]
    assert "only the program admins see this" in json.dumps(alice_q_now).lower()
    await teams.bot.sender.drain()
    (request,) = [c for c in teams.cards_to(ADMIN)[admin_cards:] if "Confidential" in card_words(c)]
    found = re.search(r"request ([A-Z0-9]{5})\)", card_words(request))
    assert found is not None and "Alice Adams asks for help" in card_words(request)
    assert _action(request, "Reply")["data"]["mb_action"] == "help.reply"
    assert "Sent to Alice Adams." in await _say(teams, f"admin reply {found.group(1)} We can talk at 11.",
                                                user=ADMIN)
    await teams.bot.sender.drain()
    (answer,) = _saying(teams, ALICE, "A program admin answered your request")
    assert "We can talk at 11." in card_words(answer)
    assert len(teams.fake.activities_to(conversation_of(BOB))) == bob_seen  # the partner got nothing
    assert all(found.group(1) not in card_words(c) for c in teams.cards_to(BOB))
