"""The nudge catalogue as app.yaml gives it, every text as a person reads it, and the drift rules on histories."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from conversations import nudges
from conversations.deps import Deps
from conversations.events import Actor
from conversations.model import CheckIn, CheckInAnswer, CheckInState, Cohort, Pair, Person, Profile
from conversations.nudge_catalogue import TRIGGERS, NudgeSettings, ToBoth
from conversations.settings import ProgramSettings
from tests.fakes.memory import FakeClock, MemoryUnitOfWorkFactory
from tests.fakes.messenger import FakeMessenger
from tests.integration.cli import APP_YAML

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def _load(tmp_path: Path, nudges_yaml: str) -> ProgramSettings:
    path = tmp_path / "app.yaml"
    path.write_text("program:\n  nudges:\n" + nudges_yaml, encoding="utf-8")
    return load_config(path, {}).program


def _error(tmp_path: Path, nudges_yaml: str) -> str:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, nudges_yaml)
    return str(caught.value)


def test_app_yaml_documents_exactly_the_catalogue_the_code_defaults_to() -> None:
    assert load_config(APP_YAML, {}).program.nudges == NudgeSettings()
    assert TRIGGERS == ("before_first_meeting", "after_first_meeting", "senior_rescheduled", "no_meeting_twice",
                        "inactive_45_days", "mid_program", "no_progress", "two_thirds", "cohort_end")


def test_an_entry_lists_only_what_it_changes(tmp_path: Path) -> None:
    program = _load(tmp_path, "    mid_program:\n      enabled: false\n"
                              "    two_thirds:\n      mentee:\n        title: \"One change, for {partner}\"\n")
    default = NudgeSettings()
    assert program.nudges.mid_program.enabled is False
    assert program.nudges.mid_program.mentor == default.mid_program.mentor  # the texts stay
    assert program.nudges.two_thirds.mentee.title == "One change, for {partner}"
    assert program.nudges.two_thirds.mentee.text == default.two_thirds.mentee.text
    assert program.nudges.cohort_end == default.cohort_end


def test_a_placeholder_the_bot_cannot_fill_stops_it_with_the_key_and_the_choices(tmp_path: Path) -> None:
    message = _error(tmp_path, "    mid_program:\n      mentor:\n        title: \"Hi {first_name}\"\n")
    assert "program.nudges.mid_program.mentor.title" in message
    assert "unknown placeholder {first_name}" in message
    assert "{partner}" in message
    stray = _error(tmp_path, "    no_progress:\n      mentee:\n        text: [\"Progress {partner\"]\n")
    assert "program.nudges.no_progress.mentee.text" in stray
    assert "write {{ or }} for a literal brace" in stray
    admins = _error(tmp_path, "    inactive_45_days:\n      admins:\n        title: \"{partner} is quiet\"\n")
    assert "unknown placeholder {partner}" in admins and "{mentor}" in admins


def test_who_gets_a_nudge_is_the_programs_rule_not_the_files(tmp_path: Path) -> None:
    message = _error(tmp_path, "    two_thirds:\n      mentor:\n        title: \"x\"\n        text: [\"y\"]\n")
    assert "program.nudges.two_thirds.mentor" in message
    assert "unknown key" in message
    assert "program.nudges.mid_program.enabled" in _error(tmp_path, "    mid_program:\n      enabled: sometimes\n")


def test_every_nudge_reads_complete_for_every_recipient_on_every_platform() -> None:
    settings = ProgramSettings()
    deps = Deps(uow=MemoryUnitOfWorkFactory(), settings=settings, clock=FakeClock(T0),
                messengers={"console": FakeMessenger()})
    cohort = Cohort(id="c", platform="slack", workspace="T1", name="Spring 2027", state="running", weeks=12,
                    cadence="biweekly", created_at=T0, started_at=T0)
    pair = Pair(id="p", cohort_id="c", mentor_id="m", mentee_id="e", score=70, reasons=(), created_at=T0)
    mentor = Person(id="m", actor=Actor("slack", "T1", "UM"), profile=_profile("Bob Brown", "mentor"))
    mentee = Person(id="e", actor=Actor("slack", "T1", "UE"), profile=_profile("Alice Adams", "mentee"))
    seen = 0
    for trigger in TRIGGERS:
        entry = getattr(settings.nudges, trigger)
        for role in nudges.recipients(entry):
            me, partner = (mentor, mentee) if role == "mentor" else (mentee, mentor)
            message = nudges.nudge_message(deps, entry, pair, cohort, me, partner)
            words = " ".join((message.text, *message.sections))
            assert "{" not in words and "}" not in words, words
            assert len(message.text) <= 150 and 1 <= len(message.sections) <= 6
            seen += 1
    assert seen == 16  # 7 entries to both, 2 to the senior only
    reset = nudges.nudge_message(deps, settings.nudges.no_meeting_twice, pair, cohort, mentee, mentor)
    assert "`/mentor pause`" in reset.sections[1]  # how to type it in Slack


def _profile(name: str, role: str) -> Profile:
    return Profile(name=name, role="mentor" if role == "mentor" else "mentee", level="L2", department="X",
                   time_zone="UTC", working_days=("mon",), work_start="09:00", work_end="17:00", topics_teach=(),
                   topics_learn=(), languages=("English",))


def _c(round_: int, who: str, state: CheckInState = "answered", answer: CheckInAnswer | None = None,
       progress: tuple[tuple[str, int], ...] = ()) -> CheckIn:
    return CheckIn(id=f"{round_}{who}", pair_id="p", person_id=who, round=round_, due_at=T0, state=state,
                   answer=answer, progress=progress)


def test_two_rounds_in_a_row_without_a_meeting_is_drift_one_meeting_between_is_not() -> None:
    missed = [_c(1, "m", answer="not_yet"), _c(1, "e", "no_answer"), _c(2, "m", "no_answer"),
              _c(2, "e", answer="rescheduled")]
    assert nudges.missed_twice(missed)
    met_between = [*missed[:2], _c(2, "m", answer="yes"), _c(2, "e", "no_answer"),
                   _c(3, "m", answer="not_yet"), _c(3, "e", "no_answer")]
    assert not nudges.missed_twice(met_between)
    still_open = [*missed[:2], _c(2, "m", answer="not_yet"), _c(2, "e", "sent")]
    assert not nudges.missed_twice(still_open)  # the senior may still say they met
    paused_round = [*missed[:2], _c(2, "m", "skipped"), _c(2, "e", "skipped")]
    assert not nudges.missed_twice(paused_round)  # a round everyone skipped tells nothing
    assert nudges.missed_twice([*paused_round, _c(3, "m", "no_answer"), _c(3, "e", "no_answer")])


def test_no_progress_means_two_sessions_that_moved_no_objective_above_its_best() -> None:
    def met(round_: int, **values: int) -> CheckIn:
        return _c(round_, "m", answer="yes", progress=tuple(values.items()))

    assert not nudges.stalled_twice([met(1, a=1), met(2, a=2)])
    assert not nudges.stalled_twice([met(1, a=1), met(2, a=1)])  # one flat session is not a pattern
    assert nudges.stalled_twice([met(1, a=1), met(2, a=1), met(3, a=1)])
    assert nudges.stalled_twice([met(1, a=0), met(2, a=0)])  # nothing moved from the start
    assert not nudges.stalled_twice([met(1, a=1), met(2, a=1, b=1)])  # a new objective moved
    assert nudges.stalled_twice([met(1, a=3), met(2, a=2), met(3, a=3)])  # back to its best is not progress
    rounds_without_progress_told = [met(1, a=1), _c(2, "m", answer="yes"), _c(3, "m", answer="not_yet"), met(4, a=1)]
    assert not nudges.stalled_twice(rounds_without_progress_told)  # only sessions that told their progress count
    assert not nudges.stalled_twice([])


def test_a_to_both_entry_goes_to_both_and_a_senior_entry_to_the_senior_only() -> None:
    catalogue = NudgeSettings()
    assert {t for t in TRIGGERS if not isinstance(getattr(catalogue, t), ToBoth)} == {"senior_rescheduled",
                                                                                       "two_thirds"}
    assert nudges.recipients(catalogue.two_thirds) == ("mentee",)
    assert nudges.recipients(catalogue.mid_program) == ("mentor", "mentee")
