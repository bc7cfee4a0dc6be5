"""Domain objects the engine works with; storage hands these out, never rows."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Literal

from conversations.events import Actor

Role = Literal["mentor", "mentee"]
PersonStatus = Literal["active", "paused", "unreachable"]
CohortState = Literal["signup", "running", "ended"]
Cadence = Literal["weekly", "biweekly", "monthly"]
JobState = Literal["pending", "done", "failed"]
OutboxState = Literal["pending", "sent", "dead"]

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class Profile:
    """What a person told us when signing up; validated before it gets here."""

    name: str
    role: Role
    level: str
    department: str
    time_zone: str
    working_days: tuple[str, ...]
    work_start: str  # "09:00", local
    work_end: str  # "17:00", local
    topics_teach: tuple[str, ...]
    topics_learn: tuple[str, ...]
    languages: tuple[str, ...]
    goals: str = ""
    manager: str = ""
    email: str = ""
    avoid: tuple[str, ...] = ()  # emails of people they prefer not to be paired with: private, a hard rule only


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    actor: Actor
    profile: Profile
    status: PersonStatus = "active"
    paused_until: datetime | None = None
    created_at: datetime | None = None

    def with_status(self, status: PersonStatus, paused_until: datetime | None = None) -> Person:
        return replace(self, status=status, paused_until=paused_until)


@dataclass(frozen=True, slots=True)
class Cohort:
    id: str
    platform: str
    workspace: str
    name: str
    state: CohortState
    weeks: int
    cadence: Cadence
    created_at: datetime
    signup_until: date | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    members_left: int = 0  # an anonymous count of members who left and were erased


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    kind: str  # e.g. "pause.end"
    subject: str  # e.g. a person id
    due_at: datetime
    state: JobState = "pending"
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    to: Actor
    message_json: str
    attempts: int = 0
    state: OutboxState = "pending"
    platform_ref: str | None = None
    also: tuple[Actor, ...] = ()  # a group message: these people too, in one conversation


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    actor: str  # a pseudonym, never a platform id
    action: str  # e.g. "admin.cohort.open"
    outcome: Literal["ok", "denied", "invalid"]
    target: str | None = None  # a pseudonym
    detail: str = ""  # never a name or a platform id
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Admin:
    actor: Actor
    bootstrap: bool = False


PairState = Literal["active", "ended"]


@dataclass(frozen=True, slots=True)
class Reason:
    """One criterion's part of a pair's score, with the words that explain it."""

    criterion: str
    points: int
    text: str


@dataclass(frozen=True, slots=True)
class Pair:
    """A mentor and a mentee in a cohort, with the explanation of why they were paired."""

    id: str
    cohort_id: str
    mentor_id: str
    mentee_id: str
    score: int
    reasons: tuple[Reason, ...]
    created_at: datetime
    state: PairState = "active"
    forced: bool = False  # paired by hand with --force, past a hard rule
    ended_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Preview:
    """A proposed pairing as an admin saw it; confirming commits exactly this, if nothing changed since."""

    id: str
    cohort_id: str
    created_at: datetime
    fingerprint: str  # of everything the pairing was computed from
    payload: str  # the proposed pairs and the unmatched, as JSON
    late: bool = False
    used: bool = False


@dataclass(frozen=True, slots=True)
class Objective:
    """A learning objective a pair proposed; both must agree before it counts."""

    id: str
    pair_id: str
    text: str
    proposed_by: str  # person id
    agreed: bool = False
    progress: int = 0  # 0-4


@dataclass(frozen=True, slots=True)
class HrRecord:
    """Trusted people data from HR: wins over what a person typed, and they cannot edit it."""

    key: str  # a lower-case email, or platform:workspace:user_id
    level: str = ""
    department: str = ""
    manager: str = ""
    location: str = ""


@dataclass(slots=True)
class Delivery:
    """What the platform said about a sent message."""

    ref: str
    extra: dict[str, str] = field(default_factory=dict)
