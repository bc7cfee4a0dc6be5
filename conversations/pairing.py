"""Admins pair people: preview the optimal matching with its reasons, confirm exactly it, explain, override."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import date

from conversations import audit, rhythm
from conversations.csv_export import to_csv
from conversations.deps import Deps
from conversations.directory import resolve_user
from conversations.events import Command
from conversations.intros import introduce, unmatched_message
from conversations.matching import (
    Candidate,
    Contribution,
    Matching,
    MatchingRules,
    ProposedPair,
    Unmatched,
    Weights,
    hard_rule_broken,
    match,
    pair_score,
    why_not,
)
from conversations.messages import Fact, Message, Reply, TextFile
from conversations.model import Cohort, HrRecord, Pair, Person, Preview, Reason
from conversations.ports import UnitOfWork

PREVIEW_LINES = 25  # pairs listed in chat; the rest are counted


class PairingRefused(Exception):
    """An admin asked for something the pairing rules do not allow; the message says why and what to do."""


def rules_from(deps: Deps, on: date) -> MatchingRules:
    m = deps.settings.matching
    w = m.weights
    return MatchingRules(
        min_level_gap=m.min_level_gap, separate_departments=m.separate_departments,
        min_overlap_hours=m.min_overlap_hours, mentor_capacity=m.mentor_capacity, fairness=m.fairness,
        weights=Weights(topics=w.topics, context=w.context, cross_function=w.cross_function,
                        cross_location=w.cross_location, overlap=w.overlap, new_contact=w.new_contact),
        prune_above=m.exact_up_to, candidates_per_person=m.candidates_per_person, reference_date=on)


def _hr_keys(person: Person) -> list[str]:
    return [k for k in (person.profile.email.lower(), person.actor.key) if k]


async def candidates_of(uow: UnitOfWork, deps: Deps, people: Sequence[Person], ids_by_email: Mapping[str, str]
                        ) -> list[Candidate]:
    """People as the matcher sees them, with one read of HR's records for all of them."""
    records = await uow.hr.find_many([k for p in people for k in _hr_keys(p)])
    return [candidate_of(deps, p, ids_by_email, next((records[k] for k in _hr_keys(p) if k in records), None))
            for p in people]


def candidate_of(deps: Deps, person: Person, ids_by_email: Mapping[str, str], hr: HrRecord | None) -> Candidate:
    """A person as the matcher sees them; HR's values win over what the person typed."""
    p = person.profile
    avoid = frozenset(ids_by_email[e] for e in p.avoid if e in ids_by_email)
    level = (hr.level if hr and hr.level else p.level)
    ladder = [lv.lower() for lv in deps.settings.levels]
    level_index = ladder.index(level.lower()) if level.lower() in ladder else 0
    return Candidate(
        id=person.id, name=p.name, role=p.role, level=level_index,
        department=(hr.department if hr and hr.department else p.department),
        location=(hr.location if hr else ""), email=p.email.lower(),
        manager=(hr.manager if hr and hr.manager else p.manager).lower(),
        time_zone=p.time_zone, working_days=p.working_days, work_start=p.work_start, work_end=p.work_end,
        topics_teach=p.topics_teach, topics_learn=p.topics_learn, goals=p.goals, languages=p.languages,
        capacity=deps.settings.matching.mentor_capacity if p.role == "mentor" else 1, avoid=avoid)


async def _inputs(uow: UnitOfWork, deps: Deps, cohort: Cohort, *, late: bool
                  ) -> tuple[list[Candidate], list[Person], frozenset[tuple[str, str]], frozenset[frozenset[str]],
                             list[tuple[str, str]], list[Unmatched]]:
    member_ids = set(await uow.cohorts.members(cohort.id))
    people = [p for p in await uow.people.in_workspace(cohort.platform, cohort.workspace) if p.id in member_ids]
    away = [Unmatched(p.id, "paused" if p.status == "paused" else "the bot cannot reach them")
            for p in people if p.status != "active"]
    active = [p for p in people if p.status == "active"]
    ids = [p.id for p in active]
    existing = await uow.pairs.active_in(cohort.id)
    if existing and not late:
        raise PairingRefused(f"'{cohort.name}' already has {len(existing)} pairs. To match people who joined "
                             "since, without touching those pairs, use `admin match preview --late`.")
    keep = [(pair.mentor_id, pair.mentee_id) for pair in existing]
    previous = frozenset(await uow.pairs.ever(ids)) - frozenset(keep)
    excluded = frozenset(frozenset(x) for x in await uow.exclusions.among(ids))
    by_email = _ids_by_email(people)
    candidates = await candidates_of(uow, deps, active, by_email)
    return candidates, active, previous, excluded, keep, away


def _ids_by_email(people: Sequence[Person]) -> dict[str, str]:
    return {p.profile.email.lower(): p.id for p in people if p.profile.email}


def fingerprint(candidates: Sequence[Candidate], previous: frozenset[tuple[str, str]],
                excluded: frozenset[frozenset[str]], keep: Sequence[tuple[str, str]], rules: MatchingRules) -> str:
    """Everything the pairing depends on, hashed: a preview confirmed later must still match it."""
    data = {
        "candidates": sorted(json.dumps(asdict(c), sort_keys=True, default=sorted) for c in candidates),
        "previous": sorted(previous), "excluded": sorted(sorted(x) for x in excluded), "keep": sorted(keep),
        "rules": json.dumps(asdict(rules), sort_keys=True, default=str),
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _payload(matching: Matching, away: Sequence[Unmatched]) -> str:
    return json.dumps({
        "pairs": [asdict(p) for p in matching.pairs],
        "unmatched": [asdict(u) for u in (*matching.unmatched, *away)],
    })


def _pairs_of(payload: str) -> tuple[list[ProposedPair], list[Unmatched]]:
    data = json.loads(payload)
    pairs = [ProposedPair(**{**p, "contributions": tuple(Contribution(**c) for c in p["contributions"])})
             for p in data["pairs"]]
    return pairs, [Unmatched(**u) for u in data["unmatched"]]


def _top_reasons(pair: ProposedPair, n: int = 4) -> str:
    shown = sorted((c for c in pair.contributions if c.points > 0), key=lambda c: -c.points)[:n]
    return "; ".join(c.reason for c in shown) or "allowed by every rule"


def _rank(rank: int, options: int) -> str:
    return "their best option" if rank == 1 else f"option {rank} of {options}"


async def preview(cmd: Command, uow: UnitOfWork, deps: Deps) -> Reply:
    """`admin match preview [--late]`: compute and show the pairing, store it for confirmation."""
    late = "--late" in cmd.args[2:]
    cohort = await uow.cohorts.current(cmd.actor.platform, cmd.actor.workspace)
    if cohort is None:
        raise PairingRefused("No cohort is open. Open one with `admin cohort open NAME` first.")
    candidates, people, previous, excluded, keep, away = await _inputs(uow, deps, cohort, late=late)
    rules = rules_from(deps, (cohort.started_at or cohort.created_at).date())
    # matching is CPU work: a worker thread keeps the bot answering meanwhile
    matching = await asyncio.to_thread(match, candidates, rules, previous=previous, excluded=excluded, keep=keep)
    stored = Preview(id=uuid.uuid4().hex[:8], cohort_id=cohort.id, created_at=deps.clock.now(),
                     fingerprint=fingerprint(candidates, previous, excluded, keep, rules),
                     payload=_payload(matching, away), late=late)
    await uow.previews.add(stored)
    names = {p.id: p.profile.name for p in people}
    lines = [f"{names[p.mentor]} mentors {names[p.mentee]}: {p.score}/100. {_top_reasons(p)}. For "
             f"{names[p.mentor]} {_rank(p.mentor_rank, p.mentor_options)}, for {names[p.mentee]} "
             f"{_rank(p.mentee_rank, p.mentee_options)}." for p in matching.pairs[:PREVIEW_LINES]]
    if len(matching.pairs) > PREVIEW_LINES:
        lines.append(f"...and {len(matching.pairs) - PREVIEW_LINES} more pairs.")
    everyone = {p.id: p.profile.name for p in await uow.people.in_workspace(cohort.platform, cohort.workspace)}
    unplaced = [f"{everyone.get(u.person, 'someone')}: {u.reason}" for u in (*matching.unmatched, *away)]
    facts = (Fact("Pairs", str(len(matching.pairs))), Fact("Unmatched", str(len(unplaced))),
             Fact("Lowest score", str(matching.worst) if matching.worst is not None else "-"),
             Fact("Preview id", stored.id))
    sections = ["\n".join(lines) or "No pair is possible under the rules."]
    if unplaced:
        sections.append("Unmatched:\n" + "\n".join(unplaced[:PREVIEW_LINES]))
    confirm_words = deps.command_hint(cmd.actor, f"admin match confirm {stored.id}")
    sections.append(f"Confirm exactly this pairing with `{confirm_words}`.")
    title = f"Matching preview for '{cohort.name}'" + (" (late joiners)" if late else "")
    if len(matching.pairs) <= PREVIEW_LINES and len(unplaced) <= PREVIEW_LINES:
        return Reply.say(title, *sections, facts=facts)
    sections.append(f"The whole preview is in the attached file preview-{stored.id}.csv.")
    rows: list[tuple[object, ...]] = [
        ("pair", everyone.get(p.mentor, ""), everyone.get(p.mentee, ""), p.score, p.mentor_rank, p.mentee_rank,
         _top_reasons(p, 10)) for p in matching.pairs]
    rows += [("unmatched", everyone.get(u.person, ""), "", "", "", "", u.reason) for u in (*matching.unmatched, *away)]
    csv_text = to_csv(("kind", "mentor", "mentee", "score", "mentor_rank", "mentee_rank", "reasons"), rows)
    return Reply(messages=(Message(title, tuple(sections), facts,
                                   file=TextFile(f"preview-{stored.id}.csv", csv_text)),))


async def confirm(cmd: Command, uow: UnitOfWork, deps: Deps) -> Reply:
    """`admin match confirm ID`: commit the previewed pairs if nothing changed, and introduce everyone."""
    if len(cmd.args) < 3:
        raise PairingRefused("Say which preview: `admin match confirm ID` (the id is in the preview).")
    stored = await uow.previews.get(cmd.args[2])
    cohort = await uow.cohorts.current(cmd.actor.platform, cmd.actor.workspace)
    if stored is None or cohort is None or stored.cohort_id != cohort.id:
        raise PairingRefused(f"There is no preview '{cmd.args[2][:20]}' for the current cohort.")
    if stored.used:
        raise PairingRefused("That preview was confirmed already.")
    candidates, people, previous, excluded, keep, _ = await _inputs(uow, deps, cohort, late=stored.late)
    rules = rules_from(deps, (cohort.started_at or cohort.created_at).date())
    if fingerprint(candidates, previous, excluded, keep, rules) != stored.fingerprint:
        raise PairingRefused("Something changed since that preview (people joined, left, paused or edited their "
                             "profiles, or pairs changed), so it is stale. Run `admin match preview` again.")
    if not await uow.previews.mark_used(stored.id):
        raise PairingRefused("That preview was confirmed already.")
    proposed, unmatched = _pairs_of(stored.payload)
    by_id = {p.id: p for p in people}
    now = deps.clock.now()
    for p in proposed:
        pair = Pair(id=uuid.uuid4().hex, cohort_id=cohort.id, mentor_id=p.mentor, mentee_id=p.mentee, score=p.score,
                    reasons=tuple(Reason(c.criterion, c.points, c.reason) for c in p.contributions), created_at=now)
        await uow.pairs.add(pair)
        await introduce(uow, deps, cohort, pair, mentor=by_id[p.mentor], mentee=by_id[p.mentee], at=now)
        await rhythm.start_pair(uow, deps, cohort, pair)
    for u in unmatched:
        person = by_id.get(u.person)
        if person is not None:
            await uow.outbox.enqueue(person.actor, unmatched_message(deps, cohort, u.reason), now)
    return Reply.say(f"Confirmed: {len(proposed)} pairs in '{cohort.name}'.",
                     f"Everyone gets an introduction now; {len(unmatched)} unmatched people are told why and stay "
                     "on the waiting list.")


async def _two(cmd: Command, args: Sequence[str], uow: UnitOfWork, deps: Deps, usage: str
               ) -> tuple[Person, Person]:
    words = [w for w in args if not w.startswith("--")]
    if len(words) < 2:
        raise PairingRefused(f"Name two people: `{usage}`.")
    found: list[Person] = []
    for query in words[:2]:
        actor = await resolve_user(query, cmd.actor, uow, deps)
        person = await uow.people.by_actor(actor) if actor else None
        if person is None:
            raise PairingRefused(f"I can't find a signed-up person for '{query[:60]}'.")
        found.append(person)
    if found[0].id == found[1].id:
        raise PairingRefused("That is the same person twice.")
    return found[0], found[1]


def _roles(a: Person, b: Person) -> tuple[Person, Person]:
    """(mentor, mentee) whatever order the admin named them in."""
    if a.profile.role == b.profile.role:
        raise PairingRefused(f"Both are {a.profile.role}s; a pair is one mentor and one mentee.")
    return (a, b) if a.profile.role == "mentor" else (b, a)


async def why(cmd: Command, uow: UnitOfWork, deps: Deps) -> Reply:
    """`admin match why A B`: the hard rule that keeps them apart, or what pairing them would cost."""
    a, b = await _two(cmd, cmd.args[2:], uow, deps, "admin match why A B")
    mentor, mentee = _roles(a, b)
    cohort = await uow.cohorts.current(cmd.actor.platform, cmd.actor.workspace)
    if cohort is None:
        raise PairingRefused("No cohort is open.")
    candidates, _, previous, excluded, keep, _ = await _inputs(uow, deps, cohort, late=True)
    rules = rules_from(deps, (cohort.started_at or cohort.created_at).date())
    matching = await asyncio.to_thread(match, candidates, rules, previous=previous, excluded=excluded, keep=keep)
    text = await asyncio.to_thread(why_not, mentor.id, mentee.id, candidates, rules, matching,
                                   previous=previous, excluded=excluded)
    return Reply.say(f"{mentor.profile.name} and {mentee.profile.name}", text)


async def pair_by_hand(cmd: Command, uow: UnitOfWork, deps: Deps) -> Reply:
    """`admin pair A B [--force]`: pair two people; the hard rules hold unless forced (audited either way)."""
    a, b = await _two(cmd, cmd.args[1:], uow, deps, "admin pair A B [--force]")
    mentor, mentee = _roles(a, b)
    forced = "--force" in cmd.args
    cohort = await uow.cohorts.current(cmd.actor.platform, cmd.actor.workspace)
    if cohort is None:
        raise PairingRefused("No cohort is open.")
    rules = rules_from(deps, (cohort.started_at or cohort.created_at).date())
    ids = [mentor.id, mentee.id]
    previous = frozenset(await uow.pairs.ever(ids))
    excluded = frozenset(frozenset(x) for x in await uow.exclusions.among(ids))
    by_email = _ids_by_email([mentor, mentee])
    mc, ec = await candidates_of(uow, deps, [mentor, mentee], by_email)
    broken = hard_rule_broken(mc, ec, rules, previous=previous, excluded=excluded)
    taken = [p for p in await uow.pairs.active_of(mentee.id)]
    if taken:
        raise PairingRefused(f"{mentee.profile.name} is already paired; `admin unpair` first.")
    if len(await uow.pairs.active_of(mentor.id)) >= rules.mentor_capacity:
        broken = broken or f"{mentor.profile.name} already has {rules.mentor_capacity} mentee(s), the capacity"
    if broken and not forced:
        raise PairingRefused(f"Not allowed: {broken}. Add --force to pair them anyway (it is audited).")
    score, contributions = pair_score(mc, ec, rules)
    now = deps.clock.now()
    pair = Pair(id=uuid.uuid4().hex, cohort_id=cohort.id, mentor_id=mentor.id, mentee_id=mentee.id, score=score,
                reasons=tuple(Reason(c.criterion, c.points, c.reason) for c in contributions), created_at=now,
                forced=bool(broken))
    await uow.pairs.add(pair)
    await introduce(uow, deps, cohort, pair, mentor=mentor, mentee=mentee, at=now)
    await rhythm.start_pair(uow, deps, cohort, pair)
    await audit.record(uow, deps.clock, cmd.actor, "admin.pair.forced" if broken else "admin.pair", "ok",
                       detail=f"rule overridden: {broken}" if broken else "")
    return Reply.say(f"Paired {mentor.profile.name} (mentor) with {mentee.profile.name}: {score}/100.",
                     *([f"Forced past: {broken}."] if broken else []), "Both get an introduction now.")


async def unpair(cmd: Command, uow: UnitOfWork, deps: Deps) -> Reply:
    """`admin unpair A B`: end their pair; both are told and go back on the waiting list."""
    a, b = await _two(cmd, cmd.args[1:], uow, deps, "admin unpair A B")
    mentor, mentee = _roles(a, b)
    pair = next((p for p in await uow.pairs.active_of(mentor.id) if p.mentee_id == mentee.id), None)
    if pair is None:
        raise PairingRefused(f"{mentor.profile.name} and {mentee.profile.name} are not paired.")
    await uow.pairs.end(pair.id, deps.clock.now())
    for person in (mentor, mentee):
        await uow.outbox.enqueue(person.actor, unmatched_message(
            deps, None, "your pair was ended by a program admin"), deps.clock.now())
    return Reply.say(f"Unpaired {mentor.profile.name} and {mentee.profile.name}.",
                     "Both are told and are back on the waiting list.")


async def exclude(cmd: Command, uow: UnitOfWork, deps: Deps) -> Reply:
    """`admin exclude A B`, `admin exclude list`, `admin exclude remove A B`."""
    verb = cmd.args[1].lower() if len(cmd.args) > 1 else ""
    if verb == "list":
        people = {p.id: p.profile.name for p in await uow.people.in_workspace(cmd.actor.platform,
                                                                             cmd.actor.workspace)}
        kept = await uow.exclusions.among(list(people))
        return Reply.say("Kept apart", "\n".join(f"{people[a]} / {people[b]}" for a, b in kept) or "Nobody.")
    a, b = await _two(cmd, cmd.args[2:] if verb == "remove" else cmd.args[1:], uow, deps, "admin exclude A B")
    if verb == "remove":
        removed = await uow.exclusions.remove(a.id, b.id)
        return Reply.say("They can be paired again." if removed else "They were not kept apart.")
    added = await uow.exclusions.add(a.id, b.id, deps.clock.now())
    return Reply.say(f"{a.profile.name} and {b.profile.name} will never be paired." if added
                     else "They were kept apart already.")


