"""Initial schema: people, identities, admins, pseudonyms, cohorts, memberships, jobs, outbox,
addresses, audit.

Revision ID: 0001
Revises:
Create Date: 2026-05-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE_COHORT_STATES = "state IN ('signup', 'running')"


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("level", sa.String(), nullable=False),
        sa.Column("department", sa.String(), nullable=False),
        sa.Column("manager", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("time_zone", sa.String(), nullable=False),
        sa.Column("working_days", sa.JSON(), nullable=False),
        sa.Column("work_start", sa.String(), nullable=False),
        sa.Column("work_end", sa.String(), nullable=False),
        sa.Column("topics_teach", sa.JSON(), nullable=False),
        sa.Column("topics_learn", sa.JSON(), nullable=False),
        sa.Column("goals", sa.String(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("paused_until", _when(), nullable=True),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_people"),
    )
    op.create_table(
        "identities",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.String(), nullable=False),
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_identities"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name="fk_identities_person_id",
                                ondelete="CASCADE"),
        sa.UniqueConstraint("platform", "workspace", "user_id", name="uq_identities_user"),
    )
    op.create_index("ix_identities_person_id", "identities", ["person_id"])
    op.create_table(
        "admins",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("added_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_admins"),
        sa.UniqueConstraint("platform", "workspace", "user_id", name="uq_admins_user"),
    )
    op.create_table(
        "pseudonyms",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("token", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pseudonyms"),
        sa.UniqueConstraint("platform", "workspace", "user_id", name="uq_pseudonyms_user"),
        sa.UniqueConstraint("token", name="uq_pseudonyms_token"),
    )
    op.create_table(
        "cohorts",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("weeks", sa.Integer(), nullable=False),
        sa.Column("cadence", sa.String(), nullable=False),
        sa.Column("signup_until", sa.Date(), nullable=True),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("started_at", _when(), nullable=True),
        sa.Column("ended_at", _when(), nullable=True),
        sa.Column("members_left", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id", name="pk_cohorts"),
        sa.UniqueConstraint("platform", "workspace", "name", name="uq_cohorts_name"),
    )
    # At most one cohort per workspace is in sign-up or running: the database keeps the rule.
    op.create_index(
        "uq_cohorts_one_active",
        "cohorts",
        ["platform", "workspace"],
        unique=True,
        sqlite_where=sa.text(ACTIVE_COHORT_STATES),
        postgresql_where=sa.text(ACTIVE_COHORT_STATES),
    )
    op.create_table(
        "memberships",
        sa.Column("cohort_id", sa.String(), nullable=False),
        sa.Column("person_id", sa.String(), nullable=False),
        sa.Column("joined_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("cohort_id", "person_id", name="pk_memberships"),
        sa.ForeignKeyConstraint(["cohort_id"], ["cohorts.id"], name="fk_memberships_cohort_id",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name="fk_memberships_person_id",
                                ondelete="CASCADE"),
    )
    op.create_index("ix_memberships_person_id", "memberships", ["person_id"])
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("due_at", _when(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.String(), nullable=False, server_default=""),
        sa.Column("created_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    op.create_index("ix_jobs_state_due_at", "jobs", ["state", "due_at"])
    op.create_index("ix_jobs_subject", "jobs", ["subject"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("message_json", sa.Text(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", _when(), nullable=False),
        sa.Column("lease_until", _when(), nullable=True),
        sa.Column("last_error", sa.String(), nullable=False, server_default=""),
        sa.Column("platform_ref", sa.String(), nullable=True),
        sa.Column("created_at", _when(), nullable=False),
        sa.Column("sent_at", _when(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
    )
    op.create_index("ix_outbox_state_next_attempt_at", "outbox", ["state", "next_attempt_at"])
    op.create_table(
        "addresses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("user_id", sa.String(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("updated_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_addresses"),
        sa.UniqueConstraint("platform", "workspace", "user_id", name="uq_addresses_user"),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", _when(), nullable=False),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("target", sa.String(), nullable=True),
        sa.Column("detail", sa.String(), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("id", name="pk_audit"),
    )
    op.create_index("ix_audit_at", "audit", ["at"])


def downgrade() -> None:
    op.drop_index("ix_audit_at", table_name="audit")
    op.drop_table("audit")
    op.drop_table("addresses")
    op.drop_index("ix_outbox_state_next_attempt_at", table_name="outbox")
    op.drop_table("outbox")
    op.drop_index("ix_jobs_subject", table_name="jobs")
    op.drop_index("ix_jobs_state_due_at", table_name="jobs")
    op.drop_table("jobs")
    op.drop_index("ix_memberships_person_id", table_name="memberships")
    op.drop_table("memberships")
    op.drop_index("uq_cohorts_one_active", table_name="cohorts")
    op.drop_table("cohorts")
    op.drop_table("pseudonyms")
    op.drop_table("admins")
    op.drop_index("ix_identities_person_id", table_name="identities")
    op.drop_table("identities")
    op.drop_table("people")
