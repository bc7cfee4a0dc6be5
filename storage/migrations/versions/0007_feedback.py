"""Anonymous feedback: rounds, answers that name nobody, receipts that stop a second answer; retention jobs.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_ROUND = "state = 'open'"
OPEN_DAYS = 7  # program.feedback.open_days' default: cohorts running before this migration use it once


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "feedback_rounds",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("cohort_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("opened_at", _when(), nullable=False),
        sa.Column("closes_at", _when(), nullable=True),
        sa.Column("closed_at", _when(), nullable=True),
        sa.Column("state", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feedback_rounds"),
        sa.ForeignKeyConstraint(["cohort_id"], ["cohorts.id"], name="fk_feedback_rounds_cohort_id",
                                ondelete="CASCADE"),
    )
    op.create_index("ix_feedback_rounds_cohort_id", "feedback_rounds", ["cohort_id"])
    op.create_index("uq_feedback_rounds_one_open", "feedback_rounds", ["cohort_id"], unique=True,
                    sqlite_where=sa.text(OPEN_ROUND), postgresql_where=sa.text(OPEN_ROUND))
    # Exactly these columns: nothing that leads back to a person, a pair, a moment or a message.
    # SQLite: WITHOUT ROWID, so no hidden insertion counter sits beside the random id.
    op.create_table(
        "feedback_answers",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("cohort_id", sa.String(), nullable=False),
        sa.Column("round_id", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("question", sa.String(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feedback_answers"),
        sa.ForeignKeyConstraint(["cohort_id"], ["cohorts.id"], name="fk_feedback_answers_cohort_id",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["round_id"], ["feedback_rounds.id"], name="fk_feedback_answers_round_id",
                                ondelete="CASCADE"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_feedback_answers_round_id", "feedback_answers", ["round_id"])
    op.create_table(
        "feedback_receipts",
        sa.Column("round_id", sa.String(), nullable=False),
        sa.Column("receipt", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("round_id", "receipt", name="pk_feedback_receipts"),
        sa.ForeignKeyConstraint(["round_id"], ["feedback_rounds.id"], name="fk_feedback_receipts_round_id",
                                ondelete="CASCADE"),
        sqlite_with_rowid=False,
    )
    _schedule_rounds_of_running_cohorts()


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _schedule_rounds_of_running_cohorts() -> None:
    """Cohorts already running get their mid-way and end rounds, as cohorts starting from now on do."""
    bind = op.get_bind()
    cohorts = sa.table("cohorts", sa.column("id", sa.String()), sa.column("state", sa.String()),
                       sa.column("weeks", sa.Integer()), sa.column("started_at", _when()),
                       sa.column("ended_at", _when()))
    jobs = sa.table("jobs", sa.column("kind", sa.String()), sa.column("subject", sa.String()),
                    sa.column("due_at", _when()), sa.column("state", sa.String()), sa.column("attempts", sa.Integer()),
                    sa.column("last_error", sa.String()), sa.column("created_at", _when()))
    sqlite = bind.dialect.name == "sqlite"
    now = datetime.now(UTC)
    rows = []
    for cohort_id, weeks, started in bind.execute(sa.select(cohorts.c.id, cohorts.c.weeks, cohorts.c.started_at)
                                                  .where(cohorts.c.state == "running")):
        if started is None:
            continue
        begun = _utc(started if isinstance(started, datetime) else datetime.fromisoformat(str(started)))
        length = timedelta(weeks=int(weeks))
        due = {"mid": begun + length / 2,
               "end": max(begun + length - timedelta(days=OPEN_DAYS), begun + length / 2 + timedelta(days=OPEN_DAYS))}
        for kind, at in due.items():
            if kind == "mid" and int(weeks) < 2:
                continue
            rows.append({"kind": "feedback.round", "subject": f"{cohort_id}:{kind}", "due_at": at, "state": "pending",
                         "attempts": 0, "last_error": "", "created_at": now})
    # Ended cohorts get their retention purge; the job itself waits until program.retention_months are over.
    for (cohort_id,) in bind.execute(sa.select(cohorts.c.id).where(cohorts.c.state == "ended")):
        rows.append({"kind": "cohort.purge", "subject": cohort_id, "due_at": now, "state": "pending",
                     "attempts": 0, "last_error": "", "created_at": now})
    if sqlite:  # the app stores naive UTC on SQLite
        rows = [{**r, "due_at": r["due_at"].replace(tzinfo=None), "created_at": now.replace(tzinfo=None)}
                for r in rows]
    if rows:
        op.bulk_insert(jobs, rows)


def downgrade() -> None:
    op.execute("DELETE FROM jobs WHERE kind LIKE 'feedback.%' OR kind = 'cohort.purge'")
    op.drop_table("feedback_receipts")
    op.drop_table("feedback_answers")
    op.drop_table("feedback_rounds")
