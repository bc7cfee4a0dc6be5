"""Matching benchmark: the exact solver, the pruned one and the greedy baseline on a realistic cohort.

Run: .venv/bin/python -m bench.matching [--sizes 2000,10000] [--seed 7] [--fairness none|maximin]
The first size runs all three (exact, pruned, greedy) and compares them; larger sizes run the pruned solver in a
fresh process of its own, so its peak memory (ru_maxrss after minus before matching) is its own.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import resource
import time
from dataclasses import dataclass, replace
from datetime import date
from typing import Literal

from conversations.matching import Candidate, Matching, MatchingRules, greedy_match, match
from conversations.matching.rules import hard_rule_broken, reporting_lines

ZONES = (  # (zone, city, weight): most people in Europe and the Americas, some in Asia
    ("Europe/London", "London", 14), ("Europe/Paris", "Paris", 12), ("Europe/Berlin", "Berlin", 10),
    ("Europe/Madrid", "Madrid", 8), ("Europe/Lisbon", "Lisbon", 6), ("America/New_York", "New York", 14),
    ("America/Chicago", "Chicago", 8), ("America/Toronto", "Toronto", 6), ("America/Sao_Paulo", "São Paulo", 6),
    ("Asia/Kolkata", "Bengaluru", 8), ("Asia/Dubai", "Dubai", 4), ("Asia/Singapore", "Singapore", 4),
)
LANGUAGES = ("English", "French", "Spanish")
CONTEXT = ("strategy", "budgeting", "hiring", "board decisions", "customers", "politics", "career paths", "M&A")
MENTOR_LEVELS = (22, 22, 20, 16, 10, 6, 3, 1, 0, 0)  # a 10-level ladder: mentors junior, mentees senior
MENTEE_LEVELS = (0, 0, 1, 3, 8, 14, 20, 22, 18, 14)
TOPICS = tuple(f"Topic {k:02d}" for k in range(40))
TOPIC_WEIGHTS = tuple(1.0 / (k + 1) ** 1.1 for k in range(40))  # Zipf-like popularity
DEPARTMENTS = tuple(f"Dept {k:02d}" for k in range(30))
STARTS = ("07:00", "08:00", "08:30", "09:00", "09:00", "09:30", "10:00")


def _sample(rng: random.Random, items: tuple[str, ...], weights: tuple[float, ...], k: int) -> tuple[str, ...]:
    chosen: list[str] = []
    while len(chosen) < k:
        pick = rng.choices(items, weights)[0]
        if pick not in chosen:
            chosen.append(pick)
    return tuple(chosen)


def cohort(per_side: int, seed: int) -> list[Candidate]:
    """A seeded, realistic cohort: per_side mentors and per_side mentees."""
    rng = random.Random(seed)
    people: list[Candidate] = []
    mentee_emails: list[tuple[int, str]] = []
    for role in ("mentee", "mentor"):
        for i in range(per_side):
            zone, city, _ = rng.choices(ZONES, [z[2] for z in ZONES])[0]
            level = rng.choices(range(10), MENTEE_LEVELS if role == "mentee" else MENTOR_LEVELS)[0]
            start = rng.choice(STARTS)
            hours = rng.choice((8, 8, 9))
            end = f"{int(start[:2]) + hours:02d}{start[2:]}"
            days = ("sun", "mon", "tue", "wed", "thu") if zone == "Asia/Dubai" else (
                ("mon", "tue", "wed", "thu") if rng.random() < 0.05 else ("mon", "tue", "wed", "thu", "fri"))
            languages = ("English",) if rng.random() < 0.7 else (
                ("English", rng.choice(LANGUAGES[1:])) if rng.random() < 0.9 else (rng.choice(LANGUAGES[1:]),))
            email = f"{role}{i}@example.com"
            manager = ""
            if mentee_emails and rng.random() < 0.5:
                higher = [e for lv, e in mentee_emails[-200:] if lv > level]
                manager = rng.choice(higher) if higher else ""
            goal_topics = _sample(rng, TOPICS, TOPIC_WEIGHTS, rng.choice((0, 1, 2)))
            people.append(Candidate(
                id=f"{role}-{i:05d}", name=f"{role.title()} {i}", role=role,
                level=level, department=rng.choice(DEPARTMENTS), location=city, email=email, manager=manager,
                time_zone=zone, working_days=days, work_start=start, work_end=end,
                topics_teach=_sample(rng, TOPICS, TOPIC_WEIGHTS, rng.randint(2, 5)) if role == "mentor" else (),
                topics_learn=_sample(rng, TOPICS, TOPIC_WEIGHTS, rng.randint(1, 4)) if role == "mentee" else (),
                goals=("I want to understand " + " and ".join(goal_topics)) if goal_topics else "",
                languages=languages,
                context_wanted=tuple(rng.sample(CONTEXT, rng.randint(0, 2))) if role == "mentor" else (),
                context_offered=tuple(rng.sample(CONTEXT, rng.randint(1, 3))) if role == "mentee" else (),
            ))
            if role == "mentee":
                mentee_emails.append((level, email))
    return people


def previous_pairs(people: list[Candidate], seed: int) -> frozenset[tuple[str, str]]:
    rng = random.Random(seed + 1)
    mentors = [c.id for c in people if c.role == "mentor"]
    mentees = [c.id for c in people if c.role == "mentee"]
    return frozenset((rng.choice(mentors), rng.choice(mentees)) for _ in range(len(mentors) // 20))


def allowed_share(people: list[Candidate], rules: MatchingRules, previous: frozenset[tuple[str, str]],
                  samples: int, seed: int) -> float:
    rng = random.Random(seed + 2)
    mentors = [c for c in people if c.role == "mentor"]
    mentees = [c for c in people if c.role == "mentee"]
    lines = reporting_lines(people)
    ok = sum(hard_rule_broken(rng.choice(mentors), rng.choice(mentees), rules, previous=previous,
                              reporting_lines=lines) is None for _ in range(samples))
    return ok / samples


@dataclass(frozen=True, slots=True)
class Run:
    name: str
    per_side: int
    seconds: float
    result: Matching
    extra_mb: float | None = None


def _timed(name: str, per_side: int, fn: object, *args: object, **kwargs: object) -> Run:
    start = time.perf_counter()
    result = fn(*args, **kwargs)  # type: ignore[operator]
    return Run(name, per_side, time.perf_counter() - start, result)


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _status_mb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Linux: writing 5 to clear_refs resets VmHWM; ru_maxrss would still carry the parent's peak across exec."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def _large(per_side: int, seed: int, rules: MatchingRules, out: mp.Queue) -> None:  # type: ignore[type-arg]
    people = cohort(per_side, seed)
    previous = previous_pairs(people, seed)
    resident = _status_mb("VmRSS")
    if _reset_peak() and resident is not None:
        start = time.perf_counter()
        result = match(people, rules, previous=previous)
        seconds = time.perf_counter() - start
        peak = _status_mb("VmHWM") or 0.0
        extra = peak - resident
    else:
        before = _maxrss_mb()
        start = time.perf_counter()
        result = match(people, rules, previous=previous)
        seconds = time.perf_counter() - start
        peak = _maxrss_mb()
        extra = peak - before
    out.put((seconds, extra, peak, len(result.pairs), result.total, result.worst))


def _row(run: Run, exact: Run | None) -> str:
    r = run.result
    placed = 2 * len(r.pairs)
    cells = [f"{run.name:<8}", f"{run.per_side:>6}", f"{run.seconds:>8.2f}",
             f"{run.extra_mb:>8.0f}" if run.extra_mb is not None else f"{'-':>8}",
             f"{placed:>7}", f"{r.total:>9}", f"{r.worst if r.worst is not None else '-':>5}"]
    if exact is not None:
        e = exact.result
        cells += [f"{r.total / e.total:>8.4f}" if e.total else f"{'-':>8}",
                  f"{len(r.pairs) / len(e.pairs):>8.4f}" if e.pairs else f"{'-':>8}",
                  f"{r.worst / e.worst:>7.3f}" if r.worst is not None and e.worst else f"{'-':>7}"]
    else:
        cells += [f"{'-':>8}", f"{'-':>8}", f"{'-':>7}"]
    return " ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,10000", help="people per side; the first is also solved exactly")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fairness", choices=("none", "maximin"), default="none",
                        help="fairness mode: maximin raises the worst pair first")
    parser.add_argument("--maximin", action="store_true", help="the same as --fairness maximin")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    fairness: Literal["none", "maximin"] = "maximin" if args.maximin or args.fairness == "maximin" else "none"
    rules = MatchingRules(fairness=fairness, reference_date=date(2027, 1, 4))
    first = sizes[0]
    people = cohort(first, args.seed)
    previous = previous_pairs(people, args.seed)
    share = allowed_share(people, rules, previous, 20000, args.seed)
    print(f"cohort: {first} mentors x {first} mentees, seed {args.seed}, fairness {rules.fairness}, "
          f"allowed pairs ~{share:.1%} (sampled)")
    exact = _timed("exact", first, match, people, replace(rules, prune_above=max(first, rules.prune_above)),
                   previous=previous)
    pruned = _timed("pruned", first, match, people, replace(rules, prune_above=first - 1), previous=previous)
    greedy = _timed("greedy", first, greedy_match, people, rules, previous=previous)
    runs: list[tuple[Run, Run | None]] = [(exact, None), (pruned, exact), (greedy, exact)]
    ctx = mp.get_context("spawn")
    for size in sizes[1:]:
        queue: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
        child = ctx.Process(target=_large, args=(size, args.seed, rules, queue))
        child.start()
        seconds, extra, peak, pairs, total, worst = queue.get()
        child.join()
        fake = Matching(pairs=tuple(range(pairs)), unmatched=(), total=total, worst=worst)  # type: ignore[arg-type]
        runs.append((Run("pruned", size, seconds, fake, extra), None))
        print(f"  {size}/side in a child process: peak RSS while matching {peak:.0f} MB, "
              f"{extra:.0f} MB above what the cohort itself held")
    print()
    print(f"{'solver':<8} {'n/side':>6} {'seconds':>8} {'extraMB':>8} {'placed':>7} {'total':>9} {'worst':>5} "
          f"{'total/ex':>8} {'plcd/ex':>8} {'wrst/ex':>7}")
    for run, against in runs:
        print(_row(run, against))
    print()
    print(f"pruned vs exact at {first}: total {pruned.result.total / exact.result.total:.4%}, "
          f"placed {len(pruned.result.pairs)} vs {len(exact.result.pairs)}")
    print(f"greedy vs exact at {first}: total {greedy.result.total / exact.result.total:.4%}, "
          f"placed {len(greedy.result.pairs)} vs {len(exact.result.pairs)}, "
          f"worst {greedy.result.worst} vs {exact.result.worst}")


if __name__ == "__main__":
    main()
