"""SQLAlchemy 2 tables (typed ``Mapped[...]``). Alembic migrations in ``migrations/`` must agree
with these; a test runs autogenerate and expects no difference."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, MetaData, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both engines (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints stably."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class CaptureRequestRow(Base):
    """A request for a remote command, from ``/dex`` to its final state."""

    __tablename__ = "capture_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    requester_id: Mapped[str] = mapped_column(String(32))
    target_user_id: Mapped[str | None] = mapped_column(String(32))
    target_email: Mapped[str] = mapped_column(String(320))
    command_type: Mapped[str] = mapped_column(String(16))
    args: Mapped[dict[str, Any]]
    devices: Mapped[list[Any]]
    reason: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(24), index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    parent_channel: Mapped[str | None] = mapped_column(String(32))
    parent_ts: Mapped[str | None] = mapped_column(String(32))
    card_channel: Mapped[str | None] = mapped_column(String(32))
    card_ts: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    dispatch_attempts: Mapped[int] = mapped_column(Integer, default=0)
    dispatch_started_at: Mapped[datetime | None]
    #: Values clamped to a limit: [{field, asked, maximum}], shown on the card.
    clamped: Mapped[list[Any] | None] = mapped_column(JSON)
    #: The policy facts it was made under: rule, quorum, preset, why no auto-approval.
    policy: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class RequestDeviceRow(Base):
    """One target device of a request. ``active`` while the request is not final: a unique
    partial index then makes two identical active requests impossible, on both engines."""

    __tablename__ = "request_devices"
    __table_args__ = (
        Index(
            "uq_request_devices_active",
            "device_id",
            "command_type",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    request_id: Mapped[str] = mapped_column(
        ForeignKey("capture_requests.id", ondelete="CASCADE"), primary_key=True
    )
    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    command_type: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True)


class DecisionRow(Base):
    """The one decision on a request: approved or denied, by whom."""

    __tablename__ = "decisions"

    request_id: Mapped[str] = mapped_column(
        ForeignKey("capture_requests.id", ondelete="CASCADE"), primary_key=True
    )
    decision: Mapped[str] = mapped_column(String(16))
    decider_id: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    break_glass: Mapped[bool] = mapped_column(default=False)
    decided_at: Mapped[datetime]


class ApprovalRow(Base):
    """One distinct approver's approval of a request (a quorum counts these rows)."""

    __tablename__ = "approvals"

    request_id: Mapped[str] = mapped_column(
        ForeignKey("capture_requests.id", ondelete="CASCADE"), primary_key=True
    )
    approver_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    approved_at: Mapped[datetime]


class DexCommandRow(Base):
    """A command Cloudflare accepted, with the status the poller last saw."""

    __tablename__ = "dex_commands"

    command_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_id: Mapped[str] = mapped_column(
        ForeignKey("capture_requests.id", ondelete="CASCADE"), index=True
    )
    device_id: Mapped[str] = mapped_column(String(64))
    registration_id: Mapped[str | None] = mapped_column(String(64))
    user_email: Mapped[str] = mapped_column(String(320))
    command_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(24), index=True)
    created_date: Mapped[datetime | None]
    completed_date: Mapped[datetime | None]
    filename: Mapped[str | None] = mapped_column(Text)
    status_changed_at: Mapped[datetime]
    stale_flagged: Mapped[bool] = mapped_column(default=False)


class QuotaReservationRow(Base):
    """Quota held for an approved request until it is sent (consumed) or abandoned (released)."""

    __tablename__ = "quota_reservations"

    request_id: Mapped[str] = mapped_column(
        ForeignKey("capture_requests.id", ondelete="CASCADE"), primary_key=True
    )
    units: Mapped[int]
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AuditRow(Base):
    """Append-only: who did what to which request, and the state before and after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(48))
    request_id: Mapped[str | None] = mapped_column(String(32), index=True)
    before_state: Mapped[str | None] = mapped_column(String(24))
    after_state: Mapped[str | None] = mapped_column(String(24))
    detail: Mapped[dict[str, Any]]


class OutboxRow(Base):
    """A Slack side effect (thread post, card edit, upload) keyed for exactly-once delivery.

    The row is written in the same transaction as the change that causes it; a deliverer
    claims it with a guarded UPDATE (a lease), performs it, and records the result.
    """

    __tablename__ = "slack_outbox"
    __table_args__ = (Index("ix_slack_outbox_state_due", "state", "next_attempt_at"),)

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    payload: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class LeaseRow(Base):
    """Named leases: one poller at a time across replicas (and on SQLite, one worker)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    until: Mapped[datetime]


class HomeViewRow(Base):
    """Someone who opened the bot's App Home: only their tab is kept fresh. ``approver``
    is what they were when it was last drawn (an approver's tab lists what waits for them);
    ``published_at`` paces the refreshes (``views.publish`` is rate-limited)."""

    __tablename__ = "home_views"

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    approver: Mapped[bool] = mapped_column(default=False, index=True)
    opened_at: Mapped[datetime]
    published_at: Mapped[datetime | None]
    refreshes: Mapped[int] = mapped_column(Integer, default=0)


class SlackEventRow(Base):
    """An Events API delivery already handled, by ``event_id``: Slack retries an event it
    thinks went unanswered, and any replica may receive the retry."""

    __tablename__ = "slack_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(48))
    received_at: Mapped[datetime] = mapped_column(index=True)


class SeenSignatureRow(Base):
    """A signed Slack request already acted on, kept for Slack's 5-minute replay window so a
    replayed copy (same body, same signature) does nothing, on whichever replica it lands."""

    __tablename__ = "seen_signatures"

    signature: Mapped[str] = mapped_column(String(100), primary_key=True)
    slack_timestamp: Mapped[int] = mapped_column(Integer)
    seen_at: Mapped[datetime] = mapped_column(index=True)


class SlashIntentRow(Base):
    """A ``/dex`` command written down before Slack is acknowledged, removed once answered.
    One left behind means the process died in between: the worker tells the requester."""

    __tablename__ = "slash_intents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(index=True)
