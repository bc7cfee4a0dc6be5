"""The console platform end to end: the real CLI, a scripted chat, a real database, and restarts."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from storage.db import create_engine
from tests.integration.cli import mentorbot, signup_answers


async def _all_cells(url: str) -> list[str]:
    """Every value of every row of every table, as text."""
    engine = create_engine(url)

    def tables(conn: Connection) -> list[str]:
        return inspect(conn).get_table_names()

    try:
        async with engine.connect() as conn:
            cells: list[str] = []
            for table in await conn.run_sync(tables):
                rows = await conn.execute(text(f'SELECT * FROM "{table}"'))
                cells.extend(str(value) for row in rows for value in row)
            return cells
    finally:
        await engine.dispose()


def _script(*lines: str | list[str]) -> str:
    flat: list[str] = []
    for line in lines:
        flat.extend(line if isinstance(line, list) else [line])
    return "\n".join(flat) + "\n"


async def test_a_scripted_program_signs_up_opens_a_cohort_and_forgets_who_leaves(database_url: str) -> None:
    migrated = await mentorbot("migrate", database_url=database_url)
    assert migrated.code == 0, migrated.err

    first = await mentorbot("shell", "--as", "alice", database_url=database_url, stdin=_script(
        "join",
        signup_answers("Alice Adams", role="mentee", level=9, department="Leadership", tz="Europe/Paris",
                       learn="GenAI, Accessibility"),
        "/as bob",
        "join",
        signup_answers("Bob Brown", role="mentor", level=2, department="Engineering", tz="America/New_York",
                       teach="1,5"),
        "/as alice",
        'admin cohort open "Spring 2027" --weeks 10 --cadence weekly',
        "/as carol",
        "join",
        signup_answers("Carol Cooper", role="mentor", level=1, department="Quokka Research",
                       tz="Asia/Kolkata", teach="TikTok & short video", goals="Zanzibar-unique-goal",
                       email="carol.cooper@example.com"),
        "status",
        "/as bob",
        "join",
        "status",
    ))
    assert first.code == 0, first.err
    transcript = first.out
    assert "Welcome, Alice Adams! You're signed up as a mentee." in transcript
    assert "Cohort 'Spring 2027' is open for sign-up." in transcript
    assert "Invited 2 people who signed up before." in transcript
    assert "── to bob ──\nA new reverse-mentoring cohort is open: Spring 2027" in transcript
    assert "Welcome, Carol Cooper! You're signed up as a mentor." in transcript
    assert "You're in the cohort 'Spring 2027'; you'll hear from me when the pairs are made." in transcript
    assert "You're in the cohort 'Spring 2027'." in transcript  # bob, joining after the invitation
    assert transcript.count("Your cohort: Spring 2027 (sign-up open)") == 2  # carol's and bob's status
    assert "Traceback" not in transcript + first.err

    leaving = await mentorbot("shell", "--as", "carol", database_url=database_url,
                              stdin=_script("leave", "1", "status"))
    assert leaving.code == 0, leaving.err
    assert "You've left the program and your data is deleted." in leaving.out
    assert "You haven't signed up yet." in leaving.out

    cells = "\n".join(await _all_cells(database_url))
    for trace in ("carol", "Carol Cooper", "Quokka Research", "Zanzibar-unique-goal", "Asia/Kolkata"):
        assert trace not in cells, f"{trace!r} survived leave"
    assert "Bob Brown" in cells and "bob" in cells  # the others are still there

    restarted = await mentorbot("shell", "--as", "alice", database_url=database_url, stdin=_script(
        "admin participants", "admin cohort list", "/as bob", "status"))
    assert restarted.code == 0, restarted.err
    out = restarted.out
    assert "Participants of 'Spring 2027' (1)" in out
    assert "Bob Brown (mentor, L2 Analyst, Engineering): active" in out
    assert "Carol" not in out
    assert "Spring 2027: signup, 10 weeks, weekly, 1 members, 1 left" in out
    assert "Your cohort: Spring 2027 (sign-up open)" in out


async def test_the_audit_log_keeps_what_was_done_but_not_who_left(database_url: str) -> None:
    assert (await mentorbot("migrate", database_url=database_url)).code == 0
    run = await mentorbot("shell", "--as", "dave", database_url=database_url, stdin=_script(
        "admin cohort list",  # denied: dave is no admin
        "join",
        signup_answers("Dave Doe", role="mentor", level=1, department="Ops", tz="UTC", teach="1"),
        "leave", "1",
    ))
    assert run.code == 0, run.err
    assert "Only program admins can use admin commands." in run.out
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT action, outcome, actor FROM audit"))).all()
    finally:
        await engine.dispose()
    actions = [(r.action, r.outcome) for r in rows]
    assert ("admin.cohort.list", "denied") in actions
    assert ("leave", "ok") in actions
    assert len({r.actor for r in rows}) == 1  # the same pseudonym throughout...
    assert "dave" not in "\n".join(await _all_cells(database_url))  # ...and it no longer leads to dave


async def test_shell_refuses_a_database_that_was_never_migrated(database_url: str) -> None:
    run = await mentorbot("shell", database_url=database_url, stdin="status\n")
    assert run.code == 2
    assert run.err.strip().splitlines() == [
        "mentorbot: the database schema is empty, but this version needs 0007; run `mentorbot migrate` first."]


@pytest.mark.parametrize("verb", ["shell", "serve", "migrate"])
async def test_an_unreachable_database_stops_the_bot_with_one_line(verb: str) -> None:
    run = await mentorbot(verb, database_url="postgresql://postgres:s3cret@127.0.0.1:1/nowhere", stdin="")
    assert run.code == 2
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err
    assert "127.0.0.1:1/nowhere" in lines[0]
    assert "s3cret" not in run.err
    assert "Traceback" not in run.err
