"""Program rhythm: check-ins, nudges and confidential help requests.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SENT_NUDGE = "sent_day IS NOT NULL"


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "checkins",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("pair_id", sa.String(), nullable=False),
        sa.Column("person_id", sa.String(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("due_at", _when(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("sent_at", _when(), nullable=True),
        sa.Column("answer", sa.String(), nullable=True),
        sa.Column("answered_at", _when(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("progress", sa.JSON(), nullable=False),
        sa.Column("reminded", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_checkins"),
        sa.ForeignKeyConstraint(["pair_id"], ["pairs.id"], name="fk_checkins_pair_id", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name="fk_checkins_person_id", ondelete="CASCADE"),
        sa.UniqueConstraint("pair_id", "person_id", "round", name="uq_checkins_round"),
    )
    op.create_index("ix_checkins_pair_id", "checkins", ["pair_id"])
    op.create_index("ix_checkins_person_id", "checkins", ["person_id"])
    op.create_table(
        "nudges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pair_id", sa.String(), nullable=False),
        sa.Column("person_id", sa.String(), nullable=False),
        sa.Column("trigger", sa.String(), nullable=False),
        sa.Column("due_at", _when(), nullable=False),
        sa.Column("sent_at", _when(), nullable=True),
        sa.Column("sent_day", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_nudges"),
        sa.ForeignKeyConstraint(["pair_id"], ["pairs.id"], name="fk_nudges_pair_id", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name="fk_nudges_person_id", ondelete="CASCADE"),
        sa.UniqueConstraint("pair_id", "person_id", "trigger", name="uq_nudges_trigger"),
    )
    op.create_index("ix_nudges_pair_id", "nudges", ["pair_id"])
    op.create_index("ix_nudges_person_id", "nudges", ["person_id"])
    op.create_index("uq_nudges_one_a_day", "nudges", ["person_id", "sent_day"], unique=True,
                    sqlite_where=sa.text(SENT_NUDGE), postgresql_where=sa.text(SENT_NUDGE))
    op.create_table(
        "help_requests",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("person_id", sa.String(), nullable=False),
        sa.Column("cohort_id", sa.String(), nullable=True),
        sa.Column("pair_id", sa.String(), nullable=True),
        sa.Column("opened_at", _when(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_help_requests"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name="fk_help_requests_person_id",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["cohort_id"], ["cohorts.id"], name="fk_help_requests_cohort_id",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["pair_id"], ["pairs.id"], name="fk_help_requests_pair_id", ondelete="SET NULL"),
    )
    op.create_index("ix_help_requests_person_id", "help_requests", ["person_id"])
    op.create_table(
        "help_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(), nullable=False),
        sa.Column("author", sa.String(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_help_messages"),
        sa.ForeignKeyConstraint(["request_id"], ["help_requests.id"], name="fk_help_messages_request_id",
                                ondelete="CASCADE"),
    )
    op.create_index("ix_help_messages_request_id", "help_messages", ["request_id"])


def downgrade() -> None:
    op.drop_table("help_messages")
    op.drop_table("help_requests")
    op.drop_table("nudges")
    op.drop_table("checkins")
