"""Fan-out: one check-in round for 5,000 pairs (10,000 DMs) through the outbox and the real Slack adapter,
against a bare slack_sdk loop posting the same messages, in the same run; then again with 10 % of calls 429.

Run: .venv/bin/python -m bench.fanout [--pairs 5000] [--concurrency 32] [--database-url URL] [--runs 1]
     [--feed jobs|direct]
The fake Slack Web API, the bare loop and mentorbot each run in a process of their own; this one only reports.
Lost and duplicated messages are counted from what the fake Slack API accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any

from bench.slack_throughput import Child, _until_stopped

TEAM = "T0FANOUT"
RETRY_AFTER = 1.0


def _child(target: str, conn: Connection, *args: Any) -> None:
    logging.disable(logging.WARNING)
    asyncio.run(globals()[target](conn, *args))


def users(pairs: int) -> list[str]:
    """Both sides of every pair: 2 x pairs Slack member ids."""
    return [f"U{i:08d}" for i in range(2 * pairs)]


def channel_of(user: str) -> str:
    return "D" + user[1:]


def checkin_message(user: str) -> Any:
    """The question the check-in job sends (conversations.checkins.question), for the bare loop to post."""
    from conversations.checkins import question
    from conversations.model import CheckIn

    checkin = CheckIn(id=f"ci-{user}", pair_id="pair", person_id=f"p-{user}", round=1, due_at=ROUND_AT)
    return question(checkin, "Person U00000000", "Mon 1 Mar")


# -- the processes ---------------------------------------------------------------------------------------------

async def _fake_api(conn: Connection, rate_limited: float) -> None:
    from tests.fakes.slack_api import FakeSlackApi

    async with FakeSlackApi(team_id=TEAM, validate=False) as fake:
        if rate_limited:
            fake.fail_ratio("chat.postMessage", rate_limited, retry_after=RETRY_AFTER, seed=6)
        conn.send(fake.base_url)
        await _until_stopped(conn)
        posts = fake.calls_to("chat.postMessage")
        conn.send(([(str(c.params.get("channel")), c.at) for c in posts if c.status == 200],
                   sum(c.status == 429 for c in posts)))


async def _bare(conn: Connection, api_url: str, pairs: int, concurrency: int) -> None:
    """slack_sdk alone: the same payloads, `concurrency` workers, each 429 waited out and posted again."""
    import aiohttp
    from slack_sdk.errors import SlackApiError
    from slack_sdk.web.async_client import AsyncWebClient

    from adapters.slack.translate import message_payload

    work = [(channel_of(u), message_payload(checkin_message(u))) for u in users(pairs)]
    conn.send("ready")
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    async with aiohttp.ClientSession() as http:
        client = AsyncWebClient(token="xoxb-bench", base_url=api_url, session=http)
        queue = iter(work)
        began, cpu = time.monotonic(), time.process_time()

        async def worker() -> None:
            for channel, payload in queue:
                while True:
                    try:
                        await client.chat_postMessage(channel=channel, **payload)
                        break
                    except SlackApiError as error:
                        if error.response.status_code != 429:
                            raise
                        await asyncio.sleep(float(error.response.headers.get("Retry-After", RETRY_AFTER)))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        conn.send((began, time.monotonic() - began, time.process_time() - cpu))


class ShiftedClock:
    """The real clock moved to a Tuesday 11:00 in Paris, inside everyone's check-in slot, still ticking: the round's
    jobs see their slot, and the outbox's Retry-After waits are real seconds."""

    def __init__(self, at: datetime) -> None:
        self._offset = at - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset


PAIRED_AT = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)  # a Monday: the first weekly round is due a week later
ROUND_AT = datetime(2027, 3, 9, 10, 0, tzinfo=UTC)  # Tuesday 11:00 in Paris, inside the Tue-Thu 10-16 window


async def _cohort(deps: Any, pairs: int) -> None:
    """A running weekly cohort of `pairs` pairs, everyone in Paris and reachable by DM, as the engine stores them
    after sign-up and matching (written straight through the repositories: 10,000 sign-ups are not the point)."""
    from conversations import checkins
    from conversations.events import Actor
    from conversations.model import Cohort, Pair, Person, Profile, Role

    cohort = Cohort(id="c-fanout", platform="slack", workspace=TEAM, name="Fan-out", state="running", weeks=12,
                    cadence="weekly", created_at=PAIRED_AT, started_at=PAIRED_AT)
    everyone = users(pairs)
    async with deps.uow() as uow:
        await uow.cohorts.add(cohort)
        for i, user in enumerate(everyone):
            role: Role = "mentor" if i % 2 == 0 else "mentee"
            profile = Profile(name=f"Person {user}", role=role, level="L2" if role == "mentor" else "L9",
                              department=f"D{i % 7}", time_zone="Europe/Paris",
                              working_days=("mon", "tue", "wed", "thu", "fri"), work_start="09:00", work_end="17:00",
                              topics_teach=("GenAI",), topics_learn=("GenAI",), languages=("English",))
            actor = Actor("slack", TEAM, user)
            await uow.people.add(Person(id=f"p-{user}", actor=actor, profile=profile, created_at=PAIRED_AT))
            await uow.cohorts.add_member(cohort.id, f"p-{user}", PAIRED_AT)
            await uow.addresses.put(actor, channel_of(user), PAIRED_AT)  # they have had a DM from us before
        for n in range(pairs):
            mentor, mentee = everyone[2 * n], everyone[2 * n + 1]
            pair = Pair(id=f"pair-{n}", cohort_id=cohort.id, mentor_id=f"p-{mentor}", mentee_id=f"p-{mentee}",
                        score=1, reasons=(), created_at=PAIRED_AT)
            await uow.pairs.add(pair)
            await uow.jobs.schedule(checkins.ROUND, pair.id, PAIRED_AT + timedelta(weeks=1))
        await uow.commit()


async def _project(conn: Connection, api_url: str, database_url: str, pairs: int, concurrency: int,
                   prepare: bool, feed: str) -> None:
    """mentorbot: the check-in round's real jobs (checkin.round per pair, then checkin.send per person) put the
    10,000 questions in the outbox; then the OutboxSender delivers them through SlackMessenger until none is left.
    Later runs on the same database deliver the same questions again: the round's rows are put back as queued."""
    from bot.wiring import add_slack, build_bot
    from conversations.jobs import run_due_jobs
    from conversations.outbox import OutboxPolicy, OutboxSender
    from storage.migrate import upgrade
    from tests.integration.slack_harness import test_config

    config = test_config(database_url, api_url)
    bot = await build_bot(config, {}, clock=ShiftedClock(ROUND_AT))
    slack = add_slack(bot, config)
    assert slack is not None
    deps = bot.deps
    jobs_seconds = 0.0
    if prepare:
        await upgrade(database_url)
        await _cohort(deps, pairs)
        began_jobs = time.monotonic()
        if feed == "jobs":
            while await run_due_jobs(deps, limit=1000):
                pass
        else:
            await _enqueue(deps, pairs)
        jobs_seconds = time.monotonic() - began_jobs
    else:
        await _requeue(bot.db, deps.clock.now())
    async with deps.uow() as uow:
        queued = await uow.outbox.pending_count()
    assert queued == 2 * pairs, f"the round queued {queued} questions, not {2 * pairs}"
    sender = OutboxSender(deps, OutboxPolicy(concurrency=concurrency, batch=16 * concurrency))
    conn.send("ready")
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    began, cpu = time.monotonic(), time.process_time()
    while True:
        await sender.drain()
        async with deps.uow() as uow:
            if await uow.outbox.pending_count() == 0:
                break
        await asyncio.sleep(0.05)  # the rate-limited ones are due again after their Retry-After
    seconds, cpu = time.monotonic() - began, time.process_time() - cpu
    await slack.stop()
    await bot.close()
    conn.send((began, seconds, cpu, jobs_seconds))


async def _enqueue(deps: Any, pairs: int) -> None:
    """--feed direct: the questions the round's jobs would queue, queued in one transaction."""
    from conversations.events import Actor

    async with deps.uow() as uow:
        for user in users(pairs):
            await uow.outbox.enqueue(Actor("slack", TEAM, user), checkin_message(user), deps.clock.now())
        await uow.commit()


async def _requeue(db: Any, now: datetime) -> None:
    """Every message of the round queued again, as the jobs left it."""
    from sqlalchemy import update

    from storage.models import OutboxRow

    async with db.begin() as connection:
        await connection.execute(update(OutboxRow).values(
            state="pending", attempts=0, lease_until=None, sent_at=None, platform_ref=None, last_error="",
            next_attempt_at=now))


# -- running and reporting -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Run:
    label: str
    messages: int
    seconds: float
    delivered_at: list[float]  # seconds from the start until the fake accepted each message
    lost: int
    duplicated: int
    rate_limited: int
    cpu_seconds: float  # the sending process's CPU time during the run

    @property
    def throughput(self) -> float:
        return len(self.delivered_at) / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.delivered_at)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else float("nan")

    def line(self) -> str:
        return (f"{self.label:<26} {self.throughput:7.0f} msg/s   {self.seconds:6.2f} s   "
                f"50 % by {self.percentile(50):5.2f} s   99 % by {self.percentile(99):5.2f} s   "
                f"CPU {self.cpu_seconds / max(1, len(self.delivered_at)) * 1000:.2f} ms/msg   "
                f"lost {self.lost}   duplicated {self.duplicated}   429s {self.rate_limited}")


def _tally(label: str, pairs: int, began: float, seconds: float, cpu: float, accepted: list[tuple[str, float]],
           rate_limited: int) -> Run:
    expected = {channel_of(u) for u in users(pairs)}
    counts = Counter(channel for channel, _ in accepted)
    first = {channel: at for channel, at in sorted(accepted, key=lambda c: -c[1])}
    return Run(label=label, messages=len(expected), seconds=seconds,
               delivered_at=[at - began for at in first.values()],
               lost=len(expected - counts.keys()), duplicated=sum(n - 1 for n in counts.values() if n > 1),
               rate_limited=rate_limited, cpu_seconds=cpu)


def run_bare(pairs: int, concurrency: int, rate_limited: float) -> Run:
    fake = _spawn("_fake_api", rate_limited)
    bare = _spawn("_bare", fake.first, pairs, concurrency)
    bare.conn.send("go")
    began, seconds, cpu = bare.conn.recv()
    bare.proc.join(10)
    accepted, limited = fake.stop()
    return _tally("bare slack_sdk loop", pairs, began, seconds, cpu, accepted, limited)


def run_project(pairs: int, concurrency: int, rate_limited: float, database_url: str, prepare: bool,
                feed: str) -> tuple[Run, float]:
    fake = _spawn("_fake_api", rate_limited)
    ours = _spawn("_project", fake.first, database_url, pairs, concurrency, prepare, feed)
    ours.conn.send("go")
    began, seconds, cpu, jobs_seconds = ours.conn.recv()
    ours.proc.join(10)
    accepted, limited = fake.stop()
    return _tally("mentorbot outbox + Slack", pairs, began, seconds, cpu, accepted, limited), jobs_seconds


def _spawn(target: str, *args: Any) -> Child:
    import multiprocessing as mp

    child = Child.__new__(Child)
    ctx = mp.get_context("spawn")
    child.conn, end = ctx.Pipe()
    child.proc = ctx.Process(target=_child, args=(target, end, *args), daemon=True)
    child.proc.start()
    child.first = child.conn.recv()
    return child


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--runs", type=int, default=1, help="repeat each measurement and report the spread")
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary folder; a given one is emptied")
    parser.add_argument("--rate-limited", type=float, default=0.10, help="the second run's share of 429 answers")
    parser.add_argument("--feed", choices=("jobs", "direct"), default="jobs",
                        help="queue the questions by the round's real jobs, or straight into the outbox (faster)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/fanout.db"
        if args.database_url:
            _reset(url)
        print(f"fan-out: {args.pairs} pairs = {2 * args.pairs} DMs, {args.concurrency} concurrent requests, "
              f"database {url.split('@')[-1].split(':')[0]}")
        prepared = False
        for share in (0.0, args.rate_limited):
            limited = f"{share:.0%} of chat.postMessage answered 429, Retry-After {RETRY_AFTER:.0f} s"
            print("\n" + (limited if share else "no rate limiting"))
            ratios: list[float] = []
            for _ in range(args.runs):
                bare = run_bare(args.pairs, args.concurrency, share)
                ours, jobs_seconds = run_project(args.pairs, args.concurrency, share, url, not prepared, args.feed)
                if not prepared:
                    how = ("by the round's real jobs (checkin.round per pair, checkin.send per person)"
                           if args.feed == "jobs" else "straight into the outbox (--feed direct)")
                    print(f"{ours.messages} questions queued {how} in {jobs_seconds:.1f} s")
                    prepared = True
                print(bare.line())
                print(ours.line())
                ratios.append(ours.throughput / bare.throughput if bare.throughput else 0.0)
                print(f"ratio mentorbot / bare: {ratios[-1]:.2f} (target >= 0.7)")
            if len(ratios) > 1:
                print(f"ratio over {len(ratios)} runs: median {statistics.median(ratios):.2f}, "
                      f"min {min(ratios):.2f}, max {max(ratios):.2f}")


def _reset(url: str) -> None:
    """Empty the given database, so that every run starts from the same state."""
    from storage.migrate import downgrade

    asyncio.run(downgrade(url, "base"))


if __name__ == "__main__":
    main()
