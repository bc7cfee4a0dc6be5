"""`mentorbot simulate` through the real CLI: a whole cohort in seconds, the same run for the same seed, and every
check-in, reminder and nudge inside the recipient's own working hours."""

from __future__ import annotations

import asyncio
import random
import re

from bot.simulate import WORK_PATTERNS, synthetic_people
from tests.integration.cli import mentorbot

UNUSED_DB = "sqlite:///simulate-uses-a-temporary-database.db"  # simulate never opens DATABASE_URL
LINE = re.compile(r"^(\d{4}-\d\d-\d\d \w{3} \d\d:\d\d) UTC  (\S+)\s+(.*?)(?:  \[(\w{3}) (\d\d):(\d\d) (\S+)\])?$")


def _figure(out: str, pattern: str) -> int:
    found = re.search(pattern, out)
    assert found is not None, f"no {pattern!r} in the summary:\n{out[-1500:]}"
    return int(found.group(1))


async def test_a_four_week_cohort_runs_the_same_twice_and_never_messages_at_night() -> None:
    first, second = await asyncio.gather(*(
        mentorbot("simulate", "--people", "20", "--weeks", "4", "--seed", "1", database_url=UNUSED_DB, limit=300)
        for _ in range(2)))
    assert first.code == 0, first.err[-2000:]
    assert first.out == second.out  # deterministic per seed: pairs, answers, times, figures
    assert "simulated hours" in first.err  # the progress bar, on stderr only
    out = first.out

    pairs = _figure(out, r"pairs: (\d+);")
    checkins = _figure(out, r"check-ins sent: (\d+);")
    answered = _figure(out, r"answered: (\d+) \(")
    nudges = _figure(out, r"nudges sent: (\d+) ")
    assert 8 <= pairs <= 10  # 10 mentors and 10 mentees, under the hard rules
    assert _figure(out, r"introductions sent: (\d+)") == 2 * pairs
    assert checkins > 0 and 0 < answered <= checkins
    assert nudges > 0
    assert _figure(out, r"meetings held: (\d+) of") <= _figure(out, r"meetings held: \d+ of (\d+)")
    for kind in ("check-in", "reminder", "nudge"):
        assert _figure(out, rf"working hours: .*?{kind} (\d+) of") == 0

    lines = [LINE.match(line) for line in out.splitlines() if re.match(r"^\d{4}-", line)]
    assert lines and all(lines), "every timeline line reads: date, who, what [local time]"
    timed = [m for m in lines if m is not None and m.group(3).startswith(("check-in", "reminder", "nudge:"))]
    assert sum(m.group(3).startswith("check-in, round") for m in timed) == checkins
    assert sum(m.group(3).startswith("nudge:") for m in timed) == nudges
    assert sum(1 for m in lines if m is not None and m.group(3).startswith("answered: ")) >= answered
    for m in timed:  # never at night, never on a weekend, in the recipient's own time zone
        day, hour = m.group(4), int(m.group(5))
        assert 8 <= hour < 18, m.group(0)
        weekend = ("Fri", "Sat") if m.group(7) == "Asia/Dubai" else ("Sat", "Sun")
        assert day not in weekend, m.group(0)


async def test_out_of_range_options_are_one_line_and_exit_code_2() -> None:
    run = await mentorbot("simulate", "--weeks", "0", database_url=UNUSED_DB)
    assert run.code == 2
    assert run.err.splitlines()[-1] == (
        "mentorbot simulate: error: argument --weeks: 0 is out of range: expected 1 to 104")


def test_synthetic_people_follow_the_seed_and_the_ladder() -> None:
    levels = [f"L{i}" for i in range(1, 11)]
    topics = [f"topic {i}" for i in range(12)]
    one = synthetic_people(30, random.Random(7), levels=levels, topics=topics)
    assert one == synthetic_people(30, random.Random(7), levels=levels, topics=topics)
    assert one != synthetic_people(30, random.Random(8), levels=levels, topics=topics)
    assert len({p.user for p in one}) == 30
    mentors = [p for p in one if p.role == "mentor"]
    mentees = [p for p in one if p.role == "mentee"]
    assert len(mentors) == len(mentees) == 15
    assert max(levels.index(p.level) for p in mentors) < min(levels.index(p.level) for p in mentees)
    assert all(p.teach and not p.learn for p in mentors) and all(p.learn and not p.teach for p in mentees)
    assert {p.time_zone for p in one} <= {zone for zone, _, _ in WORK_PATTERNS}
