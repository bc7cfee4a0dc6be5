"""Matching end to end on the console: sign-ups, preview with reasons, confirm, one intro per person."""

from __future__ import annotations

import re

from sqlalchemy import text

from storage.db import create_engine
from tests.integration.cli import mentorbot, signup_answers


def _script(*lines: str | list[str]) -> str:
    flat: list[str] = []
    for line in lines:
        flat.extend(line if isinstance(line, list) else [line])
    return "\n".join(flat) + "\n"


async def _count(url: str, sql: str) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(text(sql))).scalar_one())
    finally:
        await engine.dispose()


async def test_preview_confirm_and_intros_through_the_console(database_url: str) -> None:
    assert (await mentorbot("migrate", database_url=database_url)).code == 0
    signups = await mentorbot("shell", "--as", "alice", database_url=database_url, stdin=_script(
        'admin cohort open "Spring 2027" --weeks 12 --cadence biweekly',
        "join", signup_answers("Alice Adams", role="mentee", level=9, department="Leadership", tz="Europe/Paris",
                               learn="GenAI"),
        "/as dave", "join", signup_answers("Dave Diaz", role="mentee", level=8, department="Sales",
                                           tz="Europe/London", learn="TikTok & short video"),
        "/as bob", "join", signup_answers("Bob Brown", role="mentor", level=2, department="Engineering",
                                          tz="Europe/Berlin", teach="GenAI"),
        "/as carol", "join", signup_answers("Carol Chen", role="mentor", level=1, department="Design",
                                            tz="Europe/Madrid", teach="TikTok & short video"),
        "/as erin", "join", signup_answers("Erin Evans", role="mentor", level=9, department="Finance",
                                           tz="Europe/Rome", teach="GenAI"),
        "/as alice", "admin match preview",
    ))
    assert signups.code == 0, signups.err
    out = signups.out
    assert "Bob Brown mentors Alice Adams" in out
    assert "Carol Chen mentors Dave Diaz" in out
    assert re.search(r"Alice Adams: \d+/100\. covers", out), out[-3000:]
    assert "Erin Evans:" in out  # a mentor more senior than every mentee has no allowed partner
    preview_id = re.search(r"admin match confirm (\w+)", out)
    assert preview_id is not None

    confirmed = await mentorbot("shell", "--as", "alice", database_url=database_url,
                                stdin=_script(f"admin match confirm {preview_id.group(1)}",
                                              f"admin match confirm {preview_id.group(1)}", "status"))
    assert confirmed.code == 0, confirmed.err
    out = confirmed.out
    assert "Confirmed: 2 pairs in 'Spring 2027'." in out
    assert "That preview was confirmed already." in out
    for person, partner in (("alice", "Bob Brown"), ("bob", "Alice Adams"), ("carol", "Dave Diaz"),
                            ("dave", "Carol Chen")):
        assert f"── to {person} ──\nMeet {partner}, your reverse-mentoring partner in 'Spring 2027'" in out
    assert out.count("your reverse-mentoring partner") == 4  # one intro per person
    assert "── to erin ──\nNo partner for you in 'Spring 2027' yet" in out
    assert "Partner: Bob Brown (your mentor)" in out
    assert await _count(database_url, "SELECT COUNT(*) FROM pairs WHERE state = 'active'") == 2


async def test_a_stale_preview_cannot_be_confirmed(database_url: str) -> None:
    assert (await mentorbot("migrate", database_url=database_url)).code == 0
    first = await mentorbot("shell", "--as", "alice", database_url=database_url, stdin=_script(
        'admin cohort open "Autumn"',
        "join", signup_answers("Alice Adams", role="mentee", level=9, department="Leadership", tz="UTC", learn="GenAI"),
        "/as bob", "join", signup_answers("Bob Brown", role="mentor", level=2, department="Data", tz="UTC",
                                          teach="GenAI"),
        "/as alice", "admin match preview",
        "/as frank", "join", signup_answers("Frank Fox", role="mentor", level=1, department="Ops", tz="UTC",
                                            teach="GenAI"),
    ))
    preview_id = re.search(r"admin match confirm (\w+)", first.out)
    assert preview_id is not None
    stale = await mentorbot("shell", "--as", "alice", database_url=database_url,
                            stdin=_script(f"admin match confirm {preview_id.group(1)}"))
    assert "Something changed since that preview" in stale.out
    assert await _count(database_url, "SELECT COUNT(*) FROM pairs") == 0
