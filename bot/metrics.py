"""Prometheus metrics for one process: HTTP requests, outbox depth and age, deliveries, jobs and their lag."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from conversations.ports import Clock
from storage.models import OutboxRow

log = logging.getLogger("mentorbot.metrics")

# Job lag: from a job's due time to the tick that claimed it. The scheduler ticks every few seconds,
# so most land in the first buckets; the long ones tell of a process that was down or overloaded.
LAG_BUCKETS = (1, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 24 * 3600)


@dataclass(frozen=True, slots=True)
class OutboxDepth:
    pending: int  # every message not yet sent nor given up, due or scheduled for later
    oldest_due_age_seconds: float  # how long the oldest due message has waited; 0 when none is due


OutboxReader = Callable[[], Awaitable[OutboxDepth]]


def sql_outbox_reader(db: AsyncEngine, clock: Clock) -> OutboxReader:
    """Two aggregate reads on the outbox's (state, next_attempt_at) index, at scrape time."""

    async def read() -> OutboxDepth:
        now = clock.now()
        pending = col(OutboxRow.state) == "pending"
        async with db.connect() as conn:
            count = (await conn.execute(select(func.count()).select_from(OutboxRow).where(pending))).scalar_one()
            oldest = (await conn.execute(
                select(func.min(OutboxRow.created_at)).where(pending, col(OutboxRow.next_attempt_at) <= now)
            )).scalar_one()
        return OutboxDepth(int(count), _age(now, oldest))

    return read


def _age(now: datetime, since: datetime | None) -> float:
    if since is None:
        return 0.0
    if since.tzinfo is None:  # SQLite hands back naive UTC for an aggregate
        since = since.replace(tzinfo=now.tzinfo)
    return max(0.0, (now - since).total_seconds())


class Metrics:
    """One registry per process (and per test app), so collectors never collide."""

    def __init__(self, outbox: OutboxReader | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._outbox = outbox
        r = self.registry
        self.requests = Counter("mentorbot_http_requests", "HTTP requests served, by route and status",
                                ("route", "method", "status"), registry=r)
        self.outbox_pending = Gauge("mentorbot_outbox_pending", "Outbox messages not yet sent nor given up",
                                    registry=r)
        self.outbox_oldest_age = Gauge("mentorbot_outbox_oldest_due_age_seconds",
                                       "Seconds the oldest due outbox message has been waiting", registry=r)
        self.deliveries = Counter("mentorbot_outbox_deliveries", "Outbox delivery attempts by platform and outcome "
                                  "(sent, retried, dead)", ("platform", "outcome"), registry=r)
        self.job_lag = Histogram("mentorbot_job_lag_seconds", "Seconds from a job's due time to its claim",
                                 buckets=LAG_BUCKETS, registry=r)
        self.jobs = Counter("mentorbot_jobs", "Jobs run by kind and outcome (done, retry, failed)",
                            ("kind", "outcome"), registry=r)

    def delivered(self, platform: str, outcome: str) -> None:
        """The outbox sender's hook: one attempt at one message."""
        self.deliveries.labels(platform, outcome).inc()

    def job_ran(self, kind: str, outcome: str, lag_seconds: float) -> None:
        """The job runner's hook: one claimed job and how late it was claimed."""
        self.jobs.labels(kind, outcome).inc()
        self.job_lag.observe(max(0.0, lag_seconds))

    async def exposition(self) -> bytes:
        """The text format, with the outbox gauges read from the database now."""
        if self._outbox is not None:
            try:
                depth = await self._outbox()
            except Exception as failure:  # a scrape must still answer; the gauges keep their last value
                log.warning("metrics: reading the outbox failed (%s)", type(failure).__name__)
            else:
                self.outbox_pending.set(depth.pending)
                self.outbox_oldest_age.set(depth.oldest_due_age_seconds)
        return generate_latest(self.registry)

    def middleware(self) -> Callable[..., Awaitable[web.StreamResponse]]:
        """Counts every request by its route's pattern (never the raw path: ids would explode the labels)."""

        @web.middleware
        async def count_requests(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                                 ) -> web.StreamResponse:
            route = _route_of(request)
            try:
                response = await handler(request)
            except web.HTTPException as answer:
                self.requests.labels(route, request.method, str(answer.status)).inc()
                raise
            except BaseException:
                self.requests.labels(route, request.method, "500").inc()
                raise
            self.requests.labels(route, request.method, str(response.status)).inc()
            return response

        return count_requests

    async def handle(self, request: web.Request) -> web.Response:
        """GET /metrics."""
        body = await self.exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})


def _route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"
