"""Shared fixtures: a fresh database per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import create_engine
from storage.migrate import upgrade
from storage.unit_of_work import SqlUnitOfWorkFactory

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _server_url() -> str:
    return os.environ.get("TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def _unreachable(host: str, port: int, reason: str) -> None:
    message = f"PostgreSQL not reachable at {host}:{port}: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)  # CI has a database: a missing one is a broken build, not a skip
    pytest.skip(message)


async def _postgres_database() -> AsyncIterator[str]:
    server = make_url(_server_url())
    dsn = server.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"mentorbot_test_{secrets.token_hex(6)}"
    try:
        admin = await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        _unreachable(server.host or "localhost", server.port or 5432, f"{type(error).__name__}: {error}")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield server.set(drivername="postgresql+asyncpg", database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(dsn, timeout=5)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database, yielded as its async SQLAlchemy URL."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'mentorbot.db'}"
        return
    async for url in _postgres_database():
        yield url


@pytest.fixture
async def migrated_url(database_url: str) -> str:
    await upgrade(database_url)
    return database_url


@pytest.fixture
async def engine(migrated_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(migrated_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def uow_factory(engine: AsyncEngine) -> SqlUnitOfWorkFactory:
    return SqlUnitOfWorkFactory(engine)


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """An empty PostgreSQL database of its own, for tests about Postgres itself (dropping it, replicas)."""
    async for url in _postgres_database():
        yield url


@pytest.fixture
async def replica_uow_factory(migrated_url: str) -> AsyncIterator[SqlUnitOfWorkFactory]:
    """A second process's view of the same database: its own engine and connections."""
    engine = create_engine(migrated_url)
    try:
        yield SqlUnitOfWorkFactory(engine)
    finally:
        await engine.dispose()
