"""Gauges read from the database at scrape time, exported only by the poller lease's holder.

Every replica can read the outbox, so if each exported its depth a dashboard's ``sum()``
would count it once per replica. The poller lease already names one replica; that one
exports the database gauges and the others export nothing for them (``dexbot_poller_lease_held``
says which). When no replica holds the lease (every worker is down) the gauges are absent:
alert on ``absent(dexbot_outbox_depth)`` as well as on its value.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.metrics import Metrics
from bot.store.commands import FINAL
from bot.store.outbox import PENDING, SENDING
from bot.store.tables import DexCommandRow, LeaseRow, OutboxRow
from bot.worker.runner import LEASE_NAME as POLLER_LEASE

log = logging.getLogger("dexbot.metrics")
#: A scrape must not hang on a slow database: past this, export what is known and say so.
READ_TIMEOUT = 5.0


@dataclass
class StoreSnapshot:
    """What one scrape read."""

    up: bool = False
    holder: bool = False
    outbox_depth: int = 0
    outbox_oldest_age: float = 0.0
    in_flight: int = 0


def _family(name: str, doc: str, value: float | None = None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc)
    if value is not None:
        family.add_metric([], value)
    return family


_DOCS = {
    "dexbot_store_up": "1 when this scrape could read the database.",
    "dexbot_outbox_depth": "Outbox rows waiting or being sent (lease holder only).",
    "dexbot_outbox_oldest_age_seconds": "Age of the oldest waiting outbox row (holder only).",
    "dexbot_commands_in_flight": "Commands not yet SUCCESS or FAILED (lease holder only).",
}


class StoreGauges:
    """A collector over the database; ``refresh()`` (async) reads, ``collect()`` exports."""

    def __init__(
        self,
        engine: AsyncEngine,
        owner: str,
        metrics: Metrics,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.owner = owner
        self.metrics = metrics
        self.clock = clock
        self.snapshot = StoreSnapshot()

    async def refresh(self) -> None:
        """Read the lease and, on its holder, the outbox and the in-flight commands."""
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                self.snapshot = await self._read()
        except Exception as exc:  # the scrape still answers, with dexbot_store_up 0
            log.warning("metrics: database read failed: %s", type(exc).__name__)
            self.snapshot = StoreSnapshot()
        self.metrics.lease_held.set(1 if self.snapshot.holder else 0)

    async def _read(self) -> StoreSnapshot:
        now = self.clock()
        async with self.engine.connect() as conn:
            lease = (
                await conn.execute(
                    select(LeaseRow.owner, LeaseRow.until).where(LeaseRow.name == POLLER_LEASE)
                )
            ).first()
            holder = lease is not None and lease.owner == self.owner and _aware(lease.until) > now
            if not holder:
                return StoreSnapshot(up=True)
            depth, oldest = (
                await conn.execute(
                    select(func.count(), func.min(OutboxRow.created_at)).where(
                        OutboxRow.state.in_((PENDING, SENDING))
                    )
                )
            ).one()
            in_flight = await conn.scalar(
                select(func.count()).where(DexCommandRow.status.not_in(FINAL))
            )
        age = (now - _aware(oldest)).total_seconds() if oldest is not None else 0.0
        return StoreSnapshot(True, True, int(depth), max(0.0, age), int(in_flight or 0))

    def describe(self) -> Iterable[Metric]:
        """The families this collector may export (whether or not this replica holds the lease)."""
        return [_family(name, doc) for name, doc in _DOCS.items()]

    def collect(self) -> Iterable[Metric]:
        """The last snapshot; the database gauges only on the lease holder."""
        snap = self.snapshot
        yield _family("dexbot_store_up", _DOCS["dexbot_store_up"], 1 if snap.up else 0)
        if not snap.holder:
            return
        for name, value in (
            ("dexbot_outbox_depth", snap.outbox_depth),
            ("dexbot_outbox_oldest_age_seconds", snap.outbox_oldest_age),
            ("dexbot_commands_in_flight", snap.in_flight),
        ):
            yield _family(name, _DOCS[name], value)


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes on a Core select (the ORM type adds the zone).
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def watch_store(
    metrics: Metrics,
    engine: AsyncEngine,
    owner: str,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> StoreGauges:
    """Register the database gauges on ``metrics``, read afresh at each scrape."""
    gauges = StoreGauges(engine, owner, metrics, clock=clock)
    metrics.register(gauges)
    metrics.on_scrape(gauges.refresh)
    return gauges
