"""``create_app(settings)``: builds the clients, the store, the Bolt ``AsyncApp`` and its
listeners. Wiring only; no module-level app, engine or client, and no I/O until ``start()``."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import Settings
from bot.dex.client import DexClient
from bot.domain.grammar import Limits
from bot.domain.policy import AccessPolicy
from bot.services.capture import CaptureService
from bot.slackapi.directory import Directory
from bot.store.db import create_engine, migrate, session_factory
from bot.store.leases import Leases
from bot.store.outbox import Outbox
from bot.store.requests import RequestStore
from bot.worker.artifacts import ArtifactRelay
from bot.worker.deliver import Deliverer, Renderers

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
    access: AccessPolicy
    limits: Limits
    clock: Callable[[], datetime] = utcnow
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    captures: CaptureService = field(init=False)
    deliverer: Deliverer = field(init=False)

    def __post_init__(self) -> None:
        self.captures = CaptureService(self)


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
        relay = self.services.deliverer.upload
        if isinstance(relay, ArtifactRelay):
            await relay.aclose()
        await self.services.dex.aclose()
        await self.services.engine.dispose()


def build_services(
    settings: Settings,
    *,
    slack: AsyncWebClient | None = None,
    dex: DexClient | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Services:
    """The service graph for ``settings``; pass ``slack``/``dex`` to share existing clients."""
    slack = slack or build_slack_client(settings)
    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    owner = f"{socket.gethostname()}:{os.getpid()}:{id(engine):x}"
    return Services(
        settings=settings,
        slack=slack,
        dex=dex or DexClient.from_settings(settings),
        directory=Directory(slack, ttl_seconds=settings.dex_user_cache_ttl_seconds),
        engine=engine,
        requests=RequestStore(sessions),
        outbox=Outbox(sessions, owner=owner),
        leases=Leases(sessions, owner=owner),
        access=AccessPolicy(
            requesters=settings.dex_requesters,
            approvers=settings.dex_approvers,
            read_open=settings.dex_read_open,
            allow_self_approval=settings.dex_allow_self_approval,
        ),
        limits=Limits.from_settings(settings),
        clock=clock,
        owner=owner,
    )


def create_app(
    settings: Settings,
    *,
    socket_mode: bool = False,
    slack: AsyncWebClient | None = None,
    dex: DexClient | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> DexBot:
    """Build the Bolt app and register every listener (see ``handlers.register``)."""
    from handlers import register
    from handlers.blocks import capture as blocks

    services = build_services(settings, slack=slack, dex=dex, clock=clock)
    services.deliverer = Deliverer(
        services,
        services.slack,
        Renderers(
            parent=blocks.render_parent,
            card=blocks.render_card,
            thread_status=blocks.render_thread_status,
            thread_note=blocks.render_thread_note,
        ),
    )
    artifact_dir = Path(settings.dex_artifact_dir) if settings.dex_artifact_dir else None
    services.deliverer.upload = ArtifactRelay(
        services, services.slack, services.deliverer.find_posted, work_dir=artifact_dir
    )
    secret = settings.slack_signing_secret
    app = AsyncApp(
        client=services.slack,
        signing_secret=secret.get_secret_value() if secret else "",
        # Socket Mode payloads arrive over an authenticated websocket, not signed HTTP.
        request_verification_enabled=not socket_mode,
        logger=logging.getLogger("dexbot.bolt"),
    )
    register(app, services)
    return DexBot(app=app, services=services)
