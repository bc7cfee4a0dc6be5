"""A bad app.yaml or environment stops the bot with one clear line and exit code 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.cli import APP_YAML, mentorbot


def _config(tmp_path: Path, old: str, new: str) -> Path:
    text = APP_YAML.read_text()
    assert old in text
    path = tmp_path / "app.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("    weeks: 12", "    weeks: twelve", "program.cohort.weeks = 'twelve'"),
    ("    cadence: biweekly", "    cadence: daily", "expected one of 'weekly', 'biweekly', 'monthly'"),
    ("  max_pause_weeks: 12", "  max_pause_weeks: 12\n  colour: blue", "program.colour: unknown key"),
    ("  tick_seconds: 5", "  tick_seconds: ${TICK_SECONDS}", "environment variable TICK_SECONDS is not set"),
])
async def test_a_bad_config_is_one_line_and_exit_code_2(tmp_path: Path, old: str, new: str, expected: str) -> None:
    config = _config(tmp_path, old, new)
    run = await mentorbot("shell", database_url=f"sqlite:///{tmp_path}/db.sqlite", config=config, stdin="status\n")
    assert run.code == 2
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err
    assert expected in lines[0] and lines[0].startswith("mentorbot: ")
    assert "Traceback" not in run.err + run.out


async def test_a_missing_config_file_says_so(tmp_path: Path) -> None:
    run = await mentorbot("shell", database_url="sqlite:///unused.db", config=tmp_path / "nope.yaml")
    assert run.code == 2
    assert run.err.strip() == f"mentorbot: {tmp_path / 'nope.yaml'}: missing file"


async def test_slack_credentials_that_do_not_fit_together_are_named(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path}/db.sqlite"
    assert (await mentorbot("migrate", database_url=database)).code == 0
    run = await mentorbot("serve", database_url=database, SLACK_BOT_TOKEN="xoxb-1")
    assert run.code == 2
    assert run.err.strip().splitlines()[-1] == (
        "mentorbot: Slack over HTTP needs SLACK_SIGNING_SECRET (or set SLACK_APP_TOKEN for Socket Mode)")
    assert "xoxb-1" not in run.err  # secrets never reach a log line
