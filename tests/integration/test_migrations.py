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
TABLES_0002 = TABLES_0001 | {"installations", "oauth_states", "processed_events"}
TABLES_0005 = TABLES_0002 | {"pairs", "previews", "exclusions", "objectives", "hr_records"}
TABLES_0006 = TABLES_0005 | {"checkins", "nudges", "help_requests", "help_messages"}
TABLES = TABLES_0006 | {"feedback_rounds", "feedback_answers", "feedback_receipts"}


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
    assert head == "0007"


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
    assert await _tables(database_url) == TABLES_0002
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
    assert (await schema_state(database_url))[0] == "0007"


async def _indexes(url: str, table: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            indexes = await connection.run_sync(lambda c: inspect(c).get_indexes(table))
    finally:
        await engine.dispose()
    return {str(ix["name"]) for ix in indexes}


PEOPLE_COLUMNS = ("id, name, role, level, department, manager, email, time_zone, working_days, work_start, "
                  "work_end, topics_teach, topics_learn, goals, languages, status, created_at, updated_at")


def _person_insert(pid: str) -> str:
    return (f"INSERT INTO people ({PEOPLE_COLUMNS}) VALUES ('{pid}', 'N', 'mentor', 'L1', 'D', '', '', 'UTC', "
            "'[]', '09:00', '17:00', '[]', '[]', '', '[]', 'active', '2026-05-04 09:30:00', "
            "'2026-05-04 09:30:00')")


async def test_0003_adds_the_matching_tables_and_a_pair_survives_up_and_down(database_url: str) -> None:
    await upgrade(database_url, "0002")
    await _execute(database_url,
                   _person_insert("p1"), _person_insert("p2"),
                   "INSERT INTO cohorts (id, platform, workspace, name, state, weeks, cadence, created_at, "
                   "members_left) VALUES ('c1', 'slack', 'T1', 'Spring', 'running', 12, 'biweekly', "
                   "'2026-05-04 09:30:00', 0)")

    await upgrade(database_url, "0003")
    assert await _tables(database_url) == TABLES_0005
    assert {"ix_pairs_cohort_id_state", "ix_pairs_mentor_id", "ix_pairs_mentee_id", "uq_pairs_active"} <= \
        await _indexes(database_url, "pairs")
    await _execute(database_url,
                   "INSERT INTO pairs (id, cohort_id, mentor_id, mentee_id, score, reasons, state, forced, "
                   "created_at) VALUES ('x1', 'c1', 'p1', 'p2', 7, '[[\"topics\", 7, \"GenAI\"]]', 'active', "
                   "false, '2026-05-04 09:30:00')")
    assert await _execute(database_url, "SELECT id, mentor_id, mentee_id, score FROM pairs") == [
        ("x1", "p1", "p2", 7)]

    await downgrade(database_url, "0002")
    assert await _tables(database_url) == TABLES_0002
    assert await _execute(database_url, "SELECT id FROM people ORDER BY id") == [("p1",), ("p2",)]
    assert (await schema_state(database_url))[0] == "0002"

    await upgrade(database_url, "0003")  # the tables come back empty; the people and cohort stayed
    assert await _execute(database_url, "SELECT count(*) FROM pairs") == [(0,)]
    await _execute(database_url,
                   "INSERT INTO pairs (id, cohort_id, mentor_id, mentee_id, score, reasons, state, forced, "
                   "created_at) VALUES ('x2', 'c1', 'p1', 'p2', 3, '[]', 'active', false, '2026-05-04 09:30:00')")
    assert await _execute(database_url, "SELECT id FROM pairs") == [("x2",)]

    await downgrade(database_url, "base")
    assert await _tables(database_url) == set()
    await upgrade(database_url)
    assert await _tables(database_url) == TABLES
    assert (await schema_state(database_url))[0] == "0007"


async def test_group_messages_add_a_column_that_old_rows_get_empty(database_url: str) -> None:
    await upgrade(database_url, "0003")
    await _execute(database_url,
                   "INSERT INTO outbox (platform, workspace, user_id, message_json, state, attempts, next_attempt_at, "
                   "last_error, created_at) VALUES ('slack', 'T1', 'U1', '{}', 'pending', 0, "
                   "'2026-05-04 09:30:00', '', '2026-05-04 09:30:00')")
    await upgrade(database_url, "0004")
    assert await _execute(database_url, "SELECT also FROM outbox") == [("[]",)]
    await downgrade(database_url, "0003")
    assert await _execute(database_url, "SELECT user_id FROM outbox") == [("U1",)]


async def test_0006_adds_the_rhythm_tables_and_a_checkin_survives_up_and_down(database_url: str) -> None:
    await upgrade(database_url, "0005")
    await _execute(database_url,
                   _person_insert("p1"), _person_insert("p2"),
                   "INSERT INTO cohorts (id, platform, workspace, name, state, weeks, cadence, created_at, "
                   "members_left) VALUES ('c1', 'slack', 'T1', 'Spring', 'running', 12, 'biweekly', "
                   "'2026-05-04 09:30:00', 0)",
                   "INSERT INTO pairs (id, cohort_id, mentor_id, mentee_id, score, reasons, state, forced, "
                   "created_at) VALUES ('x1', 'c1', 'p1', 'p2', 7, '[]', 'active', false, '2026-05-04 09:30:00')")
    await upgrade(database_url, "0006")
    assert await _tables(database_url) == TABLES_0006
    assert {"uq_nudges_one_a_day", "ix_nudges_person_id"} <= await _indexes(database_url, "nudges")
    await _execute(database_url,
                   "INSERT INTO checkins (id, pair_id, person_id, round, due_at, state, note, progress, reminded) "
                   "VALUES ('k1', 'x1', 'p1', 1, '2026-05-18 09:30:00', 'scheduled', '', '[]', false)")
    assert await _execute(database_url, "SELECT id, round FROM checkins") == [("k1", 1)]

    await downgrade(database_url, "0005")
    assert await _tables(database_url) == TABLES_0005
    assert await _execute(database_url, "SELECT id FROM pairs") == [("x1",)]
    await upgrade(database_url)
    assert await _execute(database_url, "SELECT count(*) FROM checkins") == [(0,)]
    assert (await schema_state(database_url))[0] == "0007"


async def test_0007_adds_the_feedback_tables_and_schedules_rounds_for_cohorts_already_running(
        database_url: str) -> None:
    await upgrade(database_url, "0006")
    await _execute(database_url,
                   "INSERT INTO cohorts (id, platform, workspace, name, state, weeks, cadence, created_at, "
                   "started_at, members_left) VALUES ('c1', 'slack', 'T1', 'Spring', 'running', 8, 'biweekly', "
                   "'2026-05-04 09:30:00', '2026-05-04 09:30:00', 0)",
                   "INSERT INTO cohorts (id, platform, workspace, name, state, weeks, cadence, created_at, "
                   "members_left) VALUES ('c2', 'slack', 'T2', 'Autumn', 'signup', 8, 'biweekly', "
                   "'2026-05-04 09:30:00', 0)",
                   "INSERT INTO cohorts (id, platform, workspace, name, state, weeks, cadence, created_at, "
                   "ended_at, members_left) VALUES ('c0', 'slack', 'T1', 'Winter', 'ended', 8, 'biweekly', "
                   "'2025-05-04 09:30:00', '2025-07-04 09:30:00', 0)")
    await upgrade(database_url, "0007")
    assert await _tables(database_url) == TABLES
    assert "uq_feedback_rounds_one_open" in await _indexes(database_url, "feedback_rounds")
    jobs = await _execute(database_url, "SELECT kind, subject, state FROM jobs WHERE kind = 'feedback.round' "
                          "ORDER BY due_at")
    assert jobs == [("feedback.round", "c1:mid", "pending"), ("feedback.round", "c1:end", "pending")]
    assert await _execute(database_url, "SELECT subject FROM jobs WHERE kind = 'cohort.purge'") == [("c0",)]

    await downgrade(database_url, "0006")
    assert await _tables(database_url) == TABLES_0006
    assert await _execute(database_url, "SELECT count(*) FROM jobs") == [(0,)]
    assert await _execute(database_url, "SELECT id FROM cohorts ORDER BY id") == [("c0",), ("c1",), ("c2",)]
