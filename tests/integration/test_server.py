"""The real HTTP server on 127.0.0.1: /healthz tells the truth, and a stop signal drains before exit."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from bot.server import build_web_app, serve


async def ping_ok() -> None:
    return None


async def ping_broken() -> None:
    raise ConnectionRefusedError("could not connect to postgresql://bot:secret@db/mentorbot")


async def ping_hangs() -> None:
    await asyncio.sleep(60)


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


async def start(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


async def test_healthz_is_ok_when_the_database_answers(client: aiohttp.ClientSession) -> None:
    runner, base = await start(build_web_app(ping=ping_ok))
    try:
        async with client.get(f"{base}/healthz") as response:
            assert response.status == 200
            assert await response.json() == {"status": "ok"}
    finally:
        await runner.cleanup()


async def test_healthz_is_unavailable_without_a_traceback_when_the_ping_fails(
    client: aiohttp.ClientSession,
) -> None:
    runner, base = await start(build_web_app(ping=ping_broken))
    try:
        async with client.get(f"{base}/healthz") as response:
            assert response.status == 503
            body = await response.text()
    finally:
        await runner.cleanup()

    assert body == '{"status": "unavailable", "reason": "database"}'


async def test_healthz_is_unavailable_when_the_ping_hangs(client: aiohttp.ClientSession) -> None:
    runner, base = await start(build_web_app(ping=ping_hangs, ping_timeout=0.2))
    try:
        loop = asyncio.get_running_loop()
        began = loop.time()
        async with client.get(f"{base}/healthz") as response:
            assert response.status == 503
            assert await response.json() == {"status": "unavailable", "reason": "database"}
        assert loop.time() - began < 5
    finally:
        await runner.cleanup()


async def test_healthz_gives_up_after_two_seconds_by_default(client: aiohttp.ClientSession) -> None:
    runner, base = await start(build_web_app(ping=ping_hangs))
    try:
        loop = asyncio.get_running_loop()
        began = loop.time()
        async with client.get(f"{base}/healthz") as response:
            assert response.status == 503
        assert 1.9 <= loop.time() - began < 5
    finally:
        await runner.cleanup()


async def test_extra_routes_are_mounted_beside_healthz(client: aiohttp.ClientSession) -> None:
    async def events(request: web.Request) -> web.Response:
        return web.Response(text="routed")

    runner, base = await start(build_web_app(ping=ping_ok, routes=[web.post("/slack/events", events)]))
    try:
        async with client.post(f"{base}/slack/events") as response:
            assert response.status == 200
            assert await response.text() == "routed"
    finally:
        await runner.cleanup()


async def test_sigterm_lets_the_request_in_flight_finish_then_stops_and_returns(
    client: aiohttp.ClientSession,
) -> None:
    handler_started = asyncio.Event()
    stopped: list[str] = []

    async def slow(request: web.Request) -> web.Response:
        handler_started.set()
        await asyncio.sleep(0.5)
        return web.Response(text="done")

    async def on_stop() -> None:
        await asyncio.sleep(0)  # stands in for stopping the scheduler and an outbox send
        stopped.append("on_stop")

    listening: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    app = build_web_app(ping=ping_ok, routes=[web.get("/slow", slow)])
    server = asyncio.create_task(
        serve(app, port=0, host="127.0.0.1", on_stop=on_stop, on_started=listening.set_result)
    )
    port = await asyncio.wait_for(listening, 5)

    request = asyncio.create_task(client.get(f"http://127.0.0.1:{port}/slow"))
    await asyncio.wait_for(handler_started.wait(), 5)
    os.kill(os.getpid(), signal.SIGTERM)

    response = await asyncio.wait_for(request, 5)
    assert response.status == 200
    assert await response.text() == "done"
    await asyncio.wait_for(server, 5)  # returns normally: the process would exit 0
    assert stopped == ["on_stop"]

    with pytest.raises(aiohttp.ClientConnectionError):
        await client.get(f"http://127.0.0.1:{port}/healthz")


async def test_serve_puts_the_previous_signal_handlers_back() -> None:
    async def on_stop() -> None:
        return None

    before = (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))

    listening: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(
        serve(build_web_app(ping=ping_ok), port=0, host="127.0.0.1", on_stop=on_stop, on_started=listening.set_result)
    )
    await asyncio.wait_for(listening, 5)
    os.kill(os.getpid(), signal.SIGINT)
    await asyncio.wait_for(server, 5)

    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before
