"""`mentorbot serve` as operators run it: JSON logs on stderr and /metrics scraped from the real process."""

from __future__ import annotations

import asyncio
import json
import signal
import sys

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.cli import APP_YAML, ROOT, cli_env, mentorbot
from tests.integration.test_container import _wait_until_up
from tests.integration.test_serve_e2e import _free_port


async def test_serve_logs_json_lines_and_exposes_metrics(database_url: str) -> None:
    assert (await mentorbot("migrate", database_url=database_url)).code == 0
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(APP_YAML), "serve", cwd=ROOT,
        env=cli_env(database_url, PORT=str(port), LOG_FORMAT="json", LOG_LEVEL="INFO",
                    TEAMS_ALLOW_UNAUTHENTICATED="1"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await _wait_until_up(port, proc)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200
            async with http.post(f"http://127.0.0.1:{port}/api/messages", data=b"{not json",
                                 headers={"Content-Type": "application/json"}) as response:
                assert response.status == 400
            async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert response.status == 200
                exposition = await response.text()
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0

    records = [json.loads(line) for line in err.decode().splitlines()]  # every line one JSON object
    assert records, "serve logged nothing at INFO"
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record)
    messages = [r["message"] for r in records]
    assert any(m.startswith("listening on http://") for m in messages)
    assert "stopped" in messages

    families = {f.name: f for f in text_string_to_metric_families(exposition)}
    requests = {(s.labels["route"], s.labels["status"]): s.value for s in families["mentorbot_http_requests"].samples
                if s.name.endswith("_total")}
    assert requests[("/healthz", "200")] >= 1  # the readiness polls too
    assert requests[("/api/messages", "400")] == 1
    assert [s.value for s in families["mentorbot_outbox_pending"].samples] == [0]
    assert "mentorbot_job_lag_seconds" in families and "mentorbot_outbox_deliveries" in families


async def test_an_unknown_log_format_is_one_line_and_exit_code_2(tmp_path: object) -> None:
    run = await mentorbot("migrate", database_url="sqlite:///unused.db", LOG_FORMAT="yaml")
    assert run.code == 2
    assert run.err == "mentorbot: LOG_FORMAT = 'yaml': expected 'text' or 'json'\n"


async def test_an_unknown_log_level_is_one_line_and_exit_code_2() -> None:
    run = await mentorbot("migrate", database_url="sqlite:///unused.db", LOG_LEVEL="LOUD")
    assert run.code == 2
    assert run.err == "mentorbot: LOG_LEVEL = 'LOUD': expected DEBUG, INFO, WARNING, ERROR or CRITICAL\n"
