"""The Alembic migrations build, tear down and rebuild the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from storage.db import create_engine
from storage.migrate import downgrade, schema_state, upgrade

TABLES_0001 = {"people", "identities", "admins", "pseudonyms", "cohorts", "memberships", "jobs", "outbox",
               "addresses", "audit"}
TABLES = TABLES_0001 | {"installations", "oauth_states", "processed_events"}


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
    assert head == "0002"


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


async def _outbox_columns_and_indexes(url: str) -> tuple[set[str], set[str]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            columns = await connection.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns("outbox")})
            indexes = await connection.run_sync(lambda c: {ix["name"] for ix in inspect(c).get_indexes("outbox")})
    finally:
        await engine.dispose()
    return columns, {str(name) for name in indexes}


async def _execute(url: str, *statements: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            rows: list[tuple[object, ...]] = []
            for statement in statements:
                result = await connection.execute(text(statement))
                if result.returns_rows:
                    rows += [tuple(row) for row in result.all()]
    finally:
        await engine.dispose()
    return rows


async def test_0002_adds_platform_state_and_keeps_the_outbox_rows_both_ways(database_url: str) -> None:
    await upgrade(database_url, "0001")
    assert await _tables(database_url) == TABLES_0001
    await _execute(database_url,
                   "INSERT INTO outbox (platform, workspace, user_id, message_json, state, attempts, "
                   "next_attempt_at, last_error, created_at) VALUES ('slack', 'T1', 'U1', '{}', 'pending', 0, "
                   "'2026-05-04 09:30:00', '', '2026-05-04 09:30:00')")

    await upgrade(database_url, "0002")
    assert await _tables(database_url) == TABLES
    columns, indexes = await _outbox_columns_and_indexes(database_url)
    assert "about" in columns and "ix_outbox_about" in indexes
    assert "ix_outbox_state_next_attempt_at" in indexes
    assert await _execute(database_url, "SELECT user_id, about FROM outbox") == [("U1", None)]

    await downgrade(database_url, "0001")
    assert await _tables(database_url) == TABLES_0001
    columns, indexes = await _outbox_columns_and_indexes(database_url)
    assert "about" not in columns and "ix_outbox_about" not in indexes
    assert "ix_outbox_state_next_attempt_at" in indexes
    assert await _execute(database_url, "SELECT user_id FROM outbox") == [("U1",)]
    assert (await schema_state(database_url))[0] == "0001"

    await downgrade(database_url, "base")
    assert await _tables(database_url) == set()
    await upgrade(database_url)
    assert await _tables(database_url) == TABLES
    assert (await schema_state(database_url))[0] == "0002"
