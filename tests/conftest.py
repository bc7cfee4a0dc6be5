"""Shared fixtures: a fresh database per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
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


def _admin_dsn() -> str:
    return make_url(_server_url()).set(drivername="postgresql").render_as_string(hide_password=False)


async def _connect_admin() -> asyncpg.Connection:
    server = make_url(_server_url())
    try:
        return await asyncpg.connect(_admin_dsn(), timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        _unreachable(server.host or "localhost", server.port or 5432, f"{type(error).__name__}: {error}")
        raise


# Migrated databases are copied from a template migrated once per test process: a SQLite file copy, or
# Postgres's CREATE DATABASE ... TEMPLATE. The migrations themselves are tested from empty databases.
_TEMPLATES: dict[str, str] = {}


async def _sqlite_template() -> str:
    if "sqlite" not in _TEMPLATES:
        folder = Path(tempfile.mkdtemp(prefix="mentorbot-template-"))
        await upgrade(f"sqlite+aiosqlite:///{folder / 'template.db'}")
        _TEMPLATES["sqlite"] = str(folder / "template.db")
    return _TEMPLATES["sqlite"]


async def _postgres_template() -> str:
    if "postgres" not in _TEMPLATES:
        name = f"mentorbot_template_{secrets.token_hex(6)}"
        admin = await _connect_admin()
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        url = make_url(_server_url()).set(drivername="postgresql+asyncpg", database=name)
        await upgrade(url.render_as_string(hide_password=False))
        _TEMPLATES["postgres"] = name
    return _TEMPLATES["postgres"]


@pytest.fixture(scope="session", autouse=True)
def _drop_templates() -> Iterator[None]:
    yield
    if "sqlite" in _TEMPLATES:
        shutil.rmtree(Path(_TEMPLATES["sqlite"]).parent, ignore_errors=True)
    if "postgres" in _TEMPLATES:
        async def drop(name: str) -> None:
            admin = await asyncpg.connect(_admin_dsn(), timeout=5)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()
        asyncio.run(drop(_TEMPLATES["postgres"]))


async def _postgres_database(*, migrated: bool = False) -> AsyncIterator[str]:
    server = make_url(_server_url())
    name = f"mentorbot_test_{secrets.token_hex(6)}"
    template = f' TEMPLATE "{await _postgres_template()}"' if migrated else ""
    admin = await _connect_admin()
    try:
        await admin.execute(f'CREATE DATABASE "{name}"{template}')
    finally:
        await admin.close()
    try:
        yield server.set(drivername="postgresql+asyncpg", database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(_admin_dsn(), timeout=5)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database, yielded as its async SQLAlchemy URL; migrated already when the test asks for
    `migrated_url` (the same database), copied from a template migrated once."""
    migrated = "migrated_url" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path / "mentorbot.db"
        if migrated:
            shutil.copyfile(await _sqlite_template(), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    async for url in _postgres_database(migrated=migrated):
        yield url


@pytest.fixture
async def migrated_url(database_url: str) -> str:
    """The test's database at the newest migration."""
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
