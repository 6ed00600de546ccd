"""request devices with a unique index over active requests; wider outbox kinds

Identical active requests (same device, same command type, not final) were kept apart by a
check-then-insert in the service, which two requests arriving together both passed. The
partial unique index makes the database refuse the second. Existing requests are copied in.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 10:00:00
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FINAL = ("completed", "denied", "expired", "cancelled", "dispatch_failed")


def upgrade() -> None:
    op.create_table(
        "request_devices",
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("command_type", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["capture_requests.id"],
            name=op.f("fk_request_devices_request_id_capture_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_id", "device_id", name=op.f("pk_request_devices")),
    )
    op.create_index(
        "uq_request_devices_active",
        "request_devices",
        ["device_id", "command_type"],
        unique=True,
        sqlite_where=sa.text("active"),
        postgresql_where=sa.text("active"),
    )
    _backfill()
    with op.batch_alter_table("capture_requests") as batch_op:
        # Values over a limit are clamped; what was asked is kept so the card can say so.
        batch_op.add_column(sa.Column("clamped", sa.JSON(), nullable=True))
    with op.batch_alter_table("slack_outbox") as batch_op:
        batch_op.alter_column(
            "kind", existing_type=sa.String(length=16), type_=sa.String(length=24)
        )


def _backfill() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, command_type, state, devices FROM capture_requests"))
    table = sa.table(
        "request_devices",
        sa.column("request_id"),
        sa.column("device_id"),
        sa.column("command_type"),
        sa.column("active", sa.Boolean()),
    )
    seen: set[tuple[str, str]] = set()
    for rid, kind, state, devices in rows:
        for d in json.loads(devices) if isinstance(devices, str) else devices or []:
            key = (d["device_id"], kind)
            # Old data may hold the very duplicates this index forbids: keep the first active.
            active = state not in FINAL and key not in seen
            if active:
                seen.add(key)
            conn.execute(
                table.insert().values(
                    request_id=rid, device_id=d["device_id"], command_type=kind, active=active
                )
            )


def downgrade() -> None:
    with op.batch_alter_table("slack_outbox") as batch_op:
        batch_op.alter_column(
            "kind", existing_type=sa.String(length=24), type_=sa.String(length=16)
        )
    with op.batch_alter_table("capture_requests") as batch_op:
        batch_op.drop_column("clamped")
    op.drop_index("uq_request_devices_active", table_name="request_devices")
    op.drop_table("request_devices")
