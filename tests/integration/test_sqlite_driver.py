"""The SQLite driver (storage/sqlite_driver.py): fewer trips to aiosqlite's thread, same transactions and results."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from conversations.events import Actor
from storage.db import create_engine
from storage.sqlite_driver import INLINE_BUDGET, OneTripConnection
from storage.unit_of_work import SqlUnitOfWorkFactory

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path}/driver.db")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"))
    yield engine
    await engine.dispose()


async def _driver(conn: AsyncConnection) -> OneTripConnection:
    raw = await conn.get_raw_connection()
    driver = raw.dbapi_connection
    assert isinstance(driver, OneTripConnection)
    return driver


async def test_a_transaction_that_only_reads_makes_no_trip_to_the_thread(sqlite_engine: AsyncEngine) -> None:
    async with sqlite_engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (v) VALUES ('a'), ('b')"))
    async with sqlite_engine.connect() as conn:
        driver = await _driver(conn)
        trips, here = driver.trips, driver.here
        async with conn.begin():
            rows = (await conn.execute(text("SELECT v FROM t WHERE id >= :low ORDER BY id"), {"low": 1})).all()
            count = (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one()
        assert [r.v for r in rows] == ["a", "b"] and count == 2
        assert driver.trips == trips  # BEGIN IMMEDIATE, two SELECTs, COMMIT: all on the loop's thread
        assert driver.here == here + 4


async def test_writes_go_to_the_thread_in_one_trip_each_and_are_kept(sqlite_engine: AsyncEngine,
                                                                    tmp_path: Path) -> None:
    async with sqlite_engine.connect() as conn:
        driver = await _driver(conn)
        trips = driver.trips
        async with conn.begin():
            await conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "x"}, {"v": "y"}, {"v": "z"}])
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 3  # its own writes
        assert driver.trips == trips + 2  # the executemany and the COMMIT that syncs it
    other = create_engine(f"sqlite:///{tmp_path}/driver.db")  # another process would see the same
    try:
        async with other.connect() as conn:
            assert (await conn.execute(text("SELECT group_concat(v, '') FROM t"))).scalar_one() == "xyz"
    finally:
        await other.dispose()


async def test_a_long_select_is_moved_to_the_thread_and_gives_the_same_rows(sqlite_engine: AsyncEngine) -> None:
    async with sqlite_engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": f"row {i}"} for i in range(5000)])
    async with sqlite_engine.connect() as conn:
        driver = await _driver(conn)
        async with conn.begin():
            trips = driver.trips
            rows = (await conn.execute(text("SELECT a.id, b.v FROM t a JOIN t b ON b.id = a.id ORDER BY b.v DESC"))
                    ).all()
            moved = driver.trips - trips
            small = (await conn.execute(text("SELECT v FROM t WHERE id = 7"))).scalar_one()
        assert len(rows) == 5000 and rows[0].v == "row 999" and small == "row 6"
        assert moved == 1  # over INLINE_BUDGET steps: interrupted on the loop's thread, run again in the thread
        assert INLINE_BUDGET < 5000 * 10


async def test_rollback_undoes_writes_and_a_failed_statement_raises_as_before(sqlite_engine: AsyncEngine) -> None:
    async with sqlite_engine.connect() as conn:
        async with conn.begin() as transaction:
            await conn.execute(text("INSERT INTO t (v) VALUES ('gone')"))
            await transaction.rollback()
        with pytest.raises(OperationalError, match="no such table"):
            async with conn.begin():
                await conn.execute(text("SELECT * FROM missing"))
        with pytest.raises(OperationalError, match="no such column"):
            async with conn.begin():
                await conn.execute(text("UPDATE t SET nope = 1"))
        async with conn.begin():
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0


async def test_a_transaction_waits_for_another_process_lock_without_stalling_the_loop(
        sqlite_engine: AsyncEngine, tmp_path: Path) -> None:
    """Another engine stands for another process (a second replica, the CLI) holding SQLite's write lock."""
    other = create_engine(f"sqlite:///{tmp_path}/driver.db")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    try:
        async with other.connect() as holder:
            await holder.begin()
            await holder.execute(text("INSERT INTO t (v) VALUES ('first')"))
            running = asyncio.ensure_future(ticker())

            async def second() -> list[Any]:
                async with sqlite_engine.begin() as conn:  # BEGIN IMMEDIATE must wait for the holder
                    await conn.execute(text("INSERT INTO t (v) VALUES ('second')"))
                    return list((await conn.execute(text("SELECT v FROM t ORDER BY id"))).scalars())

            waiting = asyncio.ensure_future(second())
            await asyncio.sleep(0.3)
            assert not waiting.done()
            assert ticks >= 10  # the loop ran on while the second transaction waited in its thread
            await holder.commit()
            assert await asyncio.wait_for(waiting, 10) == ["first", "second"]
            running.cancel()
    finally:
        await other.dispose()


async def test_units_of_work_read_their_own_writes_and_see_others_commits(tmp_path: Path) -> None:
    from storage.migrate import upgrade

    url = f"sqlite:///{tmp_path}/uow.db"
    await upgrade(url)
    engine = create_engine(url)
    uow = SqlUnitOfWorkFactory(engine)
    actor = Actor("teams", "t1", "u1")
    try:
        async with uow() as first:
            assert await first.admins.is_admin(actor) is False
            assert await first.admins.add(actor, T0)  # a SAVEPOINT inside
            assert await first.admins.is_admin(actor) is True  # unflushed ORM work is seen by the next read
            await first.commit()
        async with uow() as second:
            assert await second.admins.is_admin(actor) is True
            await second.commit()
    finally:
        await engine.dispose()
