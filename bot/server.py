"""The HTTP side of the process: /healthz, a place for platform endpoints, and a graceful serve loop."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from bot.metrics import Metrics

log = logging.getLogger("mentorbot.server")

Ping = Callable[[], Awaitable[None]]

PING_TIMEOUT_SECONDS = 2.0
SHUTDOWN_TIMEOUT_SECONDS = 30.0  # how long in-flight requests may take to finish after a stop signal


def build_web_app(
    *,
    ping: Ping,
    routes: Iterable[web.AbstractRouteDef] = (),
    ping_timeout: float = PING_TIMEOUT_SECONDS,
    metrics: Metrics | None = None,
) -> web.Application:
    """The aiohttp app with /healthz (and /metrics when given `metrics`); platform endpoints come in through
    `routes` or `mount`."""
    app = web.Application(middlewares=[metrics.middleware()] if metrics is not None else [])
    app.router.add_get("/healthz", _healthz(ping, ping_timeout))
    if metrics is not None:
        app.router.add_get("/metrics", metrics.handle)
    mount(app, routes)
    return app


def mount(app: web.Application, routes: Iterable[web.AbstractRouteDef]) -> None:
    """Add endpoints (Slack's /slack/events, Teams' /api/messages) before the app is served."""
    app.add_routes(list(routes))


def _healthz(ping: Ping, timeout: float) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def healthz(request: web.Request) -> web.Response:
        """200 when the database answers within `timeout`, else 503 with a reason and nothing more."""
        try:
            async with asyncio.timeout(timeout):
                await ping()
        except TimeoutError:
            log.warning("healthz: database ping took longer than %.1f s", timeout)
            return _unavailable()
        except Exception as exc:
            # The exception's text may quote a connection string; its type is enough to start from.
            log.warning("healthz: database ping failed (%s)", type(exc).__name__)
            return _unavailable()
        return web.json_response({"status": "ok"}, headers={"Cache-Control": "no-store"})

    return healthz


def _unavailable() -> web.Response:
    return web.json_response(
        {"status": "unavailable", "reason": "database"}, status=503, headers={"Cache-Control": "no-store"}
    )


async def serve(
    app: web.Application,
    *,
    port: int,
    host: str = "0.0.0.0",
    on_stop: Callable[[], Awaitable[None]],
    on_started: Callable[[int], None] | None = None,
    shutdown_timeout: float = SHUTDOWN_TIMEOUT_SECONDS,
) -> None:
    """Serve until SIGTERM or SIGINT, let in-flight requests finish, await `on_stop`, then return.

    `on_started` gets the port actually bound (useful with port 0).
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def request_stop(signum: signal.Signals) -> None:
        if not stop.is_set():
            log.info("received %s, shutting down", signum.name)
        stop.set()

    handled = (signal.SIGTERM, signal.SIGINT)
    previous = {signum: signal.getsignal(signum) for signum in handled}
    for signum in handled:
        loop.add_signal_handler(signum, request_stop, signum)

    runner = web.AppRunner(app, shutdown_timeout=shutdown_timeout)
    try:
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = _bound_port(runner, port)
        log.info("listening on http://%s:%d", host, bound)
        if on_started is not None:
            on_started(bound)
        await stop.wait()
    finally:
        # Stop listening first, then give in-flight requests up to shutdown_timeout to finish.
        await runner.cleanup()
        for signum in handled:
            loop.remove_signal_handler(signum)
            signal.signal(signum, previous[signum])  # whoever handled it before us does again
    log.info("server stopped; stopping background work")
    await on_stop()
    log.info("stopped")


def _bound_port(runner: web.AppRunner, requested: int) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2 and isinstance(address[1], int):
            return address[1]
    return requested
