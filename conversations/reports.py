"""Cohort reports for admins: participation, meetings, objectives, nudges and anonymous feedback, never below k."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from statistics import fmean
from typing import Literal

from conversations.model import (
    CheckIn,
    Cohort,
    FeedbackAnswer,
    FeedbackRound,
    Objective,
    Pair,
    Person,
)

GroupRole = Literal["all", "mentor", "mentee"]
ROLES: tuple[GroupRole, ...] = ("all", "mentor", "mentee")
ROLE_WORDS: dict[GroupRole, str] = {"all": "Everyone", "mentor": "Mentors", "mentee": "Mentees"}
SAFETY_ITEMS = ("safety_tough_topic", "safety_mistakes", "safety_valued")
REVERSE_SCORED = frozenset({"safety_mistakes"})  # a higher answer means mistakes were held against them: worse
RATED = (*SAFETY_ITEMS, "value", "again")
MIN_PAIRS = 3  # a group shows only if the cohort had at least this many pairs while the round ran
NOT_ENOUGH = "not enough answers yet"
KIND_WORDS = {"mid": "mid-way", "end": "end", "adhoc": "on demand"}
SENT_STATES = frozenset({"sent", "answered", "no_answer"})
Names = Sequence[str] | frozenset[str] | None  # the people's names, or name_words() of them made once


# ---------------------------------------------------------------------------
# What a report is made of


@dataclass(frozen=True, slots=True)
class Participation:
    signed_up: int  # everyone who joined the cohort, those who left included
    paired: int
    active: int
    paused: int
    unreachable: int
    left: int


@dataclass(frozen=True, slots=True)
class Meetings:
    sent: int  # check-ins delivered
    met: int  # of those, answered "yes, we met"
    pairs: int
    pairs_met: int  # pairs with at least one "yes"
    by_round: tuple[tuple[int, int, int], ...]  # (check-in round, sent, met)

    @property
    def rate(self) -> float | None:
        return self.met / self.sent if self.sent else None


@dataclass(frozen=True, slots=True)
class ObjectiveStats:
    proposed: int
    agreed: int
    pairs_with_agreed: int
    average_progress: float | None  # 0-4, over agreed objectives


@dataclass(frozen=True, slots=True)
class FeedbackGroup:
    """One cohort x round x role group: its numbers only when it is big enough, and its neighbours are too."""

    role: GroupRole
    shown: bool
    answers: int = 0  # respondents; 0 whenever hidden, so a hidden group's size is never told
    safety: float | None = None  # 1-5, the three Edmondson items with "mistakes held against me" reversed
    value: float | None = None  # 1-5
    again: float | None = None  # share who would do it again, 0-1
    comments: tuple[str, ...] = ()  # names and mentions removed; only for everyone, at 2k answers


@dataclass(frozen=True, slots=True)
class RoundReport:
    round_id: str
    number: int  # 1-based among the cohort's rounds, by opening
    kind: str
    closed_at: datetime | None
    groups: tuple[FeedbackGroup, ...]  # everyone, mentors, mentees

    @property
    def label(self) -> str:
        closed = f", closed {self.closed_at.date().isoformat()}" if self.closed_at else ""
        return f"Round {self.number} ({KIND_WORDS.get(self.kind, self.kind)}{closed})"

    def group(self, role: GroupRole) -> FeedbackGroup:
        return next(g for g in self.groups if g.role == role)


@dataclass(frozen=True, slots=True)
class CohortReport:
    cohort: Cohort
    participation: Participation
    meetings: Meetings
    objectives: ObjectiveStats
    nudges_sent: int
    rounds: tuple[RoundReport, ...]  # closed rounds only
    k: int
    safety_target: float | None = None


@dataclass(frozen=True, slots=True)
class PairLine:
    """A pair with its explanation, for the export: no feedback of any kind is ever tied to a pair."""

    mentor: str
    mentee: str
    state: str
    score: int
    forced: bool
    started: str
    ended: str
    reasons: str


# ---------------------------------------------------------------------------
# Pure aggregation


def participation(cohort: Cohort, members: Sequence[Person], pairs: Sequence[Pair]) -> Participation:
    """Who is in the cohort now, and how many left (an anonymous count)."""
    ids = {p.id for p in members}
    paired = {pid for pair in pairs for pid in (pair.mentor_id, pair.mentee_id) if pid in ids}
    return Participation(
        signed_up=len(members) + cohort.members_left,
        paired=len(paired),
        active=sum(p.status == "active" for p in members),
        paused=sum(p.status == "paused" for p in members),
        unreachable=sum(p.status == "unreachable" for p in members),
        left=cohort.members_left,
    )


def meetings(checkins: Iterable[CheckIn], pairs: Sequence[Pair]) -> Meetings:
    """The meeting rate: check-ins answered "yes, we met" out of those delivered, overall and per round."""
    sent_by: dict[int, int] = {}
    met_by: dict[int, int] = {}
    pairs_met: set[str] = set()
    for c in checkins:
        if c.sent_at is None and c.state not in SENT_STATES:
            continue
        sent_by[c.round] = sent_by.get(c.round, 0) + 1
        if c.answer == "yes":
            met_by[c.round] = met_by.get(c.round, 0) + 1
            pairs_met.add(c.pair_id)
    rounds = tuple((r, sent_by[r], met_by.get(r, 0)) for r in sorted(sent_by))
    return Meetings(sent=sum(sent_by.values()), met=sum(met_by.values()), pairs=len(pairs),
                    pairs_met=len(pairs_met), by_round=rounds)


def objective_stats(objectives: Iterable[Objective]) -> ObjectiveStats:
    items = list(objectives)
    agreed = [o for o in items if o.agreed]
    return ObjectiveStats(
        proposed=len(items), agreed=len(agreed), pairs_with_agreed=len({o.pair_id for o in agreed}),
        average_progress=fmean(o.progress for o in agreed) if agreed else None)


def respondents(answers: Sequence[FeedbackAnswer]) -> int:
    """How many people answered: each answers every rated question once, so the largest count of one question."""
    counts: dict[str, int] = {}
    for a in answers:
        if a.question in RATED and a.value is not None:
            counts[a.question] = counts.get(a.question, 0) + 1
    return max(counts.values(), default=0)


def safety_score(answers: Iterable[FeedbackAnswer]) -> float | None:
    """The mean of the three safety items, 1-5, with "mistakes were held against me" reverse-scored (6 - value)."""
    values = [6 - a.value if a.question in REVERSE_SCORED else a.value
              for a in answers if a.question in SAFETY_ITEMS and a.value is not None]
    return fmean(values) if values else None


def _mean(answers: Iterable[FeedbackAnswer], question: str) -> float | None:
    values = [a.value for a in answers if a.question == question and a.value is not None]
    return fmean(values) if values else None


def pairs_during(pairs: Iterable[Pair], feedback_round: FeedbackRound, now: datetime) -> int:
    """How many of the cohort's pairs existed while the round ran (from the pairs, never from the answers)."""
    start = _utc(feedback_round.opened_at)
    end = _utc(feedback_round.closed_at or now)
    return sum(1 for p in pairs
               if _utc(p.created_at) <= end and (p.ended_at is None or _utc(p.ended_at) >= start))


def feedback_groups(answers: Sequence[FeedbackAnswer], *, pairs: int, k: int,
                    names: Names = ()) -> tuple[FeedbackGroup, ...]:
    """Everyone, mentors, mentees of one closed round, each shown only with at least k answers and 3 pairs.

    Everyone's total is the sum of the two roles, so when one role is hidden the other is hidden too:
    otherwise subtracting the shown role from the total would reveal the hidden one. Free text shows
    only for everyone (a role narrows it down) and only at 2k answers, with names and mentions removed.
    """
    by_role: dict[GroupRole, list[FeedbackAnswer]] = {
        "all": list(answers),
        "mentor": [a for a in answers if a.role == "mentor"],
        "mentee": [a for a in answers if a.role == "mentee"],
    }
    counts = {role: respondents(group) for role, group in by_role.items()}
    visible = {role: pairs >= MIN_PAIRS and counts[role] >= k for role in ROLES}
    if not (visible["mentor"] and visible["mentee"]):
        visible["mentor"] = visible["mentee"] = False  # complementary suppression
    groups: list[FeedbackGroup] = []
    for role in ROLES:
        if not visible[role]:
            groups.append(FeedbackGroup(role=role, shown=False))
            continue
        group = by_role[role]
        again = [a.value for a in group if a.question == "again" and a.value is not None]
        comments: tuple[str, ...] = ()
        if role == "all" and counts[role] >= 2 * k:
            comments = tuple(sorted(text for text in (scrub(a.text, names) for a in group
                                                      if a.question == "comment") if text))
        groups.append(FeedbackGroup(
            role=role, shown=True, answers=counts[role], safety=safety_score(group), value=_mean(group, "value"),
            again=(sum(1 for v in again if v) / len(again)) if again else None, comments=comments))
    return tuple(groups)


def round_report(feedback_round: FeedbackRound, number: int, answers: Sequence[FeedbackAnswer], *,
                 pairs: Sequence[Pair], k: int, now: datetime, names: Names = ()) -> RoundReport:
    """One closed round's groups; an open round publishes nothing (answers of open rounds never reach here)."""
    usable = answers if feedback_round.state == "closed" else ()
    return RoundReport(round_id=feedback_round.id, number=number, kind=feedback_round.kind,
                       closed_at=feedback_round.closed_at,
                       groups=feedback_groups(usable, pairs=pairs_during(pairs, feedback_round, now), k=k,
                                              names=names))


def cohort_safety(report: CohortReport) -> float | None:
    """The latest closed round's safety score for everyone, if that group is shown (at least k answers)."""
    for r in reversed(report.rounds):
        group = r.group("all")
        if group.shown:
            return group.safety
    return None


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------
# Free text without names


_SLACK_MENTION = re.compile(r"<[@#!][^<>]*>")
_TEAMS_MENTION = re.compile(r"<at\b[^>]*>.*?</at>", re.IGNORECASE | re.DOTALL)
_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_AT_WORD = re.compile(r"(?<![\w@])@[\w.'-]+")
_SPACES = re.compile(r"[ \t]+")
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")  # letters, with inner apostrophes and hyphens: O'Neil
_NAME_JOINERS = re.compile(r"['’-]")
SOMEONE = "[someone]"


def name_words(names: Iterable[str]) -> frozenset[str]:
    """Every part of every name (two letters or more), lower-cased: "Jean-Luc O'Neil" gives jean-luc, jean,
    luc, o'neil, neil. Looked up word by word, so a workspace of thousands costs one pass over the text."""
    words: set[str] = set()
    for name in names:
        for part in name.casefold().split():
            for piece in (part, *_NAME_JOINERS.split(part)):
                piece = piece.strip(".,'’-")
                if len(piece) >= 2:
                    words.add(piece)
    return frozenset(words)


def scrub(text: str, names: Names) -> str:
    """Free text with mentions, emails, @words and the names of the cohort's people replaced by [someone]."""
    out = _TEAMS_MENTION.sub(SOMEONE, text)
    out = _SLACK_MENTION.sub(SOMEONE, out)
    out = _EMAIL.sub(SOMEONE, out)
    out = _AT_WORD.sub(SOMEONE, out)
    words = names if isinstance(names, frozenset) else name_words(names or ())
    if words:
        out = _WORD.sub(lambda m: SOMEONE if _is_name(m.group(0), words) else m.group(0), out)
    return _SPACES.sub(" ", out).strip()


def _is_name(word: str, names: frozenset[str]) -> bool:
    folded = word.casefold()
    return folded in names or any(piece in names for piece in _NAME_JOINERS.split(folded) if len(piece) >= 2)
