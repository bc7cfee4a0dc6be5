"""`mentorbot serve` as a process: health answers, the database going away, and a clean SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys

import aiohttp
import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests.integration.cli import APP_YAML, ROOT, cli_env, mentorbot

pytestmark = pytest.mark.postgres


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _health(port: int) -> int:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz", timeout=timeout) as resp:
        return resp.status


async def _wait_until_up(port: int, proc: asyncio.subprocess.Process) -> None:
    for _ in range(200):
        if proc.returncode is not None:
            raise AssertionError(f"serve exited early with {proc.returncode}")
        try:
            await _health(port)
            return
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.05)
    raise AssertionError("serve did not start listening")


async def test_healthz_turns_503_when_the_database_goes_away_and_sigterm_exits_0(postgres_url: str) -> None:
    assert (await mentorbot("migrate", database_url=postgres_url)).code == 0
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(APP_YAML), "serve", cwd=ROOT,
        env=cli_env(postgres_url, PORT=str(port)),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await _wait_until_up(port, proc)
        assert await _health(port) == 200

        url = make_url(postgres_url)
        admin = await asyncpg.connect(url.set(drivername="postgresql", database="postgres")
                                      .render_as_string(hide_password=False))
        try:
            await admin.execute(f'DROP DATABASE "{url.database}" WITH (FORCE)')
        finally:
            await admin.close()
        assert await _health(port) == 503

        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()
