"""The Alembic migrations build, tear down and rebuild the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from storage.db import create_engine
from storage.migrate import downgrade, schema_state, upgrade

TABLES = {"people", "identities", "admins", "pseudonyms", "cohorts", "memberships", "jobs", "outbox",
          "addresses", "audit"}


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda c: inspect(c).get_table_names())
    finally:
        await engine.dispose()
    return set(names) - {"alembic_version"}


async def test_an_empty_database_reports_no_revision(database_url: str) -> None:
    current, head = await schema_state(database_url)
    assert current is None
    assert head == "0001"


async def test_upgrade_downgrade_and_upgrade_again_round_trips_the_schema(database_url: str) -> None:
    await upgrade(database_url)
    assert await _tables(database_url) == TABLES
    current, head = await schema_state(database_url)
    assert current == head

    await downgrade(database_url, "base")
    assert await _tables(database_url) == set()
    assert (await schema_state(database_url))[0] is None

    await upgrade(database_url)
    assert await _tables(database_url) == TABLES
    current, head = await schema_state(database_url)
    assert current == head


def _schema_differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, SQLModel.metadata))


async def test_the_migrated_schema_matches_the_models(migrated_url: str) -> None:
    engine = create_engine(migrated_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_schema_differences)
    finally:
        await engine.dispose()
    assert differences == []
