"""Platform state: outbox.about, installations, OAuth states, processed events.

Revision ID: 0002
Revises: 0001
Create Date: 2026-05-20
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    # The person a message speaks of, so erasing them erases the message too.
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("about", sa.String(), nullable=True))
        batch.create_index("ix_outbox_about", ["about"])
    op.create_table(
        "installations",
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("installed_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("platform", "workspace", name="pk_installations"),
    )
    op.create_table(
        "oauth_states",
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("expires_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("state", name="pk_oauth_states"),
    )
    op.create_table(
        "processed_events",
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("claimed_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("platform", "event_id", name="pk_processed_events"),
    )
    op.create_index("ix_processed_events_claimed_at", "processed_events", ["claimed_at"])


def downgrade() -> None:
    op.drop_index("ix_processed_events_claimed_at", table_name="processed_events")
    op.drop_table("processed_events")
    op.drop_table("oauth_states")
    op.drop_table("installations")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_about")
        batch.drop_column("about")
