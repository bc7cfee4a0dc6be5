"""`mentorbot import-people` end to end: the real command, a real database, then a console sign-up."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from storage.db import create_engine
from tests.integration.cli import mentorbot, signup_answers

GOOD = ("\ufeffEmail,Identity,Level,Department,Manager,Location\r\n"
        "dana@example.com,,L9,Sales,ceo@example.com,Paris\r\n"
        ",console:console:carol,l8 director,Finance,,Berlin\r\n")
BAD = ("email,level,department\n"
       "erin@example.com,L5,Ops\n"
       "frank@example.com,L11,Ops\n"
       "erin@example.com,L2,Ops\n")


async def _hr_rows(url: str) -> list[tuple[str, str, str]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT key, level, department FROM hr_records ORDER BY key"))
            return [(r[0], r[1], r[2]) for r in rows]
    finally:
        await engine.dispose()


async def test_import_people_then_a_sign_up_gets_the_hr_level(database_url: str, tmp_path: Path) -> None:
    assert (await mentorbot("migrate", database_url=database_url)).code == 0
    good, bad = tmp_path / "people.csv", tmp_path / "broken.csv"
    good.write_text(GOOD, encoding="utf-8")
    bad.write_text(BAD, encoding="utf-8")

    imported = await mentorbot("import-people", str(good), database_url=database_url)
    assert imported.code == 0, imported.err
    assert imported.out == f"mentorbot: imported 2 people from {good}\n"
    expected = [("console:console:carol", "L8 Director", "Finance"), ("dana@example.com", "L9 Vice President", "Sales")]
    assert await _hr_rows(database_url) == expected

    refused = await mentorbot("import-people", str(bad), database_url=database_url)
    assert refused.code == 2
    assert refused.out == ""
    assert refused.err.splitlines() == [
        "mentorbot: line 3, column level: 'L11' is not on the ladder (L1 Associate, L2 Analyst, L3 Specialist, "
        "L4 Senior Specialist, L5 Lead, L6 Manager, L7 Senior Manager, L8 Director, L9 Vice President, "
        "L10 Executive)",
        "mentorbot: line 4: duplicate email erin@example.com (first on line 2)",
        f"mentorbot: nothing imported from {bad}",
    ]
    assert await _hr_rows(database_url) == expected  # the earlier import stands, untouched

    missing = await mentorbot("import-people", str(tmp_path / "nope.csv"), database_url=database_url)
    assert missing.code == 2
    assert missing.err.startswith("mentorbot: cannot read ") and len(missing.err.splitlines()) == 1

    shell = await mentorbot("shell", "--as", "carol", database_url=database_url, stdin="\n".join([
        "join", *signup_answers("Carol Chen", role="mentor", level=1, department="Design", tz="Europe/Berlin",
                                teach="GenAI"),
        "status", "/as dana", "join",
        *signup_answers("Dana Diaz", role="mentee", level=2, department="Support", tz="Europe/Paris",
                        learn="GenAI", email="Dana@Example.com"),
        "status", ""]))
    assert shell.code == 0, shell.err
    assert "Set by HR: level L8 Director, department Finance." in shell.out
    assert "Carol Chen, mentor, L8 Director" in shell.out
    assert "Set by HR: level L9 Vice President, department Sales, manager ceo@example.com." in shell.out
    assert "Dana Diaz, mentee, L9 Vice President" in shell.out


async def test_import_people_refuses_an_unmigrated_database(database_url: str, tmp_path: Path) -> None:
    people = tmp_path / "people.csv"
    people.write_text(GOOD, encoding="utf-8")
    run = await mentorbot("import-people", str(people), database_url=database_url)
    assert run.code == 2
    assert "run `mentorbot migrate` first" in run.err
