"""The wall clock, behind the Clock port so tests can run months in seconds."""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    """Real time, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)
