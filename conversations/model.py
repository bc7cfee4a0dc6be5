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


OutboxOutcome = Literal["sent", "retry", "dead", "released"]


@dataclass(frozen=True, slots=True)
class OutboxResult:
    """What became of one claimed outbox item; recorded only while that claim still holds the item."""

    item_id: int
    attempt: int  # the item's attempts as claimed: a later claim (another sender's) makes this one stale
    outcome: OutboxOutcome  # "released": never sent, its lease too short to start; the attempt is not counted
    at: datetime  # sent: when the platform accepted it; retry and released: when it is due again
    platform_ref: str | None = None
    error: str = ""


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


CheckInState = Literal["scheduled", "sent", "answered", "no_answer", "skipped"]
CheckInAnswer = Literal["yes", "rescheduled", "not_yet", "help"]


@dataclass(frozen=True, slots=True)
class CheckIn:
    """One person's check-in of one round of their pair: sent in their own working hours, answered once."""

    id: str
    pair_id: str
    person_id: str
    round: int  # 1-based
    due_at: datetime  # when it is (or was) to be delivered, UTC
    state: CheckInState = "scheduled"
    sent_at: datetime | None = None
    answer: CheckInAnswer | None = None
    answered_at: datetime | None = None
    note: str = ""  # private to the person who wrote it
    progress: tuple[tuple[str, int], ...] = ()  # (objective id, 0-4) as answered in this check-in
    reminded: bool = False


@dataclass(frozen=True, slots=True)
class Nudge:
    """A psychological-safety or drift nudge to one person of a pair: once per trigger, once a day at most."""

    id: int
    pair_id: str
    person_id: str
    trigger: str  # a key of the nudge catalogue, e.g. "before_first_meeting"
    due_at: datetime
    sent_at: datetime | None = None
    sent_day: str | None = None  # the person's local date it was sent on, YYYY-MM-DD


HelpAuthor = Literal["person", "admin"]


@dataclass(frozen=True, slots=True)
class HelpRequest:
    """A confidential thread between one person and the program admins; their partner never sees it."""

    id: str  # short, typed by admins: `admin reply H7K2Q text`
    person_id: str
    cohort_id: str | None
    pair_id: str | None
    opened_at: datetime
    state: Literal["open", "closed"] = "open"


@dataclass(frozen=True, slots=True)
class HelpMessage:
    request_id: str
    author: HelpAuthor
    text: str
    at: datetime


RoundKind = Literal["mid", "end", "adhoc"]


@dataclass(frozen=True, slots=True)
class FeedbackRound:
    """One prompt wave of a cohort's anonymous feedback; its answers are published only after it closes."""

    id: str
    cohort_id: str
    kind: RoundKind
    opened_at: datetime
    closes_at: datetime | None = None
    closed_at: datetime | None = None
    state: Literal["open", "closed"] = "open"


@dataclass(frozen=True, slots=True)
class FeedbackAnswer:
    """One anonymous answer to one question: exactly these fields, nothing that leads back to a person."""

    id: str  # random
    cohort_id: str
    round_id: str
    role: Role
    question: str  # safety_tough_topic | safety_mistakes | safety_valued | value | again | comment
    value: int | None  # 1-5; "again" is 1 (yes) or 0 (no); None for the comment
    text: str = ""  # the comment, as written


@dataclass(slots=True)
class Delivery:
    """What the platform said about a sent message."""

    ref: str
    extra: dict[str, str] = field(default_factory=dict)
