"""approvals (one row per distinct approver) and the policy facts a request was made under

A rule may need several distinct approvals (a quorum): each is a row, unique per approver, so
the same person clicking twice counts once. ``capture_requests.policy`` remembers the rule that
matched (its name, quorum, preset, and why it could not approve by itself), so the card and
the audit say which rule applied even after the policy file changes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 11:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "approvals",
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("approver_id", sa.String(length=64), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["capture_requests.id"],
            name=op.f("fk_approvals_request_id_capture_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", "approver_id", name=op.f("pk_approvals")),
    )
    with op.batch_alter_table("capture_requests") as batch_op:
        batch_op.add_column(sa.Column("policy", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("capture_requests") as batch_op:
        batch_op.drop_column("policy")
    op.drop_table("approvals")
