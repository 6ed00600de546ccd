"""App Home: who opened it (their tab is kept fresh) and the Events API deliveries handled

``home_views`` remembers everyone who opened the bot's Home tab, so a change refreshes only
tabs someone has seen. ``slack_events`` holds each handled ``event_id``: Slack retries an
event up to three times, possibly to another replica, and each must be handled once.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "home_views",
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("approver", sa.Boolean(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refreshes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_home_views")),
    )
    op.create_index(op.f("ix_home_views_approver"), "home_views", ["approver"], unique=False)
    op.create_table(
        "slack_events",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=48), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_slack_events")),
    )
    op.create_index(
        op.f("ix_slack_events_received_at"), "slack_events", ["received_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_slack_events_received_at"), table_name="slack_events")
    op.drop_table("slack_events")
    op.drop_index(op.f("ix_home_views_approver"), table_name="home_views")
    op.drop_table("home_views")
