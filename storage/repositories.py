"""The engine's repository ports implemented over one SQL session; each hands out domain objects."""

from __future__ import annotations

from storage.feedback import SqlFeedbackRepository
from storage.matching import (
    SqlExclusionRepository,
    SqlHrRepository,
    SqlObjectiveRepository,
    SqlPairRepository,
    SqlPreviewRepository,
)
from storage.people import SqlCohortRepository, SqlPeopleRepository
from storage.platform import SqlInstallationStore, SqlOAuthStates, SqlProcessedEvents
from storage.records import SqlAddressBook, SqlAdminRepository, SqlAuditLog
from storage.rhythm import SqlCheckInRepository, SqlHelpRepository, SqlNudgeRepository
from storage.work import SqlJobRepository, SqlOutboxRepository

__all__ = [
    "SqlAddressBook",
    "SqlAdminRepository",
    "SqlAuditLog",
    "SqlCheckInRepository",
    "SqlCohortRepository",
    "SqlExclusionRepository",
    "SqlFeedbackRepository",
    "SqlHelpRepository",
    "SqlHrRepository",
    "SqlInstallationStore",
    "SqlJobRepository",
    "SqlNudgeRepository",
    "SqlOAuthStates",
    "SqlObjectiveRepository",
    "SqlOutboxRepository",
    "SqlPairRepository",
    "SqlPeopleRepository",
    "SqlPreviewRepository",
    "SqlProcessedEvents",
]
