"""Nudges end to end on Teams: each side's own nudge as a card in their 1:1 chat, and the fit check a "Yes" brings."""

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
from tests.fakes.bot_connector import FakeBotConnector
from tests.fakes.memory import FakeClock
from tests.integration.teams_harness import ADMIN, TeamsHarness, conversation_of, running_teams

START = datetime(2027, 3, 1, 7, 0, tzinfo=UTC)  # a Monday, 08:00 in Paris and Berlin
BOB = "b0b00000-0000-4000-8000-000000000003"  # the junior: the mentor, in Berlin
ALICE = "a11ce000-0000-4000-8000-000000000001"  # the senior: the mentee, in Paris


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def teams(migrated_url: str, connector: FakeBotConnector, clock: FakeClock) -> AsyncIterator[TeamsHarness]:
    async with running_teams(migrated_url, connector, clock) as harness:
        yield harness


def _text_of(card: dict[str, Any]) -> str:
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "TextBlock":
                out.append(str(node.get("text", "")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card.get("body", []))
    return "\n".join(out)


def _cards(teams: TeamsHarness, user: str, words: str) -> list[dict[str, Any]]:
    return [c for c in teams.cards_to(user) if words in _text_of(c)]


def _action(card: dict[str, Any], title: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [a for a in card.get("actions", []) if a.get("title") == title]
    assert len(found) == 1, title
    return found[0]


async def _run_until(teams: TeamsHarness, clock: FakeClock, until: datetime) -> None:
    """The scheduler's ticks, from one due job to the next, up to `until`: run due jobs, deliver the outbox."""
    while True:
        async with teams.bot.db.connect() as conn:
            due = (await conn.execute(select(func.min(col(JobRow.due_at))).where(col(JobRow.state) == "pending"))
                   ).scalar()
        if due is None or due > until:
            break
        clock.set(max(due, clock.now()))
        await run_due_jobs(teams.bot.deps)
        await teams.bot.sender.drain()
    clock.set(until)
    await run_due_jobs(teams.bot.deps)
    await teams.bot.sender.drain()


async def test_nudges_reach_each_side_in_their_chat_and_a_re_pair_stays_confidential(
        teams: TeamsHarness, clock: FakeClock) -> None:
    await teams.say('admin cohort open "Spring 2027" --weeks 12', user=ADMIN)
    for user, name, role, level, tz in ((BOB, "Bob Brown", "mentor", "L2 Analyst", "Europe/Berlin"),
                                        (ALICE, "Alice Adams", "mentee", "L9 Vice President", "Europe/Paris")):
        status, _ = await teams.join(user, name=name, role=role, level=level, time_zone=tz,
                                     department=name.split()[0], topics_learn="GenAI",
                                     working_days="mon,tue,wed,thu,fri")
        assert status in (200, 201)
    await teams.say("admin cohort close-signup", user=ADMIN)
    await teams.say(f"admin pair teams:{BOB} teams:{ALICE}", user=ADMIN)
    assert _cards(teams, ADMIN, "Paired Bob Brown (mentor) with Alice Adams")
    await teams.bot.sender.drain()

    # a working day after the introduction, each gets the nudge for their side, at 09:00 their time
    await _run_until(teams, clock, START + timedelta(days=1))
    assert _cards(teams, BOB, "Before you meet") == []
    await _run_until(teams, clock, START + timedelta(days=1, hours=1))
    (bob_first,) = _cards(teams, BOB, "Before you meet Alice Adams")
    assert "You set the agenda." in _text_of(bob_first)
    (alice_first,) = _cards(teams, ALICE, "Before you meet Bob Brown")
    assert "Let Bob Brown set the agenda." in _text_of(alice_first)

    # two weeks on, the first check-in: Alice answers "Yes", and each of them gets the private fit check
    await _run_until(teams, clock, START + timedelta(days=15, hours=3))  # Tuesday, 11:00 in Berlin and Paris
    assert _cards(teams, ALICE, "How is it going") == []
    (question,) = _cards(teams, ALICE, "id you meet Bob Brown")
    status, _ = await teams.submit(_action(question, "Yes")["data"], user=ALICE, reply_to=question["_id"])
    assert status in (200, 201)
    await _run_until(teams, clock, clock.now())
    async with teams.bot.deps.uow() as uow:
        bob = await uow.people.by_actor(teams.actor(BOB))
        assert bob is not None
        (pair,) = await uow.pairs.active_of(bob.id)
    (alice_fit,) = _cards(teams, ALICE, "How is it going with Bob Brown?")
    (bob_fit,) = _cards(teams, BOB, "How is it going with Alice Adams?")
    assert "Bob Brown never sees your answer" in _text_of(alice_fit)

    # Alice asks for a new partner: the card turns into the answer, the admin gets the request, Bob nothing
    bob_before = len(teams.fake.activities_to(conversation_of(BOB)))
    repair = _action(alice_fit, "Not a fit: re-pair me")["data"]
    assert repair == {"mb_action": nudges.FIT_REPAIR, "mb_value": pair.id}
    status, _ = await teams.submit(repair, user=ALICE, reply_to=alice_fit["_id"])
    assert status in (200, 201)
    (card_now,) = [a for a in teams.fake.activities_to(conversation_of(ALICE)) if a.get("id") == alice_fit["_id"]]
    assert "It is nobody's fault, and Bob Brown is not told" in json.dumps(card_now)
    assert "Write to the admins" in json.dumps(card_now)
    assert "Not a fit: re-pair me" not in json.dumps(card_now)  # the buttons are gone: one answer
    await teams.bot.sender.drain()
    assert _cards(teams, ADMIN, "Alice Adams asks for a new partner, blame-free")
    assert len(teams.fake.activities_to(conversation_of(BOB))) == bob_before

    status, _ = await teams.submit(_action(bob_fit, "Going well")["data"], user=BOB, reply_to=bob_fit["_id"])
    assert status in (200, 201)
    (bob_card_now,) = [a for a in teams.fake.activities_to(conversation_of(BOB)) if a.get("id") == bob_fit["_id"]]
    assert "Glad to hear it." in json.dumps(bob_card_now)
