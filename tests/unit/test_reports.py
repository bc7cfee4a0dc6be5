"""Report aggregation: k, 2k, the 3-pair rule, complementary suppression, scrubbing, CSV and the chart."""

from __future__ import annotations

import csv
import io
import itertools
import struct
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from conversations.events import Actor
from conversations.model import CheckIn, Cohort, FeedbackAnswer, FeedbackRound, Objective, Pair, Person, Profile
from conversations.report_chart import HEIGHT_PX, WIDTH_PX, render_chart
from conversations.report_text import aggregates_csv, as_text, pairs_csv, report_message
from conversations.reports import (
    ROLES,
    CohortReport,
    FeedbackGroup,
    GroupRole,
    Meetings,
    ObjectiveStats,
    PairLine,
    Participation,
    RoundReport,
    feedback_groups,
    meetings,
    objective_stats,
    pairs_during,
    participation,
    respondents,
    round_report,
    safety_score,
    scrub,
)

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
_ids = itertools.count(1)


def person_answers(role: str, *, tough: int = 4, mistakes: int = 2, valued: int = 4, value: int = 4,
                   again: int = 1, comment: str = "", round_id: str = "r1") -> list[FeedbackAnswer]:
    """One person's answers to one round, as the feedback form stores them."""
    def answer(question: str, v: int | None, text: str = "") -> FeedbackAnswer:
        return FeedbackAnswer(id=str(next(_ids)), cohort_id="c1", round_id=round_id, role=role,  # type: ignore[arg-type]
                              question=question, value=v, text=text)

    rows = [answer("safety_tough_topic", tough), answer("safety_mistakes", mistakes),
            answer("safety_valued", valued), answer("value", value), answer("again", again)]
    if comment:
        rows.append(answer("comment", None, comment))
    return rows


def many(mentors: int, mentees: int, **kw: object) -> list[FeedbackAnswer]:
    out: list[FeedbackAnswer] = []
    for _ in range(mentors):
        out += person_answers("mentor", **kw)  # type: ignore[arg-type]
    for _ in range(mentees):
        out += person_answers("mentee", **kw)  # type: ignore[arg-type]
    return out


def shown(groups: tuple[FeedbackGroup, ...]) -> dict[str, bool]:
    return {g.role: g.shown for g in groups}


# k, 2k, 3 pairs


def test_a_group_of_exactly_k_shows_and_one_less_does_not() -> None:
    at_k = feedback_groups(many(5, 5), pairs=5, k=5)
    assert shown(at_k) == {"all": True, "mentor": True, "mentee": True}
    assert [g.answers for g in at_k] == [10, 5, 5]
    below = feedback_groups(many(4, 5), pairs=5, k=5)
    assert shown(below)["mentor"] is False


def test_fewer_than_three_pairs_hide_everything_however_many_answered() -> None:
    groups = feedback_groups(many(20, 20), pairs=2, k=5)
    assert not any(g.shown for g in groups)
    assert all(g.answers == 0 and g.safety is None and g.comments == () for g in groups)


def test_when_one_role_is_hidden_the_other_is_too_so_the_total_cannot_be_differenced() -> None:
    groups = feedback_groups(many(3, 9), pairs=6, k=5)
    assert shown(groups) == {"all": True, "mentor": False, "mentee": False}
    everyone = groups[0]
    assert everyone.answers == 12  # the total shows; neither role does, so no subtraction reveals the mentors


def test_free_text_shows_only_for_everyone_and_only_from_2k_answers() -> None:
    below = feedback_groups(many(4, 5, comment="Good sessions"), pairs=5, k=5)  # 9 < 2k
    assert all(g.comments == () for g in below)
    at = feedback_groups(many(5, 5, comment="Good sessions"), pairs=5, k=5)
    assert at[0].comments == ("Good sessions",) * 10
    assert at[1].comments == () and at[2].comments == ()


def test_a_hidden_group_tells_nothing_not_even_its_size() -> None:
    [everyone, mentors, mentees] = feedback_groups(many(1, 2), pairs=5, k=5)
    for group in (everyone, mentors, mentees):
        assert group == FeedbackGroup(role=group.role, shown=False)


@settings(max_examples=300, deadline=None)
@given(mentors=st.integers(0, 15), mentees=st.integers(0, 15), pairs=st.integers(0, 10), k=st.integers(2, 8))
def test_no_shown_group_is_below_k_and_no_role_is_derivable(mentors: int, mentees: int, pairs: int, k: int) -> None:
    groups = {g.role: g for g in feedback_groups(many(mentors, mentees), pairs=pairs, k=k)}
    for group in groups.values():
        assert not group.shown or (group.answers >= k and pairs >= 3)
        assert group.shown or (group.answers == 0 and group.safety is None)
    # a role is derivable if the total and the other role show: then that role must show on its own merit
    pairs_of_roles: tuple[tuple[GroupRole, GroupRole], ...] = (("mentor", "mentee"), ("mentee", "mentor"))
    for role, other in pairs_of_roles:
        if groups["all"].shown and groups[other].shown:
            assert groups[role].shown and groups[role].answers >= k


@settings(max_examples=200, deadline=None)
@given(base=st.lists(st.tuples(st.sampled_from(["mentor", "mentee"]), st.integers(1, 5)), min_size=0, max_size=20),
       extra=st.tuples(st.sampled_from(["mentor", "mentee"]), st.integers(1, 5)), k=st.integers(2, 6))
def test_adding_one_person_never_isolates_their_answer(base: list[tuple[str, int]], extra: tuple[str, int],
                                                       k: int) -> None:
    """Two reports that differ by one person: whatever both show comes from at least k people each."""
    def answers(people: list[tuple[str, int]]) -> list[FeedbackAnswer]:
        return [a for role, v in people for a in person_answers(role, tough=v)]

    before = {g.role: g for g in feedback_groups(answers(base), pairs=5, k=k)}
    after = {g.role: g for g in feedback_groups(answers([*base, extra]), pairs=5, k=k)}
    for role in ROLES:
        if before[role].shown and after[role].shown:
            assert before[role].answers >= k and after[role].answers >= k  # never a group of one or a few
        if after[role].shown:
            assert after[role].answers >= k


def test_the_safety_score_reverses_mistakes_held_against_me() -> None:
    calm = person_answers("mentor", tough=5, mistakes=1, valued=5)
    assert safety_score(calm) == 5.0
    harsh = person_answers("mentor", tough=1, mistakes=5, valued=1)
    assert safety_score(harsh) == 1.0
    assert respondents(calm + harsh) == 2


def test_a_round_counts_the_pairs_that_existed_while_it_ran_not_the_answers() -> None:
    def pair(created: datetime, ended: datetime | None = None) -> Pair:
        return Pair(id=str(next(_ids)), cohort_id="c1", mentor_id="m", mentee_id="e", score=50, reasons=(),
                    created_at=created, state="ended" if ended else "active", ended_at=ended)

    r = FeedbackRound(id="r1", cohort_id="c1", kind="mid", opened_at=T0, closed_at=T0 + timedelta(days=7),
                      state="closed")
    pairs = [pair(T0 - timedelta(days=30)), pair(T0 - timedelta(days=30), T0 - timedelta(days=1)),  # ended before
             pair(T0 + timedelta(days=3)), pair(T0 + timedelta(days=8)),  # made during; made after
             pair(T0 - timedelta(days=3), T0 + timedelta(days=2))]  # ended during: it was there
    assert pairs_during(pairs, r, now=T0 + timedelta(days=30)) == 3


def test_an_open_round_publishes_nothing_even_if_answers_are_passed() -> None:
    r = FeedbackRound(id="r1", cohort_id="c1", kind="adhoc", opened_at=T0)
    report = round_report(r, 1, many(10, 10), pairs=[], k=5, now=T0)
    assert not any(g.shown for g in report.groups)


# scrubbing


def test_names_mentions_emails_and_at_words_are_removed_from_free_text() -> None:
    names = ("Dana Scully", "Fox Mulder", "Li")
    text = ("Dana was great, Mulder less so; ask <@U0123ABCD|fox> or <@W999> or <at>Fox Mulder</at>, "
            "mail dana.scully@example.com, ping @fox.mulder. DANA SCULLY agrees.")
    out = scrub(text, names)
    for leaked in ("Dana", "Mulder", "Fox", "U0123ABCD", "W999", "example.com", "@fox", "SCULLY"):
        assert leaked.lower() not in out.lower(), (leaked, out)
    assert out.count("[someone]") >= 8
    assert "was great" in out and "agrees." in out


def test_hyphenated_and_apostrophe_names_and_possessives_are_removed() -> None:
    out = scrub("Jean-Luc and O’Neil met; Luc's idea and Mulder's notes, per jean-luc",
                ("Jean-Luc O'Neil", "Fox Mulder"))
    assert out == "[someone] and [someone] met; [someone] idea and [someone] notes, per [someone]"


def test_scrubbing_keeps_words_that_only_contain_a_name() -> None:
    assert scrub("Lisa liked the Linear tool", ("Li",)) == "Lisa liked the Linear tool"
    assert scrub("li said hi", ("Li",)) == "[someone] said hi"


# meetings, objectives, participation


def checkin(pair_id: str, person: str, round_: int, answer: str | None, *, sent: bool = True) -> CheckIn:
    return CheckIn(id=str(next(_ids)), pair_id=pair_id, person_id=person, round=round_, due_at=T0,
                    state=("answered" if answer else "sent") if sent else "scheduled",
                    sent_at=T0 if sent else None, answer=answer)  # type: ignore[arg-type]


def test_the_meeting_rate_counts_yes_out_of_check_ins_sent_and_the_pairs_that_met() -> None:
    rows = [checkin("p1", "a", 1, "yes"), checkin("p1", "b", 1, "yes"), checkin("p2", "c", 1, "not_yet"),
            checkin("p2", "d", 1, None), checkin("p1", "a", 2, "rescheduled"), checkin("p2", "c", 2, "yes"),
            checkin("p3", "e", 2, None, sent=False)]
    m = meetings(rows, pairs=[object(), object(), object()])  # type: ignore[list-item]
    assert (m.sent, m.met, m.pairs, m.pairs_met) == (6, 3, 3, 2)
    assert m.by_round == ((1, 4, 2), (2, 2, 1))
    assert m.rate == 0.5


def test_objectives_count_only_what_both_agreed() -> None:
    rows = [Objective("o1", "p1", "x", "a", agreed=True, progress=4), Objective("o2", "p1", "y", "a", agreed=True),
            Objective("o3", "p2", "z", "b", agreed=False, progress=3)]
    assert objective_stats(rows) == ObjectiveStats(proposed=3, agreed=2, pairs_with_agreed=1, average_progress=2.0)


def test_participation_counts_members_and_an_anonymous_number_who_left() -> None:
    def person(pid: str, status: str) -> Person:
        profile = Profile(name=pid, role="mentor", level="L1", department="D", time_zone="UTC",
                          working_days=("mon",), work_start="09:00", work_end="17:00", topics_teach=(),
                          topics_learn=(), languages=("English",))
        return Person(id=pid, actor=Actor("console", "console", pid), profile=profile, status=status)  # type: ignore[arg-type]

    cohort = Cohort(id="c1", platform="console", workspace="console", name="S", state="running", weeks=12,
                    cadence="biweekly", created_at=T0, members_left=2)
    members = [person("a", "active"), person("b", "paused"), person("c", "active"), person("d", "unreachable")]
    pair = Pair(id="p1", cohort_id="c1", mentor_id="a", mentee_id="gone", score=1, reasons=(), created_at=T0)
    assert participation(cohort, members, [pair]) == Participation(
        signed_up=6, paired=1, active=2, paused=1, unreachable=1, left=2)


# rendering


def report(rounds: tuple[RoundReport, ...] = (), name: str = "Spring 2027") -> CohortReport:
    cohort = Cohort(id="c1", platform="console", workspace="console", name=name, state="running", weeks=12,
                    cadence="biweekly", created_at=T0)
    return CohortReport(cohort=cohort, participation=Participation(12, 10, 9, 1, 0, 2),
                        meetings=Meetings(12, 9, 5, 4, ((1, 6, 4), (2, 6, 5))),
                        objectives=ObjectiveStats(6, 5, 4, 2.4), nudges_sent=7, rounds=rounds, k=5,
                        safety_target=3.5)


def a_round(number: int, *groups: FeedbackGroup, kind: str = "mid") -> RoundReport:
    return RoundReport(round_id=f"r{number}", number=number, kind=kind, closed_at=T0, groups=groups)


HIDDEN = (FeedbackGroup("all", False), FeedbackGroup("mentor", False), FeedbackGroup("mentee", False))


def test_the_message_says_not_enough_answers_yet_for_hidden_groups_and_shows_the_rest() -> None:
    r1 = a_round(1, FeedbackGroup("all", True, 12, 3.1, 4.2, 0.75, ("Honest talks",)),
                 FeedbackGroup("mentor", False), FeedbackGroup("mentee", False))
    r2 = a_round(2, *HIDDEN, kind="end")
    text = as_text(report_message(report((r1, r2))))
    assert "Round 1 (mid-way, closed 2027-03-01)\nEveryone: 12 answers, safety 3.1/5, value 4.2/5, " \
           "would do it again 75 %\nMentors: not enough answers yet\nMentees: not enough answers yet" in text
    assert "Round 2 (end, closed 2027-03-01)\nEveryone: not enough answers yet" in text
    assert "- Honest talks" in text
    assert "below the target of 3.5" in text
    assert 'Meeting rate: 75 % (9 of 12 check-ins answered "we met")' in text


def test_without_closed_rounds_the_message_says_answers_are_published_after_close() -> None:
    text = as_text(report_message(report()))
    assert "no round has closed yet" in text


def test_the_aggregates_csv_holds_numbers_only_and_escapes_formulas() -> None:
    r1 = a_round(1, FeedbackGroup("all", True, 12, 3.1, 4.2, 0.75, ("=cmd|' /C calc'!A0",)),
                 FeedbackGroup("mentor", False), FeedbackGroup("mentee", False))
    raw = aggregates_csv(report((r1,), name="=HYPERLINK(\"http://evil\")"))
    rows = list(csv.reader(io.StringIO(raw)))
    assert rows[0] == ["section", "round", "group", "measure", "value"]
    assert ["feedback", "Round 1 (mid-way, closed 2027-03-01)", "all", "safety", "3.10"] in rows
    assert ["feedback", "Round 1 (mid-way, closed 2027-03-01)", "mentor", "status", "not enough answers yet"] in rows
    assert "calc" not in raw  # free text is never exported
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row)


def test_the_pairs_csv_escapes_every_formula_looking_cell() -> None:
    line = PairLine(mentor="=SUM(A1)", mentee="@Dana", state="active", score=80, forced=False,
                    started="2027-03-01", ended="", reasons="-covers GenAI; +2 levels apart")
    rows = list(csv.reader(io.StringIO(pairs_csv([line]))))
    assert rows[1][:2] == ["'=SUM(A1)", "'@Dana"]
    assert rows[1][-1] == "'-covers GenAI; +2 levels apart"
    raw = pairs_csv([PairLine("\tx", "\ry", "active", 1, True, "", "", "")])
    tabbed = list(csv.reader(io.StringIO(raw, newline="")))
    assert tabbed[1][:2] == ["'\tx", "'\ry"] and tabbed[1][4] == "yes"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_chart_is_a_png_of_the_expected_size_with_and_without_data() -> None:
    r1 = a_round(1, FeedbackGroup("all", True, 12, 3.1, 4.2, 0.75), FeedbackGroup("mentor", False),
                 FeedbackGroup("mentee", False))
    full = render_chart(report((r1, a_round(2, *HIDDEN, kind="end"))))
    empty = render_chart(report())
    for data in (full, empty):
        assert png_size(data) == (WIDTH_PX, HEIGHT_PX)
        assert 2_000 < len(data) < 60_000
        assert data.endswith(b"IEND\xaeB`\x82")
    assert full != empty
