"""`mentorbot report` and `mentorbot export` on a real database, as an operator runs them."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.reports_cli import CohortNotFound, find_cohort
from storage.unit_of_work import SqlUnitOfWorkFactory
from tests.integration.cli import mentorbot
from tests.report_seed import COHORT, seed_cohort
from tests.unit.test_reports import png_size


async def test_report_prints_the_report_and_writes_the_chart(migrated_url: str, uow_factory: SqlUnitOfWorkFactory,
                                                             tmp_path: Path) -> None:
    await seed_cohort(uow_factory, platform="slack", workspace="T0001", now=datetime.now(UTC))
    out = tmp_path / "charts" / "report.png"
    run = await mentorbot("report", "--cohort", COHORT, "--out", str(out), database_url=migrated_url)
    assert run.code == 0, run.err
    assert run.out.startswith(f"Report for '{COHORT}' (running)\nSigned up: 13\n")
    assert "Meeting rate: 67 % (24 of 36 check-ins answered \"we met\")" in run.out
    assert "Everyone: 12 answers, safety 4.5/5" in run.out
    assert "Mentors: not enough answers yet" in run.out
    assert "[someone] helped me see TikTok differently" in run.out
    assert f"Chart: {out}" in run.out
    assert png_size(out.read_bytes()) == (1000, 460)


async def test_export_writes_the_aggregates_and_the_pairs_as_csv(migrated_url: str, uow_factory: SqlUnitOfWorkFactory,
                                                                 tmp_path: Path) -> None:
    await seed_cohort(uow_factory, platform="teams", workspace="tenant-1", now=datetime.now(UTC))
    run = await mentorbot("export", "--out", str(tmp_path), database_url=migrated_url)  # the running cohort
    assert run.code == 0, run.err
    numbers = tmp_path / "report-spring-2027-aggregates.csv"
    pairs = tmp_path / "report-spring-2027-pairs.csv"
    assert run.out.splitlines() == [f"mentorbot: wrote {numbers}", f"mentorbot: wrote {pairs}"]
    rows = list(csv.reader(io.StringIO(numbers.read_text(encoding="utf-8"), newline="")))
    assert ["participation", "", "", "signed_up", "13"] in rows
    assert ["nudges", "", "", "sent", "3"] in rows
    assert numbers.read_bytes().count(b"\r\n") == len(rows)
    assert "TikTok" not in numbers.read_text(encoding="utf-8")
    pair_rows = list(csv.reader(io.StringIO(pairs.read_text(encoding="utf-8"), newline="")))
    assert len(pair_rows) == 7 and pair_rows[1][:2] == ["Ada Park", "Grace Liu"]


async def test_an_unknown_cohort_is_one_line_and_exit_code_2(migrated_url: str, engine: AsyncEngine,
                                                             uow_factory: SqlUnitOfWorkFactory, tmp_path: Path) -> None:
    with pytest.raises(CohortNotFound, match=r"^there is no cohort yet$"):
        await find_cohort(engine, None)
    await seed_cohort(uow_factory, platform="console", workspace="console", now=datetime.now(UTC))
    assert await find_cohort(engine, "spring 2027") == ("console", "console", "cohort-console")  # any case
    out = tmp_path / "out"
    run = await mentorbot("export", "--cohort", "Autumn 2031", "--out", str(out), database_url=migrated_url)
    assert run.code == 2
    assert run.err.splitlines()[-1] == f"mentorbot: there is no cohort named 'Autumn 2031'; cohorts: '{COHORT}'"
    assert not out.exists()  # nothing written


async def test_admin_report_in_the_console_saves_the_chart_under_data_exports(
        migrated_url: str, uow_factory: SqlUnitOfWorkFactory, tmp_path: Path) -> None:
    await seed_cohort(uow_factory, platform="console", workspace="console", now=datetime.now(UTC))
    run = await mentorbot("shell", "--as", "alice", database_url=migrated_url, cwd=tmp_path,
                          stdin="admin report\nadmin export\n/as bob\nadmin report\n")
    assert run.code == 0, run.err
    chart = Path("data") / "exports" / "report-spring-2027.png"
    assert png_size((tmp_path / chart).read_bytes()) == (1000, 460)
    assert f"Saved as {chart})" in run.out
    assert "Everyone: 12 answers, safety 4.5/5" in run.out
    assert (tmp_path / "data" / "exports" / "report-spring-2027-pairs.csv").exists()
    assert "Only program admins can use admin commands." in run.out.split("bob> ")[1]


async def test_simulate_ends_with_the_cohort_report_and_its_figures_agree(tmp_path: Path) -> None:
    # simulate runs on a temporary database of its own: DATABASE_URL is not read
    run = await mentorbot("simulate", "--people", "6", "--weeks", "2", "--seed", "3",
                          database_url=f"sqlite:///{tmp_path / 'unused.db'}")
    assert run.code == 0, run.err[-2000:]
    summary, _, report = run.out.partition("\nCohort report\n\n")
    assert report.startswith("Report for 'Simulated cohort' (running)\nSigned up: 6\n")
    nudges = re.search(r"nudges sent: (\d+)", summary)
    assert nudges is not None and f"\nNudges sent: {nudges.group(1)}\n" in report
    assert "Round 1 (mid-way" in report and "Everyone: not enough answers yet" in report  # nobody answers there
