"""Hard rules and scores over arrays: one vectorised core serves a single pair and a 10,000 x 10,000 cohort alike."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from conversations.matching.model import Candidate, Contribution, MatchingRules, Weights

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
F32Array = npt.NDArray[np.float32]

CRITERIA: tuple[str, ...] = ("topics", "context", "cross_function", "cross_location", "overlap", "new_contact")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_MINUTES = 24 * 60
_FULL_OVERLAP_MINUTES = 6 * 60  # a working day this long shared earns all the overlap points
_SHIFTS = (-2, -1, 0, 1, 2)  # UTC offsets differ by at most 26 h: a local day meets at most the days 2 away


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


def _minutes(hhmm: str) -> int:
    hours, _, minutes = hhmm.partition(":")
    return int(hours) * 60 + int(minutes or 0)


@lru_cache(maxsize=4096)
def utc_offset_minutes(time_zone: str, on: date) -> int:
    """The zone's UTC offset at local noon of that day, so DST is as it is on that date."""
    zone = zoneinfo.ZoneInfo(time_zone) if time_zone else zoneinfo.ZoneInfo("UTC")
    offset = datetime(on.year, on.month, on.day, 12, tzinfo=zone).utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0


def _schedule(c: Candidate, on: date) -> tuple[int, int, int, int]:
    """(UTC offset, working-day bitmask, start, end) in minutes: all overlap needs to know of a person."""
    mask = 0
    for day in c.working_days:
        if day[:3].lower() in _DAYS:
            mask |= 1 << _DAYS.index(day[:3].lower())
    return utc_offset_minutes(c.time_zone, on), mask, _minutes(c.work_start), _minutes(c.work_end)


_POPCOUNT = np.array([bin(i).count("1") for i in range(128)], dtype=np.int64)


def _rotate(mask: IntArray, k: int) -> IntArray:
    """Day d of the result is day d+k of mask, around the week."""
    k %= 7
    return ((mask >> k) | (mask << (7 - k))) & 0x7F


def overlap_table(a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> tuple[IntArray, IntArray]:
    """Shared minutes a week and shared working days, for every row of a against every row of b.

    Rows are schedules (offset, day mask, start, end). A week is a circle, so Sunday meets Monday.
    Shared days are counted on the side with more of them, so a long day meeting two short ones counts twice.
    """
    oa, da, sa, ea = (a[:, i][:, None] for i in range(4))
    ob, db, sb, eb = (b[:, i][None, :] for i in range(4))
    total = np.zeros((a.shape[0], b.shape[0]), dtype=np.int64)
    days_a = np.zeros_like(total)
    days_b = np.zeros_like(total)
    for k in _SHIFTS:
        # a's day d against b's day d+k: both in UTC minutes from the start of a's day d
        lo = np.maximum(sa - oa, sb - ob + k * _DAY_MINUTES)
        hi = np.minimum(ea - oa, eb - ob + k * _DAY_MINUTES)
        per_day = np.maximum(hi - lo, 0)
        both = da & _rotate(db, k)  # a's days d whose day d+k b works too
        total += per_day * _POPCOUNT[both]
        meets = per_day > 0
        days_a |= np.where(meets, both, 0)
        days_b |= np.where(meets, _rotate(both, -k), 0)
    shared = np.maximum(_POPCOUNT[days_a], _POPCOUNT[days_b])
    return total, shared


def overlap_hours(a: Candidate, b: Candidate, on: date) -> float:
    """Shared working hours per shared working day, across time zones, with the UTC offsets of that date."""
    total, days = overlap_table(np.array([_schedule(a, on)]), np.array([_schedule(b, on)]))
    return float(total[0, 0]) / (60 * int(days[0, 0])) if days[0, 0] else 0.0


def _min_overlap_minutes(rules: MatchingRules) -> int:
    return round(rules.min_overlap_hours * 60)


def _goal_mentions(goals: str, topics: Iterable[str]) -> set[str]:
    """The topics (casefolded) a free-text goal names."""
    text = _key(goals)
    found = set()
    for topic in topics:
        if topic and topic in text and re.search(r"(?<!\w)" + re.escape(topic) + r"(?!\w)", text):
            found.add(topic)
    return found


def reporting_lines(candidates: Iterable[Candidate]) -> dict[str, str]:
    """Email -> manager email, for everyone whose both are known."""
    return {_key(c.email): _key(c.manager) for c in candidates if c.email and c.manager}


def _chain(email: str, lines: Mapping[str, str]) -> list[str]:
    """Everyone above this email, nearest first, stopping at a loop."""
    seen: list[str] = []
    current = lines.get(_key(email), "")
    while current and current not in seen and current != _key(email):
        seen.append(current)
        current = lines.get(current, "")
    return seen


def same_reporting_line(a: Candidate, b: Candidate, lines: Mapping[str, str]) -> bool:
    """One is above the other, directly or not."""
    if not a.email or not b.email:
        return False
    return _key(b.email) in _chain(a.email, lines) or _key(a.email) in _chain(b.email, lines)


class _Vocabulary:
    def __init__(self) -> None:
        self.codes: dict[str, int] = {}

    def code(self, text: str) -> int:
        return self.codes.setdefault(_key(text), len(self.codes))

    def __len__(self) -> int:
        return len(self.codes)


def _one_hot(rows: Sequence[Iterable[str]], vocabulary: _Vocabulary) -> F32Array:
    coded = [[vocabulary.code(t) for t in row if t.strip()] for row in rows]
    out = np.zeros((len(rows), max(len(vocabulary), 1)), dtype=np.float32)
    for i, codes in enumerate(coded):
        out[i, codes] = 1.0
    return out


@dataclass(slots=True)
class Side:
    """One side's attributes as arrays, coded against vocabularies shared with the other side."""

    people: tuple[Candidate, ...]
    level: IntArray
    department: IntArray
    location: IntArray  # -1 = unknown
    manager: IntArray  # -1 = unknown
    schedule: IntArray  # index into Problem's schedules of this side
    languages: F32Array
    topics: F32Array  # teach (mentors) or learn (mentees)
    goals: F32Array  # mentees: topics their goals name
    context: F32Array  # wanted (mentors) or offered (mentees)


@dataclass(slots=True)
class Problem:
    """Both sides as arrays plus the pair-wise exceptions, ready for the vectorised core."""

    rules: MatchingRules
    mentors: Side
    mentees: Side
    capacity: IntArray  # slots left per mentor
    overlap_ok: BoolArray  # [mentor schedule, mentee schedule]
    overlap_points: IntArray
    overlap_minutes: IntArray  # per shared day, rounded down, for the reasons
    forbidden: dict[int, IntArray]  # mentor index -> mentee indices broken by previous, excluded, avoid, line
    forbidden_why: dict[tuple[int, int], str]

    def n(self) -> tuple[int, int]:
        return len(self.mentors.people), len(self.mentees.people)


def _side(people: Sequence[Candidate], mentor: bool, vocab: dict[str, _Vocabulary],
          schedules: dict[tuple[int, int, int, int], int], on: date) -> Side:
    def codes(values: Iterable[str], name: str, blank: int | None = None) -> IntArray:
        return np.array([blank if (blank is not None and not v.strip()) else vocab[name].code(v) for v in values],
                        dtype=np.int64)

    topic_rows = [c.topics_teach if mentor else c.topics_learn for c in people]
    topics = _one_hot(topic_rows, vocab["topic"])
    return Side(
        people=tuple(people),
        level=np.array([c.level for c in people], dtype=np.int64),
        department=codes((c.department for c in people), "department"),
        location=codes((c.location for c in people), "location", -1),
        manager=codes((c.manager for c in people), "email", -1),
        schedule=np.array([schedules.setdefault(_schedule(c, on), len(schedules)) for c in people], dtype=np.int64),
        languages=_one_hot([c.languages for c in people], vocab["language"]),
        topics=topics,
        goals=np.zeros((0, 0), dtype=np.float32),
        context=_one_hot([c.context_wanted if mentor else c.context_offered for c in people], vocab["context"]),
    )


def _pad(a: F32Array, width: int) -> F32Array:
    if a.shape[1] >= width:
        return a
    return np.hstack([a, np.zeros((a.shape[0], width - a.shape[1]), dtype=np.float32)])


def build_problem(mentors: Sequence[Candidate], mentees: Sequence[Candidate], rules: MatchingRules, *,
                  capacity: Sequence[int] | None = None,
                  previous: frozenset[tuple[str, str]] = frozenset(),
                  excluded: frozenset[frozenset[str]] = frozenset(),
                  lines: Mapping[str, str] | None = None) -> Problem:
    """Arrays for both sides, in the order given (callers sort by id for canonical results)."""
    vocab = {name: _Vocabulary() for name in ("topic", "department", "location", "email", "language", "context")}
    on = rules.reference_date
    mentor_schedules: dict[tuple[int, int, int, int], int] = {}
    mentee_schedules: dict[tuple[int, int, int, int], int] = {}
    m = _side(mentors, True, vocab, mentor_schedules, on)
    e = _side(mentees, False, vocab, mentee_schedules, on)
    width = {name: max(len(v), 1) for name, v in vocab.items()}
    m.topics, e.topics = _pad(m.topics, width["topic"]), _pad(e.topics, width["topic"])
    m.languages, e.languages = _pad(m.languages, width["language"]), _pad(e.languages, width["language"])
    m.context, e.context = _pad(m.context, width["context"]), _pad(e.context, width["context"])
    # goals only count topics some mentor here teaches: a mentor who does not teach one is not marked down for it
    taught = [t for t, code in sorted(vocab["topic"].codes.items(), key=lambda kv: kv[1])]
    goals = np.zeros((len(mentees), width["topic"]), dtype=np.float32)
    for i, c in enumerate(mentees):
        for t in _goal_mentions(c.goals, taught):
            goals[i, vocab["topic"].codes[t]] = 1.0
    e.goals = goals

    def table(schedules: dict[tuple[int, int, int, int], int]) -> IntArray:
        rows = sorted(schedules.items(), key=lambda kv: kv[1])
        return np.array([k for k, _ in rows], dtype=np.int64).reshape(-1, 4)

    total, days = overlap_table(table(mentor_schedules), table(mentee_schedules))
    need = _min_overlap_minutes(rules)
    ok = (days > 0) & (total >= need * days) if need > 0 else np.ones_like(total, dtype=np.bool_)
    full = max(_FULL_OVERLAP_MINUTES, need + 60)
    w = rules.weights.overlap
    num = np.maximum(total - need * days, 0)
    den = np.maximum((full - need) * days, 1)
    points = np.where(days > 0, np.minimum((2 * w * num + den) // (2 * den), w), 0)
    per_day = np.where(days > 0, total // np.maximum(days, 1), 0)

    caps = np.array(capacity if capacity is not None else
                    [max(0, min(c.capacity, rules.mentor_capacity)) for c in mentors], dtype=np.int64)
    forbidden, why = _exceptions(mentors, mentees, previous, excluded,
                                 lines if lines is not None else reporting_lines([*mentors, *mentees]))
    return Problem(rules, m, e, caps, ok, points.astype(np.int64), per_day.astype(np.int64), forbidden, why)


_NOT_PAIRED_BEFORE = "paired together before"
_EXCLUDED = "excluded from being paired together"  # also a private `avoid`: never say which


def _exceptions(mentors: Sequence[Candidate], mentees: Sequence[Candidate],
                previous: frozenset[tuple[str, str]], excluded: frozenset[frozenset[str]],
                lines: Mapping[str, str]) -> tuple[dict[int, IntArray], dict[tuple[int, int], str]]:
    """The pair-wise rules as a sparse list: they touch few pairs, so they are never a dense matrix."""
    m_index = {c.id: i for i, c in enumerate(mentors)}
    e_index = {c.id: i for i, c in enumerate(mentees)}
    why: dict[tuple[int, int], str] = {}

    def add(a: str, b: str, reason: str) -> None:
        if a in m_index and b in e_index:
            why.setdefault((m_index[a], e_index[b]), reason)
        elif b in m_index and a in e_index:
            why.setdefault((m_index[b], e_index[a]), reason)

    for a, b in sorted(previous):
        add(a, b, _NOT_PAIRED_BEFORE)
    for pair in sorted(tuple(sorted(p)) for p in excluded):
        if len(pair) == 2:
            add(pair[0], pair[1], _EXCLUDED)
    for c in (*mentors, *mentees):
        for other in sorted(c.avoid):
            add(c.id, other, _EXCLUDED)
    by_email: dict[str, list[Candidate]] = {}
    for c in (*mentors, *mentees):
        if c.email:
            by_email.setdefault(_key(c.email), []).append(c)
    for c in (*mentors, *mentees):
        if not c.email:
            continue
        for boss in _chain(c.email, lines):
            for above in by_email.get(boss, ()):
                if above.role != c.role:
                    mentor, mentee = (above, c) if above.role == "mentor" else (c, above)
                    add(mentor.id, mentee.id, f"{mentor.name} is in {mentee.name}'s reporting line"
                        if above is mentor else f"{mentee.name} is in {mentor.name}'s reporting line")
    grouped: dict[int, list[int]] = {}
    for mi, ei in why:
        grouped.setdefault(mi, []).append(ei)
    return {mi: np.array(sorted(eis), dtype=np.int64) for mi, eis in grouped.items()}, why


def _counts(a: F32Array, b: F32Array, mi: IntArray, ej: IntArray, outer: bool) -> IntArray:
    """How many items rows mi of a share with rows ej of b: a matrix product, or row-wise dots for pairs."""
    if outer:
        return (a[mi] @ b[ej].T).astype(np.int64)
    out: IntArray = np.einsum("ij,ij->i", a[mi], b[ej]).astype(np.int64)
    return out


def evaluate(p: Problem, mi: IntArray, ej: IntArray, *, outer: bool) -> tuple[BoolArray, dict[str, IntArray]]:
    """Allowed and each criterion's points for mentors mi against mentees ej (all pairs if outer, else zipped).

    The reference: `block_scores` computes the same numbers faster for whole blocks, and the tests hold them equal.
    """
    m, e, r = p.mentors, p.mentees, p.rules
    if outer:
        a, b = mi[:, None], ej[None, :]
    else:
        a, b = mi, ej
    allowed = (e.level[b] - m.level[a]) >= r.min_level_gap
    different_department = m.department[a] != e.department[b]
    if r.separate_departments:
        allowed &= different_department
    allowed &= _counts(m.languages, e.languages, mi, ej, outer) > 0
    ms, es = m.schedule[mi], e.schedule[ej]
    allowed &= p.overlap_ok[ms[:, None], es[None, :]] if outer else p.overlap_ok[ms, es]
    if p.forbidden:
        _forbid(p, allowed, mi, ej, outer)

    w = r.weights
    learn_or_goal = np.maximum(e.topics, e.goals)
    covered = _counts(m.topics, learn_or_goal, mi, ej, outer)
    wanted = e.topics.sum(axis=1).astype(np.int64)[b] + _counts(m.topics, e.goals * (1 - e.topics), mi, ej, outer)
    topics = np.where(wanted > 0, (2 * w.topics * covered + wanted) // (2 * np.maximum(wanted, 1)), 0)
    asked = m.context.sum(axis=1).astype(np.int64)[a]
    given = _counts(m.context, e.context, mi, ej, outer)
    context = np.where(asked > 0, (2 * w.context * given + asked) // (2 * np.maximum(asked, 1)), 0)
    cross_location = (m.location[a] != e.location[b]) & (m.location[a] >= 0) & (e.location[b] >= 0)
    teammates = (m.manager[a] == e.manager[b]) & (m.manager[a] >= 0)
    overlap = p.overlap_points[ms[:, None], es[None, :]] if outer else p.overlap_points[ms, es]
    shape = allowed.shape
    points = {
        "topics": np.broadcast_to(topics, shape),
        "context": np.broadcast_to(context, shape),
        "cross_function": np.broadcast_to(different_department * w.cross_function, shape),
        "cross_location": np.broadcast_to(cross_location * w.cross_location, shape),
        "overlap": np.broadcast_to(overlap, shape),
        "new_contact": np.broadcast_to(~teammates * w.new_contact, shape),
    }
    return allowed, points


def _forbid(p: Problem, allowed: BoolArray, mi: IntArray, ej: IntArray, outer: bool) -> None:
    if outer:
        e_pos = {int(j): k for k, j in enumerate(ej)}
        for row, i in enumerate(mi):
            bad = p.forbidden.get(int(i))
            if bad is not None:
                cols = [e_pos[int(j)] for j in bad if int(j) in e_pos]
                allowed[row, cols] = False
    else:
        for k, (i, j) in enumerate(zip(mi, ej, strict=True)):
            if (int(i), int(j)) in p.forbidden_why:
                allowed[k] = False


def scaled(raw: IntArray, weights: Weights) -> IntArray:
    """Raw points out of the weights' sum, as 0-100, rounded half up in integers."""
    total = weights.total()
    if total == 100:
        return raw
    if total <= 0:
        return np.zeros_like(raw)
    out: IntArray = (200 * raw + total) // (2 * total)
    return out


def score_array(points: dict[str, IntArray], weights: Weights) -> IntArray:
    raw = points["topics"] + points["context"] + points["cross_function"]
    raw = raw + points["cross_location"] + points["overlap"] + points["new_contact"]
    return scaled(raw, weights)


def apportion(points: Sequence[int], weights: Weights) -> list[int]:
    """Each criterion's share of the 0-100 score, in integers that add up to it exactly (largest remainder)."""
    total = weights.total()
    if total == 100:
        return list(points)
    if total <= 0:
        return [0] * len(points)
    score = int(scaled(np.array([sum(points)], dtype=np.int64), weights)[0])
    floors = [100 * p // total for p in points]
    remainders = [100 * p % total for p in points]
    order = sorted(range(len(points)), key=lambda i: (-remainders[i], i))  # ties: the criterion listed first
    left = score - sum(floors)
    for i in order[:max(left, 0)]:
        floors[i] += 1
    return floors


def hours_text(minutes: int) -> str:
    hours, rest = divmod(int(minutes), 60)
    if rest == 0:
        return f"{hours} h"
    return f"{hours} h {rest} min" if hours else f"{rest} min"


def _listing(items: Sequence[str]) -> str:
    return ", ".join(items)


def contributions(p: Problem, mi: int, ej: int, points: Mapping[str, int]) -> tuple[Contribution, ...]:
    """The reasons for one pair's points, in the criteria's order, with the level gap as a zero-point note."""
    mentor, mentee = p.mentors.people[mi], p.mentees.people[ej]
    shares = dict(zip(CRITERIA, apportion([points[c] for c in CRITERIA], p.rules.weights), strict=True))
    teach = {_key(t): t for t in mentor.topics_teach}
    learn = [_key(t) for t in mentee.topics_learn]
    goal_topics = _goal_mentions(mentee.goals, teach)
    wanted = list(dict.fromkeys([*learn, *sorted(goal_topics)]))
    covered = [teach[t] for t in wanted if t in teach]
    who = mentee.name
    if not wanted:
        topics = f"{who} named no topic to learn"
    elif covered:
        topics = f"covers {len(covered)} of {who}'s {len(wanted)} wanted topics and goals: {_listing(covered)}"
    else:
        topics = f"covers none of {who}'s wanted topics"
    offered = {_key(t) for t in mentee.context_offered}
    wanted_context = [t for t in mentor.context_wanted if t.strip()]
    got = [t for t in wanted_context if _key(t) in offered]
    if not wanted_context:
        context = f"{mentor.name} asked for no particular context"
    elif got:
        context = f"{who} offers {len(got)} of the context {mentor.name} wants: {_listing(got)}"
    else:
        context = f"{who} offers none of the context {mentor.name} wants"
    if _key(mentor.department) != _key(mentee.department):
        function = f"{mentor.department} vs {mentee.department}"
    else:
        function = f"both in {mentor.department}"
    if not mentor.location.strip() or not mentee.location.strip():
        location = "location not known"
    elif _key(mentor.location) != _key(mentee.location):
        location = f"{mentor.location} vs {mentee.location}"
    else:
        location = f"both in {mentor.location}"
    minutes = int(p.overlap_minutes[p.mentors.schedule[mi], p.mentees.schedule[ej]])
    overlap = f"{hours_text(minutes)} shared working hours a day"
    teammates = bool(mentor.manager.strip()) and _key(mentor.manager) == _key(mentee.manager)
    contact = "same manager: they likely know each other" if teammates else "no previous contact known"
    gap = mentee.level - mentor.level
    return (
        Contribution("topics", shares["topics"], topics),
        Contribution("level_gap", 0, f"{gap} level{'s' if gap != 1 else ''} apart"),
        Contribution("cross_function", shares["cross_function"], function),
        Contribution("cross_location", shares["cross_location"], location),
        Contribution("overlap", shares["overlap"], overlap),
        Contribution("context", shares["context"], context),
        Contribution("new_contact", shares["new_contact"], contact),
    )


def _single(mentor: Candidate, mentee: Candidate, rules: MatchingRules,
            previous: frozenset[tuple[str, str]] = frozenset(),
            excluded: frozenset[frozenset[str]] = frozenset(),
            lines: Mapping[str, str] | None = None) -> Problem:
    return build_problem([mentor], [mentee], rules, capacity=[1], previous=previous, excluded=excluded,
                         lines=lines if lines is not None else reporting_lines([mentor, mentee]))


_ZERO = np.zeros(1, dtype=np.int64)


def pair_score(mentor: Candidate, mentee: Candidate, rules: MatchingRules) -> tuple[int, tuple[Contribution, ...]]:
    """The pair's 0-100 score and each criterion's share of it; the shares add up to the score exactly."""
    p = _single(mentor, mentee, rules)
    _, points = evaluate(p, _ZERO, _ZERO, outer=False)
    score = int(score_array(points, rules.weights)[0])
    return score, contributions(p, 0, 0, {k: int(v[0]) for k, v in points.items()})


def _levels_text(n: int) -> str:
    return {1: "one level", 2: "two levels", 3: "three levels"}.get(n, f"{n} levels")


def hard_rule_broken(mentor: Candidate, mentee: Candidate, rules: MatchingRules, *,
                     previous: frozenset[tuple[str, str]] = frozenset(),
                     excluded: frozenset[frozenset[str]] = frozenset(),
                     reporting_lines: Mapping[str, str] | None = None) -> str | None:
    """None when the pair may be proposed; otherwise the first rule it breaks, in plain words."""
    if mentor.role != "mentor":
        return f"{mentor.name} signed up as a {mentor.role}, not a mentor"
    if mentee.role != "mentee":
        return f"{mentee.name} signed up as a {mentee.role}, not a mentee"
    if mentor.id == mentee.id:
        return "the same person"
    gap = mentee.level - mentor.level
    if gap < rules.min_level_gap:
        return (f"{mentor.name} is not at least {_levels_text(rules.min_level_gap)} more junior than "
                f"{mentee.name} ({gap} apart)")
    if rules.separate_departments and _key(mentor.department) == _key(mentee.department):
        return f"both in {mentor.department}"
    lines = reporting_lines if reporting_lines is not None else _pair_lines(mentor, mentee)
    if same_reporting_line(mentor, mentee, lines):
        above_mentee = mentor.email and _key(mentor.email) in _chain(mentee.email, lines)
        return (f"{mentor.name} is in {mentee.name}'s reporting line" if above_mentee
                else f"{mentee.name} is in {mentor.name}'s reporting line")
    if not {_key(x) for x in mentor.languages} & {_key(x) for x in mentee.languages}:
        return "no shared working language"
    p = _single(mentor, mentee, rules, lines=lines)
    if not p.overlap_ok[0, 0]:
        shared = hours_text(int(p.overlap_minutes[0, 0]))
        return f"only {shared} of shared working time a day; {hours_text(_min_overlap_minutes(rules))} needed"
    if (mentor.id, mentee.id) in previous or (mentee.id, mentor.id) in previous:
        return _NOT_PAIRED_BEFORE
    if frozenset((mentor.id, mentee.id)) in excluded or mentee.id in mentor.avoid or mentor.id in mentee.avoid:
        return _EXCLUDED
    return None


def _pair_lines(mentor: Candidate, mentee: Candidate) -> dict[str, str]:
    return reporting_lines([mentor, mentee])


@dataclass(slots=True)
class BlockInputs:
    """Compact per-person arrays for `block_scores`, computed once per problem."""

    need: npt.NDArray[np.int16]  # mentor level + gap
    level: npt.NDArray[np.int16]  # mentees
    m_department: IntArray
    e_department: IntArray
    m_location: IntArray
    e_location: IntArray
    m_unknown_location: IntArray
    e_unknown_location: IntArray
    m_manager: IntArray  # unknown managers get distinct negative codes, so they never match
    e_manager: IntArray
    m_languages: IntArray | None  # bitmasks when there are at most 63 languages
    e_languages: IntArray | None
    overlap: F32Array  # [mentor schedule, mentee schedule]: points, or -1 where too little is shared
    topics_covered: F32Array  # mentees, transposed: learn or named in goals
    topics_extra: F32Array  # mentees, transposed: named in goals but not listed
    learn_count: F32Array
    context: F32Array  # mentees, transposed
    asked: F32Array  # mentors: how much context each asked for


def block_inputs(p: Problem) -> BlockInputs:
    m, e = p.mentors, p.mentees
    n_m, n_e = p.n()
    bits = m.languages.shape[1] <= 63

    def mask(a: F32Array) -> IntArray:
        out: IntArray = (a.astype(np.int64) << np.arange(a.shape[1], dtype=np.int64)).sum(axis=1)
        return out

    table = np.where(p.overlap_ok, p.overlap_points, -1).astype(np.float32)
    return BlockInputs(
        need=(m.level + p.rules.min_level_gap).astype(np.int16), level=e.level.astype(np.int16),
        m_department=m.department, e_department=e.department,
        m_location=m.location, e_location=e.location,
        m_unknown_location=np.nonzero(m.location < 0)[0], e_unknown_location=np.nonzero(e.location < 0)[0],
        m_manager=np.where(m.manager >= 0, m.manager, -1 - np.arange(n_m)),
        e_manager=np.where(e.manager >= 0, e.manager, -1 - n_m - np.arange(n_e)),
        m_languages=mask(m.languages) if bits else None, e_languages=mask(e.languages) if bits else None,
        overlap=table,
        topics_covered=np.ascontiguousarray(np.maximum(e.topics, e.goals).T),
        topics_extra=np.ascontiguousarray((e.goals * (1 - e.topics)).T),
        learn_count=e.topics.sum(axis=1).astype(np.float32),
        context=np.ascontiguousarray(e.context.T),
        asked=m.context.sum(axis=1).astype(np.float32),
    )


def block_scores(p: Problem, f: BlockInputs, start: int, stop: int) -> tuple[BoolArray, F32Array]:
    """Allowed and score for mentors start..stop against every mentee; float32 holds these small integers exactly."""
    m, r, w = p.mentors, p.rules, p.rules.weights
    rows = slice(start, stop)
    allowed = f.level[None, :] >= f.need[rows, None]
    different = f.m_department[rows, None] != f.e_department[None, :]
    if r.separate_departments:
        allowed &= different
    if f.m_languages is not None and f.e_languages is not None:
        allowed &= (f.m_languages[rows, None] & f.e_languages[None, :]) != 0
    else:
        allowed &= (m.languages[rows] @ p.mentees.languages.T) > 0
    overlap = np.take(f.overlap[m.schedule[rows]], p.mentees.schedule, axis=1)
    allowed &= overlap >= 0
    if p.forbidden:
        for i in range(start, stop):
            bad = p.forbidden.get(i)
            if bad is not None:
                allowed[i - start, bad] = False
    score = np.multiply(different, np.float32(w.cross_function), dtype=np.float32)
    score += np.maximum(overlap, 0)
    located = f.m_location[rows, None] != f.e_location[None, :]
    located[:, f.e_unknown_location] = False
    unknown = f.m_unknown_location[(f.m_unknown_location >= start) & (f.m_unknown_location < stop)]
    located[unknown - start] = False
    score += np.multiply(located, np.float32(w.cross_location), dtype=np.float32)
    score += np.multiply(f.m_manager[rows, None] != f.e_manager[None, :], np.float32(w.new_contact),
                         dtype=np.float32)
    teach = m.topics[rows]
    wanted = teach @ f.topics_extra
    wanted += f.learn_count[None, :]
    covered = teach @ f.topics_covered
    covered *= np.float32(2 * w.topics)
    covered += wanted
    np.maximum(wanted, 1, out=wanted)
    wanted *= 2
    covered /= wanted
    score += np.floor(covered, out=covered)
    asked = f.asked[rows, None]
    given = m.context[rows] @ f.context
    given *= np.float32(2 * w.context)
    given += asked
    given /= 2 * np.maximum(asked, 1)
    score += np.floor(given, out=given)
    total = w.total()
    if total != 100:
        score = np.floor((200.0 * score + total) / (2 * total)).astype(np.float32) if total > 0 else score * 0
    return allowed, score
