"""Plain-words reasons for the people a matching leaves unplaced."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from conversations.matching.model import Unmatched
from conversations.matching.rules import (
    _EXCLUDED,
    _NOT_PAIRED_BEFORE,
    BoolArray,
    IntArray,
    Problem,
    hours_text,
)

_NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five"}


def _levels(n: int) -> str:
    return "one level" if n == 1 else f"{_NUMBERS.get(n, str(n))} levels"


def _funnel(p: Problem, person: int, mentor: bool) -> str:
    """Which rules, one after the other, leave this person nobody: 'of 40 mentees, 12 are ..., none of those ...'."""
    r = p.rules
    me_side, other = (p.mentors, p.mentees) if mentor else (p.mentees, p.mentors)
    me = me_side.people[person]
    n_other = len(other.people)
    room: BoolArray = np.ones(n_other, dtype=np.bool_) if mentor else p.capacity > 0
    noun = "mentees" if mentor else "mentors with room"
    if not room.any():
        return "no allowed partner: there are no " + noun
    gap = (other.level - me.level) if mentor else (me.level - other.level)
    steps: list[tuple[str, BoolArray]] = [
        (f"at least {_levels(r.min_level_gap)} more {'senior' if mentor else 'junior'}", gap >= r.min_level_gap)]
    if r.separate_departments:
        steps.append((f"outside {me.department}", other.department != me_side.department[person]))
    kinds: dict[str, BoolArray] = {k: np.ones(n_other, dtype=np.bool_) for k in ("line", "before", "excluded")}
    for (mi, ej), why in p.forbidden_why.items():
        if (mi if mentor else ej) == person:
            kind = "before" if why == _NOT_PAIRED_BEFORE else "excluded" if why == _EXCLUDED else "line"
            kinds[kind][ej if mentor else mi] = False
    steps.append(("outside their reporting line", kinds["line"]))
    steps.append(("share a working language", (other.languages @ me_side.languages[person]) > 0))
    need = hours_text(round(r.min_overlap_hours * 60))
    sched = me_side.schedule[person]
    ok = p.overlap_ok[sched, other.schedule] if mentor else p.overlap_ok[other.schedule, sched]
    steps.append((f"share {need} of working time a day", ok))
    steps.append(("were not paired with them before", kinds["before"]))
    steps.append(("are not excluded", kinds["excluded"]))
    left: BoolArray = room.copy()
    said = [f"of {int(room.sum())} {noun}"]
    for i, (words, mask) in enumerate(steps):
        after = left & mask
        if after.sum() == left.sum():
            continue  # this rule removes nobody: not worth saying
        left = after
        if not left.any():
            said.append(f"none {'of those ' if i else ''}{_verb(words, 0)}")
            break
        said.append(f"{int(left.sum())} {'of those ' if len(said) > 1 else ''}{_verb(words, int(left.sum()))}")
    return "no allowed partner: " + ", ".join(said)


def _verb(words: str, count: int) -> str:
    """'share ...' for many, 'shares ...' for none or one; bare qualities get 'are'/'is'."""
    first, _, rest = words.partition(" ")
    singular = count <= 1
    if first in ("share", "were", "are"):
        if not singular:
            return words
        return {"share": "shares", "were": "was", "are": "is"}[first] + " " + rest
    return ("is " if singular else "are ") + words


def unmatched_reasons(p: Problem, mentors: Sequence[int], mentees: Sequence[int], *,
                      mentor_options: IntArray, mentee_options: IntArray) -> tuple[Unmatched, ...]:
    """Everyone left unplaced, sorted by id, with why."""
    out: list[Unmatched] = []
    for i in mentors:
        c = p.mentors.people[i]
        if p.capacity[i] <= 0:
            out.append(Unmatched(c.id, "capacity full: no room for a mentee"))
        elif mentor_options[i] == 0:
            out.append(Unmatched(c.id, _funnel(p, i, mentor=True)))
        else:
            n = int(mentor_options[i])
            out.append(Unmatched(c.id, f"capacity full: {_all(n)} allowed {_plural(n, 'mentee')} "
                                       f"{'was' if n == 1 else 'were'} placed with other mentors, "
                                       "and no other pairing places more people"))
    for j in mentees:
        c = p.mentees.people[j]
        if mentee_options[j] == 0:
            out.append(Unmatched(c.id, _funnel(p, j, mentor=False)))
        else:
            n = int(mentee_options[j])
            out.append(Unmatched(c.id, f"capacity full: {_all(n)} allowed {_plural(n, 'mentor')} "
                                       f"{'is' if n == 1 else 'are'} full with other mentees, "
                                       "and no other pairing places more people"))
    return tuple(sorted(out, key=lambda u: u.person))


def _all(n: int) -> str:
    return "the one" if n == 1 else f"all {n}"


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"
