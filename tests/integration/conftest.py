"""Fixtures the Teams end-to-end tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.bot_connector import FakeBotConnector
from tests.integration.teams_harness import card_problem


@pytest.fixture
async def connector() -> AsyncIterator[FakeBotConnector]:
    """The fake Bot Connector; every Adaptive Card it receives must validate against the official schema."""
    async with FakeBotConnector() as fake:
        fake.card_validator = card_problem
        yield fake
        assert fake.invalid == [], "every Adaptive Card must validate against the official 1.5 schema"
