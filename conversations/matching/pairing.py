"""Propose a cohort's pairs from its candidates: the entry point, its explanations, and the greedy baseline."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from conversations.matching.explain import unmatched_reasons
from conversations.matching.model import Candidate, Matching, MatchingRules, ProposedPair
from conversations.matching.rules import (
    CRITERIA,
    Problem,
    build_problem,
    contributions,
    evaluate,
    hard_rule_broken,
    pair_score,
    reporting_lines,
    score_array,
)
from conversations.matching.solver import Edges, Scan, scan, solve, tie_keys


def _check_ids(candidates: Sequence[Candidate]) -> None:
    ids = [c.id for c in candidates]
    if len(set(ids)) != len(ids):
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"candidate ids must be unique: {', '.join(duplicates[:5])}")


def _problem(candidates: Sequence[Candidate], rules: MatchingRules, previous: frozenset[tuple[str, str]],
             excluded: frozenset[frozenset[str]], keep: Sequence[tuple[str, str]]) -> tuple[Problem, set[str]]:
    """The problem over the people still to place, sorted by id; and who is already placed by `keep`."""
    _check_ids(candidates)
    roles = {c.id: c.role for c in candidates}
    kept_load: dict[str, int] = {}
    placed: set[str] = set()
    for a, b in keep:
        mentor, mentee = (a, b) if roles.get(a) == "mentor" or roles.get(b) == "mentee" else (b, a)
        kept_load[mentor] = kept_load.get(mentor, 0) + 1
        placed.update((mentor, mentee))
    mentors, capacity = [], []
    for c in sorted((c for c in candidates if c.role == "mentor"), key=lambda c: c.id):
        room = max(0, min(c.capacity, rules.mentor_capacity)) - kept_load.get(c.id, 0)
        if c.id in kept_load and room <= 0:
            continue  # full with kept pairs: not part of this round
        mentors.append(c)
        capacity.append(max(room, 0))
    mentees = sorted((c for c in candidates if c.role == "mentee" and c.id not in placed), key=lambda c: c.id)
    p = build_problem(mentors, mentees, rules, capacity=capacity, previous=previous, excluded=excluded,
                      lines=reporting_lines(candidates))
    return p, placed


_CANDIDATE_BUDGET = 400_000  # candidate pairs per side: 40 each at 10,000 a side, measured well under 10 s


def candidates_per_person(p: Problem) -> int:
    """How many best partners each person keeps when pruning: the configured number, raised up to twice that
    while the cohort is small enough to stay within the candidate budget. More candidates cost little below
    10,000 a side (the sparse assignment often converges faster) and win back most of what pruning loses:
    measured at 3,000 a side, 99.89 % of the exact total with 40 and 99.98 % with 80."""
    k = max(1, p.rules.candidates_per_person)
    return max(k, min(2 * k, _CANDIDATE_BUDGET // max(1, *p.n())))


def _exact(p: Problem) -> bool:
    n_m, n_e = p.n()
    return max(n_m, n_e) <= p.rules.prune_above


def _result(p: Problem, chosen: Edges, scanned: Scan, placed: set[str]) -> Matching:
    """Pairs with their explanations and ranks, and the unplaced with their reasons."""
    m, e = p.mentors.people, p.mentees.people
    order = np.lexsort((chosen.mentee, chosen.mentor))
    mi, ej = chosen.mentor[order], chosen.mentee[order]
    _, points = evaluate(p, mi, ej, outer=False)
    scores = score_array(points, p.rules.weights)
    pairs = []
    for k, (i, j) in enumerate(zip(mi.tolist(), ej.tolist(), strict=True)):
        s = int(scores[k])
        mentor_hist, mentee_hist = scanned.mentor_hist[i], scanned.mentee_hist[j]
        pairs.append(ProposedPair(
            mentor=m[i].id, mentee=e[j].id, score=s,
            contributions=contributions(p, i, j, {c: int(points[c][k]) for c in CRITERIA}),
            mentor_rank=1 + int(mentor_hist[s + 2:].sum()), mentee_rank=1 + int(mentee_hist[s + 2:].sum()),
            mentor_options=int(mentor_hist[1:].sum()), mentee_options=int(mentee_hist[1:].sum()),
        ))
    paired_mentors = {int(i) for i in mi}
    paired_mentees = {int(j) for j in ej}
    unmatched = unmatched_reasons(
        p, [i for i in range(len(m)) if i not in paired_mentors and m[i].id not in placed],
        [j for j in range(len(e)) if j not in paired_mentees],
        mentor_options=scanned.mentor_hist[:, 1:].sum(axis=1), mentee_options=scanned.mentee_hist[:, 1:].sum(axis=1),
    )
    total = int(scores.sum())
    return Matching(tuple(pairs), unmatched, total, int(scores.min()) if len(scores) else None)


def match(candidates: Sequence[Candidate], rules: MatchingRules, *,
          previous: frozenset[tuple[str, str]] = frozenset(),
          excluded: frozenset[frozenset[str]] = frozenset(),
          keep: Sequence[tuple[str, str]] = ()) -> Matching:
    """The best pairing: most people placed, then (maximin) the best worst pair, then the highest total.

    `keep` holds pairs that stay as they are (late joiners): their mentees are not re-matched and each kept
    pair takes one of its mentor's slots. The result lists new pairs only.
    """
    p, placed = _problem(candidates, rules, previous, excluded, keep)
    exact = _exact(p)
    scanned = scan(p, best=None if exact else candidates_per_person(p))
    chosen = solve(p, scanned, exact=exact)
    return _result(p, chosen, scanned, placed)


def greedy_match(candidates: Sequence[Candidate], rules: MatchingRules, *,
                 previous: frozenset[tuple[str, str]] = frozenset(),
                 excluded: frozenset[frozenset[str]] = frozenset(),
                 keep: Sequence[tuple[str, str]] = ()) -> Matching:
    """Best-first greedy pairing: the benchmark's baseline, never used to propose pairs."""
    p, placed = _problem(candidates, rules, previous, excluded, keep)
    scanned = scan(p, best=None)
    edges = scanned.edges
    n_m, n_e = p.n()
    tie = tie_keys(edges.mentor, edges.mentee, n_m, n_e)
    order = np.lexsort((-tie, -edges.score))
    room = p.capacity.copy()
    taken = np.zeros(n_e, dtype=np.bool_)
    picked: list[int] = []
    for k, i, j in zip(order.tolist(), edges.mentor[order].tolist(), edges.mentee[order].tolist(), strict=True):
        if room[i] > 0 and not taken[j]:
            room[i] -= 1
            taken[j] = True
            picked.append(k)
    chosen = edges.where(np.array(sorted(picked), dtype=np.int64))
    return _result(p, chosen, scanned, placed)




def why_not(a: str, b: str, candidates: Sequence[Candidate], rules: MatchingRules, matching: Matching, *,
            previous: frozenset[tuple[str, str]] = frozenset(),
            excluded: frozenset[frozenset[str]] = frozenset(),
            keep: Sequence[tuple[str, str]] = ()) -> str:
    """Why two people were not paired: the hard rule they break, or what pairing them would cost."""
    by_id = {c.id: c for c in candidates}
    for who in (a, b):
        if who not in by_id:
            return f"unknown person: {who}"
    first, second = by_id[a], by_id[b]
    if first.role == second.role:
        return f"both signed up as {first.role}s"
    mentor, mentee = (first, second) if first.role == "mentor" else (second, first)
    broken = hard_rule_broken(mentor, mentee, rules, previous=previous, excluded=excluded,
                              reporting_lines=reporting_lines(candidates))
    if broken is not None:
        return f"not allowed: {broken}"
    score, _ = pair_score(mentor, mentee, rules)
    for pair in matching.pairs:
        if (pair.mentor, pair.mentee) == (mentor.id, mentee.id):
            return f"they are paired, score {pair.score}"
    if any(mentee.id in k for k in keep):
        return f"allowed, score {score}; {mentee.name} keeps the mentor they have"
    kept_load = sum(1 for k in keep if mentor.id in k)
    if kept_load >= max(0, min(mentor.capacity, rules.mentor_capacity)):
        return f"allowed, score {score}; {mentor.name} is full with the pairs kept from before"
    forced = match(candidates, rules, previous=previous, excluded=excluded, keep=[*keep, (mentor.id, mentee.id)])
    lost = len(matching.pairs) - (len(forced.pairs) + 1)
    drop = matching.total - (forced.total + score)
    worst = min([score, *(x.score for x in forced.pairs)])
    head = f"allowed, score {score}; pairing them would"
    if lost > 0:
        return f"{head} leave {lost} more {'person' if lost == 1 else 'people'} unplaced"
    if rules.fairness == "maximin" and matching.worst is not None and worst < matching.worst:
        return f"{head} lower the worst pair's score from {matching.worst} to {worst}"
    if drop > 0:
        return f"{head} lower the total by {drop} {'point' if drop == 1 else 'points'}"
    return (f"allowed, score {score}; pairing them gives the same total, and another pairing of equal total "
            "was chosen (ties are broken by id order)")
