"""Teams throughput: inbound `status` messages and proactive check-ins, against bare botbuilder and bare aiohttp.

Run: .venv/bin/python -m bench.teams_throughput [--requests 2000] [--messages 1000] [--database-url URL]
Each server and each proactive sender runs in a process of its own, the fake Bot Connector in another; this process
only makes the inbound load, switches the fake's 429s on and off, and compares what the fake received with what was
sent. Activities are real-shaped personal-chat messages; TEAMS_ALLOW_UNAUTHENTICATED=1, so no tokens are involved.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import logging
import multiprocessing as mp
import os
import re
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, replace
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from yarl import URL

from bench.load import BENCH_PROFILE, Result, closed_loop

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
BOT_ID = "28:0b3c9b8e-7a2f-4c1d-8e5a-3f6d2b1c9a07"
BENCH_USER = "0b0b0000-0000-4000-8000-00000000be01"
CHECKIN_KEY = re.compile(r'"mb_value": "c(\d+)"')  # the check-in number, on its buttons
MAX_ATTEMPTS = 50  # a message still refused after this many 429s counts as lost
OUTBOX_BATCH = 50  # server.outbox_batch's default: the outbox prefetches the chats of each batch it claims
PROFILE_ENV = "MENTORBOT_BENCH_PROFILE"  # a folder: the project's children write cProfile stats there


# -- processes --------------------------------------------------------------------------------------------------

def _child(target: str, conn: Connection, *args: Any) -> None:
    logging.disable(logging.WARNING)
    folder = os.environ.get(PROFILE_ENV)
    if not folder or not target.startswith("_mentorbot"):
        asyncio.run(globals()[target](conn, *args))
        return
    profile = cProfile.Profile()  # --profile: where the project's own child spends its time
    profile.enable()
    try:
        asyncio.run(globals()[target](conn, *args))
    finally:
        profile.disable()
        profile.dump_stats(str(Path(folder) / f"{target.strip('_')}.prof"))


async def _next_command(conn: Connection) -> Any:
    return await asyncio.get_running_loop().run_in_executor(None, conn.recv)


class Child:
    """A process of its own; `first` is what it sent once ready."""

    def __init__(self, target: str, *args: Any) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_child, args=(target, child, *args), daemon=True)
        self.proc.start()
        self.first: Any = self.conn.recv()

    def ask(self, *command: Any) -> Any:
        self.conn.send(command)
        return self.conn.recv()

    def stop(self) -> None:
        self.ask("stop")
        self.proc.join(10)


# -- activities -------------------------------------------------------------------------------------------------

def _personal_message(service_url: str, text: str, *, user: str, conversation: str, activity_id: str
                      ) -> dict[str, Any]:
    """tests/payloads/teams/message_personal.json, addressed to the fake connector."""
    from tests.integration.teams_harness import payload

    activity = payload("message_personal")
    activity.update(id=activity_id, text=text, serviceUrl=service_url)
    activity["from"] = {"id": f"29:{user}", "name": "Bench Person", "aadObjectId": user}
    activity["recipient"] = {"id": BOT_ID, "name": "mentorbot"}
    activity["conversation"] = {"conversationType": "personal", "tenantId": TENANT, "id": conversation}
    activity["channelData"] = {"tenant": {"id": TENANT}}
    return activity


def _checkin(i: int) -> Any:
    """A check-in as the outbox sends it: a card with the two answers."""
    from conversations.messages import Button, Message

    return Message(f"Weekly check-in #{i}: did you meet this week?",
                   ("Your answer is only seen by the program admins, as a count.",),
                   buttons=(Button("We met", "checkin.met", f"c{i}", "primary"),
                            Button("Not this week", "checkin.missed", f"c{i}")))


def _recipients(service_url: str, count: int) -> list[dict[str, Any]]:
    """People the bot has talked to: each one's last message in their own 1:1 chat."""
    return [_personal_message(service_url, "hi", user=f"0b0b0000-0000-4000-8000-{n:012d}",
                              conversation=f"a:bench-{n}", activity_id=str(1762157565620 + n))
            for n in range(count)]


# -- the fake Bot Connector -------------------------------------------------------------------------------------

async def _fake_connector(conn: Connection) -> None:
    from tests.fakes.bot_connector import FakeBotConnector

    async with FakeBotConnector(bot_id=BOT_ID) as fake:
        conn.send(fake.service_url)
        while True:
            command, *args = await _next_command(conn)
            if command == "stop":
                conn.send(None)
                return
            if command == "throttle":
                ratio, retry_after = args
                for kind in ("send", "reply"):
                    fake.fail_ratio(kind, ratio, retry_after=retry_after, seed=7)
                conn.send(None)
            elif command == "delivered":  # check-in numbers of every activity accepted, and the 429s answered
                keys = [int(m.group(1)) for c in fake.calls if c.status < 300 and c.method in ("send", "reply")
                        for m in [CHECKIN_KEY.search(json.dumps(c.body))] if m]
                conn.send((keys, sum(c.status == 429 for c in fake.calls)))
            elif command == "clear":
                fake.calls.clear()
                conn.send(None)


# -- inbound servers --------------------------------------------------------------------------------------------

async def _serve(app: web.Application, conn: Connection) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    conn.send(runner.addresses[0][1])
    return runner


async def _until_stopped(conn: Connection) -> None:
    while (command := (await _next_command(conn))[0]) != "stop":
        conn.send(time.process_time() if command == "cpu" else None)


class _NoAuthSettings:
    """What botbuilder's ConfigurationBotFrameworkAuthentication reads: no app id, so no authentication."""

    APP_ID = ""
    APP_PASSWORD = ""
    APP_TYPE = "MultiTenant"
    APP_TENANTID = ""


async def _bare_botbuilder(conn: Connection) -> None:
    from botbuilder.core import ActivityHandler, TurnContext
    from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication

    class EchoBot(ActivityHandler):  # type: ignore[misc]
        async def on_message_activity(self, turn_context: TurnContext) -> None:
            await turn_context.send_activity(turn_context.activity.text)

    adapter, bot = CloudAdapter(ConfigurationBotFrameworkAuthentication(_NoAuthSettings())), EchoBot()

    async def messages(request: web.Request) -> web.StreamResponse:
        response = await adapter.process(request, bot)
        return response if response is not None else web.Response(status=201)

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    runner = await _serve(app, conn)
    await _until_stopped(conn)
    await runner.cleanup()
    conn.send(None)


def _reply_url(activity: dict[str, Any]) -> URL:
    conversation = quote(activity["conversation"]["id"], safe="")
    return URL(f"{activity['serviceUrl'].rstrip('/')}/v3/conversations/{conversation}/activities/"
               f"{quote(activity['id'], safe='')}", encoded=True)


def _addressed(activity: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """What botbuilder adds to a reply: who, where, and in answer to what."""
    return {**body, "channelId": "msteams", "serviceUrl": activity["serviceUrl"], "from": activity["recipient"],
            "recipient": activity["from"], "conversation": activity["conversation"], "replyToId": activity["id"]}


async def _bare_aiohttp(conn: Connection) -> None:
    async with aiohttp.ClientSession() as http:
        async def messages(request: web.Request) -> web.Response:
            activity = await request.json()
            reply = _addressed(activity, {"type": "message", "text": activity.get("text")})
            async with http.post(_reply_url(activity), json=reply) as resp:
                await resp.read()
            return web.Response(status=201 if resp.status < 300 else 502)

        app = web.Application()
        app.router.add_post("/api/messages", messages)
        runner = await _serve(app, conn)
        await _until_stopped(conn)
        await runner.cleanup()
    conn.send(None)


async def _teams_bot(database_url: str) -> tuple[Any, Any]:
    from bot.wiring import add_teams, build_bot
    from storage.migrate import upgrade
    from tests.integration.teams_harness import teams_config

    await upgrade(database_url)
    config = teams_config(database_url)
    bot = await build_bot(config, {})
    side = add_teams(bot, config)
    assert side is not None
    await side.start()
    return bot, side


async def _mentorbot(conn: Connection, database_url: str) -> None:
    from bot.server import build_web_app
    from conversations.events import Actor, FormSubmitted

    bot, side = await _teams_bot(database_url)
    await bot.engine.dispatch(FormSubmitted(Actor("teams", TENANT, BENCH_USER), "signup", BENCH_PROFILE))
    runner = await _serve(build_web_app(ping=bot.ping, routes=side.routes()), conn)
    await _until_stopped(conn)
    await runner.cleanup()
    await side.stop()
    await bot.close()
    conn.send(None)


async def _post(http: aiohttp.ClientSession, port: int, activity: dict[str, Any]) -> bool:
    async with http.post(f"http://127.0.0.1:{port}/api/messages", json=activity) as resp:
        await resp.read()
        return resp.status in (200, 201)


async def inbound_load(port: int, service_url: str, requests: int, concurrency: int,
                       cpu: Any = None) -> tuple[Result, float]:
    """`status` from the signed-up person, `concurrency` connections, each request a new activity id; and the
    server's CPU seconds per request (all its threads), from `cpu()`, its process time."""
    template = _personal_message(service_url, "status", user=BENCH_USER, conversation="a:bench-inbound",
                                 activity_id="0")

    def activity(i: int) -> dict[str, Any]:
        return {**template, "id": str(1800000000000 + i)}

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        await closed_loop(lambda i: _post(http, port, activity(10_000_000 + i)), requests=min(100, requests),
                          concurrency=concurrency)  # warm-up
        before = cpu() if cpu else 0.0
        result = await closed_loop(lambda i: _post(http, port, activity(i)), requests=requests,
                                   concurrency=concurrency)
        return result, ((cpu() - before) / requests if cpu else float("nan"))


# -- proactive senders ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Proactive:
    """One proactive run, as the sender measured it."""

    sent: int  # messages the sender believes delivered
    attempts: int
    seconds: float
    latencies: list[float]  # first attempt to delivered
    gave_up: int
    cpu: float = float("nan")  # the sender's CPU seconds per message (all its threads)

    @property
    def throughput(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        return Result(self.sent, self.seconds, self.latencies, 0).percentile(p)


async def _run_workers(numbers: range, concurrency: int, deliver: Any) -> Proactive:
    """`concurrency` workers; `deliver(i)` returns (delivered, attempts)."""
    counter = iter(numbers)
    latencies: list[float] = []
    attempts = gave_up = 0

    async def worker() -> None:
        nonlocal attempts, gave_up
        for i in counter:
            start = time.perf_counter()
            delivered, tries = await deliver(i)
            attempts += tries
            if delivered:
                latencies.append(time.perf_counter() - start)
            else:
                gave_up += 1

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Proactive(len(latencies), attempts, time.perf_counter() - began, latencies, gave_up)


async def _retrying(send: Any) -> tuple[bool, int]:
    """Re-send until delivered, waiting what the connector asked, as the outbox does (without its clock)."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        wait = await send()
        if wait is None:
            return True, attempt
        await asyncio.sleep(wait)
    return False, MAX_ATTEMPTS


WARM_UP = range(1_000_000, 1_000_100)  # check-ins numbered apart, sent before any measured run


async def _sender_loop(conn: Connection, run: Any, count: int) -> None:
    await run(32, WARM_UP)
    conn.send("ready")
    while True:
        command, *args = await _next_command(conn)
        if command == "stop":
            conn.send(None)
            return
        before = time.process_time()
        result: Proactive = await run(*args, range(count))
        conn.send(replace(result, cpu=(time.process_time() - before) / count))


async def _mentorbot_sender(conn: Connection, database_url: str, service_url: str, count: int) -> None:
    from botbuilder.core import TurnContext
    from botbuilder.schema import Activity

    from adapters.teams.messenger import reference_json
    from conversations.events import Actor
    from conversations.ports import DeliveryError

    bot, side = await _teams_bot(database_url)
    people = []
    async with bot.deps.uow() as uow:
        for activity in _recipients(service_url, count):
            actor = Actor("teams", TENANT, activity["from"]["aadObjectId"])
            reference = TurnContext.get_conversation_reference(Activity().deserialize(activity))
            await uow.addresses.put(actor, reference_json(reference), bot.deps.clock.now())
            people.append(actor)
        await uow.commit()

    async def run(concurrency: int, numbers: range) -> Proactive:
        async def deliver(i: int) -> tuple[bool, int]:
            if (i - numbers.start) % OUTBOX_BATCH == 0:  # as the outbox does: a batch's chats read in one go
                await side.messenger.prefetch([people[j % count] for j in range(i, min(i + OUTBOX_BATCH,
                                                                                      numbers.stop))])

            async def send() -> float | None:
                try:
                    await side.messenger.send([people[i % count]], _checkin(i))
                except DeliveryError as failure:
                    if failure.permanent:
                        raise
                    return failure.retry_after if failure.retry_after is not None else 0.01
                return None

            return await _retrying(send)

        return await _run_workers(numbers, concurrency, deliver)

    await _sender_loop(conn, run, count)
    await side.stop()
    await bot.close()


async def _bare_botbuilder_sender(conn: Connection, service_url: str, count: int) -> None:
    from botbuilder.core import TurnContext
    from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
    from botbuilder.schema import Activity

    from adapters.teams import translate

    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(_NoAuthSettings()))
    references = [TurnContext.get_conversation_reference(Activity().deserialize(a))
                  for a in _recipients(service_url, count)]

    async def run(concurrency: int, numbers: range) -> Proactive:
        async def deliver(i: int) -> tuple[bool, int]:
            async def send() -> float | None:
                waits: list[float] = []

                async def logic(context: TurnContext) -> None:
                    try:
                        await context.send_activity(Activity().deserialize(translate.message_activity(_checkin(i))))
                    except Exception as error:  # botbuilder would swallow it into on_turn_error
                        response = getattr(error, "response", None)
                        waits.append(float(getattr(response, "headers", {}).get("Retry-After", "0.01")))

                await adapter.continue_conversation(references[i % count], logic, "")
                return waits[0] if waits else None

            return await _retrying(send)

        return await _run_workers(numbers, concurrency, deliver)

    await _sender_loop(conn, run, count)


async def _bare_aiohttp_sender(conn: Connection, service_url: str, count: int) -> None:
    from adapters.teams import translate

    recipients = _recipients(service_url, count)
    async with aiohttp.ClientSession() as http:
        async def run(concurrency: int, numbers: range) -> Proactive:
            async def deliver(i: int) -> tuple[bool, int]:
                activity = recipients[i % count]
                body = _addressed(activity, translate.message_activity(_checkin(i)))

                async def send() -> float | None:
                    async with http.post(_reply_url(activity), json=body) as resp:
                        await resp.read()
                        if resp.status < 300:
                            return None
                        return float(resp.headers.get("Retry-After", "0.01"))

                return await _retrying(send)

            return await _run_workers(numbers, concurrency, deliver)

        await _sender_loop(conn, run, count)


# -- report -----------------------------------------------------------------------------------------------------

def _ratio(ours: float, theirs: float) -> float:
    return ours / theirs if theirs else float("nan")


def _checked(fake: Child, run: Proactive, count: int) -> tuple[int, int, int]:
    """Lost and duplicated check-ins, by what the fake connector accepted; and its 429s."""
    keys, throttled = fake.ask("delivered")
    seen = Counter(keys)
    lost = sum(1 for i in range(count) if seen[i] == 0)
    duplicated = sum(n - 1 for n in seen.values() if n > 1)
    return lost, duplicated, throttled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="inbound requests per server")
    parser.add_argument("--bare-botbuilder-requests", type=int, default=400,
                        help="inbound requests to the bare botbuilder bot (it is slow)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--messages", type=int, default=1000, help="proactive messages per sender")
    parser.add_argument("--senders", type=int, default=32, help="concurrent proactive sends")
    parser.add_argument("--throttle", type=float, default=0.1, help="share of connector calls answered 429")
    parser.add_argument("--retry-after", type=float, default=0.0, help="the Retry-After of those 429s")
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary folder")
    parser.add_argument("--profile", metavar="DIR", help="write cProfile stats of the project's processes to DIR "
                        "(mentorbot.prof, mentorbot_sender.prof; read with python -m pstats)")
    args = parser.parse_args()
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
        os.environ[PROFILE_ENV] = str(Path(args.profile).resolve())  # spawned children inherit it

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        fake = Child("_fake_connector")
        service_url: str = fake.first

        print(f"inbound `status` (personal chat, unauthenticated): {args.requests} requests at {args.concurrency} "
              f"concurrent connections ({args.bare_botbuilder_requests} to bare botbuilder); "
              f"database {url.split('@')[-1]}")
        inbound: dict[str, Result] = {}
        cpu: dict[str, float] = {}
        for label, target, extra, requests in (
                ("bare botbuilder echo bot", "_bare_botbuilder", (), args.bare_botbuilder_requests),
                ("bare aiohttp", "_bare_aiohttp", (), args.requests),
                ("mentorbot", "_mentorbot", (url,), args.requests)):
            server = Child(target, *extra)
            inbound[label], cpu[label] = asyncio.run(inbound_load(server.first, service_url, requests,
                                                                  args.concurrency, partial(server.ask, "cpu")))
            server.stop()
            fake.ask("clear")
        for label, result in inbound.items():
            print(f"{result.line(label)}   server CPU {cpu[label] * 1000:5.2f} ms/req")
        ours = inbound["mentorbot"]
        bare_bb, bare = inbound["bare botbuilder echo bot"], inbound["bare aiohttp"]
        print(f"ratio mentorbot / bare botbuilder: {_ratio(ours.throughput, bare_bb.throughput):6.2f}  (target >= 10)")
        print(f"ratio mentorbot / bare aiohttp:    {_ratio(ours.throughput, bare.throughput):6.2f}  (target >= 0.2)")
        print(f"mentorbot p99: {ours.percentile(99) * 1000:.1f} ms   (target < 100 ms)")

        senders = {"bare continue_conversation": Child("_bare_botbuilder_sender", service_url, args.messages),
                   "bare aiohttp": Child("_bare_aiohttp_sender", service_url, args.messages),
                   "mentorbot TeamsMessenger": Child("_mentorbot_sender", url.replace("bench.db", "proactive.db"),
                                                     service_url, args.messages)}
        for ratio in (0.0, args.throttle):
            fake.ask("throttle", ratio, args.retry_after)
            print(f"\n{args.messages} proactive check-ins (Adaptive Cards), {args.senders} concurrent" + (
                f", connector answering {ratio:.0%} of calls 429 (Retry-After {args.retry_after:g} s), "
                "re-sent until delivered" if ratio else ""))
            runs: dict[str, Proactive] = {}
            for label, sender in senders.items():
                fake.ask("clear")
                run: Proactive = sender.ask("run", args.senders)
                runs[label] = run
                lost, duplicated, throttled = _checked(fake, run, args.messages)
                print(f"{label:<28} {run.throughput:7.0f} msg/s   p50 {run.percentile(50) * 1000:7.1f} ms   "
                      f"p99 {run.percentile(99) * 1000:7.1f} ms   attempts {run.attempts}   429s {throttled}   "
                      f"lost {lost}   duplicated {duplicated}   CPU {run.cpu * 1000:5.2f} ms/msg")
            ours_p = runs["mentorbot TeamsMessenger"].throughput
            print(f"ratio mentorbot / bare continue_conversation: "
                  f"{_ratio(ours_p, runs['bare continue_conversation'].throughput):6.2f}   (target >= 15)")
            print(f"ratio mentorbot / bare aiohttp:               "
                  f"{_ratio(ours_p, runs['bare aiohttp'].throughput):6.2f}   (target >= 0.3)")
        for sender in senders.values():
            sender.stop()
        fake.stop()


if __name__ == "__main__":
    main()
