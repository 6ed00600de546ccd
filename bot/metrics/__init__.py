"""Prometheus metrics: one ``Metrics`` object per process, built by the runner and handed to
whatever records into it (no registry at import, so tests in one process never share counts).

Labels are bounded: command type, outcome, HTTP method and templated path, Slack method and
error code, payload kind. Never a user, device, request or channel id.

Gauges read from the database (outbox depth and age, in-flight commands) are exported only by
the replica that holds the poller lease, read at scrape time (``bot.metrics.store``), so a
dashboard's ``sum()`` over replicas never multiplies them. Gauges of this process's own state
(rate budget used, quota as last read, lease held) are exported by every replica.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import Metric

from bot.domain.lifecycle import Event

#: Lifecycle events that reach a final state: they count in ``dexbot_requests_total{outcome}``.
FINAL_OUTCOMES = frozenset({"denied", "expired", "cancelled", "dispatch_failed", "completed"})
#: Lifecycle event -> the counter it moves (other events, e.g. dispatch_retry, move none).
_COUNTER_OF = {
    "approved": "approvals",
    "denied": "denials",
    "expired": "expiries",
    "dispatched": "dispatches",
    "dispatch_failed": "dispatch_failures",
}
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
_FAST = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0)
_SLOW = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


class Collector(Protocol):
    """A custom collector that also describes what it may export."""

    def describe(self) -> Iterable[Metric]:
        """Every family, even those not exported right now."""
        ...

    def collect(self) -> Iterable[Metric]:
        """What to export now."""
        ...


class Metrics:
    """Every dexbot metric, registered in this object's own ``CollectorRegistry``."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        r = self.registry = CollectorRegistry(auto_describe=True)
        self._refreshers: list[Callable[[], Awaitable[None]]] = []
        self._collectors: list[Collector] = []

        # -- lifecycle (moved by observe_transition) --------------------------------------
        self.requests_received = Counter(
            "dexbot_requests_received", "Requests recorded, by command type.", ["type"], registry=r
        )
        self.requests = Counter(
            "dexbot_requests",
            "Requests that reached a final state, by command type and outcome.",
            ["type", "outcome"],
            registry=r,
        )
        self.approvals = Counter(
            "dexbot_approvals", "Requests approved by a person.", ["type"], registry=r
        )
        self.auto_approvals = Counter(
            "dexbot_auto_approvals", "Requests approved by policy.", ["type"], registry=r
        )
        self.denials = Counter("dexbot_denials", "Requests denied.", ["type"], registry=r)
        self.expiries = Counter(
            "dexbot_expiries", "Requests that expired unanswered.", ["type"], registry=r
        )
        self.dispatches = Counter(
            "dexbot_dispatches", "Requests Cloudflare accepted.", ["type"], registry=r
        )
        self.dispatch_failures = Counter(
            "dexbot_dispatch_failures", "Requests whose dispatch failed.", ["type"], registry=r
        )
        self.summaries = Counter(
            "dexbot_summaries",
            "Artifact summaries, by command type and outcome (made, failed).",
            ["type", "outcome"],
            registry=r,
        )

        # -- outside calls -----------------------------------------------------------------
        self.cloudflare_calls = Counter(
            "dexbot_cloudflare_calls",
            "HTTP answers from Cloudflare (each attempt), by method, templated path and status.",
            ["method", "endpoint", "status"],
            registry=r,
        )
        self.slack_calls = Counter(
            "dexbot_slack_calls",
            "Slack Web API answers (each attempt), by method and error ('ok' when none).",
            ["method", "error"],
            registry=r,
        )
        self.relayed_bytes = Counter(
            "dexbot_relayed_bytes", "Artifact bytes streamed into Slack.", registry=r
        )

        # -- gauges of this process ---------------------------------------------------------
        self.quota_remaining = Gauge(
            "dexbot_quota_remaining",
            "Cloudflare commands left in the quota, as last read (use max() across replicas).",
            registry=r,
        )
        self.quota_limit = Gauge(
            "dexbot_quota_limit", "The Cloudflare command quota, as last read.", registry=r
        )
        self._quota_reset_at: float | None = None
        self.quota_reset_seconds = Gauge(
            "dexbot_quota_reset_seconds",
            "Seconds until the quota resets, from the reset time last read.",
            registry=r,
        )
        self.quota_reset_seconds.set_function(self._seconds_to_reset)
        # NaN until Cloudflare was first asked: a fresh replica must not look like "quota 0"
        # to an alert (a comparison with NaN is never true).
        self.quota_remaining.set(math.nan)
        self.quota_limit.set(math.nan)
        self.rate_budget_used = Gauge(
            "dexbot_cloudflare_rate_budget_used",
            "Cloudflare requests this process sent in the current window (sum() over replicas).",
            registry=r,
        )
        self.rate_budget_limit = Gauge(
            "dexbot_cloudflare_rate_budget_limit",
            "Cloudflare requests allowed per window (per token, all clients together).",
            registry=r,
        )
        self.lease_held = Gauge(
            "dexbot_poller_lease_held",
            "1 when this replica holds the poller lease (it alone exports database gauges).",
            registry=r,
        )

        # -- histograms ---------------------------------------------------------------------
        self.ack_latency = Histogram(
            "dexbot_ack_latency_seconds",
            "Time from a Slack payload's arrival to its acknowledgement, by payload kind.",
            ["kind"],
            buckets=_FAST,
            registry=r,
        )
        self.poll_cycle = Histogram(
            "dexbot_poll_cycle_seconds",
            "Duration of one poll of Cloudflare's command list, by outcome (ok, failed).",
            ["outcome"],
            buckets=(*_FAST, 30.0, 60.0),
            registry=r,
        )
        self.thread_post_delay = Histogram(
            "dexbot_thread_post_delay_seconds",
            "Time from a command's status change being recorded to its thread post.",
            buckets=_SLOW,
            registry=r,
        )
        self.relay = Histogram(
            "dexbot_relay_seconds",
            "Time to stream one artifact into Slack's upload URL, by outcome (ok, failed).",
            ["outcome"],
            buckets=_SLOW,
            registry=r,
        )

    # -- what the lifecycle and the worker call ----------------------------------------------

    def observe_transition(
        self, event: Event | str, request_type: str, *, by_policy: bool = False
    ) -> None:
        """Count one lifecycle event (``bot.domain.lifecycle.Event``) of a request of
        ``request_type`` (pcap, warp-diag, speed-test); ``by_policy`` marks an approval no
        person gave. Call it once per transition that happened (its guarded UPDATE matched and
        committed), from the one transition path, never for a lost race.
        """
        name = Event(event).value  # an unknown event raises: a typo must not count silently
        if name == "requested":
            self.requests_received.labels(request_type).inc()
        if name in FINAL_OUTCOMES:
            self.requests.labels(request_type, name).inc()
        if name == "approved" and by_policy:
            self.auto_approvals.labels(request_type).inc()
            return
        counter_name = _COUNTER_OF.get(name)
        if counter_name is not None:
            counter: Counter = getattr(self, counter_name)
            counter.labels(request_type).inc()

    def observe_poll_cycle(self, seconds: float, *, ok: bool) -> None:
        """One poll cycle's duration (the worker's leader calls this each tick)."""
        self.poll_cycle.labels("ok" if ok else "failed").observe(seconds)

    def observe_thread_post(self, delay_seconds: float) -> None:
        """A status line reached the thread ``delay_seconds`` after the change was recorded."""
        self.thread_post_delay.observe(max(0.0, delay_seconds))

    def observe_summary(self, request_type: str, *, ok: bool) -> None:
        """An artifact summary was made (or failed)."""
        self.summaries.labels(request_type, "made" if ok else "failed").inc()

    def observe_quota(self, quota: int, usage: int, reset_at: float | None) -> None:
        """Quota as just read from Cloudflare (``reset_at`` in seconds since the epoch)."""
        self.quota_limit.set(quota)
        self.quota_remaining.set(max(0, quota - usage))
        self._quota_reset_at = reset_at

    def _seconds_to_reset(self) -> float:
        if self._quota_reset_at is None:
            return math.nan
        return max(0.0, self._quota_reset_at - self.clock())

    # -- scraping ---------------------------------------------------------------------------

    def on_scrape(self, refresh: Callable[[], Awaitable[None]]) -> None:
        """Run ``refresh`` before each scrape (gauges read at scrape time, e.g. the database)."""
        self._refreshers.append(refresh)

    async def scrape(self) -> bytes:
        """The registry in Prometheus' text format, after every scrape-time refresh."""
        for refresh in self._refreshers:
            await refresh()
        return generate_latest(self.registry)

    def register(self, collector: Collector) -> None:
        """Add a custom collector (it must describe its families, even when it exports none)."""
        self.registry.register(collector)
        self._collectors.append(collector)

    def names(self) -> set[str]:
        """Every sample name this registry can export (``_total``, ``_bucket`` included)."""
        families = list(self.registry.collect())
        for collector in self._collectors:
            families += list(collector.describe())
        found: set[str] = set()
        for family in families:
            found.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
        return {n for n in found if n.startswith("dexbot_")}
