"""`admin report` and `admin export`: read a cohort's report in one transaction, draw it, send it; the safety nudge."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from conversations.deps import Deps
from conversations.directory import admins_of
from conversations.events import Command
from conversations.messages import Message, Reply, TextFile
from conversations.model import CheckIn, Cohort, Pair
from conversations.ports import UnitOfWork
from conversations.report_chart import render_chart
from conversations.report_text import aggregates_csv, file_stem, pairs_csv, report_message
from conversations.reports import (
    CohortReport,
    PairLine,
    RoundReport,
    meetings,
    name_words,
    objective_stats,
    participation,
    round_report,
)


class NoCohort(Exception):
    """The cohort an admin named is not there; the message says which ones are."""


async def pick_cohort(uow: UnitOfWork, platform: str, workspace: str, name: str) -> Cohort:
    """The cohort named, else the one in sign-up or running, else the latest one."""
    if name:
        cohort = await uow.cohorts.by_name(platform, workspace, name)
        if cohort is None:
            known = [c.name for c in await uow.cohorts.all(platform, workspace)]
            listed = ", ".join(f"'{n}'" for n in known[:10]) if known else "none yet"
            raise NoCohort(f"There is no cohort named '{name[:80]}'. Cohorts: {listed}.")
        return cohort
    cohort = await uow.cohorts.current(platform, workspace)
    if cohort is not None:
        return cohort
    every = await uow.cohorts.all(platform, workspace)
    if not every:
        raise NoCohort("There is no cohort yet: open one with `admin cohort open NAME`.")
    return max(every, key=lambda c: c.created_at)


async def cohort_pairs(uow: UnitOfWork, cohort_id: str, checkins: Sequence[CheckIn] | None = None) -> list[Pair]:
    """The cohort's pairs, ended ones included as far as check-ins remember them."""
    pairs: dict[str, Pair | None] = {p.id: p for p in await uow.pairs.active_in(cohort_id)}
    for checkin in checkins if checkins is not None else await uow.checkins.in_cohort(cohort_id):
        if checkin.pair_id not in pairs:  # an ended pair, looked up once (None if it is gone)
            pairs[checkin.pair_id] = await uow.pairs.get(checkin.pair_id)
    return sorted((p for p in pairs.values() if p is not None), key=lambda p: (p.created_at, p.id))


async def build_report(uow: UnitOfWork, deps: Deps, cohort: Cohort) -> CohortReport:
    """Everything the report shows, read in the caller's transaction: aggregates only, feedback of closed rounds."""
    now = deps.clock.now()
    member_ids = set(await uow.cohorts.members(cohort.id))
    people = await uow.people.in_workspace(cohort.platform, cohort.workspace)
    members = [p for p in people if p.id in member_ids]
    checkins = await uow.checkins.in_cohort(cohort.id)
    pairs = await cohort_pairs(uow, cohort.id, checkins)
    objectives = await uow.objectives.of_pairs([p.id for p in pairs])
    nudges = await uow.nudges.in_cohort(cohort.id)
    names = name_words(p.profile.name for p in people)
    k = deps.settings.feedback.k
    rounds: list[RoundReport] = []
    for number, feedback_round in enumerate(await uow.feedback.rounds_of(cohort.id), start=1):
        if feedback_round.state != "closed":
            continue  # an open round publishes nothing
        answers = await uow.feedback.answers(feedback_round.id)
        rounds.append(round_report(feedback_round, number, answers, pairs=pairs, k=k, now=now,
                                   names=names))
    return CohortReport(
        cohort=cohort, participation=participation(cohort, members, pairs),
        meetings=meetings(checkins, pairs),
        objectives=objective_stats(objectives), nudges_sent=sum(1 for n in nudges if n.sent_at is not None),
        rounds=tuple(rounds), k=k, safety_target=deps.settings.feedback.safety_target)


async def pair_lines(uow: UnitOfWork, cohort: Cohort) -> list[PairLine]:
    """The cohort's pairs by name, with their reasons: what the export's pairs file holds."""
    names = {p.id: p.profile.name for p in await uow.people.in_workspace(cohort.platform, cohort.workspace)}
    return [PairLine(mentor=names.get(p.mentor_id, "(left)"), mentee=names.get(p.mentee_id, "(left)"),
                     state=p.state, score=p.score, forced=p.forced, started=p.created_at.date().isoformat(),
                     ended=p.ended_at.date().isoformat() if p.ended_at else "",
                     reasons="; ".join(r.text for r in p.reasons))
            for p in await cohort_pairs(uow, cohort.id)]


async def chart_png(report: CohortReport) -> bytes:
    """Draw the chart in a worker thread: matplotlib takes a second or so, the bot keeps answering meanwhile."""
    return await asyncio.to_thread(render_chart, report)


def _cohort_name(cmd: Command) -> str:
    return " ".join(cmd.args[1:]).strip().strip("'\"")


async def admin_report(cmd: Command, uow: UnitOfWork, deps: Deps) -> Reply:
    """`admin report [COHORT NAME]`: the report in words with its chart."""
    cohort = await pick_cohort(uow, cmd.actor.platform, cmd.actor.workspace, _cohort_name(cmd))
    report = await build_report(uow, deps, cohort)
    # Only reads so far: end the transaction before drawing, so SQLite's one writer is not held for the
    # second the chart takes; the audit entry that follows opens its own.
    await uow.rollback()
    return Reply(messages=(report_message(report, await chart_png(report)),))


async def admin_export(cmd: Command, uow: UnitOfWork, deps: Deps) -> Reply:
    """`admin export [COHORT NAME]`: the report's aggregates and the pairs with their reasons, as CSV files."""
    cohort = await pick_cohort(uow, cmd.actor.platform, cmd.actor.workspace, _cohort_name(cmd))
    report = await build_report(uow, deps, cohort)
    stem = file_stem(report)
    lines = await pair_lines(uow, cohort)
    hint = deps.command_hint(cmd.actor, "admin report")
    return Reply(messages=(
        Message(f"Export of '{cohort.name}': the report's numbers",
                (f"Aggregates only, as in `{hint}`: groups below the threshold say so, no answer is listed.",),
                file=TextFile(f"{stem}-aggregates.csv", aggregates_csv(report))),
        Message(f"Export of '{cohort.name}': {len(lines)} pairs with their reasons",
                file=TextFile(f"{stem}-pairs.csv", pairs_csv(lines))),
    ))


async def export_files(uow: UnitOfWork, deps: Deps, cohort: Cohort) -> Sequence[TextFile]:
    """The export's two files, for the command line."""
    report = await build_report(uow, deps, cohort)
    stem = file_stem(report)
    return (TextFile(f"{stem}-aggregates.csv", aggregates_csv(report)),
            TextFile(f"{stem}-pairs.csv", pairs_csv(await pair_lines(uow, cohort))))


async def after_round_closed(uow: UnitOfWork, deps: Deps, round_id: str) -> bool:
    """When a round closes, tell the admins if safety fell below the target (at least k answers); True if told.

    Call it once per round, in the transaction that closes the round, so the nudge goes once per round."""
    closed = await uow.feedback.get_round(round_id)
    cohort = await uow.cohorts.get(closed.cohort_id) if closed is not None else None
    if closed is None or closed.state != "closed" or cohort is None:
        return False
    rounds = await uow.feedback.rounds_of(cohort.id)
    number = next((i for i, r in enumerate(rounds, start=1) if r.id == closed.id), len(rounds))
    pairs = await cohort_pairs(uow, cohort.id)
    k = deps.settings.feedback.k
    result = round_report(closed, number, await uow.feedback.answers(closed.id), pairs=pairs, k=k,
                          now=deps.clock.now())
    group = result.group("all")
    target = deps.settings.feedback.safety_target
    if not group.shown or group.safety is None or group.safety >= target:
        return False
    hint_words = f"admin report {cohort.name}"
    for admin in await admins_of(uow, deps, cohort.platform, cohort.workspace):
        await uow.outbox.enqueue(admin, Message(
            f"Psychological safety in '{cohort.name}' is {group.safety:.1f}, below the target of {target:.1f}.",
            (f"{result.label}, {group.answers} answers. Consider a facilitated reset: a short session with the "
             "pairs on how they work together, what makes candour safe, and what each side can change. "
             "The answers are anonymous; no pair or person can be singled out.",
             f"See `{deps.command_hint(admin, hint_words)}`."),
        ), deps.clock.now())
    return True
