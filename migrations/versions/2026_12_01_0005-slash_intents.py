"""slash intents: a /dex command is written down before Slack is acknowledged

A slash command killed after its ack but before its request row was written vanished and its
requester was never answered. Its intent row is now written before the ack and removed once
answered; the worker tells the requester about any left behind.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "slash_intents",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_slash_intents")),
    )
    op.create_index(
        op.f("ix_slash_intents_created_at"), "slash_intents", ["created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_slash_intents_created_at"), table_name="slash_intents")
    op.drop_table("slash_intents")
