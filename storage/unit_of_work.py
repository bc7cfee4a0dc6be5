"""One event's reads and writes as one SQL transaction, behind the engine's UnitOfWork port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from conversations.ports import (
    AddressBook,
    AdminRepository,
    AuditLog,
    CheckInRepository,
    CohortRepository,
    ExclusionRepository,
    FeedbackRepository,
    FeedbackScrubber,
    HelpRepository,
    HrRepository,
    InstallationStore,
    JobRepository,
    NudgeRepository,
    OAuthStates,
    ObjectiveRepository,
    OutboxRepository,
    PairRepository,
    PeopleRepository,
    PreviewRepository,
    ProcessedEvents,
    RetentionRepository,
    UnitOfWork,
    UnitOfWorkFactory,
)
from storage.feedback import SqlFeedbackRepository, scrub_feedback
from storage.repositories import (
    SqlAddressBook,
    SqlAdminRepository,
    SqlAuditLog,
    SqlCheckInRepository,
    SqlCohortRepository,
    SqlExclusionRepository,
    SqlHelpRepository,
    SqlHrRepository,
    SqlInstallationStore,
    SqlJobRepository,
    SqlNudgeRepository,
    SqlOAuthStates,
    SqlObjectiveRepository,
    SqlOutboxRepository,
    SqlPairRepository,
    SqlPeopleRepository,
    SqlPreviewRepository,
    SqlProcessedEvents,
)
from storage.retention import SqlRetentionRepository


class SqlUnitOfWork:
    """The repositories of one session; nothing is written until commit()."""

    people: PeopleRepository
    cohorts: CohortRepository
    admins: AdminRepository
    jobs: JobRepository
    outbox: OutboxRepository
    addresses: AddressBook
    audit: AuditLog
    installations: InstallationStore
    oauth_states: OAuthStates
    events: ProcessedEvents
    pairs: PairRepository
    previews: PreviewRepository
    exclusions: ExclusionRepository
    objectives: ObjectiveRepository
    hr: HrRepository
    checkins: CheckInRepository
    nudges: NudgeRepository
    help: HelpRepository
    feedback: FeedbackRepository
    retention: RetentionRepository

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self.people = SqlPeopleRepository(session)
        self.cohorts = SqlCohortRepository(session)
        self.admins = SqlAdminRepository(session)
        self.jobs = SqlJobRepository(session)
        self.outbox = SqlOutboxRepository(session)
        self.addresses = SqlAddressBook(session)
        self.audit = SqlAuditLog(session)
        self.installations = SqlInstallationStore(session)
        self.oauth_states = SqlOAuthStates(session)
        self.events = SqlProcessedEvents(session)
        self.pairs = SqlPairRepository(session)
        self.previews = SqlPreviewRepository(session)
        self.exclusions = SqlExclusionRepository(session)
        self.objectives = SqlObjectiveRepository(session)
        self.hr = SqlHrRepository(session)
        self.checkins = SqlCheckInRepository(session)
        self.nudges = SqlNudgeRepository(session)
        self.help = SqlHelpRepository(session)
        self.feedback = SqlFeedbackRepository(session)
        self.retention = SqlRetentionRepository(session)

    async def commit(self) -> None:
        await self._session.commit()

    async def rollback(self) -> None:
        await self._session.rollback()


class SqlUnitOfWorkFactory:
    """Opens a SqlUnitOfWork per `async with`; leaving the block without commit() rolls back."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=True)
        # SQLite has one writer at a time. Queueing this process's transactions on an asyncio lock
        # is fair and immediate; left to SQLite's busy handler they would sleep and retry (up to
        # 100 ms a try) whenever two overlap. Other processes still queue on busy_timeout.
        self._writer = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[SqlUnitOfWork]:
        # Closing the session rolls back whatever was not committed and returns the connection.
        if self._writer is None:
            async with self._sessions() as session:
                yield SqlUnitOfWork(session)
            return
        async with self._writer, self._sessions() as session:
            yield SqlUnitOfWork(session)

    async def scrub_feedback(self) -> None:
        """Physically remove deleted feedback rows; on SQLite while no transaction of this process runs."""
        if self._writer is None:
            await scrub_feedback(self._engine)
            return
        async with self._writer:
            await scrub_feedback(self._engine)


if TYPE_CHECKING:  # mypy proves the structural fit to the engine's ports here, at no run-time cost

    def _fits_the_ports(engine: AsyncEngine, session: AsyncSession) -> tuple[UnitOfWorkFactory, UnitOfWork,
                                                                         FeedbackScrubber]:
        return SqlUnitOfWorkFactory(engine), SqlUnitOfWork(session), SqlUnitOfWorkFactory(engine)
