"""One `mentorbot migrate` at a time per Postgres database, so replicas that each migrate on start never race."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text

from storage.db import create_engine, is_sqlite

# pg_advisory_lock takes a bigint; "mentor" in ASCII, so nothing else on a shared server picks it by chance.
MIGRATION_LOCK_KEY = 0x6D656E746F72


@asynccontextmanager
async def migration_lock(url: str) -> AsyncIterator[None]:
    """Hold a Postgres advisory lock while migrating: the second replica waits, then finds the schema current.

    SQLite needs none: every write transaction there takes the file's write lock (storage.db).
    """
    if is_sqlite(url):
        yield
        return
    db = create_engine(url)
    try:
        async with db.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            await conn.commit()  # the lock belongs to the session, not to this transaction
            try:
                yield
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                await conn.commit()
    finally:
        await db.dispose()
