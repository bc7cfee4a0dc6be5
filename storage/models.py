"""The SQL tables behind the repositories; rows never leave storage/."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import JSON, DateTime, Dialect, Index, Text, UniqueConstraint, text
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database; SQLite stores it as naive UTC text."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: storage takes timezone-aware datetimes only")
        value = value.astimezone(UTC)
        # SQLite keeps the text as written: one zone, no offset, so text order is time order.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def new_id() -> str:
    return str(uuid4())


def utc_now() -> datetime:
    return datetime.now(UTC)


ACTIVE_COHORT_STATES = "state IN ('signup', 'running')"
ACTIVE_PAIR = "state = 'active'"


class PersonRow(SQLModel, table=True):
    __tablename__ = "people"

    id: str = Field(default_factory=new_id, primary_key=True)
    name: str
    role: str
    level: str
    department: str
    manager: str = ""
    email: str = ""
    time_zone: str
    working_days: list[str] = Field(default_factory=list, sa_type=JSON)
    work_start: str
    work_end: str
    topics_teach: list[str] = Field(default_factory=list, sa_type=JSON)
    topics_learn: list[str] = Field(default_factory=list, sa_type=JSON)
    goals: str = ""
    languages: list[str] = Field(default_factory=list, sa_type=JSON)
    avoid: list[str] = Field(default_factory=list, sa_type=JSON, sa_column_kwargs={"server_default": "[]"})
    status: str = "active"
    paused_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class IdentityRow(SQLModel, table=True):
    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("platform", "workspace", "user_id", name="uq_identities_user"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: str = Field(foreign_key="people.id", ondelete="CASCADE", index=True)
    platform: str
    workspace: str
    user_id: str


class AdminRow(SQLModel, table=True):
    __tablename__ = "admins"
    __table_args__ = (UniqueConstraint("platform", "workspace", "user_id", name="uq_admins_user"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str
    workspace: str
    user_id: str
    added_at: datetime = Field(sa_type=UTCDateTime)


class PseudonymRow(SQLModel, table=True):
    __tablename__ = "pseudonyms"
    __table_args__ = (
        UniqueConstraint("platform", "workspace", "user_id", name="uq_pseudonyms_user"),
        UniqueConstraint("token", name="uq_pseudonyms_token"),
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str
    workspace: str
    user_id: str
    token: str


class CohortRow(SQLModel, table=True):
    __tablename__ = "cohorts"
    __table_args__ = (
        UniqueConstraint("platform", "workspace", "name", name="uq_cohorts_name"),
        Index(
            "uq_cohorts_one_active",
            "platform",
            "workspace",
            unique=True,
            sqlite_where=text(ACTIVE_COHORT_STATES),
            postgresql_where=text(ACTIVE_COHORT_STATES),
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    platform: str
    workspace: str
    name: str
    state: str
    weeks: int
    cadence: str
    signup_until: date | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    members_left: int = 0


class MembershipRow(SQLModel, table=True):
    __tablename__ = "memberships"

    cohort_id: str = Field(foreign_key="cohorts.id", ondelete="CASCADE", primary_key=True)
    person_id: str = Field(foreign_key="people.id", ondelete="CASCADE", primary_key=True, index=True)
    joined_at: datetime = Field(sa_type=UTCDateTime)


class JobRow(SQLModel, table=True):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_due_at", "state", "due_at"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str
    subject: str = Field(index=True)
    due_at: datetime = Field(sa_type=UTCDateTime)
    state: str = "pending"
    attempts: int = 0
    last_error: str = ""
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class OutboxRow(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_state_next_attempt_at", "state", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str
    workspace: str
    user_id: str
    message_json: str = Field(sa_type=Text)
    state: str = "pending"
    attempts: int = 0
    next_attempt_at: datetime = Field(sa_type=UTCDateTime)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str = ""
    platform_ref: str | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    about: str | None = Field(default=None, index=True)  # the person the message speaks of, if any
    also: str = Field(default="[]", sa_type=Text, sa_column_kwargs={"server_default": "[]"})  # group DM: more ids


class AddressRow(SQLModel, table=True):
    __tablename__ = "addresses"
    __table_args__ = (UniqueConstraint("platform", "workspace", "user_id", name="uq_addresses_user"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str
    workspace: str
    user_id: str
    data: str = Field(sa_type=Text)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class AuditRow(SQLModel, table=True):
    __tablename__ = "audit"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    actor: str
    action: str
    outcome: str
    target: str | None = None
    detail: str = ""



class InstallationRow(SQLModel, table=True):
    __tablename__ = "installations"

    platform: str = Field(primary_key=True)
    workspace: str = Field(primary_key=True)
    data: str = Field(sa_type=Text)
    installed_at: datetime = Field(sa_type=UTCDateTime)


class OAuthStateRow(SQLModel, table=True):
    __tablename__ = "oauth_states"

    state: str = Field(primary_key=True)
    expires_at: datetime = Field(sa_type=UTCDateTime)


class ProcessedEventRow(SQLModel, table=True):
    __tablename__ = "processed_events"

    platform: str = Field(primary_key=True)
    event_id: str = Field(primary_key=True)
    claimed_at: datetime = Field(sa_type=UTCDateTime, index=True)


class PairRow(SQLModel, table=True):
    __tablename__ = "pairs"
    __table_args__ = (
        Index("ix_pairs_cohort_id_state", "cohort_id", "state"),
        # The same mentor and mentee are an active pair at most once: the database keeps the rule.
        Index(
            "uq_pairs_active",
            "mentor_id",
            "mentee_id",
            unique=True,
            sqlite_where=text(ACTIVE_PAIR),
            postgresql_where=text(ACTIVE_PAIR),
        ),
    )

    id: str = Field(default_factory=new_id, primary_key=True)
    cohort_id: str = Field(foreign_key="cohorts.id", ondelete="CASCADE")
    mentor_id: str = Field(foreign_key="people.id", ondelete="CASCADE", index=True)
    mentee_id: str = Field(foreign_key="people.id", ondelete="CASCADE", index=True)
    score: int
    reasons: list[list[Any]] = Field(default_factory=list, sa_type=JSON)  # [criterion, points, text]
    state: str = "active"
    forced: bool = False
    created_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PreviewRow(SQLModel, table=True):
    __tablename__ = "previews"

    id: str = Field(default_factory=new_id, primary_key=True)
    cohort_id: str = Field(foreign_key="cohorts.id", ondelete="CASCADE", index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)
    fingerprint: str
    payload: str = Field(sa_type=Text)
    late: bool = False
    used: bool = False


class ExclusionRow(SQLModel, table=True):
    __tablename__ = "exclusions"

    # Stored in canonical order, a < b by code point, so each pair of people has one row. The migration
    # adds the check ck_exclusions_canonical, in the collation that compares as Python does.
    a: str = Field(foreign_key="people.id", ondelete="CASCADE", primary_key=True)
    b: str = Field(foreign_key="people.id", ondelete="CASCADE", primary_key=True, index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)


class ObjectiveRow(SQLModel, table=True):
    __tablename__ = "objectives"

    id: str = Field(default_factory=new_id, primary_key=True)
    pair_id: str = Field(foreign_key="pairs.id", ondelete="CASCADE", index=True)
    text: str = Field(sa_type=Text)
    proposed_by: str
    agreed: bool = False
    progress: int = 0
    created_at: datetime = Field(default_factory=utc_now, sa_type=UTCDateTime)


class HrRecordRow(SQLModel, table=True):
    __tablename__ = "hr_records"

    key: str = Field(primary_key=True)
    level: str = ""
    department: str = ""
    manager: str = ""
    location: str = ""
    imported_at: datetime = Field(sa_type=UTCDateTime)


SENT_NUDGE = "sent_day IS NOT NULL"


class CheckInRow(SQLModel, table=True):
    __tablename__ = "checkins"
    __table_args__ = (UniqueConstraint("pair_id", "person_id", "round", name="uq_checkins_round"),)

    id: str = Field(default_factory=new_id, primary_key=True)
    pair_id: str = Field(foreign_key="pairs.id", ondelete="CASCADE", index=True)
    person_id: str = Field(foreign_key="people.id", ondelete="CASCADE", index=True)
    round: int
    due_at: datetime = Field(sa_type=UTCDateTime)
    state: str = "scheduled"
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    answer: str | None = None
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    note: str = Field(default="", sa_type=Text)
    progress: list[list[Any]] = Field(default_factory=list, sa_type=JSON)  # [[objective id, 0-4], ...]
    reminded: bool = False


class NudgeRow(SQLModel, table=True):
    __tablename__ = "nudges"
    __table_args__ = (
        UniqueConstraint("pair_id", "person_id", "trigger", name="uq_nudges_trigger"),
        # At most one nudge a day per person, across replicas: the database keeps the rule.
        Index("uq_nudges_one_a_day", "person_id", "sent_day", unique=True,
              sqlite_where=text(SENT_NUDGE), postgresql_where=text(SENT_NUDGE)),
    )

    id: int | None = Field(default=None, primary_key=True)
    pair_id: str = Field(foreign_key="pairs.id", ondelete="CASCADE", index=True)
    person_id: str = Field(foreign_key="people.id", ondelete="CASCADE", index=True)
    trigger: str
    due_at: datetime = Field(sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_day: str | None = None


class HelpRequestRow(SQLModel, table=True):
    __tablename__ = "help_requests"

    id: str = Field(primary_key=True)
    person_id: str = Field(foreign_key="people.id", ondelete="CASCADE", index=True)
    cohort_id: str | None = Field(default=None, foreign_key="cohorts.id", ondelete="CASCADE")
    pair_id: str | None = Field(default=None, foreign_key="pairs.id", ondelete="SET NULL")
    opened_at: datetime = Field(sa_type=UTCDateTime)
    state: str = "open"


class HelpMessageRow(SQLModel, table=True):
    __tablename__ = "help_messages"

    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(foreign_key="help_requests.id", ondelete="CASCADE", index=True)
    author: str
    text: str = Field(sa_type=Text)
    at: datetime = Field(sa_type=UTCDateTime)


OPEN_ROUND = "state = 'open'"


class FeedbackRoundRow(SQLModel, table=True):
    __tablename__ = "feedback_rounds"
    __table_args__ = (
        # One open round per cohort, across replicas: the database keeps the rule.
        Index("uq_feedback_rounds_one_open", "cohort_id", unique=True,
              sqlite_where=text(OPEN_ROUND), postgresql_where=text(OPEN_ROUND)),
    )

    id: str = Field(primary_key=True)
    cohort_id: str = Field(foreign_key="cohorts.id", ondelete="CASCADE", index=True)
    kind: str
    opened_at: datetime = Field(sa_type=UTCDateTime)
    closes_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    state: str = "open"


# Anonymity: these are ALL the columns an answer has (a test pins them). No person, pair, time or
# platform message id; on SQLite no rowid either (WITHOUT ROWID: rows sit in the order of their random id).
FEEDBACK_ANSWER_COLUMNS = ("id", "cohort_id", "round_id", "role", "question", "value", "text")


class FeedbackAnswerRow(SQLModel, table=True):
    __tablename__ = "feedback_answers"
    __table_args__ = {"sqlite_with_rowid": False}

    id: str = Field(primary_key=True)
    cohort_id: str = Field(foreign_key="cohorts.id", ondelete="CASCADE")
    round_id: str = Field(foreign_key="feedback_rounds.id", ondelete="CASCADE", index=True)
    role: str
    question: str
    value: int | None = None
    text: str = Field(default="", sa_type=Text)


class FeedbackReceiptRow(SQLModel, table=True):
    """A keyed hash of (person, round): someone answered. Deleted when the round closes."""

    __tablename__ = "feedback_receipts"
    __table_args__ = {"sqlite_with_rowid": False}

    round_id: str = Field(foreign_key="feedback_rounds.id", ondelete="CASCADE", primary_key=True)
    receipt: str = Field(primary_key=True)
