"""The supervised worker loop: poll Cloudflare (one leader at a time), expire requests,
finish interrupted dispatches, deliver the outbox. A failure in one step is logged and the
loop goes on; the interval stretches to keep within the configured share of Cloudflare's
request budget, waits out a rate limit when Cloudflare imposes one, and doubles (up to
``MAX_BACKOFF``) while Cloudflare keeps failing (5xx, timeouts).

The poller lease lasts three intervals and is renewed every tick, so a replica that died is
replaced within seconds of its lease running out. Should a long tick outlive its lease, two
replicas poll for a while: wasteful, never wrong, since every write is a guarded UPDATE.

The outbox is delivered by a loop of its own besides the tick: it wakes when the next row
falls due (a retry after Slack's ``Retry-After``, a reply waiting for its thread), at least
every ``DELIVER_IDLE`` seconds, so a rate-limited post goes out as soon as Slack allows it
rather than at the next poll. One lock keeps the tick's delivery and the loop's apart, so
a request's rows still go out in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass
from datetime import timedelta

from bot.dex.errors import DexRateBudgetExceeded, DexRateLimitedError
from bot.metrics import Metrics
from bot.services.capture import CaptureService
from bot.services.context import Context
from bot.services.dispatch import recover
from bot.store.commands import CommandStore
from bot.store.intents import Intents
from bot.worker.deliver import Deliverer
from bot.worker.intents import tell_left_behind
from bot.worker.poller import CycleReport, Poller

log = logging.getLogger("dexbot.worker")
LEASE_NAME = "poller"
MAX_BACKOFF = 300.0
#: The longest the delivery loop sleeps when nothing is due (rows another replica or a
#: listener wrote are seen within this).
DELIVER_IDLE = 1.0
#: The shortest: a row due "now" that could not be delivered is not spun on.
DELIVER_MIN = 0.05


@dataclass
class TickReport:
    """What one worker tick did (for tests and logs)."""

    leader: bool
    poll: CycleReport | None
    expired: int
    recovered: int
    delivered: int
    wait_seconds: float


def budget_interval(settings: object, pages: int, base: float) -> float:
    """Seconds to wait so that ``pages`` requests a cycle stay within the poller's share."""
    limit = getattr(settings, "cloudflare_rate_limit", 1200)
    window = getattr(settings, "cloudflare_rate_window_seconds", 300.0)
    share = getattr(settings, "dex_poll_budget_share", 0.5)
    per_second = limit * share / window
    return max(base, math.ceil(pages / per_second * 10) / 10)


class Worker:
    """One worker process's loop state."""

    def __init__(self, services: Context, deliverer: Deliverer) -> None:
        self.svc = services
        self.deliverer = deliverer
        self.captures = CaptureService(services)
        self.metrics: Metrics | None = getattr(services, "metrics", None)
        self.poller = Poller(services, CommandStore(services.requests.sessions))
        self.failures = 0  # poll cycles failed in a row, for the back-off
        self.intents = Intents(services.requests.sessions)
        self._delivering = asyncio.Lock()

    async def tick(self) -> TickReport:
        """One pass of every duty; never raises."""
        settings = self.svc.settings
        base = settings.dex_poll_interval_seconds
        ttl = timedelta(seconds=max(2.0, base * 3))
        wait = base
        leader = False
        report: CycleReport | None = None
        expired = recovered = delivered = 0
        try:
            leader = await self.svc.leases.acquire(LEASE_NAME, self.svc.clock(), ttl)
        except Exception:
            log.exception("lease check failed")
        if leader:
            started = time.monotonic()
            try:
                report = await self.poller.cycle()
                wait = budget_interval(settings, report.pages, base)
                self.failures = 0
            except (DexRateLimitedError, DexRateBudgetExceeded) as exc:
                wait = max(base, exc.retry_after)
                log.warning("Cloudflare rate limit; polling again in %.0f s", wait)
            except Exception:
                self.failures += 1
                wait = min(MAX_BACKOFF, max(base, base * 2**self.failures))
                log.exception(
                    "poll cycle failed (%d in a row); next in %.0f s", self.failures, wait
                )
            if self.metrics is not None:
                self.metrics.observe_poll_cycle(time.monotonic() - started, ok=report is not None)
            try:
                expired = len(await self.captures.expire_due())
                await self.captures.escalate_due()
                recovered = await recover(self.svc, actor="dexbot")
                await tell_left_behind(
                    self.svc, self.intents, self.deliverer.slack, self.deliverer.render
                )
            except Exception:
                log.exception("expiry/recovery failed")
        try:
            async with self._delivering:
                delivered = await self.deliverer.run_once(limit=200)
        except Exception:
            log.exception("outbox delivery failed")
        return TickReport(leader, report, expired, recovered, delivered, wait)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Tick until ``stop`` is set (or forever)."""
        stop = stop or asyncio.Event()
        delivery = asyncio.create_task(self.deliver_loop(stop), name="outbox-delivery")
        try:
            while not stop.is_set():
                report = await self.tick()
                with contextlib.suppress(TimeoutError):  # the interval passed: tick again
                    await asyncio.wait_for(stop.wait(), timeout=report.wait_seconds)
        finally:
            delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await delivery
            # Also on cancellation (SIGTERM): another replica can take over at once.
            await asyncio.shield(self.svc.leases.release(LEASE_NAME))
            await self.deliverer.aclose()

    async def deliver_loop(self, stop: asyncio.Event) -> None:
        """Deliver the outbox whenever a row falls due, until ``stop`` is set."""
        failures = 0
        while not stop.is_set():
            wait = DELIVER_IDLE
            try:
                async with self._delivering:
                    await self.deliverer.run_once(limit=200)
                now = self.svc.clock()
                due = await self.svc.outbox.next_due(now)
                if due is not None:
                    wait = min(DELIVER_IDLE, max(DELIVER_MIN, (due - now).total_seconds()))
                failures = 0
            except Exception:  # the database is away, say: back off rather than log each second
                failures += 1
                wait = min(MAX_BACKOFF, DELIVER_IDLE * 2**failures)
                log.exception("outbox delivery failed (%d in a row)", failures)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
