"""The composition root: builds the real objects from settings and hands them to each other."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:  # the platform SDKs load only when their platform is configured: the console starts fast
    from adapters.slack.app import SlackSide
    from adapters.teams.app import TeamsSide

from bot.config import AppConfig
from bot.errors import StartupError
from bot.feedback_key import FeedbackKeyError, load_feedback_key
from bot.metrics import Metrics, sql_outbox_reader
from conversations.clock import SystemClock
from conversations.deps import Deps
from conversations.engine import Engine
from conversations.jobs import run_due_jobs
from conversations.outbox import OutboxPolicy, OutboxSender
from conversations.ports import Clock, Messenger
from conversations.profiles import time_zones
from storage.db import create_engine, ping, redact
from storage.migrate import schema_state
from storage.unit_of_work import SqlUnitOfWorkFactory

log = logging.getLogger("mentorbot")


@dataclass
class Bot:
    """Everything one running process is made of."""

    db: AsyncEngine
    deps: Deps
    engine: Engine
    sender: OutboxSender
    messengers: dict[str, Messenger]
    metrics: Metrics

    async def tick(self) -> None:
        """Run due jobs, then deliver what is due in the outbox."""
        try:
            await run_due_jobs(self.deps, observe=self.metrics.job_ran)
            await self.sender.drain()  # every due batch, not one per tick: a round of 10,000 goes out at once
        except Exception:  # a tick must never kill the scheduler; the next one retries
            log.exception("scheduler tick failed")

    async def ping(self) -> None:
        await ping(self.db)

    async def close(self) -> None:
        await self.sender.stop()
        await self.db.dispose()


async def check_database(url: str) -> None:
    """Fail with one clear line when the database is unreachable or its schema is not current."""
    db = create_engine(url)
    try:
        await ping(db)
    except Exception as failure:
        reason = str(failure).splitlines()[0][:200] if str(failure) else type(failure).__name__
        raise StartupError(f"cannot reach the database at {redact(url)}: {reason}. "
                           "Check DATABASE_URL and that the server is running.") from None
    finally:
        await db.dispose()
    current, head = await schema_state(url)
    if current != head:
        where = f"at revision {current}" if current else "empty"
        raise StartupError(f"the database schema is {where}, but this version needs {head}; "
                           "run `mentorbot migrate` first.")


async def build_bot(config: AppConfig, messengers: Mapping[str, Messenger], *, clock: Clock | None = None) -> Bot:
    """Wire storage, engine and outbox sender for one process; platforms add their messengers after."""
    messengers = dict(messengers)
    try:
        feedback_key = load_feedback_key(config.secrets.feedback_key, config.secrets.feedback_key_file,
                                         config.database_url)
    except (FeedbackKeyError, OSError, ValueError) as problem:
        raise StartupError(f"feedback key: {problem}") from None
    db = create_engine(config.database_url)
    uow = SqlUnitOfWorkFactory(db)
    deps = Deps(uow=uow, settings=config.program, clock=clock or SystemClock(), messengers=messengers,
                feedback_key=feedback_key, scrubber=uow)
    server = config.server
    policy = OutboxPolicy(batch=server.outbox_batch, lease_seconds=server.outbox_lease_seconds,
                          max_attempts=server.outbox_max_attempts, concurrency=server.outbox_concurrency)
    metrics = Metrics(outbox=sql_outbox_reader(db, deps.clock))
    return Bot(db=db, deps=deps, engine=Engine(deps), sender=OutboxSender(deps, policy, observe=metrics.delivered),
               messengers=messengers, metrics=metrics)


def add_teams(bot: Bot, config: AppConfig) -> TeamsSide | None:
    """The Teams adapter, when the environment has a Teams app id (or allows unauthenticated local testing)."""
    if not config.has_teams:
        return None
    from adapters.teams.app import TeamsConfig, TeamsConfigError, build_teams

    env = config.teams
    teams_config = TeamsConfig(
        command=config.program.command, app_id=config.secrets.teams_app_id,
        app_password=config.secrets.teams_app_password, app_type=env.app_type, tenant_id=env.tenant_id,
        allow_unauthenticated=env.allow_unauthenticated, openid_metadata_url=env.openid_metadata_url,
        login_url=env.login_url)
    try:
        side = build_teams(teams_config, dispatch=bot.engine.dispatch, uow=bot.deps.uow, clock=bot.deps.clock)
    except TeamsConfigError as problem:
        raise StartupError(str(problem)) from None
    bot.messengers["teams"] = side.messenger
    return side


def add_slack(bot: Bot, config: AppConfig) -> SlackSide | None:
    """The Slack adapter, when the environment has Slack credentials."""
    secrets = config.secrets
    if not secrets.has_slack:
        return None
    from adapters.slack.app import SlackConfig, SlackConfigError, build_slack

    slack_config = SlackConfig(
        command=config.program.command, signing_secret=secrets.slack_signing_secret,
        bot_token=secrets.slack_bot_token, app_token=secrets.slack_app_token, client_id=secrets.slack_client_id,
        client_secret=secrets.slack_client_secret, api_url=config.slack_api_url)
    try:
        side = build_slack(slack_config, dispatch=bot.engine.dispatch, uow=bot.deps.uow, clock=bot.deps.clock,
                           time_zones=time_zones())
    except SlackConfigError as problem:
        raise StartupError(str(problem)) from None
    bot.messengers["slack"] = side.messenger
    return side


def start_scheduler(bot: Bot, tick_seconds: float) -> AsyncIOScheduler:
    """APScheduler only ticks; the due work itself lives in the job and outbox tables."""
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(bot.tick, "interval", seconds=tick_seconds, max_instances=1, coalesce=True,
                      id="tick", misfire_grace_time=None)
    scheduler.start()
    return scheduler
