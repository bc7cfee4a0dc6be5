"""`mentorbot export-person USER`: everything stored about one person as JSON, for a data-subject request."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.config import AppConfig
from bot.wiring import check_database
from storage.db import create_engine
from storage.person_export import export_person, find_person


async def export_person_command(config: AppConfig, who: str, out: Path | None) -> int:
    """Write the JSON to `out` (or stdout); 2 with one clear line when the person is not found."""
    await check_database(config.database_url)
    engine = create_engine(config.database_url)
    try:
        try:
            person_id = await find_person(engine, who)
        except LookupError as problem:
            print(f"mentorbot: {problem}", file=sys.stderr)
            return 2
        if person_id is None:
            print(f"mentorbot: nobody stored as {who[:80]!r}; give platform:workspace:user_id "
                  "(e.g. slack:T0123:U0456) or their email", file=sys.stderr)
            return 2
        data = await export_person(engine, person_id, now=datetime.now(UTC))
    finally:
        await engine.dispose()
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
        return 0
    await asyncio.to_thread(_write_private, out, text)
    print(f"mentorbot: wrote everything stored about {who[:80]} to {out}")
    return 0


def _write_private(out: Path, text: str) -> None:
    """Personal data: the file is readable by the operator only, from its first byte."""
    out.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)
