"""Feedback storage on SQLite and Postgres: the answers' columns, receipts, and a close that leaves no trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from conversations.events import Actor
from conversations.model import (
    CheckIn,
    Cohort,
    FeedbackAnswer,
    FeedbackRound,
    HelpMessage,
    HelpRequest,
    Pair,
    Person,
    Profile,
)
from storage.models import FEEDBACK_ANSWER_COLUMNS
from storage.unit_of_work import SqlUnitOfWorkFactory

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


async def _cohort(uow_factory: SqlUnitOfWorkFactory, cohort_id: str = "c1", workspace: str = "console") -> None:
    async with uow_factory() as uow:
        await uow.cohorts.add(Cohort(id=cohort_id, platform="console", workspace=workspace, name=cohort_id,
                                     state="running", weeks=12, cadence="biweekly", created_at=T0))
        await uow.commit()


async def _open(uow_factory: SqlUnitOfWorkFactory, round_id: str, cohort_id: str = "c1",
                at: datetime = T0) -> bool:
    async with uow_factory() as uow:
        opened = await uow.feedback.open_round(FeedbackRound(id=round_id, cohort_id=cohort_id, kind="adhoc",
                                                             opened_at=at, closes_at=at + timedelta(days=7)))
        await uow.commit()
    return opened


def _answer(round_id: str, question: str, value: int | None, comment: str = "") -> FeedbackAnswer:
    return FeedbackAnswer(id="ignored", cohort_id="c1", round_id=round_id, role="mentor", question=question,
                          value=value, text=comment)


async def _answer_once(uow_factory: SqlUnitOfWorkFactory, round_id: str, receipt: str,
                       answers: list[FeedbackAnswer]) -> bool:
    """As the engine does it: the receipt in its own transaction, then the answers in another."""
    async with uow_factory() as uow:
        first = await uow.feedback.add_receipt(round_id, receipt)
        await uow.commit()
    if not first:
        return False
    async with uow_factory() as uow:
        await uow.feedback.add_answers(answers)
        await uow.commit()
    return True


async def _rows(engine: AsyncEngine, sql: str) -> list[tuple[object, ...]]:
    async with engine.connect() as connection:
        return [tuple(row) for row in await connection.execute(text(sql))]


async def test_an_answer_has_exactly_the_allowed_columns(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        columns = await connection.run_sync(lambda c: [col["name"] for col in inspect(c).get_columns(
            "feedback_answers")])
    assert tuple(columns) == FEEDBACK_ANSWER_COLUMNS == (
        "id", "cohort_id", "round_id", "role", "question", "value", "text")


async def test_one_open_round_per_cohort_and_rounds_come_in_the_order_they_opened(
        uow_factory: SqlUnitOfWorkFactory) -> None:
    await _cohort(uow_factory)
    assert await _open(uow_factory, "r1", at=T0)
    assert not await _open(uow_factory, "r2", at=T0 + timedelta(days=1))  # r1 is still open
    async with uow_factory() as uow:
        assert await uow.feedback.close_round("r1", T0 + timedelta(days=2))
        assert not await uow.feedback.close_round("r1", T0 + timedelta(days=2))  # once
        await uow.commit()
    assert await _open(uow_factory, "r2", at=T0 + timedelta(days=3))
    async with uow_factory() as uow:
        rounds = await uow.feedback.rounds_of("c1")
        assert [(r.id, r.state) for r in rounds] == [("r1", "closed"), ("r2", "open")]
        assert rounds[0].closed_at == T0 + timedelta(days=2)
        assert [r.id for r in await uow.feedback.open_rounds("c1")] == ["r2"]
        assert [r.id for r in await uow.feedback.open_rounds()] == ["r2"]


async def test_a_receipt_stops_a_second_answer_and_answers_publish_only_after_close(
        uow_factory: SqlUnitOfWorkFactory) -> None:
    await _cohort(uow_factory)
    await _open(uow_factory, "r1")
    mine = [_answer("r1", "value", 4), _answer("r1", "comment", None, "kind words")]
    assert await _answer_once(uow_factory, "r1", "h-alice", mine)
    assert not await _answer_once(uow_factory, "r1", "h-alice", mine)
    async with uow_factory() as uow:
        assert await uow.feedback.has_receipt("r1", "h-alice")
        assert await uow.feedback.answers("r1") == []  # open: nothing to read yet
        assert await uow.feedback.close_round("r1", T0 + timedelta(days=7))
        await uow.commit()
    async with uow_factory() as uow:
        published = await uow.feedback.answers("r1")
        assert not await uow.feedback.has_receipt("r1", "h-alice")  # gone with the close
    assert sorted((a.question, a.value, a.text) for a in published) == [
        ("comment", None, "kind words"), ("value", 4, "")]
    assert all(a.id != "ignored" and len(a.id) == 32 for a in published)


async def test_removing_receipts_lets_an_erased_person_leave_no_trace(uow_factory: SqlUnitOfWorkFactory) -> None:
    await _cohort(uow_factory)
    await _open(uow_factory, "r1")
    async with uow_factory() as uow:
        assert await uow.feedback.add_receipt("r1", "h-a")
        assert await uow.feedback.add_receipt("r1", "h-b")
        await uow.feedback.remove_receipts([("r1", "h-a")])
        await uow.commit()
    async with uow_factory() as uow:
        assert not await uow.feedback.has_receipt("r1", "h-a")
        assert await uow.feedback.has_receipt("r1", "h-b")


def _spearman(order: list[int]) -> float:
    n = len(order)
    d2 = sum((rank - i) ** 2 for i, rank in enumerate(order))
    return 1 - 6 * d2 / (n * (n * n - 1))


async def _answer_many(uow_factory: SqlUnitOfWorkFactory, n: int) -> None:
    """n people answer one after another, each with a numbered comment."""
    await _cohort(uow_factory)
    await _open(uow_factory, "r1")
    for i in range(n):
        assert await _answer_once(uow_factory, "r1", f"receipt-{i:03}", [_answer("r1", "comment", None,
                                                                                   f"answer-{i:03}")])


async def _physical_order(engine: AsyncEngine) -> list[int]:
    # No ORDER BY: the order rows sit in on disk (Postgres heap order, SQLite's B-tree), as a copy shows it.
    rows = await _rows(engine, "SELECT text FROM feedback_answers")
    return [int(str(t).split("-")[1]) for (t,) in rows]


async def test_after_close_row_order_and_row_versions_carry_no_time(
        engine: AsyncEngine, uow_factory: SqlUnitOfWorkFactory) -> None:
    n = 100
    await _answer_many(uow_factory, n)
    before_ids = {str(i) for (i,) in await _rows(engine, "SELECT id FROM feedback_answers")}
    postgres = engine.dialect.name == "postgresql"
    if postgres:  # while open, a copy of the database does show arrival order: what the README admits
        assert _spearman(await _physical_order(engine)) > 0.99
        assert len({x for (x,) in await _rows(engine, "SELECT xmin::text FROM feedback_answers")}) == n
    else:
        with pytest.raises(OperationalError):  # WITHOUT ROWID: no hidden insertion counter at all
            await _rows(engine, "SELECT rowid FROM feedback_answers")

    async with uow_factory() as uow:
        assert await uow.feedback.close_round("r1", T0 + timedelta(days=7))
        await uow.commit()
    await uow_factory.scrub_feedback()

    order = await _physical_order(engine)
    assert sorted(order) == list(range(n))  # every answer is still there...
    assert abs(_spearman(order)) < 0.45  # ...in an order unrelated to arrival (|rho| >= 0.45 at n=100: p < 1e-5)
    after_ids = {str(i) for (i,) in await _rows(engine, "SELECT id FROM feedback_answers")}
    assert not before_ids & after_ids  # fresh ids: an id seen while open leads nowhere
    assert await _rows(engine, "SELECT count(*) FROM feedback_receipts") == [(0,)]
    if postgres:
        assert len({x for (x,) in await _rows(engine, "SELECT xmin::text FROM feedback_answers")}) == 1


async def _postgres_raw_bytes(engine: AsyncEngine, table: str) -> bytes:
    async with engine.connect() as connection:
        await connection.execute(text("CREATE EXTENSION IF NOT EXISTS pageinspect"))
        await connection.commit()
        blocks = (await connection.execute(text(f"SELECT pg_relation_size('{table}') / 8192"))).scalar_one()
        pages = [(await connection.execute(text(f"SELECT get_raw_page('{table}', {b})"))).scalar_one()
                 for b in range(int(blocks))]
    return b"".join(bytes(p) for p in pages)


def _sqlite_raw_bytes(engine: AsyncEngine) -> bytes:
    database = make_url(str(engine.url)).database
    assert database
    files = [Path(database), Path(database + "-wal")]
    return b"".join(f.read_bytes() for f in files if f.exists())


async def test_after_close_and_scrub_no_old_row_survives_on_disk(
        engine: AsyncEngine, uow_factory: SqlUnitOfWorkFactory) -> None:
    await _answer_many(uow_factory, 12)
    old_ids = [str(i) for (i,) in await _rows(engine, "SELECT id FROM feedback_answers")]
    marker = "answer-007"

    async def disk() -> bytes:
        if engine.dialect.name == "postgresql":
            return (await _postgres_raw_bytes(engine, "feedback_answers")
                    + await _postgres_raw_bytes(engine, "feedback_receipts"))
        return _sqlite_raw_bytes(engine)

    seen = await disk()
    assert old_ids[0].encode() in seen and b"receipt-003" in seen  # the check can see what it looks for

    async with engine.connect() as watcher:
        if engine.dialect.name == "postgresql":
            # A transaction from before the close keeps its snapshot throughout: VACUUM alone would have to keep
            # every old row version it can still see. (It reads another table, or the close would wait for it.)
            await watcher.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            await watcher.execute(text("SELECT count(*) FROM cohorts"))
        async with uow_factory() as uow:
            assert await uow.feedback.close_round("r1", T0 + timedelta(days=7))
            await uow.commit()
        if engine.dialect.name == "postgresql":
            await uow_factory.scrub_feedback()
            left = await disk()
    if engine.dialect.name == "sqlite":
        await uow_factory.scrub_feedback()
        left = await disk()


    assert not [i for i in old_ids if i.encode() in left]  # the rows as they arrived are gone...
    assert b"receipt-" not in left  # ...and so are the receipts
    assert left.count(marker.encode()) == 1  # only the published copy of the text remains


async def test_a_cohort_of_its_own_keeps_its_rounds_apart(uow_factory: SqlUnitOfWorkFactory) -> None:
    await _cohort(uow_factory, "c1")
    await _cohort(uow_factory, "c2", workspace="other")
    assert await _open(uow_factory, "r1", "c1")
    assert await _open(uow_factory, "r2", "c2")  # one open round per cohort, not per database
    async with uow_factory() as uow:
        assert [r.id for r in await uow.feedback.rounds_of("c2")] == ["r2"]
        assert sorted(r.id for r in await uow.feedback.open_rounds()) == ["r1", "r2"]



async def test_purging_a_cohort_removes_its_personal_data_and_keeps_the_anonymous_answers(
        engine: AsyncEngine, uow_factory: SqlUnitOfWorkFactory) -> None:
    await _cohort(uow_factory, "c1")
    await _cohort(uow_factory, "c2", workspace="other")
    profile = Profile(name="N", role="mentor", level="L1", department="D", time_zone="UTC", working_days=("mon",),
                      work_start="09:00", work_end="17:00", topics_teach=(), topics_learn=(), languages=("English",))
    async with uow_factory() as uow:
        for pid in ("a", "b"):
            await uow.people.add(Person(id=pid, actor=Actor("console", "console", pid), profile=profile))
        for cohort_id in ("c1", "c2"):
            await uow.cohorts.add_member(cohort_id, "a", T0)
            await uow.pairs.add(Pair(id=f"x-{cohort_id}", cohort_id=cohort_id, mentor_id="a", mentee_id="b",
                                     score=1, reasons=(), created_at=T0,
                                     state="ended" if cohort_id == "c1" else "active"))
            await uow.checkins.add(CheckIn(id=f"k-{cohort_id}", pair_id=f"x-{cohort_id}", person_id="a", round=1,
                                           due_at=T0, note="private"))
            await uow.help.open(HelpRequest(id=f"H-{cohort_id}", person_id="a", cohort_id=cohort_id, pair_id=None,
                                            opened_at=T0))
            await uow.help.add_message(HelpMessage(request_id=f"H-{cohort_id}", author="person", text="t", at=T0))
        await uow.commit()
    await _open(uow_factory, "r1", "c1")
    assert await _answer_once(uow_factory, "r1", "h-a", [_answer("r1", "value", 3)])
    async with uow_factory() as uow:
        assert await uow.retention.purge_cohort("c1") >= 4
        await uow.commit()
    assert await _rows(engine, "SELECT id FROM pairs") == [("x-c2",)]
    assert await _rows(engine, "SELECT id FROM checkins") == [("k-c2",)]  # cascaded with the pair
    assert await _rows(engine, "SELECT id FROM help_requests") == [("H-c2",)]
    assert await _rows(engine, "SELECT count(*) FROM help_messages") == [(1,)]
    assert await _rows(engine, "SELECT cohort_id FROM memberships") == [("c2",)]
    assert await _rows(engine, "SELECT count(*) FROM feedback_receipts") == [(0,)]
    assert await _rows(engine, "SELECT count(*) FROM feedback_answers") == [(1,)]
    assert sorted(await _rows(engine, "SELECT id FROM cohorts")) == [("c1",), ("c2",)]
