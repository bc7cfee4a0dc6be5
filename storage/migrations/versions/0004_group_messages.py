"""Group messages: an outbox row can go to a group DM of several people (Slack pairs).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The other recipients' user ids (JSON list, same platform and workspace as the row's own recipient).
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("also", sa.Text(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("also")
