"""Platform state over SQL: installations, one-time OAuth states and processed events, on SQLite
and on PostgreSQL, including two replicas racing for the same row."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.unit_of_work import SqlUnitOfWorkFactory

NOW = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)


# --- installations --------------------------------------------------------------------------------

async def test_an_installation_is_saved_replaced_found_and_deleted(uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        assert await uow.installations.find("slack", "T1") is None
        await uow.installations.save("slack", "T1", '{"bot_token": "xoxb-1"}', NOW)
        await uow.installations.save("slack", "T2", '{"bot_token": "xoxb-other"}', NOW)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.installations.find("slack", "T1") == '{"bot_token": "xoxb-1"}'
        await uow.installations.save("slack", "T1", '{"bot_token": "xoxb-2"}', NOW + timedelta(days=1))
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.installations.find("slack", "T1") == '{"bot_token": "xoxb-2"}'
        assert await uow.installations.find("teams", "T1") is None
        assert await uow.installations.delete("slack", "T1") is True
        assert await uow.installations.delete("slack", "T1") is False
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.installations.find("slack", "T1") is None
        assert await uow.installations.find("slack", "T2") == '{"bot_token": "xoxb-other"}'


async def test_saving_twice_in_one_transaction_keeps_the_last(uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await uow.installations.save("slack", "T1", "one", NOW)
        await uow.installations.save("slack", "T1", "two", NOW)
        assert await uow.installations.find("slack", "T1") == "two"
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.installations.find("slack", "T1") == "two"


# --- OAuth states ---------------------------------------------------------------------------------

async def _state_count(engine: AsyncEngine) -> int:
    """The port has no reader for states: count the rows directly."""
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT count(*) FROM oauth_states"))).scalar_one())


async def test_an_oauth_state_is_consumed_once(uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine) -> None:
    async with uow_factory() as uow:
        await uow.oauth_states.issue("s1", NOW + timedelta(minutes=10))
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.oauth_states.consume("never-issued", NOW) is False
        assert await uow.oauth_states.consume("s1", NOW) is True
        assert await uow.oauth_states.consume("s1", NOW) is False
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.oauth_states.consume("s1", NOW) is False
    assert await _state_count(engine) == 0


async def test_an_unconsumed_state_survives_a_rolled_back_consume(uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await uow.oauth_states.issue("s1", NOW + timedelta(minutes=10))
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.oauth_states.consume("s1", NOW) is True  # and then the callback failed
    async with uow_factory() as uow:
        assert await uow.oauth_states.consume("s1", NOW) is True


async def test_an_expired_state_is_refused_and_deleted(uow_factory: SqlUnitOfWorkFactory, engine: AsyncEngine) -> None:
    async with uow_factory() as uow:
        await uow.oauth_states.issue("old", NOW + timedelta(minutes=10))
        await uow.oauth_states.issue("fresh", NOW + timedelta(minutes=20))
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.oauth_states.consume("old", NOW + timedelta(minutes=10)) is False  # expiry is exclusive
        await uow.commit()
    assert await _state_count(engine) == 1
    async with uow_factory() as uow:
        assert await uow.oauth_states.consume("old", NOW) is False  # gone for good
        assert await uow.oauth_states.consume("fresh", NOW + timedelta(minutes=19)) is True


async def test_two_concurrent_consumers_of_one_state_get_one_true(
        uow_factory: SqlUnitOfWorkFactory, replica_uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        await uow.oauth_states.issue("s1", NOW + timedelta(minutes=10))
        await uow.commit()

    barrier = asyncio.Barrier(2)

    async def callback(factory: SqlUnitOfWorkFactory) -> bool:
        # Each callback is its own transaction on its own connection, as on two replicas.
        async with factory() as uow:
            await barrier.wait()
            consumed = await uow.oauth_states.consume("s1", NOW)
            await asyncio.sleep(0.05)  # hold the transaction open while the other one tries
            await uow.commit()
            return consumed

    assert sorted(await asyncio.gather(callback(uow_factory), callback(replica_uow_factory))) == [False, True]


# --- processed events -----------------------------------------------------------------------------

async def test_an_event_is_claimed_once(uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        assert await uow.events.claim("slack", "Ev1", NOW) is True
        assert await uow.events.claim("slack", "Ev1", NOW) is False
        assert await uow.events.claim("teams", "Ev1", NOW) is True  # ids are per platform
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.events.claim("slack", "Ev1", NOW + timedelta(minutes=1)) is False


async def test_a_released_event_can_be_claimed_again(uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        assert await uow.events.claim("slack", "Ev1", NOW) is True
        await uow.commit()
    async with uow_factory() as uow:
        await uow.events.release("slack", "Ev1")
        await uow.events.release("slack", "never-claimed")
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.events.claim("slack", "Ev1", NOW) is True
        await uow.commit()


async def test_a_rolled_back_claim_leaves_the_event_unclaimed(uow_factory: SqlUnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        assert await uow.events.claim("slack", "Ev1", NOW) is True
    async with uow_factory() as uow:
        assert await uow.events.claim("slack", "Ev1", NOW) is True


async def test_two_concurrent_claims_of_one_event_get_one_true(
        uow_factory: SqlUnitOfWorkFactory, replica_uow_factory: SqlUnitOfWorkFactory) -> None:
    barrier = asyncio.Barrier(2)

    async def delivery(factory: SqlUnitOfWorkFactory) -> bool:
        async with factory() as uow:
            await barrier.wait()
            claimed = await uow.events.claim("slack", "Ev1", NOW)
            await asyncio.sleep(0.05)  # the other replica's insert waits on this uncommitted row
            await uow.commit()
            return claimed

    assert sorted(await asyncio.gather(delivery(uow_factory), delivery(replica_uow_factory))) == [False, True]


async def test_a_concurrent_claim_takes_over_when_the_first_rolls_back(
        uow_factory: SqlUnitOfWorkFactory, replica_uow_factory: SqlUnitOfWorkFactory) -> None:
    first_claimed = asyncio.Event()

    async def failing() -> bool:
        async with uow_factory() as uow:
            claimed = await uow.events.claim("slack", "Ev1", NOW)
            first_claimed.set()
            await asyncio.sleep(0.05)
            await uow.rollback()  # the handler failed before committing
            return claimed

    async def retry() -> bool:
        await first_claimed.wait()
        async with replica_uow_factory() as uow:
            claimed = await uow.events.claim("slack", "Ev1", NOW)
            await uow.commit()
            return claimed

    assert list(await asyncio.gather(failing(), retry())) == [True, True]
