"""SQLAlchemy's aiosqlite adapter, minus most trips to the connection's thread.

aiosqlite runs each sqlite3 call in the connection's own thread and hands the result back to the event loop: a
queue put, a thread wake-up that waits for the GIL, a self-pipe write and a loop wake-up. Under load that costs more
than any of our statements takes to run, and SQLAlchemy's adapter makes four such trips per statement (open a
cursor, execute, fetch all, close). Here:

- a statement that goes to the thread makes one trip: open, execute, fetch and close together;
- a SELECT inside a transaction runs on the event loop's thread, as it never waits for a lock there (WAL: readers
  don't block, and our transactions begin IMMEDIATE, holding the write lock). A progress handler bounds it: past
  INLINE_BUDGET virtual-machine steps it is interrupted (a SELECT leaves nothing behind) and run in the thread;
- BEGIN IMMEDIATE is tried on the loop's thread without waiting (busy timeout 0); only when another connection
  holds the write lock does it go to the thread and wait there for the busy timeout;
- COMMIT and ROLLBACK of a transaction that only read run on the loop's thread (nothing to write or sync), and a
  ROLLBACK with no transaction open (the pool's reset after a commit) is skipped.

Writes, DDL, PRAGMAs and commits of writes keep going to the thread. Statements, results, errors and transaction
boundaries are exactly sqlite3's. The sqlite3 connection is used from both threads, never at once: SQLAlchemy
awaits each call on a connection before the next (and sqlite3 is built thread-safe, serialized).
"""

from __future__ import annotations

import collections
import sqlite3
from types import ModuleType
from typing import Any, cast

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT

INLINE_BUDGET = 20_000  # VM steps a SELECT may take on the event loop's thread (well under a millisecond)
SQLITE_BUSY = 5
SQLITE_INTERRUPT = 9
BEGIN_IMMEDIATE = "BEGIN IMMEDIATE"

_Outcome = tuple[Any, int, int | None, list[Any] | None]  # description, rowcount, lastrowid, rows


def _run(connection: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> _Outcome:
    """The whole statement, from cursor to close (in whichever thread calls it)."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        else:
            cursor.execute(operation, () if parameters is None else parameters)
        rows = cursor.fetchall() if cursor.description else None
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


def _interrupt() -> int:
    return 1


def _is_read(operation: str) -> bool:
    return operation[:6].upper() == "SELECT"


def _code(error: sqlite3.Error) -> int:
    return int(getattr(error, "sqlite_errorcode", 0) or 0) & 0xFF  # the primary result code


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A DBAPI cursor whose execute() makes at most one trip; what it read is kept here, as SQLAlchemy's is."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:  # no sqlite3 cursor is kept between statements
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _async_soft_close(self) -> None:
        return None  # nothing is open: the rows are already here

    def close(self) -> None:
        self._rows.clear()

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None  # sqlite3 ignores them too

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._statement(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._statement(operation, seq_of_parameters, many=True)

    async def _statement(self, operation: Any, parameters: Any, *, many: bool) -> None:
        adapted = cast(OneTripConnection, self._adapt_connection)
        async with adapted._execute_mutex:
            outcome = None
            if not many:
                if _is_read(operation):
                    outcome = adapted.read_here(operation, parameters)
                elif operation == BEGIN_IMMEDIATE:
                    outcome = adapted.begin_here()
            if outcome is None:
                outcome = await self._connection._execute(_run, self._connection._conn, operation, parameters, many)
                adapted.after_trip(operation)
        description, rowcount, lastrowid, rows = outcome
        self._description, self._rowcount, self._lastrowid = description, rowcount, lastrowid
        self._rows = collections.deque(rows) if rows is not None else collections.deque()


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """Knows whether its transaction has only read so far, which decides where COMMIT and ROLLBACK run."""

    __slots__ = ("_busy_timeout_ms", "_only_read", "here", "trips")
    _cursor_cls = OneTripCursor

    def __init__(self, dbapi: Any, connection: Any, busy_timeout_ms: int) -> None:
        super().__init__(dbapi, connection)
        self._only_read = False  # a transaction we began IMMEDIATE, with nothing but SELECTs since
        self._busy_timeout_ms = busy_timeout_ms
        self.trips = 0  # calls made in the connection's thread (statements, commits, rollbacks)
        self.here = 0  # calls made on the event loop's thread

    def read_here(self, operation: str, parameters: Any) -> _Outcome | None:
        """A SELECT inside a transaction, on this thread, within INLINE_BUDGET steps; None if it must go over."""
        raw = self._connection._conn
        if not raw.in_transaction:  # outside a transaction a read could wait for a lock: not here
            return None
        raw.set_progress_handler(_interrupt, INLINE_BUDGET)
        try:
            outcome = _run(raw, operation, parameters, False)
        except sqlite3.OperationalError as error:
            if _code(error) == SQLITE_INTERRUPT:
                return None  # a long read: again, in the thread
            raise
        finally:
            raw.set_progress_handler(None, 0)
        self.here += 1
        return outcome

    def begin_here(self) -> _Outcome | None:
        """BEGIN IMMEDIATE without waiting; None when another connection holds the write lock."""
        raw = self._connection._conn
        raw.execute("PRAGMA busy_timeout=0")
        try:
            raw.execute(BEGIN_IMMEDIATE)
        except sqlite3.OperationalError as error:
            if _code(error) == SQLITE_BUSY:
                return None  # wait for it in the thread, with the busy timeout
            raise
        finally:
            raw.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
        self._only_read = True
        self.here += 1
        return None, -1, None, None

    def after_trip(self, operation: str) -> None:
        self.trips += 1
        if operation == BEGIN_IMMEDIATE:
            self._only_read = True
        elif not _is_read(operation):
            self._only_read = False

    def commit(self) -> None:
        raw = self._connection._connection
        if raw is not None and self._only_read and raw.in_transaction:
            try:
                raw.commit()  # nothing was written: no WAL frames to write or sync
            except Exception as error:
                self._handle_exception(error)
            self.here += 1
        else:
            self.trips += 1
            super().commit()
        self._only_read = False

    def rollback(self) -> None:
        raw = self._connection._connection
        if raw is not None and not raw.in_transaction:
            self._only_read = False
            return  # nothing to undo (sqlite3 itself would do nothing)
        if raw is not None and self._only_read:
            try:
                raw.rollback()
            except Exception as error:
                self._handle_exception(error)
            self.here += 1
        else:
            self.trips += 1
            super().rollback()
        self._only_read = False


class OneTripDbapi(AsyncAdapt_aiosqlite_dbapi):
    """Pass as create_async_engine(..., module=OneTripDbapi(busy_timeout_ms)) with a sqlite+aiosqlite URL; the
    connections must have that busy timeout (PRAGMA busy_timeout on connect)."""

    def __init__(self, busy_timeout_ms: int) -> None:
        import aiosqlite

        aiosqlite_module: ModuleType = aiosqlite
        super().__init__(aiosqlite_module, sqlite3)
        self.busy_timeout_ms = busy_timeout_ms

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        kw["check_same_thread"] = False  # used from the event loop's thread too, never at the same time
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection, self.busy_timeout_ms)
