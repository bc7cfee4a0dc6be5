"""`mentorbot report` and `mentorbot export`: a cohort's report, chart and CSV from the command line."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col

from bot.config import AppConfig
from bot.wiring import Bot, build_bot, check_database
from conversations.deps import Deps
from conversations.model import Cohort
from conversations.report_flow import build_report, chart_png, export_files
from conversations.report_text import as_text, report_message
from storage.models import CohortRow

if TYPE_CHECKING:
    from bot.simulate import FinishedRun


class CohortNotFound(Exception):
    """The cohort asked for is not in the database, or the name is not unique; the message says which there are."""


async def find_cohort(db: AsyncEngine, name: str | None) -> tuple[str, str, str]:
    """(platform, workspace, id) of the cohort named, across every workspace; else the running one, else the latest."""
    async with db.connect() as conn:
        columns = (col(CohortRow.id), col(CohortRow.platform), col(CohortRow.workspace), col(CohortRow.name),
                   col(CohortRow.state))
        rows = (await conn.execute(select(*columns).order_by(col(CohortRow.created_at)))).all()
    if not rows:
        raise CohortNotFound("there is no cohort yet")
    if name:
        named = [r for r in rows if r.name == name] or [r for r in rows if r.name.casefold() == name.casefold()]
        if len(named) > 1:
            where = ", ".join(f"{r.platform}/{r.workspace}" for r in named)
            raise CohortNotFound(f"more than one cohort is named '{name}' ({where}); this command reads one")
        if not named:
            known = ", ".join(f"'{r.name}'" for r in rows[-10:])
            raise CohortNotFound(f"there is no cohort named '{name}'; cohorts: {known}")
        chosen = named[0]
    else:
        active = [r for r in rows if r.state in ("signup", "running")]
        chosen = (active or rows)[-1]
    return chosen.platform, chosen.workspace, chosen.id


async def _cohort(bot: Bot, name: str | None) -> Cohort:
    _, _, cohort_id = await find_cohort(bot.db, name)
    async with bot.deps.uow() as uow:
        cohort = await uow.cohorts.get(cohort_id)
    if cohort is None:  # removed between the two reads
        raise CohortNotFound(f"the cohort '{name}' is gone")
    return cohort


async def write_report(deps: Deps, cohort: Cohort, out: Path | None) -> str:
    """The report as text; with `out`, its chart is written there too. For `mentorbot report` and `simulate`."""
    async with deps.uow() as uow:
        report = await build_report(uow, deps, cohort)
    text = as_text(report_message(report))
    if out is not None:
        png = await chart_png(report)
        await asyncio.to_thread(_write_bytes, out, png)
        text += f"\nChart: {out} ({len(png):,} bytes, PNG)\n"
    return text


async def cohort_report_section(run: FinishedRun) -> str:
    """`mentorbot simulate`'s last section: the simulated cohort's report, as an admin would read it."""
    async with run.deps.uow() as uow:
        cohort = await uow.cohorts.get(run.cohort_id)
    if cohort is None:
        return "Cohort report: the cohort is gone."
    return "Cohort report\n\n" + await write_report(run.deps, cohort, None)


async def report_command(config: AppConfig, cohort_name: str | None, out: Path) -> int:
    """Print the cohort's report and write its chart as a PNG."""
    await check_database(config.database_url)
    bot = await build_bot(config, {})
    try:
        cohort = await _cohort(bot, cohort_name)
        text = await write_report(bot.deps, cohort, out)
    except CohortNotFound as problem:
        print(f"mentorbot: {problem}", file=sys.stderr)
        return 2
    except OSError as problem:
        print(f"mentorbot: cannot write {out}: {problem.strerror or problem}", file=sys.stderr)
        return 2
    finally:
        await bot.close()
    print(text, end="")
    return 0


async def export_command(config: AppConfig, cohort_name: str | None, out_dir: Path) -> int:
    """Write the cohort's aggregates and its pairs with their reasons as two CSV files."""
    await check_database(config.database_url)
    bot = await build_bot(config, {})
    written: list[Path] = []
    try:
        cohort = await _cohort(bot, cohort_name)
        async with bot.deps.uow() as uow:
            files = await export_files(uow, bot.deps, cohort)
        for file in files:
            path = out_dir / file.name
            await asyncio.to_thread(_write_text, path, file.content)
            written.append(path)
    except CohortNotFound as problem:
        print(f"mentorbot: {problem}", file=sys.stderr)
        return 2
    except OSError as problem:
        print(f"mentorbot: cannot write to {out_dir}: {problem.strerror or problem}", file=sys.stderr)
        return 2
    finally:
        await bot.close()
    for path in written:
        print(f"mentorbot: wrote {path}")
    return 0


def _write_bytes(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def _write_text(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8", newline="")  # the CSV's own CRLF line ends, untranslated
