"""Slack throughput: signed `/mentor status` against mentorbot and a bare slack-bolt app, and `join` latency.

Run: .venv/bin/python -m bench.slack_throughput [--requests 2000] [--concurrency 16] [--database-url URL]
Each server runs in a process of its own, the fake Slack Web API in another; this process only makes load.
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

from bench.load import BENCH_PROFILE, Result, closed_loop, open_loop
from tests.integration.slack_harness import SIGNING_SECRET, TEAM, payload, signature_headers

COMMAND = "/mentor"
BENCH_USER = "U0BENCH"


def _child(target: str, conn: Connection, *args: Any) -> None:
    logging.disable(logging.WARNING)
    asyncio.run(globals()[target](conn, *args))


async def _until_stopped(conn: Connection) -> None:
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)


async def _fake_api(conn: Connection) -> None:
    from tests.fakes.slack_api import FakeSlackApi

    async with FakeSlackApi(team_id=TEAM, validate=False) as fake:
        conn.send((fake.base_url, fake.response_url("bench")))
        await _until_stopped(conn)
        conn.send([(c.params.get("trigger_id"), c.at) for c in fake.calls_to("views.open")])


async def _serve_app(app: web.Application, conn: Connection) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    conn.send(runner.addresses[0][1])
    return runner


async def _bare(conn: Connection, api_url: str, inline: bool) -> None:
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.async_app import AsyncAck, AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    async with aiohttp.ClientSession() as http:
        app = AsyncApp(token="xoxb-bench", signing_secret=SIGNING_SECRET, process_before_response=inline,
                       client=AsyncWebClient(token="xoxb-bench", base_url=api_url, session=http))

        @app.command(COMMAND)
        async def only_ack(ack: AsyncAck) -> None:
            await ack()

        async def events(request: web.Request) -> web.Response:
            return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

        web_app = web.Application()
        web_app.router.add_post("/slack/events", events)
        runner = await _serve_app(web_app, conn)
        await _until_stopped(conn)
        await runner.cleanup()
        conn.send(None)


async def _project(conn: Connection, api_url: str, database_url: str) -> None:
    from bot.server import build_web_app
    from bot.wiring import add_slack, build_bot
    from conversations.events import Actor, FormSubmitted
    from storage.migrate import upgrade
    from tests.integration.slack_harness import test_config

    await upgrade(database_url)
    config = test_config(database_url, api_url)
    bot = await build_bot(config, {})
    slack = add_slack(bot, config)
    assert slack is not None
    await bot.engine.dispatch(FormSubmitted(Actor("slack", TEAM, BENCH_USER), "signup", BENCH_PROFILE))
    runner = await _serve_app(build_web_app(ping=bot.ping, routes=slack.routes()), conn)
    await _until_stopped(conn)
    await runner.cleanup()
    await slack.stop()
    await bot.close()
    conn.send(None)


class Child:
    """A process of its own; `first` is what it sent once ready."""

    def __init__(self, target: str, *args: Any) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_child, args=(target, child, *args), daemon=True)
        self.proc.start()
        self.first: Any = self.conn.recv()

    def stop(self) -> Any:
        self.conn.send("stop")
        result = self.conn.recv()
        self.proc.join(10)
        return result


def _form(text: str, user: str, trigger: str, response_url: str) -> str:
    form = payload("slash_command")
    form.update(text=text, user_id=user, team_id=TEAM, trigger_id=trigger, command=COMMAND,
                response_url=response_url)
    return urlencode(form)


async def _post(http: aiohttp.ClientSession, port: int, body: str) -> bool:
    headers = {"Content-Type": "application/x-www-form-urlencoded", **signature_headers(body)}
    async with http.post(f"http://127.0.0.1:{port}/slack/events", data=body, headers=headers) as resp:
        await resp.read()
        return resp.status == 200


async def status_load(port: int, response_url: str, requests: int, concurrency: int) -> Result:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        await closed_loop(lambda i: _post(http, port, _form("status", BENCH_USER, f"w{i}", response_url)),
                          requests=min(200, requests), concurrency=concurrency)  # warm-up
        return await closed_loop(lambda i: _post(http, port, _form("status", BENCH_USER, f"s{i}", response_url)),
                                 requests=requests, concurrency=concurrency)


async def join_load(port: int, response_url: str, rate: float, seconds: float) -> tuple[dict[str, float], int]:
    starts: dict[str, float] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        async def one(i: int) -> bool:
            trigger = f"join.{i}"
            starts[trigger] = time.monotonic()
            return await _post(http, port, _form("join", f"U0J{i:06d}", trigger, response_url))

        _, errors = await open_loop(one, rate=rate, seconds=seconds)
    return starts, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--join-rate", type=float, default=200.0)
    parser.add_argument("--join-seconds", type=float, default=5.0)
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary folder")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        print(f"signed {COMMAND} status: {args.requests} requests at {args.concurrency} concurrent connections; "
              f"database {url.split('@')[-1]}")
        fake = Child("_fake_api")
        api_url, response_url = fake.first
        results: dict[str, Result] = {}
        for label, target, extra in (("bare slack-bolt, default mode", "_bare", (api_url, False)),
                                     ("bare slack-bolt, process_before", "_bare", (api_url, True)),
                                     ("mentorbot", "_project", (api_url, url))):
            server = Child(target, *extra)
            results[label] = asyncio.run(status_load(server.first, response_url, args.requests, args.concurrency))
            if label != "mentorbot":
                server.stop()
        for label, result in results.items():
            print(result.line(label))
        ours = results["mentorbot"].throughput
        for label in list(results)[:2]:
            print(f"ratio mentorbot / {label}: {ours / results[label].throughput:.2f} (target >= 0.5)")

        print(f"\n{COMMAND} join at {args.join_rate:.0f} req/s for {args.join_seconds:.0f} s, "
              "latency until the fake Slack API receives views.open")
        starts, errors = asyncio.run(join_load(server.first, response_url, args.join_rate, args.join_seconds))
        time.sleep(1.0)  # let the last modals arrive
        server.stop()
        opened = dict(fake.stop())
        latencies = [opened[t] - s for t, s in starts.items() if t in opened]
        joins = Result(len(starts), args.join_seconds, latencies, errors + len(starts) - len(latencies))
        print(f"join: {len(latencies)}/{len(starts)} modals opened   p50 {joins.percentile(50) * 1000:.1f} ms   "
              f"p99 {joins.percentile(99) * 1000:.1f} ms (target < 100 ms)   errors {joins.errors}")


if __name__ == "__main__":
    main()
