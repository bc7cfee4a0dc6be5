"""The container as compose runs it: files checked for the essentials, and the image's own commands run here
(no Docker engine on the test machines): two replicas migrate and serve on one fresh Postgres database."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import subprocess
import tomllib
from pathlib import Path

import aiohttp
import pytest
import yaml

from tests.integration.cli import ROOT, cli_env
from tests.integration.test_serve_e2e import _free_port, _health

DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV") or ROOT / ".venv") / "bin"


async def _wait_until_up(port: int, proc: asyncio.subprocess.Process, *, patience: float = 240) -> None:
    """Until /healthz answers: a replica migrates first, the other waits for its lock, and a machine loaded by
    other test runs starts Python slowly (a failsafe, not a measurement)."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + patience
    while loop.time() < give_up:
        if proc.returncode is not None:
            _, err = await proc.communicate()
            raise AssertionError(f"the replica exited with {proc.returncode}: {err.decode()[-1500:]}")
        try:
            await _health(port)
            return
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.05)
    raise AssertionError("the replica did not start listening")


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def _one(name: str) -> str:
    values = [rest for word, rest in _instructions() if word == name]
    assert len(values) == 1, f"expected one {name} in the Dockerfile, found {values}"
    return values[0]


def _exec_form(rest: str) -> list[str]:
    argv = json.loads(rest)
    assert isinstance(argv, list) and all(isinstance(a, str) for a in argv)
    return argv


def _compose() -> dict[str, object]:
    loaded = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_the_image_is_slim_python_runs_as_a_user_and_installs_with_the_constraints() -> None:
    base = _one("FROM")
    assert re.fullmatch(r"python:3\.1[1-9]-slim", base), base
    user = _one("USER")
    assert user not in ("root", "0") and not user.startswith("0:")
    runs = " ".join(rest for word, rest in _instructions() if word == "RUN")
    assert "pip install -c constraints.txt ." in runs
    assert "useradd" in runs and user in runs
    copied = [shlex.split(rest)[:-1] for word, rest in _instructions() if word == "COPY"]
    sources = {src for srcs in copied for src in srcs}
    packages = {p.rstrip("*") for p in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"]["find"]["include"]}
    assert packages <= sources, f"packages the install needs but the image lacks: {packages - sources}"
    assert {"pyproject.toml", "constraints.txt", "README.md", "app.yaml"} <= sources
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"


def test_no_credential_is_baked_into_the_image() -> None:
    for word, rest in _instructions():
        if word in ("ENV", "ARG"):
            assert not re.search(r"SLACK_|TEAMS_|DATABASE_URL|PASSWORD|TOKEN|SECRET", rest), rest
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".env", ".git", ".venv", "data/"} <= set(ignored)
    listed = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT, check=False)
    assert listed.returncode == 0, ".env must be gitignored: it holds the tokens"


def test_compose_runs_postgres_15_and_two_bot_replicas_with_healthchecks() -> None:
    services = _compose()["services"]
    assert isinstance(services, dict)
    postgres, bot = services["postgres"], services["bot"]
    assert postgres["image"] == "postgres:15"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert "ports" not in postgres  # the database stays on the compose network
    assert bot["build"] == "."
    assert bot["deploy"]["replicas"] == 2
    assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"
    url = bot["environment"]["DATABASE_URL"]
    assert url.startswith("postgresql://") and "@postgres:5432/" in url
    assert "/healthz" in " ".join(bot["healthcheck"]["test"])
    assert not any(re.match(r"SLACK_|TEAMS_", key) for key in bot["environment"])  # tokens come from .env
    # replicas share one feedback key, which compose demands from .env rather than letting each generate its own
    assert bot["environment"]["FEEDBACK_KEY"].startswith("${FEEDBACK_KEY:?")
    assert {"path": ".env", "required": False} in bot["env_file"]
    host_ports = bot["ports"][0].split(":")[0]
    first, last = (int(p) for p in host_ports.split("-"))
    assert last - first + 1 == bot["deploy"]["replicas"]


@pytest.mark.postgres
async def test_two_replicas_run_the_image_command_on_one_fresh_database(postgres_url: str) -> None:
    """The image's CMD (migrate, then serve) in two processes at once: both come up healthy, neither races the
    other's migration, and both stop cleanly on SIGTERM."""
    command = _exec_form(_one("CMD"))
    health = _exec_form(_one("HEALTHCHECK").split("CMD", 1)[1].strip())
    compose_health = _compose()["services"]["bot"]["healthcheck"]["test"]  # type: ignore[index]
    assert compose_health[0] == "CMD"
    path = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    ports = [_free_port(), _free_port()]
    procs = [await asyncio.create_subprocess_exec(
        *command, cwd=ROOT, env=cli_env(postgres_url, PORT=str(port), PATH=path, LOG_FORMAT="json",
                                        FEEDBACK_KEY="k" * 32 + "shared-by-both-replicas"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE) for port in ports]
    try:
        for port, proc in zip(ports, procs, strict=True):
            await _wait_until_up(port, proc)
            checked = await asyncio.create_subprocess_exec(
                *(str(VENV_BIN / "python") if a == "python" else a for a in health),
                env=cli_env(postgres_url, PORT=str(port)))
            assert await checked.wait() == 0, "the image's HEALTHCHECK failed against a healthy replica"
        composed = await asyncio.create_subprocess_exec(
            str(VENV_BIN / "python"), *[a.replace("3978", str(ports[0])) for a in compose_health[2:]])
        assert await composed.wait() == 0, "compose's healthcheck failed against a healthy replica"
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        results = [await asyncio.wait_for(proc.communicate(), 30) for proc in procs]
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err.decode()[-2000:]
        assert "is at revision" in out.decode()  # each ran `mentorbot migrate` first
        assert "Traceback" not in err.decode()
