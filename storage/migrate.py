"""Schema migrations from code: upgrade, downgrade and report where a database stands."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from storage.db import create_engine, normalize_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config built in code: no alembic.ini to ship or find."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser interpolates '%': a password may hold one.
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema up to `revision`."""
    # env.py runs its own event loop, so Alembic gets a thread of its own.
    await asyncio.to_thread(command.upgrade, alembic_config(url), revision)


async def downgrade(url: str, revision: str) -> None:
    """Take the schema back to `revision` ("base" drops every table)."""
    await asyncio.to_thread(command.downgrade, alembic_config(url), revision)


async def schema_state(url: str) -> tuple[str | None, str]:
    """(current revision or None for an empty database, head revision of this code)."""
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS}")
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            current = await connection.run_sync(_current_revision)
    finally:
        await engine.dispose()
    return current, head


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()
