"""The pairing itself: as many people placed as possible, then (maximin) the worst pair raised, then the total.

Up to `prune_above` people a side the whole allowed graph goes to an exact assignment solver. Above it, each
person's best candidates (both directions, united) are solved exactly with a sparse assignment; a maximum
matching of the whole graph, and in maximin mode one at the best threshold, are added to that graph, so pruning
can cost a little total score but never a placed person or the worst score. The whole graph is only asked when
the score histograms cannot settle it, and then from the scan's one-byte score table into a compact sparse
matrix (4-byte indices, 1-byte entries), never as a list of all its pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from conversations.matching.rules import (
    BoolArray,
    IntArray,
    Problem,
    block_inputs,
    block_scores,
    evaluate,
    score_array,
)

_TIE_BITS = 20
_TIE_MASK = (1 << _TIE_BITS) - 1
_NO_DUMMIES = False  # measured (scipy 1.17): LAPJVsp is 5x slower without the 'stay unplaced' columns
_BINS = 102  # histogram bin 0 = not allowed, bin s+1 = allowed with score s
_BLOCK_CELLS = 1 << 20  # pairs evaluated at once: keeps a 10k x 10k cohort in a few tens of MB


def _mix(n: int, salt: int) -> IntArray:
    """A fixed pseudo-random 32-bit value per position: the tie-break depends on sorted order only."""
    x = (np.arange(n, dtype=np.uint64) + np.uint64(salt)) * np.uint64(0x9E3779B97F4A7C15)
    x ^= x >> np.uint64(29)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(32)
    return (x & np.uint64(0xFFFFFFFF)).astype(np.int64)


@dataclass(slots=True)
class Edges:
    """Allowed mentor-mentee pairs with their scores, as parallel arrays."""

    mentor: IntArray
    mentee: IntArray
    score: IntArray

    def __len__(self) -> int:
        return len(self.mentor)

    def where(self, mask: npt.NDArray[np.bool_] | IntArray) -> Edges:
        return Edges(self.mentor[mask], self.mentee[mask], self.score[mask])

    def union(self, other: Edges) -> Edges:
        m = np.concatenate([self.mentor, other.mentor])
        e = np.concatenate([self.mentee, other.mentee])
        s = np.concatenate([self.score, other.score])
        _, first = np.unique(m * (int(e.max(initial=0)) + 1) + e, return_index=True)
        return Edges(m[first], e[first], s[first])


@dataclass(slots=True)
class Scan:
    edges: Edges
    mentor_hist: IntArray  # [mentor, bin]
    mentee_hist: IntArray  # [mentee, bin]
    stored: npt.NDArray[np.int8] | None = None  # pruned scans: every pair's score (-1: not allowed), one byte each


def tie_keys(mi: IntArray, ej: IntArray, n_m: int, n_e: int) -> IntArray:
    return (_mix(n_m, 1)[mi] ^ _mix(n_e, 2)[ej]) & _TIE_MASK


def _blocks(p: Problem) -> list[tuple[int, int]]:
    n_m, n_e = p.n()
    step = max(1, _BLOCK_CELLS // max(n_e, 1))
    return [(start, min(start + step, n_m)) for start in range(0, n_m, step)]


def _histograms(allowed: BoolArray, score: npt.NDArray[np.int32]) -> tuple[IntArray, IntArray]:
    """Per mentor row and per mentee column: how many allowed partners at each score."""
    rows, cols = allowed.shape
    binned = np.where(allowed, score + 1, 0)
    mentor = np.bincount((binned + (np.arange(rows, dtype=np.int32) * _BINS)[:, None]).ravel(),
                         minlength=rows * _BINS).reshape(rows, _BINS)
    binned *= cols  # bin-major for the mentee side: no transpose of the block needed
    binned += np.arange(cols, dtype=np.int32)[None, :]
    mentee = np.bincount(binned.ravel(), minlength=cols * _BINS).reshape(_BINS, cols).T
    return mentor, mentee


def _cutoffs(hist: IntArray, best: int) -> tuple[IntArray, IntArray]:
    """Per person: the score of their best-th partner (-1: take all), and how many to take at exactly that score."""
    counts = hist[:, 1:][:, ::-1]  # scores 100 .. 0
    at_least = np.cumsum(counts, axis=1)
    reached = at_least >= best
    first = np.argmax(reached, axis=1)
    threshold = np.where(reached.any(axis=1), 100 - first, -1)
    above = np.where(first > 0, np.take_along_axis(at_least, np.maximum(first - 1, 0)[:, None], axis=1)[:, 0], 0)
    return threshold.astype(np.int64), np.where(threshold >= 0, best - above, 0).astype(np.int64)


def _pick_ties(group: IntArray, key: IntArray, need: IntArray) -> BoolArray:
    """Within each group, the `need[group]` entries with the largest key."""
    order = np.lexsort((-key, group))
    g = group[order]
    starts = np.searchsorted(g, g, side="left")
    rank = np.arange(len(g)) - starts
    chosen = np.zeros(len(g), dtype=np.bool_)
    chosen[order] = rank < need[g]
    return chosen


def scan(p: Problem, *, best: int | None) -> Scan:
    """Walk all pairs block by block: every allowed edge (best=None) or each side's best `best` partners.

    For `best`, a first pass keeps scores as one byte a pair plus per-person score histograms; each person's
    cut-off score follows from their histogram, and a second pass takes everything above the cut-offs and, at
    the cut-off score itself, the ties with the highest tie-break key.
    """
    n_m, n_e = p.n()
    f = block_inputs(p)
    mentor_hist = np.zeros((n_m, _BINS), dtype=np.int64)
    mentee_hist = np.zeros((n_e, _BINS), dtype=np.int64)
    stored = np.full((n_m, n_e), -1, dtype=np.int8) if best is not None else None
    parts: list[Edges] = []
    available = p.capacity > 0

    def first(block: tuple[int, int]) -> tuple[Edges | None, IntArray, IntArray]:
        start, stop = block
        allowed, score_f = block_scores(p, f, start, stop)
        allowed &= available[start:stop, None]
        score = score_f.astype(np.int32)
        del score_f
        hists = _histograms(allowed, score)
        if stored is not None:
            stored[start:stop] = np.where(allowed, score, -1)
            return None, *hists
        r, c = np.nonzero(allowed)
        return Edges(r.astype(np.int64) + start, c.astype(np.int64), score[r, c].astype(np.int64)), *hists

    blocks = _blocks(p)
    # one thread: two were measured slower (numpy ops here are memory-bound, BLAS has its own threads)
    for (start, stop), (edges, m_hist, e_hist) in zip(blocks, map(first, blocks), strict=True):
        if edges is not None:
            parts.append(edges)
        mentor_hist[start:stop] = m_hist
        mentee_hist += e_hist
    if stored is None or best is None:
        return Scan(_concat(parts), mentor_hist, mentee_hist)
    row_cut, row_need = _cutoffs(mentor_hist, best)
    col_cut, col_need = _cutoffs(mentee_hist, best)
    hm, he = _mix(n_m, 1), _mix(n_e, 2)

    def second(block: tuple[int, int]) -> tuple[Edges, Edges, Edges]:
        start, stop = block
        s = stored[start:stop]
        rc, cc = row_cut[start:stop, None], col_cut[None, :]
        r, c = np.nonzero((s > rc) | (s > cc))
        sure = Edges(r.astype(np.int64) + start, c.astype(np.int64), s[r, c].astype(np.int64))
        r, c = np.nonzero(s == rc)
        row_ties = Edges(r.astype(np.int64) + start, c.astype(np.int64), s[r, c].astype(np.int64))
        r, c = np.nonzero(s == cc)
        col_ties = Edges(r.astype(np.int64) + start, c.astype(np.int64), s[r, c].astype(np.int64))
        return sure, row_ties, col_ties

    sure_parts, row_parts, col_parts = [], [], []
    for sure, row_ties, col_ties in map(second, blocks):
        sure_parts.append(sure)
        row_parts.append(row_ties)
        col_parts.append(col_ties)
    edges = _concat(sure_parts)
    for ties, by_row in ((_concat(row_parts), True), (_concat(col_parts), False)):
        key = (hm[ties.mentor] ^ he[ties.mentee]) & _TIE_MASK
        group, need = (ties.mentor, row_need) if by_row else (ties.mentee, col_need)
        edges = edges.union(ties.where(_pick_ties(group, key, need)))
    return Scan(edges, mentor_hist, mentee_hist, stored)


def _concat(parts: list[Edges]) -> Edges:
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return Edges(empty, empty.copy(), empty.copy())
    return Edges(np.concatenate([x.mentor for x in parts]), np.concatenate([x.mentee for x in parts]),
                 np.concatenate([x.score for x in parts]))


def _slots(capacity: IntArray) -> tuple[IntArray, int]:
    start = np.concatenate([[0], np.cumsum(capacity)[:-1]]).astype(np.int64)
    return start, int(capacity.sum())


def _slot_edges(edges: Edges, capacity: IntArray) -> tuple[IntArray, IntArray]:
    """Each edge once per slot of its mentor; returns (edge index, slot)."""
    start, _ = _slots(capacity)
    reps = capacity[edges.mentor]
    which = np.repeat(np.arange(len(edges), dtype=np.int64), reps)
    offset = np.arange(len(which), dtype=np.int64) - np.repeat(np.cumsum(reps) - reps, reps)
    return which, start[edges.mentor[which]] + offset


def max_cardinality(edges: Edges, capacity: IntArray, n_e: int) -> tuple[int, IntArray]:
    from scipy.sparse import csr_matrix  # scipy loads only when someone is matched: every start stays fast
    from scipy.sparse.csgraph import maximum_bipartite_matching

    """The most people that can be placed (Hopcroft-Karp), and the edges of one such matching."""
    which, slot = _slot_edges(edges, capacity)
    _, n_slots = _slots(capacity)
    if len(which) == 0 or n_slots == 0:
        return 0, np.zeros(0, dtype=np.int64)
    graph = csr_matrix((np.ones(len(which), dtype=np.int8), (edges.mentee[which], slot)), shape=(n_e, n_slots))
    matched = maximum_bipartite_matching(graph, perm_type="column")
    chosen = which[matched[edges.mentee[which]] == slot]  # (mentee, slot) is one edge
    return len(chosen), np.sort(chosen)


def placeable_bound(scanned: Scan, capacity: IntArray) -> IntArray:
    """For each score t (0..100): an upper bound on the people placed with pairs scoring at least t.

    No more mentees than have such a pair, and no more than the mentors' slots that have one: from the score
    histograms alone, so a threshold it rules out never needs the whole graph.
    """
    m_at_least = np.cumsum(scanned.mentor_hist[:, :0:-1], axis=1)[:, ::-1]  # [mentor, t]: partners scoring >= t
    e_at_least = np.cumsum(scanned.mentee_hist[:, :0:-1], axis=1)[:, ::-1]
    mentees = (e_at_least > 0).sum(axis=0)
    slots = np.minimum(capacity[:, None], m_at_least).sum(axis=0)
    bound: IntArray = np.minimum(mentees, slots).astype(np.int64)
    return bound


def matching_at(p: Problem, stored: npt.NDArray[np.int8] | None, threshold: int) -> tuple[int, Edges]:
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_bipartite_matching

    """A maximum matching of every allowed pair scoring at least `threshold`: its size and its edges.

    The graph is built block by block straight into a sparse matrix with 4-byte column indices and 1-byte
    entries (from `stored` when the scan kept it, else by scoring again), never as a list of all its pairs.
    """
    n_m, n_e = p.n()
    capacity = p.capacity
    available = capacity > 0
    f = block_inputs(p) if stored is None else None
    index: type[np.signedinteger[Any]] = np.int32 if n_m * n_e < (1 << 31) else np.int64

    def ok_block(start: int, stop: int) -> BoolArray:
        if stored is not None:
            ok = stored[start:stop] >= threshold
        else:
            assert f is not None
            ok, block = block_scores(p, f, start, stop)
            ok &= block >= threshold
            del block
        ok &= available[start:stop, None]
        return ok

    blocks = _blocks(p)
    indptr = np.zeros(n_m + 1, dtype=index)
    if stored is not None:  # count first, so the indices are written once into an array of the exact size
        for start, stop in blocks:
            indptr[start + 1:stop + 1] = ok_block(start, stop).sum(axis=1)
        np.cumsum(indptr, out=indptr)
        indices = np.empty(int(indptr[-1]), dtype=index)
        for start, stop in blocks:
            indices[indptr[start]:indptr[stop]] = np.nonzero(ok_block(start, stop))[1]
    else:  # scoring twice would cost more than the copy
        columns: list[npt.NDArray[np.signedinteger[Any]]] = []
        for start, stop in blocks:
            r, c = np.nonzero(ok_block(start, stop))
            indptr[start + 1:stop + 1] = np.bincount(r, minlength=stop - start)
            columns.append(c.astype(index))
            del r, c
        np.cumsum(indptr, out=indptr)
        indices = np.concatenate(columns) if columns else np.zeros(0, dtype=index)
        del columns
    graph = csr_matrix((np.ones(len(indices), dtype=np.int8), indices, indptr), shape=(n_m, n_e), copy=False)
    del indices, indptr
    owner = np.arange(n_m, dtype=np.int64)
    if (capacity > 1).any():
        owner = np.repeat(owner, capacity)  # one row per mentor slot
        graph = graph[owner]
    matched = maximum_bipartite_matching(graph, perm_type="column")
    del graph
    rows = np.nonzero(matched >= 0)[0]
    mentor, mentee = owner[rows], matched[rows].astype(np.int64)
    order = np.lexsort((mentee, mentor))
    mentor, mentee = mentor[order], mentee[order]
    if stored is not None:
        score = stored[mentor, mentee].astype(np.int64)
    else:
        score = score_array(evaluate(p, mentor, mentee, outer=False)[1], p.rules.weights)
    return len(mentor), Edges(mentor, mentee, score)


def best_threshold(edges: Edges, capacity: IntArray, n_e: int, target: int) -> int:
    """The highest score t such that edges scoring at least t still place `target` people."""
    values = np.unique(edges.score)
    lo, hi = 0, len(values) - 1  # values[lo] always works (it keeps every edge)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        size, _ = max_cardinality(edges.where(edges.score >= values[mid]), capacity, n_e)
        if size >= target:
            lo = mid
        else:
            hi = mid - 1
    return int(values[lo]) if len(values) else 0


def max_weight(edges: Edges, capacity: IntArray, n_e: int, n_m: int, *, dense: bool, saturated: bool) -> IntArray:
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import min_weight_full_bipartite_matching

    """Indices of the edges in a matching that places the most people, then has the highest total score.

    Weights are big + score (+ in the dense solver a tie term below half a point in total), so cardinality
    dominates and ties are broken by sorted position alone. Without "stay unplaced" columns (`saturated` and
    _NO_DUMMIES) the big term is not needed either, but LAPJVsp was slower that way.
    """
    which, slot = _slot_edges(edges, capacity)
    _, n_slots = _slots(capacity)
    if len(which) == 0:
        return np.zeros(0, dtype=np.int64)
    size = min(n_e, n_slots)
    big = 100.0 * (size + 1)
    weight = big + edges.score[which]
    if dense:
        # the sparse solver gets no tie term: all-distinct weights make LAPJVsp 4-5x slower (measured, scipy 1.17);
        # its input is sorted by id all the same, so the same cohort still gives the same pairs
        weight += tie_keys(edges.mentor[which], edges.mentee[which], n_m, n_e) / float(1 << _TIE_BITS) * (0.5 / size)
    if dense:
        matrix = np.zeros((n_e, n_slots), dtype=np.float64)
        matrix[edges.mentee[which], slot] = weight
        rows, cols = linear_sum_assignment(matrix, maximize=True)
        picked = matrix[rows, cols] > 0
        rows, cols = rows[picked], cols[picked]
        del matrix
    elif saturated and _NO_DUMMIES:
        # every full matching of the smaller side places the most people: only the score is left to maximise
        weight -= big - 1.0
        if n_e <= n_slots:
            graph = coo_matrix((weight, (edges.mentee[which], slot)), shape=(n_e, n_slots)).tocsr()
            rows, cols = min_weight_full_bipartite_matching(graph, maximize=True)
        else:
            graph = coo_matrix((weight, (slot, edges.mentee[which])), shape=(n_slots, n_e)).tocsr()
            cols, rows = min_weight_full_bipartite_matching(graph, maximize=True)
    else:
        # one "stay unplaced" column per mentee, worth less than any real edge, so a full matching exists
        graph = coo_matrix(
            (np.concatenate([weight + 1.0, np.ones(n_e)]),
             (np.concatenate([edges.mentee[which], np.arange(n_e)]), np.concatenate([slot, n_slots + np.arange(n_e)]))),
            shape=(n_e, n_slots + n_e),
        ).tocsr()
        rows, cols = min_weight_full_bipartite_matching(graph, maximize=True)
        real = cols < n_slots
        rows, cols = rows[real], cols[real]
    slot_of = np.full(n_e, -1, dtype=np.int64)
    slot_of[rows] = cols
    return np.sort(which[slot_of[edges.mentee[which]] == slot])


def solve(p: Problem, scanned: Scan, *, exact: bool) -> Edges:
    """The chosen pairs, by the lexicographic objective: placed, then (maximin) worst, then total."""
    n_m, n_e = p.n()
    capacity = p.capacity
    edges = scanned.edges
    _, n_slots = _slots(capacity)
    target, _ = max_cardinality(edges, capacity, n_e)
    if not exact and target < min(n_e, n_slots):
        # pruning may have cut an augmenting path: ask the whole graph
        target, whole = matching_at(p, scanned.stored, 0)
        edges = edges.union(whole)
    if p.rules.fairness == "maximin" and target > 0:
        feasible = np.nonzero(placeable_bound(scanned, capacity) >= target)[0]
        upper = int(feasible.max()) if len(feasible) else 0  # no threshold above this can place `target`
        threshold = best_threshold(edges, capacity, n_e, target)
        while not exact and threshold < upper:
            size, higher = matching_at(p, scanned.stored, threshold + 1)
            if size < target:
                break
            edges = edges.union(higher)
            threshold = best_threshold(edges, capacity, n_e, target)
        edges = edges.where(edges.score >= threshold)
    scanned.stored = None  # the last use of the one-byte score table: free it before the assignment
    chosen = max_weight(edges, capacity, n_e, n_m, dense=exact, saturated=target == min(n_e, n_slots))
    return edges.where(chosen)
