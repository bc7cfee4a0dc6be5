"""Answering a feedback round end to end: a Slack modal and a Teams card over real HTTP, the console, a real
database; with every library's DEBUG logging on, no answer ever reaches a log."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from conversations.events import Actor
from conversations.feedback import FEEDBACK_FORM
from conversations.model import Cohort, Pair, Person, Profile
from conversations.ports import UnitOfWorkFactory
from tests.fakes.bot_connector import FakeBotConnector
from tests.fakes.memory import FakeClock
from tests.integration import slack_harness as slack_h
from tests.integration import teams_harness as teams_h
from tests.integration.cli import mentorbot, signup_answers

SECRET_WORDS = "zebra-quartz-comment-5521"  # a comment nobody else would write: search every log for it
LOGGERS = ("slack_bolt", "slack_sdk", "aiohttp", "botbuilder", "sqlalchemy.engine", "aiosqlite", "asyncpg",
           "mentorbot", "adapters", "conversations", "bot")
KEY = "a-test-feedback-key-of-at-least-32-characters"


WORKTIME = datetime(2027, 3, 2, 10, 0, tzinfo=UTC)  # a Tuesday, 11:00 in Paris: prompts go out at once


def _profile(name: str, role: str, level: str) -> Profile:
    return Profile(name=name, role="mentor" if role == "mentor" else "mentee", level=level, department=role,
                   time_zone="Europe/Paris", working_days=("mon", "tue", "wed", "thu", "fri"), work_start="09:00",
                   work_end="17:00", topics_teach=("GenAI",), topics_learn=("GenAI",), languages=("English",))


async def _running_pair(uow_factory: UnitOfWorkFactory, mentor: Actor, mentee: Actor) -> None:
    """A cohort running with one pair, written through the repositories (the sign-up flows have their own tests)."""
    now = datetime.now(UTC)
    cohort = Cohort(id=uuid.uuid4().hex, platform=mentor.platform, workspace=mentor.workspace, name="Spring",
                    state="running", weeks=8, cadence="biweekly", created_at=now, started_at=now)
    people = [Person(id=uuid.uuid4().hex, actor=mentor, profile=_profile("Mia", "mentor", "L2 Analyst")),
              Person(id=uuid.uuid4().hex, actor=mentee, profile=_profile("Sam", "mentee", "L9 Vice President"))]
    async with uow_factory() as uow:
        await uow.cohorts.add(cohort)
        for person in people:
            await uow.people.add(person)
            await uow.cohorts.add_member(cohort.id, person.id, now)
        await uow.pairs.add(Pair(id=uuid.uuid4().hex, cohort_id=cohort.id, mentor_id=people[0].id,
                                 mentee_id=people[1].id, score=50, reasons=(), created_at=now))
        await uow.commit()


def _debug_everything(caplog: pytest.LogCaptureFixture) -> None:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)


def _assert_no_answer_logged(caplog: pytest.LogCaptureFixture) -> None:
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert SECRET_WORDS not in logged
    names = {r.name.split(".")[0] for r in caplog.records}
    assert {"sqlalchemy", "aiohttp"} <= names, names  # the loggers did speak at DEBUG: the check has teeth


async def _published_comments(uow_factory: UnitOfWorkFactory) -> list[str]:
    async with uow_factory() as uow:
        cohort_rounds = []
        for person_cohort in await uow.cohorts.all("slack", slack_h.TEAM) + await uow.cohorts.all(
                "teams", teams_h.TENANT) + await uow.cohorts.all("console", "console"):
            cohort_rounds += await uow.feedback.rounds_of(person_cohort.id)
        return [a.text for r in cohort_rounds for a in await uow.feedback.answers(r.id) if a.question == "comment"]


async def test_a_slack_modal_answer_is_stored_once_anonymously_and_never_logged(
        migrated_url: str, caplog: pytest.LogCaptureFixture) -> None:
    _debug_everything(caplog)
    async with slack_h.slack_harness(migrated_url, FakeClock(WORKTIME), FEEDBACK_KEY=KEY) as slack:
        uow = slack.bot.deps.uow
        await _running_pair(uow, slack.actor("U0MIA"), slack.actor("U0SAM"))
        opened = await slack.command("admin feedback open", user=slack_h.ADMIN)
        assert "Feedback round opened" in opened.text
        await slack.bot.sender.drain_once()
        [prompt] = [c for c in slack.posted_to("U0MIA") if "Anonymous" in str(c.params.get("blocks"))]
        assert "Give feedback" in str(prompt.params["blocks"])

        await slack.command("feedback", user="U0MIA")
        [modal] = await slack.fake.wait_for("views.open", count=1)
        view: dict[str, Any] = modal.params["view"]
        assert view["callback_id"] == FEEDBACK_FORM and "Not anonymous" in str(view["blocks"])
        answers = {"safety_tough_topic": "4", "safety_mistakes": "2", "safety_valued": "5", "value": "4",
                   "again": "yes", "comment": SECRET_WORDS}
        done = await slack.submit(view, answers, user="U0MIA")
        assert done.status == 200 and SECRET_WORDS not in done.text
        assert "already" not in done.text

        bad = await slack.submit(view, {**answers, "value": None}, user="U0SAM")
        assert bad.status == 200 and bad.json()["response_action"] == "errors"
        assert "value" in bad.json()["errors"]

        await slack.command("feedback", user="U0MIA")
        assert len(slack.fake.calls_to("views.open")) == 1  # answered: no second form
        closed = await slack.command("admin feedback close", user=slack_h.ADMIN)
        assert "is closed" in closed.text
        await slack.bot.tick()  # runs the scrub after the close committed
        assert await _published_comments(uow) == [SECRET_WORDS]
        assert slack.fake.invalid == []
    _assert_no_answer_logged(caplog)


async def test_a_teams_card_answer_is_stored_once_anonymously_and_never_logged(
        migrated_url: str, caplog: pytest.LogCaptureFixture) -> None:
    _debug_everything(caplog)
    async with FakeBotConnector() as fake, teams_h.running_teams(
            migrated_url, fake, FakeClock(WORKTIME), FEEDBACK_KEY=KEY) as teams:
        uow = teams.bot.deps.uow
        await teams.installed(user="mia-aad")
        await _running_pair(uow, teams.actor("mia-aad"), teams.actor("sam-aad"))
        await teams.say("admin feedback open", user=teams_h.ADMIN)
        await teams.say("feedback", user="mia-aad")
        [form] = [c for c in teams.cards_to("mia-aad") if any(b.get("id") == "safety_valued" for b in c["body"])]
        assert teams_h.card_problem({k: v for k, v in form.items() if k != "_id"}) is None
        assert "Not anonymous" in str(form["body"])
        data = next(a["data"] for a in form["actions"] if a.get("type") == "Action.Submit")
        values = {**data, "safety_tough_topic": "3", "safety_mistakes": "1", "safety_valued": "4", "value": "5",
                  "again": "no", "comment": SECRET_WORDS}
        status, _ = await teams.submit(values, user="mia-aad", reply_to=form["_id"])
        assert status in (200, 201, 202)
        status, _ = await teams.submit(values, user="mia-aad", reply_to=form["_id"])
        assert any("answered this round already" in t for t in teams.texts_to("mia-aad"))
        await teams.say("admin feedback close", user=teams_h.ADMIN)
        await teams.bot.tick()
        assert await _published_comments(uow) == [SECRET_WORDS]
        assert not [t for t in teams.texts_to("mia-aad") if SECRET_WORDS in t]
    _assert_no_answer_logged(caplog)


async def test_a_console_participant_answers_a_round_once_and_it_publishes_on_close(database_url: str) -> None:
    assert (await mentorbot("migrate", database_url=database_url)).code == 0
    script = [
        "/as alice", 'admin cohort open "Spring" --weeks 8',
        "/as mia", "join", *signup_answers("Mia Mentor", role="mentor", level=2, department="Engineering",
                                           tz="Europe/Paris", teach="GenAI"),
        "/as sam", "join", *signup_answers("Sam Senior", role="mentee", level=9, department="Sales",
                                           tz="Europe/Paris", learn="GenAI"),
        "/as alice", "admin cohort close-signup", "admin pair console:mia console:sam", "admin feedback open",
        "/as mia", "feedback", "4", "2", "5", "4", "yes", SECRET_WORDS, "feedback",
        "/as alice", "admin feedback status", "admin feedback close", ""]
    run = await mentorbot("shell", database_url=database_url, stdin="\n".join(script), FEEDBACK_KEY=KEY)
    assert run.code == 0, run.err
    out = run.out
    assert "Feedback round opened" in out and "asked 2 people" in out, out
    assert "Not anonymous: whether you met" in out  # the form says it plainly
    assert "your feedback is in, anonymously" in out
    assert "answered this round already" in out.split("your feedback is in, anonymously", 1)[1]
    assert "adhoc" not in out and "feedback: open" in out  # status, in words
    assert "is closed" in out
    echoed = [line for line in out.splitlines() if SECRET_WORDS in line]
    assert len(echoed) == 1 and echoed[0].endswith(f"> {SECRET_WORDS}")  # only the typing itself, never echoed back
    assert SECRET_WORDS not in run.err
