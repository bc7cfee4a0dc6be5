"""Typed program rules, validated from app.yaml's program sections at start; code never reads a dict."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from conversations.nudge_catalogue import NudgeSettings

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CohortDefaults(_Strict):
    weeks: int = Field(12, ge=1, le=104)
    cadence: Literal["weekly", "biweekly", "monthly"] = "biweekly"


class WorkingTime(_Strict):
    days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    start: str = "09:00"
    end: str = "17:00"

    @field_validator("days")
    @classmethod
    def _known_days(cls, days: tuple[str, ...]) -> tuple[str, ...]:
        bad = [d for d in days if d not in _DAYS]
        if bad or not days:
            raise ValueError(f"days must be a non-empty list of {', '.join(_DAYS)}")
        return days

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("a time of day must be HH:MM, 24-hour")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> WorkingTime:
        if self.start >= self.end:
            raise ValueError("start must be before end")
        return self


class Limits(_Strict):
    name: int = Field(80, ge=1)
    department: int = Field(80, ge=1)
    manager: int = Field(120, ge=1)
    goals: int = Field(500, ge=1)
    topics: int = Field(10, ge=1, le=100)


class Admins(_Strict):
    console: tuple[str, ...] = ()
    slack: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()

    def for_platform(self, platform: str) -> tuple[str, ...]:
        return tuple(getattr(self, platform, ()))


class MatchingWeights(_Strict):
    """Points each criterion can add to a pair's score; the score is scaled to 0-100."""

    topics: int = Field(40, ge=0, le=100)
    context: int = Field(15, ge=0, le=100)
    cross_function: int = Field(15, ge=0, le=100)
    cross_location: int = Field(10, ge=0, le=100)
    overlap: int = Field(10, ge=0, le=100)
    new_contact: int = Field(10, ge=0, le=100)


class MatchingSettings(_Strict):
    """The hard rules and the score weights of matching: app.yaml's `program.matching`."""

    min_level_gap: int = Field(2, ge=0, le=20)
    separate_departments: bool = True
    min_overlap_hours: float = Field(2.0, ge=0, le=24)
    mentor_capacity: int = Field(1, ge=1, le=10)
    fairness: Literal["none", "maximin"] = "none"
    weights: MatchingWeights = MatchingWeights()
    candidates_per_person: int = Field(40, ge=5, le=500)
    exact_up_to: int = Field(2000, ge=10, le=20000)


class IntroSettings(_Strict):
    """What a new pair is told: expectations, a first agenda, and the first nudge for each role."""

    expectations: str = (
        "Meet every {cadence_words} for {weeks} weeks. The junior colleague leads the agenda; what is said "
        "in your sessions stays between you unless you both agree otherwise.")
    agenda: tuple[str, ...] = (
        "10 min: who you are, beyond the job title",
        "15 min: what each of you hopes to learn",
        "10 min: agree 1-3 learning objectives",
        "5 min: when and where you meet next")
    nudge_mentor: str = (
        "You were chosen for what you know. Your questions and your disagreements are the value here: "
        "say the thing you would normally keep to yourself.")
    nudge_mentee: str = (
        "The question you fear is naive is the one to ask first: asking it sets the tone for the whole "
        "program, and shows it is safe for your mentor to be candid too.")


class CheckinSettings(_Strict):
    """When check-ins arrive and how long they wait for an answer: app.yaml's `program.checkins`."""

    window: WorkingTime = WorkingTime(days=("tue", "wed", "thu"), start="10:00", end="16:00")
    remind_after_working_days: int = Field(2, ge=1, le=10)
    close_after_working_days: int = Field(5, ge=2, le=20)

    @model_validator(mode="after")
    def _remind_before_close(self) -> CheckinSettings:
        if self.remind_after_working_days >= self.close_after_working_days:
            raise ValueError("remind_after_working_days must be less than close_after_working_days")
        return self


class FeedbackSettings(_Strict):
    """Anonymous feedback rounds and who may see what of them: app.yaml's `program.feedback`."""

    k: int = Field(5, ge=2, le=100)  # a group's aggregates show only with at least k answers (free text: 2k)
    safety_target: float = Field(3.5, ge=1, le=5)  # below this cohort safety average, admins get a nudge
    open_days: int = Field(7, ge=1, le=60)  # a round closes by itself this many days after it opens
    remind_after_days: int = Field(3, ge=1, le=59)  # one reminder to everyone in the round
    comment_limit: int = Field(1000, ge=50, le=3000)  # characters of the optional free text
    mid_round: bool = True  # a round half-way through each cohort
    end_round: bool = True  # a round in the cohort's last week

    @model_validator(mode="after")
    def _remind_while_open(self) -> FeedbackSettings:
        if self.remind_after_days >= self.open_days:
            raise ValueError("remind_after_days must be less than open_days")
        return self


class ProgramSettings(_Strict):
    """Everything about how the program runs: app.yaml's `program` section."""

    command: str = Field("/mentor", pattern=r"^/[a-z0-9_-]{1,31}$")
    levels: tuple[str, ...] = ("L1", "L2", "L3", "L4", "L5", "L6", "L7", "L8", "L9", "L10")
    topics: tuple[str, ...] = ("GenAI",)
    languages: tuple[str, ...] = ("English",)
    cohort: CohortDefaults = CohortDefaults()
    working_time: WorkingTime = WorkingTime()
    limits: Limits = Limits()
    max_pause_weeks: int = Field(12, ge=1, le=52)
    admins: Admins = Admins()
    matching: MatchingSettings = MatchingSettings()
    intro: IntroSettings = IntroSettings()
    checkins: CheckinSettings = CheckinSettings()
    feedback: FeedbackSettings = FeedbackSettings()
    retention_months: int = Field(24, ge=1, le=240)  # an ended cohort's personal data is purged this much later
    nudges: NudgeSettings = NudgeSettings()

    @field_validator("levels", "topics", "languages")
    @classmethod
    def _unique_nonempty(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        if not values:
            raise ValueError("must list at least one entry")
        lowered = [v.strip().lower() for v in values]
        if len(set(lowered)) != len(lowered):
            raise ValueError("entries must be unique")
        if any(not v.strip() for v in values):
            raise ValueError("entries must not be blank")
        return values
