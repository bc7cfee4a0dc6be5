"""Load generation shared by the benchmarks: closed-loop concurrency, open-loop rates, percentiles."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Result:
    requests: int
    seconds: float
    latencies: list[float]
    errors: int

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    def line(self, name: str) -> str:
        return (f"{name:<34} {self.throughput:8.0f} req/s   p50 {self.percentile(50) * 1000:7.1f} ms   "
                f"p99 {self.percentile(99) * 1000:7.1f} ms   errors {self.errors}")


async def closed_loop(call: Callable[[int], Awaitable[bool]], *, requests: int, concurrency: int) -> Result:
    """`concurrency` workers each send the next request as soon as the previous answered."""
    counter = iter(range(requests))
    latencies: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        for i in counter:
            start = time.perf_counter()
            ok = await call(i)
            latencies.append(time.perf_counter() - start)
            errors += not ok

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Result(requests, time.perf_counter() - began, latencies, errors)


async def open_loop(call: Callable[[int], Awaitable[bool]], *, rate: float, seconds: float) -> tuple[list[float], int]:
    """Start a request every 1/rate seconds whatever the answers; returns each request's start time."""
    total = int(rate * seconds)
    starts: list[float] = [0.0] * total
    errors = 0
    began = time.monotonic()

    async def one(i: int) -> None:
        nonlocal errors
        await asyncio.sleep(max(0.0, began + i / rate - time.monotonic()))
        starts[i] = time.monotonic()
        errors += not await call(i)

    await asyncio.gather(*(one(i) for i in range(total)))
    return starts, errors


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# The profile the throughput benchmarks sign up, so `status` answers about a real person.
BENCH_PROFILE: dict[str, str | tuple[str, ...]] = {
    "name": "Bench Person", "role": "mentor", "level": "L2 Analyst", "department": "Engineering",
    "time_zone": "Europe/Paris", "working_days": ("mon", "tue", "wed"), "working_hours": "09:00-17:00",
    "topics_teach": ("GenAI",), "languages": ("English",)}
