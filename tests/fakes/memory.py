"""In-memory storage behind the engine's ports, with real enough transactions for engine tests.

The factory holds the committed state. A unit of work begins a transaction on first use: it takes
the factory's lock (one writer at a time, as SQLite with BEGIN IMMEDIATE) and works on a deep copy;
`commit()` swaps the copy in, `rollback()` or leaving the block drops it. Either ends the transaction
and frees the lock, so a unit of work may be used again afterwards, like a SQLAlchemy session.

At the end, `World` wires the engine, the outbox sender and the job runner to these fakes, a fake
clock and fake platforms, for engine tests that read like transcripts.
"""

from __future__ import annotations

import asyncio
import copy
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any

from conversations.deps import Deps
from conversations.engine import Engine
from conversations.events import ActionTaken, Actor, Command, FormSubmitted, FormValue
from conversations.jobs import run_due_jobs
from conversations.messages import Message, Reply
from conversations.model import (
    AuditEntry,
    CheckIn,
    CheckInAnswer,
    CheckInState,
    Cohort,
    FeedbackAnswer,
    FeedbackRound,
    HelpMessage,
    HelpRequest,
    HrRecord,
    Job,
    JobState,
    Nudge,
    Objective,
    OutboxItem,
    OutboxResult,
    OutboxState,
    Pair,
    Person,
    Preview,
)
from conversations.outbox import OutboxSender
from conversations.ports import (
    AddressBook,
    AdminRepository,
    AuditLog,
    CheckInRepository,
    CohortRepository,
    ExclusionRepository,
    FeedbackRepository,
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
)
from conversations.settings import Admins, ProgramSettings
from tests.fakes.messenger import FakeMessenger

ACTIVE_COHORT_STATES = ("signup", "running")


class ConstraintViolation(Exception):
    """What the database would refuse: a second open cohort, a second person for one identity."""


class NestedTransaction(RuntimeError):
    """A task opened a transaction while its own earlier one was still open: SQLite would deadlock."""


@dataclass
class JobRecord:
    id: int
    kind: str
    subject: str
    due_at: datetime
    state: JobState = "pending"
    attempts: int = 0
    last_error: str = ""

    def to_job(self) -> Job:
        return Job(id=self.id, kind=self.kind, subject=self.subject, due_at=self.due_at,
                   state=self.state, attempts=self.attempts)


@dataclass
class OutboxRecord:
    id: int
    to: Actor
    message_json: str
    created_at: datetime
    next_attempt_at: datetime
    attempts: int = 0
    state: OutboxState = "pending"
    lease_until: datetime | None = None
    platform_ref: str | None = None
    sent_at: datetime | None = None
    last_error: str = ""
    about: str | None = None  # the id of the person the message speaks of
    also: tuple[Actor, ...] = ()  # a group message: these people too

    @property
    def message(self) -> Message:
        return Message.from_json(self.message_json)

    def to_item(self) -> OutboxItem:
        return OutboxItem(id=self.id, to=self.to, message_json=self.message_json, attempts=self.attempts,
                          state=self.state, platform_ref=self.platform_ref, also=self.also)


@dataclass
class MemoryState:
    """Every table, as plain Python; tests read it through `MemoryUnitOfWorkFactory.state`."""

    people: dict[str, Person] = field(default_factory=dict)
    cohorts: dict[str, Cohort] = field(default_factory=dict)
    memberships: dict[tuple[str, str], datetime] = field(default_factory=dict)  # (cohort, person) -> joined
    admins: dict[Actor, datetime] = field(default_factory=dict)
    jobs: dict[int, JobRecord] = field(default_factory=dict)
    outbox: dict[int, OutboxRecord] = field(default_factory=dict)
    addresses: dict[Actor, tuple[str, datetime]] = field(default_factory=dict)
    pseudonyms: dict[Actor, str] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    installations: dict[tuple[str, str], tuple[str, datetime]] = field(default_factory=dict)  # -> (data, at)
    oauth_states: dict[str, datetime] = field(default_factory=dict)  # state -> expires_at
    processed_events: dict[tuple[str, str], datetime] = field(default_factory=dict)  # -> claimed_at
    pairs: dict[str, Pair] = field(default_factory=dict)
    previews: dict[str, Preview] = field(default_factory=dict)
    exclusions: dict[tuple[str, str], datetime] = field(default_factory=dict)  # (a, b), a < b -> created_at
    objectives: dict[str, Objective] = field(default_factory=dict)  # in the order they were proposed
    hr_records: dict[str, tuple[HrRecord, datetime]] = field(default_factory=dict)  # key -> (record, imported_at)
    checkins: dict[str, CheckIn] = field(default_factory=dict)
    nudges: dict[int, Nudge] = field(default_factory=dict)
    help_requests: dict[str, HelpRequest] = field(default_factory=dict)
    help_messages: list[HelpMessage] = field(default_factory=list)
    feedback_rounds: dict[str, FeedbackRound] = field(default_factory=dict)
    feedback_answers: list[FeedbackAnswer] = field(default_factory=list)
    feedback_receipts: set[tuple[str, str]] = field(default_factory=set)  # (round id, receipt)
    last_id: int = 0

    def next_id(self) -> int:
        self.last_id += 1
        return self.last_id

    def dump(self) -> str:
        """Every record as text, to assert that something is gone from everywhere."""
        return repr(self)


class _Repo:
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    async def _s(self) -> MemoryState:
        return await self._uow.begin()


class MemoryPeopleRepository(_Repo):
    async def get(self, person_id: str) -> Person | None:
        return (await self._s()).people.get(person_id)

    async def by_actor(self, actor: Actor) -> Person | None:
        return next((p for p in (await self._s()).people.values() if p.actor == actor), None)

    async def by_email(self, platform: str, workspace: str, email: str) -> Person | None:
        if not email.strip():
            return None
        for p in await self.in_workspace(platform, workspace):
            if p.profile.email.lower() == email.strip().lower():
                return p
        return None

    async def add(self, person: Person) -> None:
        s = await self._s()
        if person.id in s.people or any(p.actor == person.actor for p in s.people.values()):
            raise ConstraintViolation(f"person {person.id} or their identity exists already")
        s.people[person.id] = person

    async def save(self, person: Person) -> None:
        s = await self._s()
        if person.id not in s.people:
            raise LookupError(f"no person {person.id}")
        s.people[person.id] = replace(s.people[person.id], profile=person.profile, status=person.status,
                                      paused_until=person.paused_until)

    async def in_workspace(self, platform: str, workspace: str) -> list[Person]:
        return [p for p in (await self._s()).people.values()
                if p.actor.platform == platform and p.actor.workspace == workspace]

    async def erase(self, person_id: str) -> None:
        s = await self._s()
        for cohort_id, member in list(s.memberships):
            if member == person_id:
                del s.memberships[(cohort_id, member)]
                cohort = s.cohorts[cohort_id]
                s.cohorts[cohort_id] = replace(cohort, members_left=cohort.members_left + 1)
        # What the SQL foreign keys cascade: their pairs with those pairs' objectives, and exclusions.
        gone = {p.id for p in s.pairs.values() if person_id in (p.mentor_id, p.mentee_id)}
        for objective_id in [o.id for o in s.objectives.values() if o.pair_id in gone]:
            del s.objectives[objective_id]
        for pair_id in gone:
            del s.pairs[pair_id]
        for key in [k for k in s.exclusions if person_id in k]:
            del s.exclusions[key]
        s.checkins = {k: c for k, c in s.checkins.items() if c.person_id != person_id and c.pair_id not in gone}
        s.nudges = {k: n for k, n in s.nudges.items() if n.person_id != person_id and n.pair_id not in gone}
        mine = {r.id for r in s.help_requests.values() if r.person_id == person_id}
        s.help_requests = {k: (replace(r, pair_id=None) if r.pair_id in gone else r)
                           for k, r in s.help_requests.items() if k not in mine}
        s.help_messages = [m for m in s.help_messages if m.request_id not in mine]
        s.people.pop(person_id, None)


class MemoryCohortRepository(_Repo):
    async def get(self, cohort_id: str) -> Cohort | None:
        return (await self._s()).cohorts.get(cohort_id)

    async def current(self, platform: str, workspace: str) -> Cohort | None:
        return next((c for c in await self.all(platform, workspace) if c.state in ACTIVE_COHORT_STATES), None)

    async def by_name(self, platform: str, workspace: str, name: str) -> Cohort | None:
        return next((c for c in await self.all(platform, workspace) if c.name == name), None)

    async def all(self, platform: str, workspace: str) -> list[Cohort]:
        found = [c for c in (await self._s()).cohorts.values() if c.platform == platform and c.workspace == workspace]
        return sorted(found, key=lambda c: (c.created_at, c.id))

    async def add(self, cohort: Cohort) -> None:
        s = await self._s()
        if cohort.id in s.cohorts:
            raise ConstraintViolation(f"cohort {cohort.id} exists already")
        if cohort.state in ACTIVE_COHORT_STATES and await self.current(cohort.platform, cohort.workspace):
            raise ConstraintViolation("another cohort is already open in this workspace")
        s.cohorts[cohort.id] = cohort

    async def save(self, cohort: Cohort) -> None:
        s = await self._s()
        if cohort.id not in s.cohorts:
            raise LookupError(f"no cohort {cohort.id}")
        s.cohorts[cohort.id] = cohort

    async def add_member(self, cohort_id: str, person_id: str, at: datetime) -> bool:
        s = await self._s()
        if cohort_id not in s.cohorts or person_id not in s.people:
            raise ConstraintViolation("membership of an unknown cohort or person")
        if (cohort_id, person_id) in s.memberships:
            return False
        s.memberships[(cohort_id, person_id)] = at
        return True

    async def members(self, cohort_id: str) -> list[str]:
        s = await self._s()
        found = [(at, person) for (cohort, person), at in s.memberships.items() if cohort == cohort_id]
        return [person for _, person in sorted(found)]

    async def cohorts_of(self, person_id: str) -> list[Cohort]:
        s = await self._s()
        found = [s.cohorts[cohort] for (cohort, person) in s.memberships if person == person_id]
        return sorted(found, key=lambda c: (c.created_at, c.id))


class MemoryAdminRepository(_Repo):
    async def is_admin(self, actor: Actor) -> bool:
        return actor in (await self._s()).admins

    async def add(self, actor: Actor, at: datetime) -> bool:
        s = await self._s()
        if actor in s.admins:
            return False
        s.admins[actor] = at
        return True

    async def remove(self, actor: Actor) -> bool:
        return (await self._s()).admins.pop(actor, None) is not None

    async def in_workspace(self, platform: str, workspace: str) -> list[Actor]:
        s = await self._s()
        return [a for a, _ in sorted(s.admins.items(), key=lambda kv: kv[1])
                if a.platform == platform and a.workspace == workspace]


class MemoryJobRepository(_Repo):
    async def schedule(self, kind: str, subject: str, due_at: datetime) -> None:
        s = await self._s()
        for job in s.jobs.values():
            if (job.kind, job.subject, job.due_at, job.state) == (kind, subject, due_at, "pending"):
                return
        job_id = s.next_id()
        s.jobs[job_id] = JobRecord(id=job_id, kind=kind, subject=subject, due_at=due_at)

    async def cancel(self, kind: str, subject: str) -> int:
        s = await self._s()
        doomed = [j.id for j in s.jobs.values() if (j.kind, j.subject, j.state) == (kind, subject, "pending")]
        for job_id in doomed:
            del s.jobs[job_id]
        return len(doomed)

    async def claim_due(self, now: datetime, limit: int) -> list[Job]:
        s = await self._s()
        due = sorted((j for j in s.jobs.values() if j.state == "pending" and j.due_at <= now),
                     key=lambda j: (j.due_at, j.id))
        return [j.to_job() for j in due[:limit]]

    async def finish(self, job_id: int) -> None:
        job = await self._get(job_id)
        job.state = "done"
        job.attempts += 1

    async def fail(self, job_id: int, error: str, retry_at: datetime | None) -> None:
        job = await self._get(job_id)
        job.attempts += 1
        job.last_error = error
        if retry_at is None:
            job.state = "failed"
        else:
            job.state = "pending"
            job.due_at = retry_at

    async def pending_for(self, subject: str) -> list[Job]:
        s = await self._s()
        found = sorted((j for j in s.jobs.values() if j.subject == subject and j.state == "pending"),
                       key=lambda j: (j.due_at, j.id))
        return [j.to_job() for j in found]

    async def erase_subject(self, subject: str) -> None:
        s = await self._s()
        for job_id in [j.id for j in s.jobs.values() if j.subject == subject]:
            del s.jobs[job_id]

    async def _get(self, job_id: int) -> JobRecord:
        job = (await self._s()).jobs.get(job_id)
        if job is None:
            raise LookupError(f"no job {job_id}")
        return job


class MemoryOutboxRepository(_Repo):
    async def enqueue(self, to: Actor, message: Message, at: datetime, *, about: str | None = None,
                      also: Sequence[Actor] = ()) -> int:
        if any((a.platform, a.workspace) != (to.platform, to.workspace) for a in also):
            raise ValueError("a group message stays within one platform workspace")
        s = await self._s()
        item_id = s.next_id()
        s.outbox[item_id] = OutboxRecord(id=item_id, to=to, message_json=message.to_json(), created_at=at,
                                         next_attempt_at=at, about=about, also=tuple(also))
        return item_id

    async def claim(self, now: datetime, limit: int, lease_seconds: float) -> list[OutboxItem]:
        s = await self._s()
        due = sorted((r for r in s.outbox.values()
                      if r.state == "pending" and r.next_attempt_at <= now
                      and (r.lease_until is None or r.lease_until < now)),
                     key=lambda r: (r.next_attempt_at, r.id))[:limit]
        for record in due:
            record.lease_until = now + timedelta(seconds=lease_seconds)
            record.attempts += 1
        return [r.to_item() for r in due]

    async def settle(self, results: Sequence[OutboxResult]) -> list[int]:
        s = await self._s()
        stale: list[int] = []
        for result in results:
            record = s.outbox.get(result.item_id)
            if record is None or record.state != "pending" or record.attempts != result.attempt:
                stale.append(result.item_id)
                continue
            record.lease_until = None
            if result.outcome == "sent":
                record.state, record.platform_ref, record.sent_at = "sent", result.platform_ref, result.at
            elif result.outcome == "dead":
                record.state, record.last_error = "dead", result.error[:200]
            elif result.outcome == "retry":
                record.next_attempt_at, record.last_error = result.at, result.error[:200]
            else:
                record.next_attempt_at, record.attempts = result.at, record.attempts - 1
        return stale

    async def mark_sent(self, item_id: int, platform_ref: str, at: datetime) -> None:
        record = await self._get(item_id)
        record.state = "sent"
        record.platform_ref = platform_ref
        record.sent_at = at
        record.lease_until = None

    async def retry_later(self, item_id: int, error: str, at: datetime) -> None:
        record = await self._get(item_id)
        record.next_attempt_at = at
        record.last_error = error
        record.lease_until = None

    async def mark_dead(self, item_id: int, error: str) -> None:
        record = await self._get(item_id)
        record.state = "dead"
        record.last_error = error
        record.lease_until = None

    async def pending_count(self) -> int:
        return sum(1 for r in (await self._s()).outbox.values() if r.state == "pending")

    async def erase_recipient(self, actor: Actor) -> None:
        s = await self._s()
        for item_id in [r.id for r in s.outbox.values() if r.to == actor or actor in r.also]:
            del s.outbox[item_id]

    async def erase_about(self, person_id: str) -> None:
        s = await self._s()
        for item_id in [r.id for r in s.outbox.values() if r.about == person_id]:
            del s.outbox[item_id]

    async def _get(self, item_id: int) -> OutboxRecord:
        record = (await self._s()).outbox.get(item_id)
        if record is None:
            raise LookupError(f"no outbox item {item_id}")
        return record


class MemoryAddressBook(_Repo):
    async def get(self, actor: Actor) -> str | None:
        found = (await self._s()).addresses.get(actor)
        return None if found is None else found[0]

    async def get_many(self, actors: Sequence[Actor]) -> dict[Actor, str]:
        known = (await self._s()).addresses
        return {a: known[a][0] for a in actors if a in known}

    async def put(self, actor: Actor, data: str, at: datetime) -> None:
        (await self._s()).addresses[actor] = (data, at)

    async def erase(self, actor: Actor) -> None:
        (await self._s()).addresses.pop(actor, None)


class MemoryAuditLog(_Repo):
    async def pseudonym(self, actor: Actor) -> str:
        s = await self._s()
        if actor not in s.pseudonyms:
            s.pseudonyms[actor] = secrets.token_hex(8)
        return s.pseudonyms[actor]

    async def record(self, entry: AuditEntry) -> None:
        s = await self._s()
        s.audit.append(replace(entry, id=s.next_id()))

    async def recent(self, limit: int) -> list[AuditEntry]:
        """Newest first."""
        entries = sorted((await self._s()).audit, key=lambda e: (e.at, e.id or 0), reverse=True)
        return entries[:limit]

    async def forget(self, actor: Actor) -> None:
        (await self._s()).pseudonyms.pop(actor, None)


class MemoryInstallationStore(_Repo):
    async def save(self, platform: str, workspace: str, data: str, at: datetime) -> None:
        (await self._s()).installations[(platform, workspace)] = (data, at)

    async def find(self, platform: str, workspace: str) -> str | None:
        found = (await self._s()).installations.get((platform, workspace))
        return None if found is None else found[0]

    async def delete(self, platform: str, workspace: str) -> bool:
        return (await self._s()).installations.pop((platform, workspace), None) is not None


class MemoryOAuthStates(_Repo):
    async def issue(self, state: str, expires_at: datetime) -> None:
        s = await self._s()
        if state in s.oauth_states:
            raise ConstraintViolation(f"OAuth state {state!r} issued already")
        s.oauth_states[state] = expires_at

    async def consume(self, state: str, now: datetime) -> bool:
        expires_at = (await self._s()).oauth_states.pop(state, None)  # seen: gone, expired or not
        return expires_at is not None and expires_at > now


class MemoryProcessedEvents(_Repo):
    async def claim(self, platform: str, event_id: str, at: datetime) -> bool:
        s = await self._s()
        if (platform, event_id) in s.processed_events:
            return False
        s.processed_events[(platform, event_id)] = at
        return True

    async def release(self, platform: str, event_id: str) -> None:
        (await self._s()).processed_events.pop((platform, event_id), None)


def _by_creation(pairs: list[Pair]) -> list[Pair]:
    return sorted(pairs, key=lambda p: (p.created_at, p.id))


class MemoryPairRepository(_Repo):
    async def add(self, pair: Pair) -> None:
        s = await self._s()
        if pair.id in s.pairs:
            raise ConstraintViolation(f"pair {pair.id} exists already")
        if pair.cohort_id not in s.cohorts or pair.mentor_id not in s.people or pair.mentee_id not in s.people:
            raise ConstraintViolation("a pair of an unknown cohort or person")
        if pair.state == "active" and any(
            p.state == "active" and (p.mentor_id, p.mentee_id) == (pair.mentor_id, pair.mentee_id)
            for p in s.pairs.values()
        ):
            raise ConstraintViolation("this mentor and mentee are already an active pair")
        s.pairs[pair.id] = pair

    async def get(self, pair_id: str) -> Pair | None:
        return (await self._s()).pairs.get(pair_id)

    async def active_in(self, cohort_id: str) -> list[Pair]:
        s = await self._s()
        return _by_creation([p for p in s.pairs.values() if p.cohort_id == cohort_id and p.state == "active"])

    async def active_of(self, person_id: str) -> list[Pair]:
        s = await self._s()
        return _by_creation([p for p in s.pairs.values()
                             if person_id in (p.mentor_id, p.mentee_id) and p.state == "active"])

    async def ever(self, person_ids: Sequence[str]) -> list[tuple[str, str]]:
        s = await self._s()
        ids = set(person_ids)
        return [(p.mentor_id, p.mentee_id) for p in _by_creation(list(s.pairs.values()))
                if p.mentor_id in ids and p.mentee_id in ids]

    async def end(self, pair_id: str, at: datetime) -> None:
        s = await self._s()
        if pair_id not in s.pairs:
            raise LookupError(f"no pair {pair_id}")
        s.pairs[pair_id] = replace(s.pairs[pair_id], state="ended", ended_at=at)


class MemoryPreviewRepository(_Repo):
    async def add(self, preview: Preview) -> None:
        s = await self._s()
        if preview.id in s.previews:
            raise ConstraintViolation(f"preview {preview.id} exists already")
        if preview.cohort_id not in s.cohorts:
            raise ConstraintViolation("a preview of an unknown cohort")
        s.previews[preview.id] = preview

    async def get(self, preview_id: str) -> Preview | None:
        return (await self._s()).previews.get(preview_id)

    async def mark_used(self, preview_id: str) -> bool:
        s = await self._s()
        preview = s.previews.get(preview_id)
        if preview is None or preview.used:
            return False
        s.previews[preview_id] = replace(preview, used=True)
        return True

    async def erase_mentioning(self, person_id: str) -> None:
        s = await self._s()
        for key in [k for k, p in s.previews.items() if person_id in p.payload]:
            del s.previews[key]


def _canonical(a: str, b: str) -> tuple[str, str]:
    if a == b:
        raise ValueError("an exclusion needs two different people")
    return (a, b) if a < b else (b, a)


class MemoryExclusionRepository(_Repo):
    async def add(self, a: str, b: str, at: datetime) -> bool:
        s = await self._s()
        key = _canonical(a, b)
        if a not in s.people or b not in s.people:
            raise ConstraintViolation("an exclusion of an unknown person")
        if key in s.exclusions:
            return False
        s.exclusions[key] = at
        return True

    async def remove(self, a: str, b: str) -> bool:
        return (await self._s()).exclusions.pop(_canonical(a, b), None) is not None

    async def among(self, person_ids: Sequence[str]) -> list[tuple[str, str]]:
        s = await self._s()
        ids = set(person_ids)
        return sorted(k for k in s.exclusions if k[0] in ids and k[1] in ids)


class MemoryObjectiveRepository(_Repo):
    async def add(self, objective: Objective) -> None:
        s = await self._s()
        if objective.id in s.objectives:
            raise ConstraintViolation(f"objective {objective.id} exists already")
        if objective.pair_id not in s.pairs:
            raise ConstraintViolation("an objective of an unknown pair")
        s.objectives[objective.id] = objective

    async def of_pair(self, pair_id: str) -> list[Objective]:
        return [o for o in (await self._s()).objectives.values() if o.pair_id == pair_id]

    async def of_pairs(self, pair_ids: Sequence[str]) -> list[Objective]:
        wanted = set(pair_ids)
        return [o for o in (await self._s()).objectives.values() if o.pair_id in wanted]

    async def replace(self, pair_id: str, objectives: Sequence[Objective]) -> None:
        strays = [o.id for o in objectives if o.pair_id != pair_id]
        if strays:
            raise ValueError(f"objectives {strays} are not of pair {pair_id}")
        s = await self._s()
        for objective_id in [o.id for o in s.objectives.values() if o.pair_id == pair_id]:
            del s.objectives[objective_id]
        for objective in objectives:
            await self.add(objective)

    async def agree(self, pair_id: str, by: str) -> list[Objective]:
        s = await self._s()
        agreed = []
        for key, o in list(s.objectives.items()):
            if o.pair_id == pair_id and not o.agreed and o.proposed_by != by:
                s.objectives[key] = replace(o, agreed=True)
                agreed.append(s.objectives[key])
        return agreed

    async def save(self, objective: Objective) -> None:
        s = await self._s()
        if objective.id not in s.objectives:
            raise LookupError(f"no objective {objective.id}")
        s.objectives[objective.id] = replace(s.objectives[objective.id], text=objective.text,
                                             agreed=objective.agreed, progress=objective.progress)


class MemoryHrRepository(_Repo):
    async def replace_all(self, records: Sequence[HrRecord], at: datetime) -> None:
        """A repeated key keeps its last record, as in SQL."""
        (await self._s()).hr_records = {r.key: (r, at) for r in records}

    async def find_many(self, keys: Sequence[str]) -> dict[str, HrRecord]:
        s = await self._s()
        return {k: s.hr_records[k][0] for k in keys if k in s.hr_records}

    async def find(self, keys: Sequence[str]) -> HrRecord | None:
        s = await self._s()
        return next((s.hr_records[k][0] for k in keys if k in s.hr_records), None)


class MemoryCheckInRepository(_Repo):
    async def add(self, checkin: CheckIn) -> bool:
        s = await self._s()
        if any((c.pair_id, c.person_id, c.round) == (checkin.pair_id, checkin.person_id, checkin.round)
               for c in s.checkins.values()):
            return False
        s.checkins[checkin.id] = checkin
        return True

    async def get(self, checkin_id: str) -> CheckIn | None:
        return (await self._s()).checkins.get(checkin_id)

    async def save(self, checkin: CheckIn) -> None:
        s = await self._s()
        if checkin.id in s.checkins:
            s.checkins[checkin.id] = checkin

    async def answer(self, checkin_id: str, answer: CheckInAnswer, at: datetime) -> bool:
        s = await self._s()
        c = s.checkins.get(checkin_id)
        if c is None or c.answer is not None or c.state != "sent":
            return False
        s.checkins[checkin_id] = replace(c, answer=answer, answered_at=at, state="answered")
        return True

    async def move(self, checkin_id: str, from_state: CheckInState, to_state: CheckInState, at: datetime) -> bool:
        s = await self._s()
        c = s.checkins.get(checkin_id)
        if c is None or c.state != from_state:
            return False
        s.checkins[checkin_id] = replace(c, state=to_state, sent_at=at if to_state == "sent" else c.sent_at)
        return True

    async def reschedule(self, checkin_id: str, due_at: datetime) -> bool:
        s = await self._s()
        c = s.checkins.get(checkin_id)
        if c is None or c.state != "scheduled":
            return False
        s.checkins[checkin_id] = replace(c, due_at=due_at)
        return True

    async def mark_reminded(self, checkin_id: str) -> bool:
        s = await self._s()
        c = s.checkins.get(checkin_id)
        if c is None or c.state != "sent" or c.answer is not None or c.reminded:
            return False
        s.checkins[checkin_id] = replace(c, reminded=True)
        return True

    async def of_pair(self, pair_id: str) -> list[CheckIn]:
        return sorted((c for c in (await self._s()).checkins.values() if c.pair_id == pair_id),
                      key=lambda c: (c.round, c.person_id))

    async def in_cohort(self, cohort_id: str) -> list[CheckIn]:
        s = await self._s()
        return sorted((c for c in s.checkins.values() if c.pair_id in s.pairs
                       and s.pairs[c.pair_id].cohort_id == cohort_id), key=lambda c: (c.pair_id, c.round, c.person_id))


class MemoryNudgeRepository(_Repo):
    async def add(self, nudge: Nudge) -> int | None:
        s = await self._s()
        if any((n.pair_id, n.person_id, n.trigger) == (nudge.pair_id, nudge.person_id, nudge.trigger)
               for n in s.nudges.values()):
            return None
        new_id = s.next_id()
        s.nudges[new_id] = replace(nudge, id=new_id)
        return new_id

    async def get(self, nudge_id: int) -> Nudge | None:
        return (await self._s()).nudges.get(nudge_id)

    async def mark_sent(self, nudge_id: int, at: datetime, day: str) -> bool:
        s = await self._s()
        n = s.nudges.get(nudge_id)
        if n is None or any(o.person_id == n.person_id and o.sent_day == day for o in s.nudges.values()):
            return False
        s.nudges[nudge_id] = replace(n, sent_at=at, sent_day=day)
        return True

    async def reschedule(self, nudge_id: int, due_at: datetime) -> None:
        s = await self._s()
        if nudge_id in s.nudges:
            s.nudges[nudge_id] = replace(s.nudges[nudge_id], due_at=due_at)

    async def of_pair(self, pair_id: str) -> list[Nudge]:
        return [n for n in (await self._s()).nudges.values() if n.pair_id == pair_id]

    async def in_cohort(self, cohort_id: str) -> list[Nudge]:
        s = await self._s()
        return [n for n in s.nudges.values() if n.pair_id in s.pairs and s.pairs[n.pair_id].cohort_id == cohort_id]


class MemoryHelpRepository(_Repo):
    async def open(self, request: HelpRequest) -> None:
        s = await self._s()
        if request.id in s.help_requests:
            raise ConstraintViolation(f"help request {request.id} exists already")
        s.help_requests[request.id] = request

    async def get(self, request_id: str) -> HelpRequest | None:
        return (await self._s()).help_requests.get(request_id)

    async def add_message(self, message: HelpMessage) -> None:
        (await self._s()).help_messages.append(message)

    async def messages(self, request_id: str) -> list[HelpMessage]:
        return [m for m in (await self._s()).help_messages if m.request_id == request_id]

    async def close(self, request_id: str) -> bool:
        s = await self._s()
        r = s.help_requests.get(request_id)
        if r is None or r.state == "closed":
            return False
        s.help_requests[request_id] = replace(r, state="closed")
        return True

    async def of_person(self, person_id: str) -> list[HelpRequest]:
        return [r for r in (await self._s()).help_requests.values() if r.person_id == person_id]


class MemoryFeedbackRepository(_Repo):
    async def open_round(self, feedback_round: FeedbackRound) -> bool:
        s = await self._s()
        if feedback_round.id in s.feedback_rounds or any(
                r.cohort_id == feedback_round.cohort_id and r.state == "open" for r in s.feedback_rounds.values()):
            return False
        s.feedback_rounds[feedback_round.id] = feedback_round
        return True

    async def get_round(self, round_id: str) -> FeedbackRound | None:
        return (await self._s()).feedback_rounds.get(round_id)

    async def open_rounds(self, cohort_id: str | None = None) -> list[FeedbackRound]:
        s = await self._s()
        return sorted((r for r in s.feedback_rounds.values()
                       if r.state == "open" and (cohort_id is None or r.cohort_id == cohort_id)),
                      key=lambda r: (r.opened_at, r.id))

    async def rounds_of(self, cohort_id: str) -> list[FeedbackRound]:
        s = await self._s()
        return sorted((r for r in s.feedback_rounds.values() if r.cohort_id == cohort_id),
                      key=lambda r: (r.opened_at, r.id))

    async def add_receipt(self, round_id: str, receipt: str) -> bool:
        s = await self._s()
        if (round_id, receipt) in s.feedback_receipts:
            return False
        s.feedback_receipts.add((round_id, receipt))
        return True

    async def has_receipt(self, round_id: str, receipt: str) -> bool:
        return (round_id, receipt) in (await self._s()).feedback_receipts

    async def remove_receipts(self, receipts: Sequence[tuple[str, str]]) -> None:
        s = await self._s()
        s.feedback_receipts -= set(receipts)

    async def add_answers(self, answers: Sequence[FeedbackAnswer]) -> None:
        s = await self._s()
        s.feedback_answers += [replace(a, id=secrets.token_hex(16)) for a in answers]

    async def close_round(self, round_id: str, at: datetime) -> bool:
        s = await self._s()
        r = s.feedback_rounds.get(round_id)
        if r is None or r.state != "open":
            return False
        s.feedback_rounds[round_id] = replace(r, state="closed", closed_at=at)
        mine = [a for a in s.feedback_answers if a.round_id == round_id]
        s.feedback_answers = [a for a in s.feedback_answers if a.round_id != round_id]
        s.feedback_receipts = {(rid, receipt) for rid, receipt in s.feedback_receipts if rid != round_id}
        secrets.SystemRandom().shuffle(mine)
        s.feedback_answers += [replace(a, id=secrets.token_hex(16)) for a in mine]
        return True

    async def answers(self, round_id: str) -> list[FeedbackAnswer]:
        s = await self._s()
        r = s.feedback_rounds.get(round_id)
        if r is None or r.state != "closed":
            return []
        return sorted((a for a in s.feedback_answers if a.round_id == round_id), key=lambda a: a.id)


class MemoryRetentionRepository(_Repo):
    async def purge_cohort(self, cohort_id: str) -> int:
        s = await self._s()
        pairs = {pid for pid, p in s.pairs.items() if p.cohort_id == cohort_id}
        requests = {rid for rid, r in s.help_requests.items() if r.cohort_id == cohort_id}
        rounds = {rid for rid, r in s.feedback_rounds.items() if r.cohort_id == cohort_id}
        removed = len(pairs) + len(requests)
        for pid in pairs:
            del s.pairs[pid]
        for rid in requests:
            del s.help_requests[rid]
        s.help_messages = [m for m in s.help_messages if m.request_id not in requests]
        s.objectives = {k: o for k, o in s.objectives.items() if o.pair_id not in pairs}
        s.checkins = {k: c for k, c in s.checkins.items() if c.pair_id not in pairs}
        s.nudges = {k: n for k, n in s.nudges.items() if n.pair_id not in pairs}
        previews = [k for k, p in s.previews.items() if p.cohort_id == cohort_id]
        for k in previews:
            del s.previews[k]
        members = [m for m in s.memberships if m[0] == cohort_id]
        for m in members:
            del s.memberships[m]
        receipts = {r for r in s.feedback_receipts if r[0] in rounds}
        s.feedback_receipts -= receipts
        return removed + len(previews) + len(members) + len(receipts)


class MemoryUnitOfWork:
    def __init__(self, factory: MemoryUnitOfWorkFactory) -> None:
        self._factory = factory
        self._state: MemoryState | None = None
        self.people: PeopleRepository = MemoryPeopleRepository(self)
        self.cohorts: CohortRepository = MemoryCohortRepository(self)
        self.admins: AdminRepository = MemoryAdminRepository(self)
        self.jobs: JobRepository = MemoryJobRepository(self)
        self.outbox: OutboxRepository = MemoryOutboxRepository(self)
        self.addresses: AddressBook = MemoryAddressBook(self)
        self.audit: AuditLog = MemoryAuditLog(self)
        self.installations: InstallationStore = MemoryInstallationStore(self)
        self.oauth_states: OAuthStates = MemoryOAuthStates(self)
        self.events: ProcessedEvents = MemoryProcessedEvents(self)
        self.pairs: PairRepository = MemoryPairRepository(self)
        self.previews: PreviewRepository = MemoryPreviewRepository(self)
        self.exclusions: ExclusionRepository = MemoryExclusionRepository(self)
        self.objectives: ObjectiveRepository = MemoryObjectiveRepository(self)
        self.hr: HrRepository = MemoryHrRepository(self)
        self.checkins: CheckInRepository = MemoryCheckInRepository(self)
        self.nudges: NudgeRepository = MemoryNudgeRepository(self)
        self.help: HelpRepository = MemoryHelpRepository(self)
        self.feedback: FeedbackRepository = MemoryFeedbackRepository(self)
        self.retention: RetentionRepository = MemoryRetentionRepository(self)

    async def begin(self) -> MemoryState:
        """The transaction's working copy, starting the transaction on first use."""
        if self._state is None:
            await self._factory.acquire()
            self._state = copy.deepcopy(self._factory.state)
        return self._state

    async def commit(self) -> None:
        if self._factory.fail_commit_with is not None:
            raise self._factory.fail_commit_with
        if self._state is not None:
            self._factory.state = self._state
            self._factory.commits += 1
            self._end()

    async def rollback(self) -> None:
        if self._state is not None:
            self._end()

    def _end(self) -> None:
        self._state = None
        self._factory.release()

    async def __aenter__(self) -> MemoryUnitOfWork:
        if self._factory.fail_with is not None:
            raise self._factory.fail_with
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.rollback()


class MemoryUnitOfWorkFactory:
    """`deps.uow`: each call opens a unit of work; `state` is what has been committed."""

    def __init__(self) -> None:
        self.state = MemoryState()
        self.commits = 0
        self.fail_with: BaseException | None = None  # entering a unit of work raises this
        self.fail_commit_with: BaseException | None = None  # commit() raises this, keeping nothing
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self.scrubs = 0  # how many times the feedback tables were scrubbed after a round closed

    async def scrub_feedback(self) -> None:
        """Nothing lingers in memory; count the calls so tests see the scrub was asked for."""
        self.scrubs += 1

    def __call__(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self)

    async def acquire(self) -> None:
        task = asyncio.current_task()
        if self._lock.locked() and task is not None and self._owner is task:
            raise NestedTransaction("this task already holds an open transaction")
        await self._lock.acquire()
        self._owner = task

    def release(self) -> None:
        self._owner = None
        self._lock.release()

    # Reading committed state in tests, without a transaction.

    def outbox_to(self, actor: Actor) -> list[Message]:
        return [r.message for r in self.state.outbox.values() if r.to == actor]

    def audit_actions(self) -> list[tuple[str, str]]:
        return [(e.action, e.outcome) for e in self.state.audit]

    def person_of(self, actor: Actor) -> Person | None:
        return next((p for p in self.state.people.values() if p.actor == actor), None)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware time")
        self._now = now

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> datetime:
        self._now += timedelta(**delta)
        return self._now

    def set(self, now: datetime) -> None:
        self._now = now




# A whole engine over the fakes, for transcript-like tests.

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)  # a Monday morning

TEST_SETTINGS = ProgramSettings(
    topics=("GenAI", "TikTok", "Accessibility"),
    languages=("English", "French"),
    admins=Admins(console=("boss",), slack=("UBOSS",)),
)


def profile_values(**overrides: FormValue) -> dict[str, FormValue]:
    """A valid sign-up form, as a platform would submit it; override any field."""
    values: dict[str, FormValue] = {
        "name": "Alice Liddell",
        "role": "mentor",
        "level": "L2",
        "department": "Engineering",
        "time_zone": "Europe/Paris",
        "working_days": ("mon", "tue", "wed", "thu", "fri"),
        "working_hours": "09:00-17:00",
        "topics_teach": ("GenAI", "TikTok"),
        "topics_learn": (),
        "goals": "Help a leader use GenAI well",
        "languages": ("English",),
        "manager": "",
        "email": "",
    }
    values.update(overrides)
    return values


def text_of(reply: Reply) -> str:
    """Everything a reply says, as one string: texts, sections, facts and buttons."""
    messages = [*reply.messages, *([reply.replace] if reply.replace else [])]
    parts: list[str] = []
    for m in messages:
        parts += [m.text, *m.sections, *(f"{f.label}: {f.value}" for f in m.facts),
                  *(f"[{b.label}]" for b in m.buttons)]
    return "\n".join(parts)


class World:
    """An engine wired to in-memory storage, a fake clock and fake platforms."""

    def __init__(self, *, settings: ProgramSettings = TEST_SETTINGS, now: datetime = T0,
                 users: dict[str, Actor] | None = None) -> None:
        self.clock = FakeClock(now)
        self.store = MemoryUnitOfWorkFactory()
        self.console = FakeMessenger(users)
        self.slack = FakeMessenger()
        self.deps = Deps(uow=self.store, settings=settings, clock=self.clock,
                         messengers={"console": self.console, "slack": self.slack},
                         feedback_key=b"test feedback key", scrubber=self.store)
        self.engine = Engine(self.deps)
        self.sender = OutboxSender(self.deps)

    async def say(self, actor: Actor, text: str) -> Reply:
        return await self.engine.dispatch(Command.parse(actor, text))

    async def click(self, actor: Actor, action: str, value: str = "") -> Reply:
        return await self.engine.dispatch(ActionTaken(actor, action, value))

    async def submit(self, actor: Actor, values: Mapping[str, FormValue], form: str = "signup") -> Reply:
        return await self.engine.dispatch(FormSubmitted(actor, form, values))

    async def sign_up(self, actor: Actor, **fields: FormValue) -> Person:
        reply = await self.submit(actor, profile_values(**fields))
        assert not reply.errors, reply.errors
        person = self.person(actor)
        assert person is not None
        return person

    async def deliver(self) -> int:
        return await self.sender.drain()

    async def run_jobs(self) -> int:
        return await run_due_jobs(self.deps)

    def person(self, actor: Actor) -> Person | None:
        return self.store.person_of(actor)

    @property
    def state(self) -> MemoryState:
        return self.store.state


if TYPE_CHECKING:  # mypy proves the fakes satisfy the ports
    from conversations.ports import Clock, UnitOfWork, UnitOfWorkFactory

    def _fits(factory: MemoryUnitOfWorkFactory, uow: MemoryUnitOfWork, clock: FakeClock) -> None:
        _factory: UnitOfWorkFactory = factory
        _uow: UnitOfWork = uow
        _clock: Clock = clock
