"""`import-people PATH` typed in `mentorbot shell`: the same flow as a file attached in Slack or Teams."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from storage.db import create_engine
from tests.integration.cli import mentorbot


async def test_an_admin_imports_from_the_shell_and_others_are_refused(database_url: str, tmp_path: Path) -> None:
    assert (await mentorbot("migrate", database_url=database_url)).code == 0
    good, bad = tmp_path / "people.csv", tmp_path / "broken.csv"
    good.write_text("email,identity,level,department\n,console:console:carol,L8,Finance\n", encoding="utf-8")
    bad.write_text("email,level\ncarol@example.com,L42\n", encoding="utf-8")

    shell = await mentorbot("shell", "--as", "alice", database_url=database_url, stdin="\n".join([
        f"import-people {good}", f"import-people {bad}", f"import-people {tmp_path / 'nope.csv'}", "import-people",
        "/as bob", f"import-people {good}", ""]))

    assert shell.code == 0, shell.err
    assert "Imported 1 person from people.csv." in shell.out
    assert "Nothing imported from broken.csv: fix these and send it again." in shell.out
    assert "line 2, column level: 'L42' is not on the ladder" in shell.out
    assert "I couldn't fetch nope.csv from the console (cannot read " in shell.out
    assert "(usage: import-people PATH, the HR CSV on this machine)" in shell.out
    assert "Only program admins can send me files" in shell.out  # bob
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            hr = [tuple(r) for r in await conn.execute(text("SELECT key, level FROM hr_records"))]
            audit = [tuple(r) for r in await conn.execute(text("SELECT outcome FROM audit ORDER BY id"))]
    finally:
        await engine.dispose()
    assert hr == [("console:console:carol", "L8 Director")]
    assert audit == [("ok",), ("invalid",), ("invalid",), ("denied",)]
