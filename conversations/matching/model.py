"""The matcher's inputs and outputs: candidates, rules, proposed pairs and the people left over."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

MatchRole = Literal["mentor", "mentee"]


@dataclass(frozen=True, slots=True)
class Candidate:
    """One person as the matcher sees them; the engine builds it from an active, unpaused Person."""

    id: str
    name: str
    role: MatchRole
    level: int  # index on the ladder, 0 = most junior
    department: str
    location: str
    email: str
    manager: str  # an email, or "" when unknown
    time_zone: str  # IANA name
    working_days: tuple[str, ...]  # "mon" .. "sun"
    work_start: str  # "09:00", local
    work_end: str  # "17:00", local
    topics_teach: tuple[str, ...]
    topics_learn: tuple[str, ...]
    goals: str
    languages: tuple[str, ...]
    context_wanted: tuple[str, ...] = ()  # organisational context a mentor wants
    context_offered: tuple[str, ...] = ()  # what a mentee offers
    capacity: int = 1  # mentees a mentor will take, capped by MatchingRules.mentor_capacity
    avoid: frozenset[str] = frozenset()  # ids this person privately prefers not to meet: a hard rule, never shown


@dataclass(frozen=True, slots=True)
class Weights:
    """Points per criterion; the score is their share of the sum, scaled to 0-100."""

    topics: int = 40
    context: int = 15
    cross_function: int = 15
    cross_location: int = 10
    overlap: int = 10
    new_contact: int = 10

    def total(self) -> int:
        return self.topics + self.context + self.cross_function + self.cross_location + self.overlap + self.new_contact


@dataclass(frozen=True, slots=True)
class MatchingRules:
    """The hard rules, weights and solver settings, from app.yaml."""

    min_level_gap: int = 2
    separate_departments: bool = True
    min_overlap_hours: float = 2.0
    mentor_capacity: int = 1
    fairness: Literal["none", "maximin"] = "none"
    weights: Weights = field(default_factory=Weights)
    prune_above: int = 2000  # per side; above it, each person's best candidates are solved exactly
    candidates_per_person: int = 40
    reference_date: date = date(2027, 1, 4)  # whose UTC offsets are used for overlap, e.g. the cohort start


@dataclass(frozen=True, slots=True)
class Contribution:
    """One criterion's points in a pair's score, with the reason in plain words."""

    criterion: str
    points: int
    reason: str


@dataclass(frozen=True, slots=True)
class ProposedPair:
    mentor: str
    mentee: str
    score: int  # 0-100; the contributions' points add up to it
    contributions: tuple[Contribution, ...]
    mentor_rank: int  # 1 = the mentor's best allowed mentee by score (ties share a rank)
    mentee_rank: int
    mentor_options: int  # how many allowed partners the mentor had
    mentee_options: int


@dataclass(frozen=True, slots=True)
class Unmatched:
    person: str
    reason: str


@dataclass(frozen=True, slots=True)
class Matching:
    pairs: tuple[ProposedPair, ...]  # new pairs only: kept pairs are not repeated
    unmatched: tuple[Unmatched, ...]
    total: int  # sum of the new pairs' scores
    worst: int | None  # lowest new pair's score, None when there is none
