"""Running the real `mentorbot` command in a subprocess, as an operator or a scripted console user would."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP_YAML = ROOT / "app.yaml"


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def cli_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TEAMS_"))}
    env.update(DATABASE_URL=database_url, PYTHONUNBUFFERED="1", **extra)
    return env


async def mentorbot(*args: str, database_url: str, stdin: str = "", cwd: Path | None = None,
                    config: Path = APP_YAML, limit: float = 60, **env: str) -> Run:
    """Run `python -m bot --config ... ARGS` to completion."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(config), *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        cwd=cwd or ROOT, env=cli_env(database_url, **env))
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), limit)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


def signup_answers(name: str, *, role: str, level: int, department: str, tz: str,
                   teach: str = "", learn: str = "", goals: str = "", email: str = "", avoid: str = "") -> list[str]:
    """The console's sign-up questions answered in order (blank keeps the shown default)."""
    return [name, role, str(level), department, tz, "", "", teach, learn, goals, "", "", email, avoid]
