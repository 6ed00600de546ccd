"""seen signatures: replay protection shared by every replica

A replayed signed request (same body, same signature, inside Slack's 5-minute window) was
acted on twice; ``seen_signatures`` remembers each first sight for every replica.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "seen_signatures",
        sa.Column("signature", sa.String(length=100), nullable=False),
        sa.Column("slack_timestamp", sa.Integer(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("signature", name=op.f("pk_seen_signatures")),
    )
    op.create_index(
        op.f("ix_seen_signatures_seen_at"), "seen_signatures", ["seen_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_seen_signatures_seen_at"), table_name="seen_signatures")
    op.drop_table("seen_signatures")
