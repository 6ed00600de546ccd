"""The composition root: the service graph is built once here (``build_services``), the Bolt
app on top of it (``create_app``) and the worker beside it (``create_worker``). No module-level
app, engine or client, and no I/O until ``DexBot.start()``; every resource is closed through
one ``AsyncExitStack`` (``Services.aclose``)."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.activity import Activity
from bot.config import Settings, StartupError
from bot.dex.client import DexClient
from bot.domain.grammar import Limits
from bot.domain.policy import AccessPolicy
from bot.domain.rules import Policy
from bot.insight import RuleFileError, SummaryBudget, load_rules
from bot.metrics import Metrics
from bot.services.capture import CaptureService
from bot.services.flows import Flows
from bot.services.home import HomeService, presets_of
from bot.services.insight import Insight
from bot.services.policy_file import load_policy
from bot.services.queries import Queries
from bot.slackapi.directory import Directory
from bot.store.db import create_engine, migrate, session_factory
from bot.store.home import HomeStore
from bot.store.intents import Intents
from bot.store.leases import Leases
from bot.store.outbox import Outbox
from bot.store.replays import Replays
from bot.store.transitions import RequestStore
from bot.worker.artifacts import ArtifactRelay
from bot.worker.deliver import Deliverer, Renderers
from bot.worker.home import HomePublisher, RenderHome
from bot.worker.pacing import without_rate_limit_waits

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.worker.runner import Worker

log = logging.getLogger("dexbot")


def utcnow() -> datetime:
    """The wall clock, timezone-aware."""
    return datetime.now(UTC)


def build_slack_client(settings: Settings) -> AsyncWebClient:
    """A Web API client that waits out 429s (``Retry-After``) and retries nothing else.

    A 429 means Slack did nothing, so repeating is safe. A dropped connection or a 5xx may
    come after Slack acted; repeating ``chat.postMessage`` blindly could post twice, so those
    surface to the caller: the outbox retries them after checking the thread.
    """
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    client = AsyncWebClient(token=token, base_url=settings.slack_api_url, timeout=30)
    client.retry_handlers[:] = [AsyncRateLimitErrorRetryHandler(max_retry_count=5)]
    return client


@dataclass
class Services:
    """Everything a listener or the worker needs, built once per process."""

    settings: Settings
    slack: AsyncWebClient
    dex: DexClient
    directory: Directory
    engine: AsyncEngine
    requests: RequestStore
    outbox: Outbox
    leases: Leases
    homes: HomeStore
    access: AccessPolicy
    limits: Limits
    policy: Policy
    clock: Callable[[], datetime] = utcnow
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    activity: Activity = field(default_factory=Activity)
    metrics: Metrics = field(default_factory=Metrics)  # attached to clients by runners.instrument
    resources: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    captures: CaptureService = field(init=False)
    queries: Queries = field(init=False)
    deliverer: Deliverer = field(init=False)
    flows: Flows = field(init=False)
    home: HomeService = field(init=False)

    async def aclose(self) -> None:
        """Close every resource the graph opened, in reverse order."""
        await self.resources.aclose()

    async def permalink(self, channel: str, ts: str) -> str | None:
        """A link to a message, or None when Slack won't give one (a 429 included: the
        answer it decorates is not worth waiting for, so the outbox's client asks)."""
        place = [("chat.getPermalink", "")]
        if self.deliverer.holds.held(place, self.clock()) is not None:
            return None  # Slack asked us to wait: the answer goes without its link
        try:
            resp = await self.deliverer.slack.chat_getPermalink(channel=channel, message_ts=ts)
        except SlackApiError as exc:
            if exc.response.get("error") == "ratelimited":
                self.deliverer.holds.note(exc, self.clock())
            return None
        return str(resp.get("permalink") or "") or None


def _renderers() -> Renderers:
    # The words live with the Slack transport; the worker only gets these functions.
    from handlers.blocks import capture, insight, notes, policy

    return Renderers(
        parent=capture.render_parent,
        card=capture.render_card,
        thread_status=notes.render_status_fact,
        note=notes.render_note,
        requester=notes.render_requester_note,
        summary=insight.render_summary,
        status_after=insight.render_status_after,
        failure=insight.render_failure,
        dropped=notes.render_dropped,
        owner_ask=policy.render_owner_ask,
        owner_note=policy.render_owner_note,
    )


def _insight(svc: Services, work_dir: Path | None) -> Insight:
    """The artifact summaries, with the operators' rules loaded once (a bad file stops
    start-up with the file and the reason)."""
    s = svc.settings
    try:
        rules = load_rules(s.dex_insight_rules_file, minimum_version=s.dex_min_client_version)
    except RuleFileError as exc:
        raise StartupError(f"DEX_INSIGHT_RULES_FILE: {exc}") from None
    limits = SummaryBudget(
        max_uncompressed_bytes=s.dex_insight_max_uncompressed_mb * 1_000_000,
        time_budget_s=s.dex_insight_time_budget_seconds,
        packet_budget=s.dex_insight_packet_budget,
    )
    return Insight(svc, rules, limits, work_dir=work_dir)


def _home_renderer() -> RenderHome:
    from handlers.blocks.home import render_home

    return render_home


def build_services(
    settings: Settings,
    *,
    slack: AsyncWebClient | None = None,
    dex: DexClient | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Services:
    """The service graph for ``settings``; pass ``slack``/``dex`` to share existing clients.

    Close it with ``await services.aclose()``.
    """
    policy = load_policy(settings)  # PolicyError before anything is opened
    slack = slack or build_slack_client(settings)
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    owner = f"{socket.gethostname()}:{os.getpid()}:{id(engine):x}"
    svc = Services(
        settings=settings,
        slack=slack,
        dex=dex or DexClient.from_settings(settings),
        directory=Directory(slack, ttl_seconds=settings.dex_user_cache_ttl_seconds),
        engine=engine,
        requests=RequestStore(sessions),
        outbox=Outbox(sessions, owner=owner),
        leases=Leases(sessions, owner=owner),
        homes=HomeStore(sessions),
        access=AccessPolicy(
            requesters=policy.requesters,
            approvers=policy.approvers,
            read_open=settings.dex_read_open,
            allow_self_approval=settings.dex_allow_self_approval,
            contact=settings.dex_access_contact,
        ),
        limits=Limits.from_settings(settings),
        policy=policy,
        clock=clock,
        owner=owner,
    )
    svc.resources.push_async_callback(engine.dispose)
    svc.resources.push_async_callback(svc.dex.aclose)
    svc.captures = CaptureService(svc)
    svc.queries = Queries(svc)
    # The outbox's own client: a 429 comes back at once and holds its place (pacing.py)
    # rather than being slept through in the middle of a delivery pass.
    svc.deliverer = Deliverer(svc, without_rate_limit_waits(slack), _renderers())
    artifact_dir = Path(settings.dex_artifact_dir) if settings.dex_artifact_dir else None
    relay = ArtifactRelay(svc, slack, svc.deliverer.find_posted, work_dir=artifact_dir)
    svc.resources.push_async_callback(relay.aclose)
    svc.deliverer.upload = relay
    svc.deliverer.insight = _insight(svc, artifact_dir)
    svc.flows = Flows(
        svc,
        svc.captures,
        svc.deliverer.run_once,
        svc.permalink,
        Replays(sessions),
        Intents(sessions),
    )
    # The presets hook: an approval policy, when one is configured, lists them.
    svc.home = HomeService(svc, svc.homes, presets=lambda: presets_of(getattr(svc, "policy", None)))
    svc.home.publish = svc.deliverer.home = HomePublisher(svc.home, slack, _home_renderer())
    return svc


def create_app(services: Services, *, socket_mode: bool = False) -> AsyncApp:
    """Only the Bolt app, with every listener registered (see ``handlers.register``)."""
    from slack_bolt.async_app import AsyncApp

    from handlers import register

    secret = services.settings.slack_signing_secret
    app = AsyncApp(
        client=services.slack,
        signing_secret=secret.get_secret_value() if secret else "",
        # Socket Mode payloads arrive over an authenticated websocket, not signed HTTP.
        request_verification_enabled=not socket_mode,
        logger=logging.getLogger("dexbot.bolt"),
        name="dexbot",  # else bolt reads the source of every caller frame: ~50 ms at start
    )
    register(app, services)
    return app


def create_worker(services: Services) -> Worker:
    """The poller-and-outbox loop over the same services, without a Bolt app."""
    from bot.worker.runner import Worker

    return Worker(services, services.deliverer)


@dataclass
class DexBot:
    """The assembled bot: the Bolt app plus the services behind it."""

    app: AsyncApp
    services: Services

    async def start(self) -> None:
        """Apply pending migrations (unless disabled). Runners call this before serving."""
        if self.services.settings.dexbot_auto_migrate:
            await migrate(self.services.engine)

    async def aclose(self) -> None:
        """Release connections."""
        await self.services.aclose()


def assemble(
    settings: Settings,
    *,
    socket_mode: bool = False,
    slack: AsyncWebClient | None = None,
    dex: DexClient | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> DexBot:
    """Services and the Bolt app on them, for the runners, the shell and the tests."""
    services = build_services(settings, slack=slack, dex=dex, clock=clock)
    return DexBot(app=create_app(services, socket_mode=socket_mode), services=services)
