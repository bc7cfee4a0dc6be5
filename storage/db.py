"""Database URLs and engines: one async engine per process, SQLite made safe for concurrent writers."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storage.sqlite_driver import OneTripDbapi

SQLITE_BUSY_TIMEOUT_MS = 10_000
POOL_SIZE = 20  # Postgres connections kept open per process (twice that at a peak)

_PASSWORD = re.compile(r"(://[^:/@]+:)([^@]*)(@)")


def normalize_url(url: str) -> str:
    """Point a plain database URL at the async driver we ship (asyncpg, aiosqlite)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    if url.startswith("sqlite://"):
        return "sqlite+aiosqlite://" + url[len("sqlite://"):]
    return url


def redact(url: str) -> str:
    """The URL with its password hidden, fit for logs and error messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return _PASSWORD.sub(r"\1***\3", url)


def is_sqlite(url: str) -> bool:
    return make_url(normalize_url(url)).get_backend_name() == "sqlite"


class _NoStoredValues(logging.Filter):
    """Keep what rows hold out of logs at every level: profiles, notes and anonymous feedback answers.

    SQLAlchemy logs each fetched row at DEBUG ("Row (...)"); aiosqlite logs each call with its SQL
    parameters at DEBUG ("executing functools.partial(...)"). hide_parameters covers the statements."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg if isinstance(record.msg, str) else ""
        return not message.startswith(("Row ", "executing ", "operation ", "returning exception "))


def _keep_values_out_of_logs() -> None:
    for name in ("sqlalchemy.engine.Engine", "aiosqlite"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _NoStoredValues) for f in logger.filters):
            logger.addFilter(_NoStoredValues())


def create_engine(url: str) -> AsyncEngine:
    """An async engine; on SQLite every transaction takes the write lock up front, so writers queue.

    Statement parameters never appear in logs or error messages (hide_parameters), nor do fetched rows."""
    url = normalize_url(url)
    _keep_values_out_of_logs()
    if not is_sqlite(url):
        # Connections beyond pool_size are closed when returned: under steady concurrency above it every
        # request would open a new connection (TCP + SSL negotiation). Keep enough for a busy replica.
        return create_async_engine(url, pool_size=POOL_SIZE, max_overflow=POOL_SIZE, pool_pre_ping=False,
                                   hide_parameters=True)
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # one trip to aiosqlite's thread per statement (storage/sqlite_driver.py); same sqlite3 underneath
    engine = create_async_engine(url, hide_parameters=True, module=OneTripDbapi(SQLITE_BUSY_TIMEOUT_MS))
    _make_sqlite_transactions_immediate(engine)
    return engine


def _make_sqlite_transactions_immediate(engine: AsyncEngine) -> None:
    # The SQLAlchemy recipe for pysqlite/aiosqlite: the driver's own BEGIN is deferred, so two
    # readers that both later write deadlock ("database is locked"). We emit BEGIN IMMEDIATE
    # ourselves: the second writer waits up to busy_timeout instead.
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


async def ping(engine: AsyncEngine) -> None:
    """Prove the database answers; raises what the driver raised if it does not."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
