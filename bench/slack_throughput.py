"""Slack throughput: signed `/mentor status` against mentorbot and a bare slack-bolt app, and `join` latency.

Run: .venv/bin/python -m bench.slack_throughput [--requests 2000] [--concurrency 16]
Both servers run in a child process of their own with a fake Slack Web API; this process only makes load.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing as mp
import tempfile
import time
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from tests.integration.slack_harness import SIGNING_SECRET, TEAM, payload, signature_headers

COMMAND = "/mentor"


def _serve(kind: str, conn: Connection, database_url: str) -> None:
    logging.disable(logging.WARNING)
    asyncio.run(_serve_async(kind, conn, database_url))


async def _serve_async(kind: str, conn: Connection, database_url: str) -> None:
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.async_app import AsyncAck, AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    from conversations.clock import SystemClock
    from storage.migrate import upgrade
    from tests.fakes.slack_api import FakeSlackApi
    from tests.integration.slack_harness import slack_harness

    loop = asyncio.get_running_loop()
    if kind == "bare":
        async with FakeSlackApi(team_id=TEAM) as fake:
            app = AsyncApp(token="xoxb-bench", signing_secret=SIGNING_SECRET,
                           client=AsyncWebClient(token="xoxb-bench", base_url=fake.base_url))

            @app.command(COMMAND)
            async def only_ack(ack: AsyncAck) -> None:
                await ack()

            async def events(request: web.Request) -> web.Response:
                return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

            web_app = web.Application()
            web_app.router.add_post("/slack/events", events)
            runner = web.AppRunner(web_app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            conn.send(runner.addresses[0][1])
            await loop.run_in_executor(None, conn.recv)
            conn.send([])
            await runner.cleanup()
        return
    await upgrade(database_url)
    async with slack_harness(database_url, SystemClock()) as slack:  # type: ignore[arg-type]
        port = int(slack.url.rsplit(":", 1)[1])
        await slack.join("U0BENCH", name="Bench Person")  # `status` of a real profile
        conn.send(port)
        await loop.run_in_executor(None, conn.recv)
        conn.send([(c.params.get("trigger_id"), c.at) for c in slack.fake.calls_to("views.open")])


def _form(text: str, user: str, trigger: str) -> str:
    form = payload("slash_command")
    form.update(text=text, user_id=user, team_id=TEAM, trigger_id=trigger, command=COMMAND,
                response_url="http://127.0.0.1:9/unused")
    return urlencode(form)


class Server:
    """A server in a child process; `port` once it listens."""

    def __init__(self, kind: str, database_url: str) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(kind, child, database_url), daemon=True)
        self.proc.start()
        self.port: int = self.conn.recv()

    def stop(self) -> Any:
        self.conn.send("stop")
        result = self.conn.recv()
        self.proc.join(10)
        return result


async def _post(http: aiohttp.ClientSession, port: int, body: str) -> bool:
    headers = {"Content-Type": "application/x-www-form-urlencoded", **signature_headers(body)}
    async with http.post(f"http://127.0.0.1:{port}/slack/events", data=body, headers=headers) as resp:
        await resp.read()
        return resp.status == 200


async def status_load(port: int, requests: int, concurrency: int) -> Any:
    from bench.load import closed_loop

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        await closed_loop(lambda i: _post(http, port, _form("status", "U0BENCH", f"w{i}")),
                          requests=min(100, requests), concurrency=concurrency)  # warm-up
        return await closed_loop(lambda i: _post(http, port, _form("status", "U0BENCH", f"s{i}")),
                                 requests=requests, concurrency=concurrency)


async def join_load(port: int, rate: float, seconds: float) -> tuple[dict[str, float], int]:
    from bench.load import open_loop

    starts: dict[str, float] = {}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        async def one(i: int) -> bool:
            trigger = f"join.{i}"
            starts[trigger] = time.monotonic()
            return await _post(http, port, _form("join", f"U0J{i:06d}", trigger))

        _, errors = await open_loop(one, rate=rate, seconds=seconds)
    return starts, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--join-rate", type=float, default=200.0)
    parser.add_argument("--join-seconds", type=float, default=5.0)
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary folder")
    args = parser.parse_args()
    from bench.load import Result

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        print(f"signed {COMMAND} status, {args.requests} requests at {args.concurrency} concurrent connections")
        bare = Server("bare", url)
        bare_result: Result = asyncio.run(status_load(bare.port, args.requests, args.concurrency))
        bare.stop()
        project = Server("project", url)
        project_result: Result = asyncio.run(status_load(project.port, args.requests, args.concurrency))
        print(bare_result.line("bare slack-bolt app (ack only)"))
        print(project_result.line("mentorbot /mentor status"))
        ratio = project_result.throughput / bare_result.throughput
        print(f"ratio mentorbot / bare: {ratio:.2f} (target >= 0.5)")

        print(f"\n{COMMAND} join at {args.join_rate:.0f} req/s for {args.join_seconds:.0f} s, "
              "latency until the fake Slack API receives views.open")
        starts, errors = asyncio.run(join_load(project.port, args.join_rate, args.join_seconds))
        opened = dict(project.stop())
        latencies = [opened[t] - s for t, s in starts.items() if t in opened]
        joins = Result(len(starts), args.join_seconds, latencies, errors + len(starts) - len(latencies))
        print(f"join: {len(latencies)}/{len(starts)} modals opened   p50 {joins.percentile(50) * 1000:.1f} ms   "
              f"p99 {joins.percentile(99) * 1000:.1f} ms (target < 100 ms)   errors {joins.errors}")


if __name__ == "__main__":
    main()
