"""Matching end to end on Slack: modal sign-ups, preview and confirm by slash command, intros, objectives."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.fakes.memory import FakeClock
from tests.fakes.slack_api import Call
from tests.integration.slack_harness import ADMIN, TEAM, Answer, SlackHarness, blocks_problem, slack_harness

COHORT = "Spring 2027"
TIKTOK = "TikTok & short video"


@dataclass(frozen=True)
class Someone:
    user: str
    name: str
    role: str
    level: str
    department: str
    tz: str
    teach: tuple[str, ...] = ()
    learn: tuple[str, ...] = ()


ALICE = Someone("U0ALICE01", "Alice Adams", "mentee", "L9 Vice President", "Leadership", "Europe/Paris",
                learn=("GenAI",))
DAVE = Someone("U0DAVE001", "Dave Diaz", "mentee", "L8 Director", "Sales", "Europe/London", learn=(TIKTOK,))
BOB = Someone("U0BOB0001", "Bob Brown", "mentor", "L2 Analyst", "Engineering", "Europe/Berlin", teach=("GenAI",))
CAROL = Someone("U0CAROL01", "Carol Chen", "mentor", "L1 Associate", "Design", "Europe/Madrid", teach=(TIKTOK,))
ERIN = Someone("U0ERIN001", "Erin Evans", "mentor", "L9 Vice President", "Finance", "Europe/Rome", teach=("GenAI",))
PAIRS = ((BOB, ALICE), (CAROL, DAVE))  # the clear optimum: each mentor teaches exactly what one mentee wants

OBJECTIVES = ("Ship one internal GenAI prototype with the team by week 6",
              "Write prompts that cut the weekly sales report to ten minutes")


@pytest.fixture
async def slack(migrated_url: str) -> AsyncIterator[SlackHarness]:
    async with slack_harness(migrated_url, FakeClock(datetime.now(UTC))) as harness:
        yield harness
        assert harness.fake.invalid == [], "every Block Kit payload must validate"


def _text(blocks: list[dict[str, Any]]) -> str:
    """The words a person reads in the blocks, with Slack's mrkdwn escapes undone."""
    return json.dumps(blocks, ensure_ascii=False).replace("&amp;", "&")


def _shown(answer: Answer) -> str:
    """The ephemeral reply riding on a slash command's ack (the fake never sees it, so it is checked here)."""
    assert answer.status == 200
    body = answer.json()
    assert body["response_type"] == "ephemeral"
    assert blocks_problem(body["blocks"]) is None, blocks_problem(body["blocks"])
    return _text(body["blocks"])


def _buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"] if e["type"] == "button"]


def _button(blocks: list[dict[str, Any]], label: str) -> dict[str, Any]:
    found = [b for b in _buttons(blocks) if b["text"]["text"] == label]
    assert len(found) == 1, f"{label!r} in {[b['text']['text'] for b in _buttons(blocks)]}"
    return found[0]


def _is_intro(call: Call) -> bool:
    return "a reverse-mentoring pair in" in call.params["text"] or "reverse-mentoring partner" in call.params["text"]


def _all_intros(slack: SlackHarness) -> list[Call]:
    return [c for c in slack.fake.calls_to("chat.postMessage") if _is_intro(c)]


def _intro(slack: SlackHarness, mentor: Someone, mentee: Someone) -> Call:
    """The pair's one introduction, in the group DM of the two of them and the bot."""
    (intro,) = [c for c in slack.posted_to(mentor.user, mentee.user) if _is_intro(c)]
    return intro


async def _sign_up_everyone(slack: SlackHarness) -> None:
    opened = await slack.command(f'admin cohort open "{COHORT}" --weeks 12 --cadence biweekly', user=ADMIN)
    assert f"Cohort '{COHORT}' is open for sign-up." in _shown(opened)
    for who in (ALICE, DAVE, BOB, CAROL, ERIN):
        answer = await slack.join(who.user, name=who.name, role=who.role, level=who.level,
                                  department=who.department, tz=who.tz, topics_teach=list(who.teach),
                                  topics_learn=list(who.learn))
        assert (answer.status, answer.text) == (200, ""), answer.text  # the modal closes: the profile is valid
    async with slack.bot.deps.uow() as uow:
        cohort = await uow.cohorts.current("slack", TEAM)
        assert cohort is not None
        assert len(await uow.cohorts.members(cohort.id)) == 5  # signed up while it was open: members


async def _preview(slack: SlackHarness) -> str:
    """`admin match preview`: the reply rides on the ack; returns the preview id."""
    answer = await slack.command("admin match preview", user=ADMIN)
    shown = _shown(answer)
    body = answer.json()
    assert f"Matching preview for '{COHORT}'" in shown
    for mentor, mentee in PAIRS:
        line = re.search(rf"{mentor.name} mentors {mentee.name}: (\d+)/100\. ([^\n\"]*)", shown)
        assert line is not None, shown
        score, reasons = int(line.group(1)), line.group(2)
        assert 50 <= score <= 100, line.group(0)
        assert f"covers 1 of {mentee.name}'s 1 wanted topics and goals: {mentee.learn[0]}" in reasons
        assert f"{mentor.department} vs {mentee.department}" in reasons
        assert re.search(r"\d+ h shared working hours a day", reasons), reasons
        assert f"For {mentor.name} their best option, for {mentee.name} their best option." in reasons
    assert "Bob Brown mentors Dave Diaz" not in shown and "Carol Chen mentors Alice Adams" not in shown
    assert "Erin Evans mentors" not in shown
    assert ("Unmatched:\\nErin Evans: no allowed partner: of 2 mentees, none is at least two levels more senior"
            in shown)
    facts: dict[str, str] = {f["text"].split("\n")[0].strip("*"): f["text"].split("\n")[1]
             for b in body["blocks"] if b["type"] == "section" and "fields" in b for f in b["fields"]}
    assert (facts["Pairs"], facts["Unmatched"]) == ("2", "1")
    assert re.fullmatch(r"\d+", facts["Lowest score"])
    preview_id = facts["Preview id"]
    assert re.fullmatch(r"[0-9a-f]{8}", preview_id)
    assert f"`/mentor admin match confirm {preview_id}`" in shown
    return preview_id


async def _pair_id(slack: SlackHarness, mentor: Someone, mentee: Someone) -> str:
    async with slack.bot.deps.uow() as uow:
        person = await uow.people.by_actor(slack.actor(mentor.user))
        partner = await uow.people.by_actor(slack.actor(mentee.user))
        assert person is not None and partner is not None
        (pair,) = await uow.pairs.active_of(person.id)
    assert pair.mentee_id == partner.id
    return pair.id


async def _status(slack: SlackHarness, who: Someone) -> str:
    return _shown(await slack.command("status", user=who.user))


async def test_match_introduce_and_agree_objectives_on_slack(slack: SlackHarness) -> None:
    # 1. five sign-ups through the real modal, into the cohort the admin opened
    await _sign_up_everyone(slack)
    slack.fake.calls.clear()  # the welcome DMs are not what this test is about

    # 2. preview, then confirm exactly it
    preview_id = await _preview(slack)
    shown = _shown(await slack.command(f"admin match confirm {preview_id}", user=ADMIN))
    assert f"Confirmed: 2 pairs in '{COHORT}'." in shown
    assert "1 unmatched people are told why" in shown

    # 3. the outbox delivers one intro per pair, in a group DM of the two, and the kind word to the unmatched
    await slack.bot.sender.drain()
    pair_ids = {}
    for mentor, mentee in PAIRS:
        pair_id = await _pair_id(slack, mentor, mentee)
        pair_ids[mentor.user] = pair_ids[mentee.user] = pair_id
        intro = _intro(slack, mentor, mentee)
        assert intro.status == 200
        assert intro.params["text"] == (f"Meet each other: {mentor.name} and {mentee.name}, "
                                        f"a reverse-mentoring pair in '{COHORT}'")
        blocks = intro.params["blocks"]
        words = _text(blocks)
        assert (f"*Mentor*\\n{mentor.name}, {mentor.level}, {mentor.department}; teaches {mentor.teach[0]}"
                in words), words
        assert f"*Mentee*\\n{mentee.name}, {mentee.level}, {mentee.department}; wants {mentee.learn[0]}" in words
        assert f"Why you two: covers 1 of {mentee.name}'s 1 wanted topics and goals: {mentee.learn[0]}" in words
        assert "Meet every two weeks for 12 weeks." in words
        assert "Suggested first meeting:" in words
        assert f"For {mentor.name}: You were chosen for what you know." in words
        assert f"For {mentee.name}: The question you fear is naive" in words
        button = _button(blocks, "Propose objectives")
        assert button["action_id"].split("|")[0] == "objectives.propose"
        assert button["value"] == pair_id
    opened_for = sorted(sorted(c.params["users"].split(",")) for c in slack.fake.calls_to("conversations.open")
                        if "," in c.params["users"])
    assert opened_for == sorted(sorted((m.user, e.user)) for m, e in PAIRS)  # a group DM per pair, no other
    assert len(_all_intros(slack)) == 2  # each of the four sees exactly one introduction
    for who in (ALICE, DAVE, BOB, CAROL, ERIN):
        assert [c for c in slack.posted_to(who.user) if _is_intro(c)] == []  # none in a 1:1 DM besides
    (told,) = slack.posted_to(ERIN.user)
    assert told.params["text"] == f"No partner for you in '{COHORT}' yet"
    assert "none is at least two levels more senior" in _text(told.params["blocks"])
    assert "You stay on the waiting list" in _text(told.params["blocks"])
    async with slack.bot.deps.uow() as uow:
        assert await uow.outbox.pending_count() == 0

    # 4. Bob proposes two objectives from the intro's button; Alice agrees from the proposal sent to her
    bob_intro = _intro(slack, BOB, ALICE)
    propose = _button(bob_intro.params["blocks"], "Propose objectives")
    clicked = await slack.click(propose["action_id"], propose["value"], user=BOB.user, name="propose")
    assert clicked.status == 200
    (opened,) = await slack.fake.wait_for("views.open")
    view = opened.params["view"]
    assert opened.params["trigger_id"].startswith("trigger.")
    assert view["callback_id"] == "objectives"
    assert view["private_metadata"] == pair_ids[BOB.user]
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"] == [
        "objective_1", "objective_2", "objective_3"]
    submitted = await slack.submit(view, {"objective_1": OBJECTIVES[0], "objective_2": OBJECTIVES[1],
                                          "objective_3": None}, user=BOB.user)
    assert (submitted.status, submitted.text) == (200, "")  # the modal closes
    await slack.side.listeners.drain()
    await slack.bot.sender.drain()
    (proposal,) = [c for c in slack.posted_to(ALICE.user) if "proposes your learning objectives" in c.params["text"]]
    assert proposal.params["text"] == "Bob Brown proposes your learning objectives"
    assert all(f"- {o}" in _text(proposal.params["blocks"]) for o in OBJECTIVES)
    agree = _button(proposal.params["blocks"], "Agree")
    assert agree["value"] == pair_ids[ALICE.user]
    (done,) = [c for c in slack.posted_to(BOB.user) if c.params["text"] == "Proposed."]
    assert "Your partner is asked to agree" in _text(done.params["blocks"])
    assert "none agreed yet" in await _status(slack, ALICE)  # proposed is not agreed

    await slack.click(agree["action_id"], agree["value"], user=ALICE.user, name="agree")
    (replaced,) = await slack.fake.wait_for("response_url:agree")
    assert replaced.params["replace_original"] is True
    assert blocks_problem(replaced.params["blocks"]) is None
    assert "Agreed. These are your objectives now:" in replaced.params["text"]
    await slack.bot.sender.drain()
    (heard,) = [c for c in slack.posted_to(BOB.user) if "agreed to your learning objectives" in c.params["text"]]
    assert heard.params["text"] == "Alice Adams agreed to your learning objectives"

    for me, partner_line in ((BOB, "Alice Adams (your mentee)"), (ALICE, "Bob Brown (your mentor)")):
        status = await _status(slack, me)
        assert partner_line in status
        assert f"*Objectives*\\n{OBJECTIVES[0]}; {OBJECTIVES[1]}" in status, status
    assert "none agreed yet" in await _status(slack, CAROL)  # the other pair is untouched
    assert "Partner" not in await _status(slack, ERIN)  # still waiting

    # 5. the same preview cannot be confirmed twice
    again = _shown(await slack.command(f"admin match confirm {preview_id}", user=ADMIN))
    assert "That preview was confirmed already." in again
    async with slack.bot.deps.uow() as uow:
        cohort = await uow.cohorts.current("slack", TEAM)
        assert cohort is not None
        assert len(await uow.pairs.active_in(cohort.id)) == 2
        assert await uow.outbox.pending_count() == 0
    assert len(_all_intros(slack)) == 2  # nobody introduced twice


async def test_two_agree_clicks_in_flight_tell_the_proposer_once(slack: SlackHarness, migrated_url: str,
                                                                 request: pytest.FixtureRequest) -> None:
    await _sign_up_everyone(slack)
    slack.fake.calls.clear()
    preview_id = await _preview(slack)
    await slack.command(f"admin match confirm {preview_id}", user=ADMIN)
    await slack.bot.sender.drain()
    bob_intro = _intro(slack, BOB, ALICE)
    propose = _button(bob_intro.params["blocks"], "Propose objectives")
    await slack.click(propose["action_id"], propose["value"], user=BOB.user, name="propose")
    (opened,) = await slack.fake.wait_for("views.open")
    await slack.submit(opened.params["view"], {"objective_1": OBJECTIVES[0], "objective_2": None,
                                               "objective_3": None}, user=BOB.user)
    await slack.bot.sender.drain()
    (proposal,) = [c for c in slack.posted_to(ALICE.user) if "proposes your learning objectives" in c.params["text"]]
    agree = _button(proposal.params["blocks"], "Agree")

    # a double click: Slack sends both, each with its own response_url
    await asyncio.gather(slack.click(agree["action_id"], agree["value"], user=ALICE.user, name="first"),
                         slack.click(agree["action_id"], agree["value"], user=ALICE.user, name="second"))
    answers = sorted(c.params["text"] for c in slack.fake.calls if c.method in ("response_url:first",
                                                                                "response_url:second"))
    await slack.bot.sender.drain()
    heard = [c for c in slack.posted_to(BOB.user) if "agreed to your learning objectives" in c.params["text"]]
    assert len(heard) == 1, "the proposer is told once"
    assert answers == ["Agreed. These are your objectives now:", "These objectives are agreed already."]
    assert f"*Objectives*\\n{OBJECTIVES[0]}" in await _status(slack, BOB)
