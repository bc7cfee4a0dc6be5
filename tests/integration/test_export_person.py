"""`mentorbot export-person`: one person's data as JSON, complete for them, silent about everyone else."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conversations.deps import Deps
from conversations.engine import Engine
from conversations.events import Actor, Command
from conversations.feedback import receipt_of
from conversations.messages import Message
from conversations.model import (
    AuditEntry,
    CheckIn,
    Cohort,
    FeedbackAnswer,
    FeedbackRound,
    HelpMessage,
    HelpRequest,
    Nudge,
    Objective,
    Pair,
    Person,
    Profile,
    Reason,
)
from conversations.settings import Admins, ProgramSettings
from storage.unit_of_work import SqlUnitOfWorkFactory
from tests.fakes.memory import FakeClock
from tests.fakes.messenger import FakeMessenger
from tests.integration.cli import mentorbot

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
MIA = Actor("console", "console", "mia")
SAM = Actor("console", "console", "sam")
ZOE = Actor("console", "console", "zoe")


def _profile(name: str, role: str, email: str, avoid: tuple[str, ...] = ()) -> Profile:
    return Profile(name=name, role="mentor" if role == "mentor" else "mentee", level="L2", department="Eng",
                   time_zone="Europe/Paris", working_days=("mon",), work_start="09:00", work_end="17:00",
                   topics_teach=("GenAI",), topics_learn=(), languages=("English",), email=email, avoid=avoid,
                   goals="learn to lead")


async def _seed(uow_factory: SqlUnitOfWorkFactory) -> None:
    cohort = Cohort(id="c1", platform="console", workspace="console", name="Spring", state="running", weeks=8,
                    cadence="biweekly", created_at=T0, started_at=T0)
    mia = Person(id="p-mia", actor=MIA, profile=_profile("Mia Mentor", "mentor", "mia@example.com",
                                                         avoid=("bob@example.com",)))
    sam = Person(id="p-sam", actor=SAM, profile=_profile("Sam Senior", "mentee", "sam@example.com"))
    zoe = Person(id="p-zoe", actor=ZOE, profile=_profile("Zoe Else", "mentor", "zoe@example.com",
                                                         avoid=("mia@example.com",)))
    async with uow_factory() as uow:
        await uow.cohorts.add(cohort)
        for person in (mia, sam, zoe):
            await uow.people.add(person)
            await uow.cohorts.add_member("c1", person.id, T0)
        await uow.pairs.add(Pair(id="x1", cohort_id="c1", mentor_id="p-mia", mentee_id="p-sam", score=80,
                                 reasons=(Reason("topics", 40, "shares GenAI"),), created_at=T0))
        await uow.objectives.add(Objective(id="o1", pair_id="x1", text="Ship a prototype", proposed_by="p-sam"))
        await uow.checkins.add(CheckIn(id="k1", pair_id="x1", person_id="p-mia", round=1, due_at=T0,
                                       note="mia's own private note"))
        await uow.checkins.add(CheckIn(id="k2", pair_id="x1", person_id="p-sam", round=1, due_at=T0,
                                       note="sam's private note about mia"))
        await uow.nudges.add(Nudge(id=0, pair_id="x1", person_id="p-mia", trigger="before_first_meeting",
                                   due_at=T0))
        await uow.help.open(HelpRequest(id="H1", person_id="p-mia", cohort_id="c1", pair_id="x1", opened_at=T0))
        await uow.help.add_message(HelpMessage(request_id="H1", author="person", text="I need advice", at=T0))
        await uow.exclusions.add("p-mia", "p-zoe", T0)
        await uow.outbox.enqueue(MIA, Message("Welcome, Mia"), T0)
        await uow.outbox.enqueue(SAM, Message("Only for Sam"), T0)
        await uow.audit.record(AuditEntry(at=T0 + timedelta(minutes=1), actor=await uow.audit.pseudonym(MIA),
                                          action="leave.cancel", outcome="ok"))
        await uow.commit()


async def test_export_person_writes_everything_of_theirs_and_nothing_private_of_others(
        migrated_url: str, uow_factory: SqlUnitOfWorkFactory, tmp_path: Path) -> None:
    await _seed(uow_factory)
    out = tmp_path / "mia.json"
    run = await mentorbot("export-person", "console:console:mia", "--out", str(out), database_url=migrated_url)
    assert run.code == 0, run.err
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    data = json.loads(out.read_text())
    assert data["profile"]["name"] == "Mia Mentor" and data["profile"]["email"] == "mia@example.com"
    assert data["profile"]["prefer_not_to_be_paired_with"] == ["bob@example.com"]  # her own list
    assert data["identities"] == [{"platform": "console", "workspace": "console", "user_id": "mia"}]
    assert [m["cohort"] for m in data["memberships"]] == ["Spring"]
    [pair] = data["pairs"]
    assert pair["partner"] == "Sam Senior" and pair["your_role"] == "mentor" and pair["reasons"] == ["shares GenAI"]
    assert pair["objectives"] == [{"text": "Ship a prototype", "proposed_by": "your partner", "agreed": False,
                                   "progress": 0}]
    assert [c["note"] for c in data["checkins"]] == ["mia's own private note"]
    assert [n["trigger"] for n in data["nudges_received"]] == ["before_first_meeting"]
    assert data["help_requests"][0]["messages"][0]["text"] == "I need advice"
    assert [m["message"]["text"] for m in data["messages_to_you"]] == ["Welcome, Mia"]
    assert [e["action"] for e in data["audit_entries"]] == ["leave.cancel"]
    assert data["kept_apart_by_admins_from"] == "1 person"
    assert "anonymous" in data["anonymous_feedback"]
    whole = out.read_text()
    for private in ("sam's private note", "Only for Sam", "Zoe", "zoe@example.com", "p-zoe"):
        assert private not in whole, private  # the partner's notes, others' messages, who named her

    by_email = await mentorbot("export-person", "MIA@example.com", database_url=migrated_url)
    assert by_email.code == 0 and json.loads(by_email.out)["profile"]["id"] == "p-mia"
    missing = await mentorbot("export-person", "console:console:nobody", database_url=migrated_url)
    assert missing.code == 2 and "nobody stored as" in missing.err and not missing.out


async def test_admin_forget_erases_a_person_everywhere_but_their_anonymous_answers_stay(
        migrated_url: str, uow_factory: SqlUnitOfWorkFactory) -> None:
    await _seed(uow_factory)
    key = b"k" * 32
    async with uow_factory() as uow:
        await uow.feedback.open_round(FeedbackRound(id="r1", cohort_id="c1", kind="adhoc", opened_at=T0))
        await uow.feedback.add_receipt("r1", receipt_of(key, "p-mia", "r1"))
        await uow.feedback.add_receipt("r1", receipt_of(key, "p-sam", "r1"))
        await uow.feedback.add_answers([FeedbackAnswer(id="", cohort_id="c1", round_id="r1", role="mentor",
                                                       question="value", value=4)])
        await uow.commit()
    deps = Deps(uow=uow_factory, settings=ProgramSettings(admins=Admins(console=("boss",))), clock=FakeClock(T0),
                messengers={"console": FakeMessenger()}, feedback_key=key)
    reply = await Engine(deps).dispatch(Command.parse(Actor("console", "console", "boss"), "admin forget console:mia"))
    assert "Forgot Mia Mentor" in reply.messages[0].text
    async with uow_factory() as uow:
        assert await uow.people.get("p-mia") is None
        assert not await uow.feedback.has_receipt("r1", receipt_of(key, "p-mia", "r1"))
        assert await uow.feedback.has_receipt("r1", receipt_of(key, "p-sam", "r1"))  # only hers went
        assert await uow.help.of_person("p-mia") == []
        assert await uow.checkins.get("k1") is None
        assert await uow.feedback.close_round("r1", T0 + timedelta(days=1))
        assert [a.value for a in await uow.feedback.answers("r1")] == [4]  # anonymous answers stay
        await uow.commit()
    dump = await mentorbot("export-person", "console:console:mia", database_url=migrated_url)
    assert dump.code == 2
