"""A cohort report in words (a neutral Message every platform renders) and as CSV of the same aggregates."""

from __future__ import annotations

import re
from collections.abc import Sequence

from conversations.csv_export import to_csv
from conversations.messages import Fact, ImageFile, Message
from conversations.reports import (
    MIN_PAIRS,
    NOT_ENOUGH,
    ROLE_WORDS,
    CohortReport,
    FeedbackGroup,
    PairLine,
    RoundReport,
    cohort_safety,
)

COMMENTS_SHOWN = 20  # per round in the message; more would drown the numbers

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def file_stem(report: CohortReport) -> str:
    """A file name from the cohort's name: letters, digits, dots, dashes only."""
    return "report-" + (_UNSAFE_NAME.sub("-", report.cohort.name).strip("-.").lower() or report.cohort.id[:8])


def _pct(part: int, whole: int, unit: str = "") -> str:
    return f"{100 * part / whole:.0f} % ({part} of {whole}{unit})" if whole else "-"


def _group_line(group: FeedbackGroup) -> str:
    who = ROLE_WORDS[group.role]
    if not group.shown:
        return f"{who}: {NOT_ENOUGH}"
    parts = [f"{group.answers} answers"]
    if group.safety is not None:
        parts.append(f"safety {group.safety:.1f}/5")
    if group.value is not None:
        parts.append(f"value {group.value:.1f}/5")
    if group.again is not None:
        parts.append(f"would do it again {100 * group.again:.0f} %")
    return f"{who}: " + ", ".join(parts)


def _round_section(r: RoundReport) -> str:
    return "\n".join([r.label, *(_group_line(g) for g in r.groups)])


def _comments_section(r: RoundReport) -> str | None:
    comments = r.group("all").comments
    if not comments:
        return None
    shown = [f"- {c}" for c in comments[:COMMENTS_SHOWN]]
    if len(comments) > COMMENTS_SHOWN:
        shown.append(f"...and {len(comments) - COMMENTS_SHOWN} more.")
    return f"In their own words, round {r.number} (names and mentions removed):\n" + "\n".join(shown)


def report_facts(report: CohortReport) -> tuple[Fact, ...]:
    p, m, o = report.participation, report.meetings, report.objectives
    return (
        Fact("Signed up", str(p.signed_up)),
        Fact("Paired", str(p.paired)),
        Fact("Active / paused", f"{p.active} / {p.paused}"
             + (f" ({p.unreachable} unreachable)" if p.unreachable else "")),
        Fact("Left", str(p.left)),
        Fact("Meeting rate", _pct(m.met, m.sent, " check-ins answered \"we met\"")),
        Fact("Pairs that met", _pct(m.pairs_met, m.pairs)),
        Fact("Objectives agreed", f"{o.agreed} by {o.pairs_with_agreed} pairs" if o.agreed else "none yet"),
        Fact("Objective progress", f"{o.average_progress:.1f} of 4" if o.average_progress is not None else "-"),
        Fact("Nudges sent", str(report.nudges_sent)),
    )


def report_message(report: CohortReport, chart: bytes | None = None) -> Message:
    """The report as an admin reads it: facts first, then each closed round's groups, then the rules."""
    sections: list[str] = []
    if report.rounds:
        for r in report.rounds:
            sections.append(_round_section(r))
            comments = _comments_section(r)
            if comments:
                sections.append(comments)
    else:
        sections.append("Feedback: no round has closed yet. Answers are published only after their round closes.")
    safety = cohort_safety(report)
    if safety is not None and report.safety_target is not None and safety < report.safety_target:
        sections.append(f"Safety ({safety:.1f}) is below the target of {report.safety_target:.1f}: consider a "
                        "facilitated reset session with the pairs.")
    sections.append(f"A group shows only with at least {report.k} answers from a cohort of at least {MIN_PAIRS} "
                    f"pairs, free text only from {2 * report.k} answers; when one role is hidden so is the other. "
                    "Ratings are never shown per pair.")
    image = ImageFile(f"{file_stem(report)}.png", chart, chart_alt(report)) if chart is not None else None
    return Message(f"Report for '{report.cohort.name}' ({report.cohort.state})", tuple(sections),
                   report_facts(report), image=image)


def chart_alt(report: CohortReport) -> str:
    """The chart in one sentence, for whoever cannot see it."""
    m = report.meetings
    rates = ", ".join(f"{100 * met / sent:.0f} %" for _, sent, met in m.by_round) or "no check-ins yet"
    safety = ", ".join(
        f"{g.safety:.1f}" if g.shown and g.safety is not None else NOT_ENOUGH
        for g in (r.group("all") for r in report.rounds)) or "no closed round yet"
    return f"Meeting rate per check-in round: {rates}. Safety per feedback round: {safety}."


def as_text(message: Message) -> str:
    """A message as plain text, for the command line."""
    lines = [message.text]
    lines += [f"{fact.label}: {fact.value}" for fact in message.facts]
    for section in message.sections:
        lines += ["", section]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# CSV


AGGREGATE_HEADER = ("section", "round", "group", "measure", "value")
PAIR_HEADER = ("mentor", "mentee", "state", "score", "forced", "started", "ended", "reasons")


def _num(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def aggregates_csv(report: CohortReport) -> str:
    """Every number of the report, one a row; hidden groups say so and nothing else. Never a raw answer."""
    p, m, o = report.participation, report.meetings, report.objectives
    rows: list[tuple[object, ...]] = [
        ("participation", "", "", "signed_up", p.signed_up),
        ("participation", "", "", "paired", p.paired),
        ("participation", "", "", "active", p.active),
        ("participation", "", "", "paused", p.paused),
        ("participation", "", "", "unreachable", p.unreachable),
        ("participation", "", "", "left", p.left),
        ("meetings", "", "", "checkins_sent", m.sent),
        ("meetings", "", "", "checkins_met", m.met),
        ("meetings", "", "", "meeting_rate", _num(m.rate, 3)),
        ("meetings", "", "", "pairs", m.pairs),
        ("meetings", "", "", "pairs_met", m.pairs_met),
    ]
    for number, sent, met in m.by_round:
        rows += [("meetings", f"check-in {number}", "", "checkins_sent", sent),
                 ("meetings", f"check-in {number}", "", "checkins_met", met)]
    rows += [
        ("objectives", "", "", "proposed", o.proposed),
        ("objectives", "", "", "agreed", o.agreed),
        ("objectives", "", "", "pairs_with_agreed", o.pairs_with_agreed),
        ("objectives", "", "", "average_progress_of_4", _num(o.average_progress)),
        ("nudges", "", "", "sent", report.nudges_sent),
    ]
    for r in report.rounds:
        for g in r.groups:
            where = ("feedback", r.label, g.role)
            if not g.shown:
                rows.append((*where, "status", NOT_ENOUGH))
                continue
            rows += [(*where, "answers", g.answers), (*where, "safety", _num(g.safety)),
                     (*where, "value", _num(g.value)), (*where, "would_do_again", _num(g.again, 3))]
    return to_csv(AGGREGATE_HEADER, rows)


def pairs_csv(lines: Sequence[PairLine]) -> str:
    """Every pair of the cohort with the reasons it was made."""
    return to_csv(PAIR_HEADER, [(p.mentor, p.mentee, p.state, p.score, "yes" if p.forced else "no", p.started,
                                 p.ended, p.reasons) for p in lines])
