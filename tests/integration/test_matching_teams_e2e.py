"""Matching end to end on Teams: card sign-ups, preview and confirm by typed message, intros, objectives."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.fakes.bot_connector import FakeBotConnector
from tests.fakes.memory import FakeClock
from tests.integration.teams_harness import (
    ADMIN,
    TENANT,
    TeamsHarness,
    card_words,
    conversation_of,
    running_teams,
)

COHORT = "Spring 2027"
TIKTOK = "TikTok & short video"


@dataclass(frozen=True)
class Someone:
    user: str  # the AAD object id
    name: str
    role: str
    level: str
    department: str
    tz: str
    teach: str = ""
    learn: str = ""


ALICE = Someone("a11ce000-0000-4000-8000-000000000001", "Alice Adams", "mentee", "L9 Vice President", "Leadership",
                "Europe/Paris", learn="GenAI")
DAVE = Someone("da7e0000-0000-4000-8000-000000000002", "Dave Diaz", "mentee", "L8 Director", "Sales",
               "Europe/London", learn=TIKTOK)
BOB = Someone("b0b00000-0000-4000-8000-000000000003", "Bob Brown", "mentor", "L2 Analyst", "Engineering",
              "Europe/Berlin", teach="GenAI")
CAROL = Someone("ca201000-0000-4000-8000-000000000004", "Carol Chen", "mentor", "L1 Associate", "Design",
                "Europe/Madrid", teach=TIKTOK)
ERIN = Someone("e2100000-0000-4000-8000-000000000005", "Erin Evans", "mentor", "L9 Vice President", "Finance",
               "Europe/Rome", teach="GenAI")
PAIRS = ((BOB, ALICE), (CAROL, DAVE))  # the clear optimum: each mentor teaches exactly what one mentee wants

OBJECTIVES = ("Ship one internal GenAI prototype with the team by week 6",
              "Write prompts that cut the weekly sales report to ten minutes")


@pytest.fixture
async def teams(migrated_url: str, connector: FakeBotConnector) -> AsyncIterator[TeamsHarness]:
    async with running_teams(migrated_url, connector, FakeClock(datetime.now(UTC))) as harness:
        yield harness


def _action(card: dict[str, Any], title: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [a for a in card.get("actions", []) if a.get("title") == title]
    assert len(found) == 1, f"{title!r} in {[a.get('title') for a in card.get('actions', [])]}"
    return found[0]


def _cards_saying(teams: TeamsHarness, who: Someone | str, words: str) -> list[dict[str, Any]]:
    user = who if isinstance(who, str) else who.user
    return [c for c in teams.cards_to(user) if words in card_words(c)]


async def _say(teams: TeamsHarness, text: str, *, user: str) -> dict[str, Any]:
    """Type to the bot in the 1:1 chat; returns the one card it answers with in that turn."""
    before = len(teams.cards_to(user))
    status, _ = await teams.say(text, user=user)
    assert status in (200, 201)
    new = teams.cards_to(user)[before:]
    assert len(new) == 1, [(card_words(c)[:80]) for c in new]
    return new[0]


async def _sign_up_everyone(teams: TeamsHarness) -> None:
    opened = await _say(teams, f'admin cohort open "{COHORT}" --weeks 12 --cadence biweekly', user=ADMIN)
    assert f"Cohort '{COHORT}' is open for sign-up." in card_words(opened)
    for who in (ALICE, DAVE, BOB, CAROL, ERIN):
        status, _ = await teams.join(who.user, name=who.name, role=who.role, level=who.level,
                                     department=who.department, time_zone=who.tz, topics_teach=who.teach,
                                     topics_learn=who.learn, working_days="mon,tue,wed,thu,fri")
        assert status in (200, 201)
        assert any(f"Welcome, {who.name}!" in t for t in teams.texts_to(who.user)), who.name  # the card was valid
    async with teams.bot.deps.uow() as uow:
        cohort = await uow.cohorts.current("teams", TENANT)
        assert cohort is not None
        assert len(await uow.cohorts.members(cohort.id)) == 5  # signed up while it was open: members


async def _preview(teams: TeamsHarness) -> str:
    """`admin match preview` typed to the bot; returns the preview id."""
    card = await _say(teams, "admin match preview", user=ADMIN)
    shown = card_words(card)
    assert f"Matching preview for '{COHORT}'" in shown
    for mentor, mentee in PAIRS:
        line = re.search(rf"{mentor.name} mentors {mentee.name}: (\d+)/100\. ([^\n]*)", shown)
        assert line is not None, shown
        score, reasons = int(line.group(1)), line.group(2)
        assert 50 <= score <= 100, line.group(0)
        assert f"covers 1 of {mentee.name}'s 1 wanted topics and goals: {mentee.learn}" in reasons
        assert f"{mentor.department} vs {mentee.department}" in reasons
        assert re.search(r"\d+ h shared working hours a day", reasons), reasons
        assert f"For {mentor.name} their best option, for {mentee.name} their best option." in reasons
    assert "Bob Brown mentors Dave Diaz" not in shown and "Carol Chen mentors Alice Adams" not in shown
    assert "Erin Evans mentors" not in shown
    assert "Unmatched:\n\nErin Evans: no allowed partner: of 2 mentees, none is at least two levels more senior" \
        in shown
    facts = dict(line.split(": ", 1) for line in shown.splitlines()
                 if line.startswith(("Pairs: ", "Unmatched: ", "Lowest score: ", "Preview id: ")))
    assert (facts["Pairs"], facts["Unmatched"]) == ("2", "1")
    assert re.fullmatch(r"\d+", facts["Lowest score"])
    preview_id = facts["Preview id"]
    assert re.fullmatch(r"[0-9a-f]{8}", preview_id)
    assert f"admin match confirm {preview_id}" in shown
    assert "/mentor" not in shown  # in Teams the words are typed to the bot, no slash command
    return preview_id


async def _pair_id(teams: TeamsHarness, mentor: Someone, mentee: Someone) -> str:
    async with teams.bot.deps.uow() as uow:
        person = await uow.people.by_actor(teams.actor(mentor.user))
        partner = await uow.people.by_actor(teams.actor(mentee.user))
        assert person is not None and partner is not None
        (pair,) = await uow.pairs.active_of(person.id)
    assert pair.mentee_id == partner.id
    return pair.id


async def test_match_introduce_and_agree_objectives_on_teams(teams: TeamsHarness) -> None:
    # 1. five sign-ups through the real card, into the cohort the admin opened
    await _sign_up_everyone(teams)
    signed_up = {who.user: len(teams.fake.activities_to(conversation_of(who.user)))
                 for who in (ALICE, DAVE, BOB, CAROL, ERIN)}

    # 2. preview, then confirm exactly it
    preview_id = await _preview(teams)
    confirmed = card_words(await _say(teams, f"admin match confirm {preview_id}", user=ADMIN))
    assert f"Confirmed: 2 pairs in '{COHORT}'." in confirmed
    assert "1 unmatched people are told why" in confirmed

    # 3. the outbox delivers one intro per person, into their own 1:1 chat, and the kind word to the unmatched
    await teams.bot.sender.drain()
    pair_ids = {}
    for mentor, mentee in PAIRS:
        pair_id = await _pair_id(teams, mentor, mentee)
        pair_ids[mentor.user] = pair_ids[mentee.user] = pair_id
        for me, other, their_role in ((mentor, mentee, "mentee (learns from you)"),
                                      (mentee, mentor, "mentor (teaches you)")):
            assert len(teams.fake.activities_to(conversation_of(me.user))) == signed_up[me.user] + 1
            (intro,) = _cards_saying(teams, me, "your reverse-mentoring partner")
            words = card_words(intro)
            assert words.startswith(f"Meet {other.name}, your reverse-mentoring partner in '{COHORT}'")
            assert f"Your partner: {other.name}, {other.level}, {other.department}" in words
            assert f"Their role: {their_role}" in words
            assert (other.teach or other.learn) in words
            assert "Why you two: covers 1 of" in words
            assert "Meet every two weeks for 12 weeks." in words
            assert "Suggested first meeting:" in words
            assert _action(intro, "Propose objectives")["data"] == {"mb_action": "objectives.propose",
                                                                    "mb_value": pair_id}
    assert _cards_saying(teams, ERIN, "reverse-mentoring partner") == []
    assert len(teams.fake.activities_to(conversation_of(ERIN.user))) == signed_up[ERIN.user] + 1
    (told,) = _cards_saying(teams, ERIN, "No partner for you")
    assert card_words(told).startswith(f"No partner for you in '{COHORT}' yet")
    assert "none is at least two levels more senior" in card_words(told)
    assert "You stay on the waiting list" in card_words(told)
    assert _cards_saying(teams, ADMIN, "reverse-mentoring partner") == []
    async with teams.bot.deps.uow() as uow:
        assert await uow.outbox.pending_count() == 0

    # 4. Bob proposes two objectives from his intro's button; Alice agrees from hers
    (bob_intro,) = _cards_saying(teams, BOB, "your reverse-mentoring partner")
    before = len(teams.cards_to(BOB.user))
    status, _ = await teams.submit(_action(bob_intro, "Propose objectives")["data"], user=BOB.user,
                                   reply_to=bob_intro["_id"])
    assert status in (200, 201)
    (form,) = teams.cards_to(BOB.user)[before:]
    assert card_words(form).startswith("Learning objectives")
    assert [b["id"] for b in form["body"] if b.get("type") == "Input.Text"] == [
        "objective_1", "objective_2", "objective_3"]
    send = _action(form, "Propose")
    assert send["data"]["mb_form"] == "objectives" and send["data"]["mb_context"] == pair_ids[BOB.user]
    # Teams leaves an empty input out of the submitted data
    status, _ = await teams.submit({**send["data"], "objective_1": OBJECTIVES[0], "objective_2": OBJECTIVES[1]},
                                   user=BOB.user, reply_to=form["_id"])
    assert status in (200, 201)
    assert any("Proposed." in t and "Your partner is asked to agree" in t for t in teams.texts_to(BOB.user))
    (form_now,) = [a for a in teams.fake.activities_to(conversation_of(BOB.user)) if a.get("id") == form["_id"]]
    assert "objective_1" not in json.dumps(form_now)  # the form became its outcome: it cannot be sent twice

    await teams.bot.sender.drain()
    (proposal,) = _cards_saying(teams, ALICE, "proposes your learning objectives")
    assert card_words(proposal).startswith("Bob Brown proposes your learning objectives")
    assert all(f"- {o}" in card_words(proposal) for o in OBJECTIVES)
    agree = _action(proposal, "Agree")
    assert agree["data"] == {"mb_action": "objectives.agree", "mb_value": pair_ids[ALICE.user]}
    assert "none agreed yet" in card_words(await _say(teams, "status", user=ALICE.user))  # proposed is not agreed

    status, _ = await teams.submit(agree["data"], user=ALICE.user, reply_to=proposal["_id"])
    assert status in (200, 201)
    (proposal_now,) = [a for a in teams.fake.activities_to(conversation_of(ALICE.user))
                       if a.get("id") == proposal["_id"]]
    assert "Agreed. These are your objectives now:" in json.dumps(proposal_now)  # replaced: no second Agree
    await teams.bot.sender.drain()
    (heard,) = _cards_saying(teams, BOB, "agreed to your learning objectives")
    assert card_words(heard).startswith("Alice Adams agreed to your learning objectives")

    for me, partner_line in ((BOB, "Partner: Alice Adams (your mentee)"), (ALICE, "Partner: Bob Brown (your mentor)")):
        status_card = card_words(await _say(teams, "status", user=me.user))
        assert partner_line in status_card
        assert f"Objectives: {OBJECTIVES[0]}; {OBJECTIVES[1]}" in status_card, status_card
    assert "none agreed yet" in card_words(await _say(teams, "status", user=CAROL.user))  # the other pair is untouched
    assert "Partner:" not in card_words(await _say(teams, "status", user=ERIN.user))  # still waiting

    # 5. the same preview cannot be confirmed twice
    again = await _say(teams, f"admin match confirm {preview_id}", user=ADMIN)
    assert "That preview was confirmed already." in card_words(again)
    async with teams.bot.deps.uow() as uow:
        cohort = await uow.cohorts.current("teams", TENANT)
        assert cohort is not None
        assert len(await uow.pairs.active_in(cohort.id)) == 2
    await teams.bot.sender.drain()
    for who in (ALICE, BOB, CAROL, DAVE):
        assert len(_cards_saying(teams, who, "your reverse-mentoring partner")) == 1, who.name  # nobody twice


async def test_two_agree_submits_in_flight_tell_the_proposer_once(teams: TeamsHarness, migrated_url: str,
                                                                  request: pytest.FixtureRequest) -> None:
    await _sign_up_everyone(teams)
    preview_id = await _preview(teams)
    await _say(teams, f"admin match confirm {preview_id}", user=ADMIN)
    await teams.bot.sender.drain()
    (bob_intro,) = _cards_saying(teams, BOB, "your reverse-mentoring partner")
    before = len(teams.cards_to(BOB.user))
    await teams.submit(_action(bob_intro, "Propose objectives")["data"], user=BOB.user, reply_to=bob_intro["_id"])
    (form,) = teams.cards_to(BOB.user)[before:]
    await teams.submit({**_action(form, "Propose")["data"], "objective_1": OBJECTIVES[0]}, user=BOB.user,
                       reply_to=form["_id"])
    await teams.bot.sender.drain()
    (proposal,) = _cards_saying(teams, ALICE, "proposes your learning objectives")
    agree = _action(proposal, "Agree")["data"]

    # a double tap: Teams sends both submits
    await asyncio.gather(teams.submit(agree, user=ALICE.user, reply_to=proposal["_id"]),
                         teams.submit(agree, user=ALICE.user, reply_to=proposal["_id"]))
    await teams.bot.sender.drain()
    assert len(_cards_saying(teams, BOB, "agreed to your learning objectives")) == 1, "the proposer is told once"
    replaced = [json.dumps(c.body) for c in teams.fake.calls_to("update") if c.activity_id == proposal["_id"]]
    assert sum("Agreed. These are your objectives now:" in r for r in replaced) == 1, replaced
    assert f"Objectives: {OBJECTIVES[0]}" in card_words(await _say(teams, "status", user=BOB.user))
