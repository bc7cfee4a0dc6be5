"""What reports read from the real repositories, on SQLite and Postgres."""

from __future__ import annotations

from datetime import UTC, datetime

from storage.unit_of_work import SqlUnitOfWorkFactory
from tests.report_seed import seed_cohort


async def test_objectives_of_many_pairs_come_in_one_read_however_many_ids(uow_factory: SqlUnitOfWorkFactory) -> None:
    seeded = await seed_cohort(uow_factory, platform="console", workspace="console", now=datetime.now(UTC))
    ids = [p.id for p in seeded.pairs]
    async with uow_factory() as uow:
        few = await uow.objectives.of_pairs(ids[:2])
        # more ids than one statement may carry on SQLite: read in chunks, each pair's objectives once
        many = await uow.objectives.of_pairs([f"nope-{i}" for i in range(1200)] + ids + ids)
        none = await uow.objectives.of_pairs([])
    assert sorted(o.pair_id for o in few) == sorted(ids[:2])
    assert sorted(o.pair_id for o in many) == sorted(ids)
    assert all(o.agreed and o.progress == 2 for o in many)
    assert none == []
