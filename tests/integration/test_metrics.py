"""/metrics on the real aiohttp server over a real database: requests, outbox depth and age, deliveries, jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from bot.config import load_config
from bot.server import build_web_app
from bot.wiring import build_bot
from conversations.events import Actor
from conversations.messages import Message
from tests.fakes.memory import FakeClock
from tests.fakes.messenger import FakeMessenger
from tests.integration.cli import APP_YAML
from tests.integration.test_server import start

START = datetime(2027, 3, 2, 10, 0, tzinfo=UTC)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition by (name, sorted labels)."""
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_metrics_count_requests_deliveries_and_jobs_and_read_the_outbox_at_scrape_time(
        migrated_url: str) -> None:
    clock = FakeClock(START)
    console = FakeMessenger()
    config = load_config(APP_YAML, {"DATABASE_URL": migrated_url})
    bot = await build_bot(config, {"console": console}, clock=clock)
    ann, bob, tina = Actor("console", "console", "ann"), Actor("console", "console", "bob"), Actor("teams", "t", "u")
    async with bot.deps.uow() as uow:
        await uow.outbox.enqueue(ann, Message("hello ann"), START - timedelta(minutes=10))
        await uow.outbox.enqueue(bob, Message("hello bob"), START - timedelta(minutes=5))
        await uow.outbox.enqueue(tina, Message("no teams here"), START - timedelta(minutes=30))  # retried
        await uow.outbox.enqueue(ann, Message("later"), START + timedelta(days=1))  # not due yet
        await uow.jobs.schedule("pause.end", "nobody", START - timedelta(seconds=90))  # runs, does nothing
        await uow.jobs.schedule("no.such.kind", "x", START - timedelta(seconds=30))  # fails, retried later
        await uow.commit()
    console.fail_next(permanent=True, reason="user_not_found")  # ann's first message: dead

    runner, base = await start(build_web_app(ping=bot.ping, metrics=bot.metrics))
    try:
        await bot.tick()
        clock.advance(minutes=20)
        async with aiohttp.ClientSession() as http:
            for path in ("/healthz", "/healthz", "/nowhere"):
                async with http.get(base + path) as response:
                    await response.read()
            async with http.get(f"{base}/metrics") as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/plain")
                samples = _samples(await response.text())
    finally:
        await runner.cleanup()
        await bot.close()

    assert samples[("mentorbot_http_requests_total",
                    (("method", "GET"), ("route", "/healthz"), ("status", "200")))] == 2
    assert samples[("mentorbot_http_requests_total",
                    (("method", "GET"), ("route", "unmatched"), ("status", "404")))] == 1
    assert samples[("mentorbot_outbox_deliveries_total", (("outcome", "sent"), ("platform", "console")))] == 1
    assert samples[("mentorbot_outbox_deliveries_total", (("outcome", "dead"), ("platform", "console")))] == 1
    assert samples[("mentorbot_outbox_deliveries_total", (("outcome", "retried"), ("platform", "teams")))] == 1
    assert [m.text for _, m in console.sent] == ["hello bob"]
    # Pending: the retried teams message (due again after its 2 s backoff) and tomorrow's.
    assert samples[("mentorbot_outbox_pending", ())] == 2
    # The retried one has waited since it was first due: 30 minutes before the tick, 20 after.
    assert samples[("mentorbot_outbox_oldest_due_age_seconds", ())] == 50 * 60
    assert samples[("mentorbot_jobs_total", (("kind", "pause.end"), ("outcome", "done")))] == 1
    assert samples[("mentorbot_jobs_total", (("kind", "no.such.kind"), ("outcome", "retry")))] == 1
    assert samples[("mentorbot_job_lag_seconds_count", ())] == 2
    assert samples[("mentorbot_job_lag_seconds_sum", ())] == 120
    assert samples[("mentorbot_job_lag_seconds_bucket", (("le", "60.0"),))] == 1


async def test_outbox_age_is_the_oldest_due_message_s_wait(migrated_url: str) -> None:
    clock = FakeClock(START)
    config = load_config(APP_YAML, {"DATABASE_URL": migrated_url})
    bot = await build_bot(config, {}, clock=clock)
    async with bot.deps.uow() as uow:
        await uow.outbox.enqueue(Actor("console", "console", "a"), Message("due"), START - timedelta(minutes=7))
        await uow.outbox.enqueue(Actor("console", "console", "b"), Message("later"), START + timedelta(hours=1))
        await uow.commit()
    try:
        samples = _samples((await bot.metrics.exposition()).decode())
    finally:
        await bot.close()
    assert samples[("mentorbot_outbox_pending", ())] == 2
    assert samples[("mentorbot_outbox_oldest_due_age_seconds", ())] == 420
