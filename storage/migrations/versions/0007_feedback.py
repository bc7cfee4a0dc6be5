"""Anonymous feedback: rounds, answers that name nobody, receipts that stop a second answer.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_ROUND = "state = 'open'"


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


def downgrade() -> None:
    op.drop_table("feedback_receipts")
    op.drop_table("feedback_answers")
    op.drop_table("feedback_rounds")
