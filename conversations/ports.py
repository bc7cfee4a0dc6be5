"""The ports the engine talks through; adapters and storage implement them, fakes stand in for tests."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol, runtime_checkable

from conversations.events import Actor, MessageRef
from conversations.messages import Message
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
    Nudge,
    Objective,
    OutboxItem,
    OutboxResult,
    Pair,
    Person,
    Preview,
)


class DeliveryError(Exception):
    """A send failed. `permanent` means retrying will never help (the person is gone)."""

    def __init__(self, reason: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after = retry_after


@runtime_checkable
class Prefetching(Protocol):
    """A Messenger that can read, in one go, what reaching many people needs (their stored addresses)."""

    async def prefetch(self, recipients: Sequence[Actor]) -> None:
        """Called by the outbox with a batch's recipients, before it sends them their messages one by one."""
        ...


class Messenger(Protocol):
    """Outbound port of one platform."""

    group_messages: bool  # one message can reach several people together (a Slack group DM)

    async def send(self, to: Sequence[Actor], message: Message) -> MessageRef:
        """Deliver to one person (or a pair's group DM); raise DeliveryError on failure."""
        ...

    async def update(self, ref: MessageRef, message: Message) -> None:
        """Replace a message sent earlier."""
        ...

    async def find_user(self, workspace: str, query: str) -> Actor | None:
        """Resolve a mention, an email or a `platform:id` to a person on this platform."""
        ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class PeopleRepository(Protocol):
    async def get(self, person_id: str) -> Person | None: ...
    async def by_actor(self, actor: Actor) -> Person | None: ...
    async def by_email(self, platform: str, workspace: str, email: str) -> Person | None: ...
    async def add(self, person: Person) -> None: ...
    async def save(self, person: Person) -> None:
        """Write profile and status of an existing person."""
        ...
    async def in_workspace(self, platform: str, workspace: str) -> list[Person]: ...
    async def erase(self, person_id: str) -> None:
        """Delete the person, their identities, memberships and profile."""
        ...


class CohortRepository(Protocol):
    async def get(self, cohort_id: str) -> Cohort | None: ...
    async def current(self, platform: str, workspace: str) -> Cohort | None:
        """The cohort in sign-up or running in this workspace, if any."""
        ...
    async def by_name(self, platform: str, workspace: str, name: str) -> Cohort | None: ...
    async def all(self, platform: str, workspace: str) -> list[Cohort]: ...
    async def add(self, cohort: Cohort) -> None: ...
    async def save(self, cohort: Cohort) -> None: ...
    async def add_member(self, cohort_id: str, person_id: str, at: datetime) -> bool:
        """Add a member; False if they already were one."""
        ...
    async def members(self, cohort_id: str) -> list[str]: ...
    async def cohorts_of(self, person_id: str) -> list[Cohort]: ...


class AdminRepository(Protocol):
    async def is_admin(self, actor: Actor) -> bool: ...
    async def add(self, actor: Actor, at: datetime) -> bool: ...
    async def remove(self, actor: Actor) -> bool: ...
    async def in_workspace(self, platform: str, workspace: str) -> list[Actor]: ...


class JobRepository(Protocol):
    async def schedule(self, kind: str, subject: str, due_at: datetime) -> None: ...
    async def cancel(self, kind: str, subject: str) -> int: ...
    async def claim_due(self, now: datetime, limit: int) -> list[Job]:
        """Lock due pending jobs for this transaction; other replicas skip them."""
        ...
    async def finish(self, job_id: int) -> None: ...
    async def fail(self, job_id: int, error: str, retry_at: datetime | None) -> None:
        """Record a failed attempt; retry at `retry_at`, or give up when None."""
        ...
    async def pending_for(self, subject: str) -> list[Job]: ...
    async def erase_subject(self, subject: str) -> None: ...


class OutboxRepository(Protocol):
    async def enqueue(self, to: Actor, message: Message, at: datetime, *, about: str | None = None,
                      also: Sequence[Actor] = ()) -> int:
        """Queue a message; `about` names the person it speaks of (erasing them erases it);
        `also` makes it one group message with these people, in the same workspace."""
        ...
    async def claim(self, now: datetime, limit: int, lease_seconds: float) -> list[OutboxItem]:
        """Lease due messages to this sender; a lease that runs out makes them due again."""
        ...
    async def settle(self, results: Sequence[OutboxResult]) -> list[int]:
        """Record each outcome in one write, fenced by its claim: an item whose claim has passed to another
        sender (its lease ran out) or that was erased is left alone; returns those items' ids."""
        ...
    async def mark_sent(self, item_id: int, platform_ref: str, at: datetime) -> None: ...
    async def retry_later(self, item_id: int, error: str, at: datetime) -> None: ...
    async def mark_dead(self, item_id: int, error: str) -> None: ...
    async def pending_count(self) -> int: ...
    async def erase_recipient(self, actor: Actor) -> None: ...
    async def erase_about(self, person_id: str) -> None:
        """Delete every message, sent or not, that speaks of this person."""
        ...


class AddressBook(Protocol):
    """Where to reach a person on their platform: opaque data the adapter wrote."""

    async def get(self, actor: Actor) -> str | None: ...
    async def get_many(self, actors: Sequence[Actor]) -> dict[Actor, str]:
        """Many people's addresses in one read (an outbox batch asks for hundreds at once); the unknown are left out."""
        ...
    async def put(self, actor: Actor, data: str, at: datetime) -> None: ...
    async def erase(self, actor: Actor) -> None: ...


class AuditLog(Protocol):
    async def pseudonym(self, actor: Actor) -> str:
        """A stable random name for this identity, forgotten when they leave."""
        ...
    async def record(self, entry: AuditEntry) -> None: ...
    async def recent(self, limit: int) -> list[AuditEntry]: ...
    async def forget(self, actor: Actor) -> None:
        """Drop the link between identity and pseudonym; the entries stay, unlinkable."""
        ...


class PairRepository(Protocol):
    async def add(self, pair: Pair) -> None: ...
    async def get(self, pair_id: str) -> Pair | None: ...
    async def active_in(self, cohort_id: str) -> list[Pair]: ...
    async def active_of(self, person_id: str) -> list[Pair]: ...
    async def ever(self, person_ids: Sequence[str]) -> list[tuple[str, str]]:
        """(mentor, mentee) of every pair, in any cohort, ended or not, among these people."""
        ...
    async def end(self, pair_id: str, at: datetime) -> None: ...


class PreviewRepository(Protocol):
    async def add(self, preview: Preview) -> None: ...
    async def get(self, preview_id: str) -> Preview | None: ...
    async def mark_used(self, preview_id: str) -> bool:
        """True once: a preview is confirmed at most one time, even by two admins at once."""
        ...
    async def erase_mentioning(self, person_id: str) -> None:
        """Delete every preview that names this person (its reasons can quote their name)."""
        ...


class ExclusionRepository(Protocol):
    """Pairs of people an admin keeps apart in every future matching."""

    async def add(self, a: str, b: str, at: datetime) -> bool: ...
    async def remove(self, a: str, b: str) -> bool: ...
    async def among(self, person_ids: Sequence[str]) -> list[tuple[str, str]]: ...


class ObjectiveRepository(Protocol):
    async def add(self, objective: Objective) -> None: ...
    async def of_pair(self, pair_id: str) -> list[Objective]: ...
    async def of_pairs(self, pair_ids: Sequence[str]) -> list[Objective]:
        """Every objective of these pairs, in one read (reports of whole cohorts)."""
        ...
    async def save(self, objective: Objective) -> None: ...
    async def agree(self, pair_id: str, by: str) -> list[Objective]:
        """Mark agreed what the pair's other person proposed; returns only what this call changed, so
        two clicks in flight agree once."""
        ...
    async def replace(self, pair_id: str, objectives: Sequence[Objective]) -> None:
        """A new proposal takes the place of every objective the pair had."""
        ...


class HrRepository(Protocol):
    async def replace_all(self, records: Sequence[HrRecord], at: datetime) -> None:
        """The import is the whole truth: rows not in it go."""
        ...
    async def find_many(self, keys: Sequence[str]) -> dict[str, HrRecord]:
        """The records there are for these keys, by key: one read for a whole cohort."""
        ...
    async def find(self, keys: Sequence[str]) -> HrRecord | None:
        """The first record matching any of these keys (email, platform identity)."""
        ...


class CheckInRepository(Protocol):
    async def add(self, checkin: CheckIn) -> bool:
        """False if this person already has a check-in for this round of this pair (nothing is written)."""
        ...
    async def get(self, checkin_id: str) -> CheckIn | None: ...
    async def save(self, checkin: CheckIn) -> None:
        """Write state, times, note, progress and reminded of an existing check-in."""
        ...
    async def answer(self, checkin_id: str, answer: CheckInAnswer, at: datetime) -> bool:
        """Record the answer if there is none yet: True once, so two clicks in flight record one answer."""
        ...
    async def move(self, checkin_id: str, from_state: CheckInState, to_state: CheckInState, at: datetime) -> bool:
        """Change the state only if it is `from_state` (becoming "sent" also sets sent_at): True once, so two
        jobs or two replicas never both send, skip or close one check-in."""
        ...
    async def reschedule(self, checkin_id: str, due_at: datetime) -> bool:
        """Move the delivery time of a check-in that is still scheduled; False if it no longer is."""
        ...
    async def mark_reminded(self, checkin_id: str) -> bool:
        """True once, and only while the check-in is sent and unanswered."""
        ...
    async def of_pair(self, pair_id: str) -> list[CheckIn]:
        """Every check-in of the pair, by round, then person."""
        ...
    async def in_cohort(self, cohort_id: str) -> list[CheckIn]:
        """Every check-in of every pair of the cohort (for reports)."""
        ...


class NudgeRepository(Protocol):
    async def add(self, nudge: Nudge) -> int | None:
        """The new nudge's id; None if this person of this pair had this trigger already (nothing is written)."""
        ...
    async def get(self, nudge_id: int) -> Nudge | None: ...
    async def mark_sent(self, nudge_id: int, at: datetime, day: str) -> bool:
        """Mark sent on the person's local `day`; False (nothing written) if they had a nudge that day."""
        ...
    async def reschedule(self, nudge_id: int, due_at: datetime) -> None: ...
    async def of_pair(self, pair_id: str) -> list[Nudge]: ...
    async def in_cohort(self, cohort_id: str) -> list[Nudge]:
        """Every nudge of every pair of the cohort (for reports)."""
        ...


class HelpRepository(Protocol):
    async def open(self, request: HelpRequest) -> None: ...
    async def get(self, request_id: str) -> HelpRequest | None: ...
    async def add_message(self, message: HelpMessage) -> None: ...
    async def messages(self, request_id: str) -> list[HelpMessage]: ...
    async def close(self, request_id: str) -> bool: ...
    async def of_person(self, person_id: str) -> list[HelpRequest]: ...


class FeedbackRepository(Protocol):
    """Anonymous feedback: rounds, answers that name nobody, and receipts that stop a second answer.

    A receipt is a keyed hash of (person, round) the engine computes; it is written in its own transaction,
    never in the answers' one, and goes when the round closes."""

    async def open_round(self, feedback_round: FeedbackRound) -> bool:
        """False (nothing written) if the cohort has an open round already."""
        ...
    async def get_round(self, round_id: str) -> FeedbackRound | None: ...
    async def open_rounds(self, cohort_id: str | None = None) -> list[FeedbackRound]:
        """Open rounds of one cohort, or of every cohort, by opened_at."""
        ...
    async def rounds_of(self, cohort_id: str) -> list[FeedbackRound]:
        """Every round of the cohort, open or closed, by opened_at."""
        ...
    async def add_receipt(self, round_id: str, receipt: str) -> bool:
        """Record that someone answered; False (nothing written) if this receipt is there already."""
        ...
    async def has_receipt(self, round_id: str, receipt: str) -> bool: ...
    async def remove_receipts(self, receipts: Sequence[tuple[str, str]]) -> None:
        """Delete these (round id, receipt) pairs: an answer that could not be stored, or a person erased."""
        ...
    async def add_answers(self, answers: Sequence[FeedbackAnswer]) -> None:
        """Store one person's answers to an open round (they carry no person, time or order)."""
        ...
    async def close_round(self, round_id: str, at: datetime) -> bool:
        """Close an open round, once: its answers rewritten in random order with fresh ids in this
        transaction, its receipts deleted. False (nothing written) if it was not open."""
        ...
    async def answers(self, round_id: str) -> list[FeedbackAnswer]:
        """The answers of a CLOSED round (empty while it is open), in no meaningful order."""
        ...


class RetentionRepository(Protocol):
    async def purge_cohort(self, cohort_id: str) -> int:
        """Delete an ended cohort's personal data: pairs with their reasons, objectives, check-ins and notes,
        nudges, help requests, previews, memberships, feedback receipts. The cohort's name and dates, its
        rounds and their anonymous answers stay. Returns how many rows went (cascades not counted)."""
        ...


class FeedbackScrubber(Protocol):
    """Physically removes what deleting feedback rows leaves behind (dead rows, free pages, log frames)."""

    async def scrub_feedback(self) -> None:
        """Run outside any transaction, after a round's closing transaction committed."""
        ...


class InstallationStore(Protocol):
    """A platform's installations per workspace, as opaque data the adapter wrote (tokens included)."""

    async def save(self, platform: str, workspace: str, data: str, at: datetime) -> None: ...
    async def find(self, platform: str, workspace: str) -> str | None: ...
    async def delete(self, platform: str, workspace: str) -> bool: ...


class OAuthStates(Protocol):
    """One-time OAuth `state` values, shared by every replica."""

    async def issue(self, state: str, expires_at: datetime) -> None: ...
    async def consume(self, state: str, now: datetime) -> bool:
        """True once for a state issued and not expired; False after that."""
        ...


class ProcessedEvents(Protocol):
    """Platform event ids already handled, so a retried delivery never doubles an effect."""

    async def claim(self, platform: str, event_id: str, at: datetime) -> bool:
        """True if this event id was not seen before (and is now recorded)."""
        ...
    async def release(self, platform: str, event_id: str) -> None:
        """Forget a claim whose handling failed, so the platform's retry takes effect."""
        ...


class UnitOfWork(Protocol):
    """One event's reads and writes, committed together or not at all."""

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

    async def commit(self) -> None: ...
    async def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """Open a transaction; leaving the block without commit() rolls it back."""
        ...
