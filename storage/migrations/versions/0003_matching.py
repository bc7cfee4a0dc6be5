"""Matching: pairs, previews, exclusions, objectives, HR records.

Revision ID: 0003
Revises: 0002
Create Date: 2026-06-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE_PAIR = "state = 'active'"
_CANONICAL = {"postgresql": 'a < b COLLATE "C"', "sqlite": "a < b"}


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    # New tables only: SQLite needs no batch (copy-and-move) mode for any of this.
    op.create_table(
        "pairs",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("cohort_id", sa.String(), nullable=False),
        sa.Column("mentor_id", sa.String(), nullable=False),
        sa.Column("mentee_id", sa.String(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),  # [[criterion, points, text], ...]
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("ended_at", _when(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_pairs"),
        sa.ForeignKeyConstraint(["cohort_id"], ["cohorts.id"], name="fk_pairs_cohort_id", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["mentor_id"], ["people.id"], name="fk_pairs_mentor_id", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["mentee_id"], ["people.id"], name="fk_pairs_mentee_id", ondelete="CASCADE"),
    )
    op.create_index("ix_pairs_cohort_id_state", "pairs", ["cohort_id", "state"])
    op.create_index("ix_pairs_mentor_id", "pairs", ["mentor_id"])
    op.create_index("ix_pairs_mentee_id", "pairs", ["mentee_id"])
    # The same mentor and mentee are an active pair at most once: the database keeps the rule.
    op.create_index(
        "uq_pairs_active",
        "pairs",
        ["mentor_id", "mentee_id"],
        unique=True,
        sqlite_where=sa.text(ACTIVE_PAIR),
        postgresql_where=sa.text(ACTIVE_PAIR),
    )
    op.create_table(
        "previews",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("cohort_id", sa.String(), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("fingerprint", sa.String(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("used", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("id", name="pk_previews"),
        sa.ForeignKeyConstraint(["cohort_id"], ["cohorts.id"], name="fk_previews_cohort_id", ondelete="CASCADE"),
    )
    op.create_index("ix_previews_cohort_id", "previews", ["cohort_id"])
    op.create_table(
        "exclusions",
        sa.Column("a", sa.String(), nullable=False),
        sa.Column("b", sa.String(), nullable=False),
        sa.Column("created_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("a", "b", name="pk_exclusions"),
        sa.ForeignKeyConstraint(["a"], ["people.id"], name="fk_exclusions_a", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["b"], ["people.id"], name="fk_exclusions_b", ondelete="CASCADE"),
        # Canonical order as Python compares strings (by code point): "C" on Postgres, BINARY on SQLite.
        sa.CheckConstraint(_CANONICAL[op.get_bind().dialect.name], name="ck_exclusions_canonical"),
    )
    op.create_index("ix_exclusions_b", "exclusions", ["b"])
    op.create_table(
        "objectives",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("pair_id", sa.String(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("proposed_by", sa.String(), nullable=False),
        sa.Column("agreed", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("progress", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_objectives"),
        sa.ForeignKeyConstraint(["pair_id"], ["pairs.id"], name="fk_objectives_pair_id", ondelete="CASCADE"),
    )
    op.create_index("ix_objectives_pair_id", "objectives", ["pair_id"])
    op.create_table(
        "hr_records",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("level", sa.String(), nullable=False, server_default=""),
        sa.Column("department", sa.String(), nullable=False, server_default=""),
        sa.Column("manager", sa.String(), nullable=False, server_default=""),
        sa.Column("location", sa.String(), nullable=False, server_default=""),
        sa.Column("imported_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_hr_records"),
    )


def downgrade() -> None:
    op.drop_table("hr_records")
    op.drop_index("ix_objectives_pair_id", table_name="objectives")
    op.drop_table("objectives")
    op.drop_index("ix_exclusions_b", table_name="exclusions")
    op.drop_table("exclusions")
    op.drop_index("ix_previews_cohort_id", table_name="previews")
    op.drop_table("previews")
    op.drop_index("uq_pairs_active", table_name="pairs")
    op.drop_index("ix_pairs_mentee_id", table_name="pairs")
    op.drop_index("ix_pairs_mentor_id", table_name="pairs")
    op.drop_index("ix_pairs_cohort_id_state", table_name="pairs")
    op.drop_table("pairs")
