"""Settings, read from the environment (and an optional ``.env``) with pydantic-settings.

Nothing here performs I/O at import time. ``load_settings()`` turns validation failures
into one plain line per problem, naming the environment variable, so that start-up can
stop with a message an operator can act on.
"""

from __future__ import annotations

import errno
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: Local defaults shared by ``dexbot simulate`` and the bot when no Cloudflare credentials
#: are configured, so the two agree with no further configuration.
LOCAL_SIM_TOKEN = "dexbot-local-token"
LOCAL_SIM_ACCOUNT = "0123456789abcdef0123456789abcdef"
CLOUDFLARE_API_URL = "https://api.cloudflare.com/client/v4"

_SLACK_PRINCIPAL = re.compile(r"^[UWS][A-Z0-9]{2,}$")

Mode = Literal["serve", "socket", "worker", "shell", "migrate", "simulate"]


class StartupError(RuntimeError):
    """Something outside our control refuses us at start (e.g. a wrong token); say it, exit."""


def cannot_listen(host: str, port: int, exc: OSError, setting: str) -> str:
    """The one line for a port we cannot bind: what happened and what to change."""
    why = "it is already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
    return (
        f"cannot listen on {host}:{port}: {why}. Stop what is using it, "
        f"or pick another port with {setting}."
    )


class SettingsError(Exception):
    """Start-up configuration is missing or malformed; ``problems`` holds one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _split_ids(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every knob dexbot has. Environment variable names are the field names in capitals."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    # Slack
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"

    # Cloudflare
    cloudflare_api_url: str = CLOUDFLARE_API_URL
    cloudflare_api_token: SecretStr | None = None
    cloudflare_account_id: str | None = None
    cloudflare_rate_limit: int = Field(1200, ge=1)
    cloudflare_rate_window_seconds: float = Field(300.0, gt=0)
    cloudflare_timeout_seconds: float = Field(30.0, gt=0)
    # What a spent command quota looks like (Cloudflare does not document it): error codes,
    # and regular expressions matched against error messages. Comma-separated in the env.
    cloudflare_quota_error_codes: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [1104]
    )
    cloudflare_quota_error_patterns: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["quota"]
    )

    # Store
    database_url: str = "sqlite+aiosqlite:///dexbot.db"
    dexbot_auto_migrate: bool = True

    # Who may do what
    dex_requesters: Annotated[list[str], NoDecode] = Field(default_factory=list)
    dex_approvers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    dex_read_open: bool = False
    dex_allow_self_approval: bool = False
    #: Who to ask for access, shown as a mention: a user (U…/W…), a user group (S…) or a
    #: channel (C…) id.
    dex_access_contact: str | None = Field(None, pattern=r"^[UWSC][A-Z0-9]{2,}$")
    dex_approval_channel: str | None = None
    dex_approval_ttl_seconds: int = Field(1800, ge=60)
    dex_require_reason: bool = True
    dex_user_cache_ttl_seconds: int = Field(600, ge=0)
    #: The approval policy (YAML; see the README). Without it, the settings above are the policy.
    dex_policy_file: str | None = None
    #: Tell requesters directly when their request is approved, denied, expired or finished
    #: (without a policy file; a file says ``tell_requester:``).
    dex_tell_requester: bool = True

    # Capture limits (Cloudflare's documented limits today; settings, not code)
    dex_pcap_max_minutes: int = Field(10, ge=1)
    dex_pcap_default_minutes: int = Field(5, ge=1)
    dex_pcap_max_size_mb: int = Field(50, ge=1)
    dex_pcap_max_snaplen: int = Field(1500, ge=1)
    dex_device_recent_minutes: int = Field(60, ge=1)
    #: A device not seen for longer than this (or disconnected, or paused) is flagged and
    #: needs --anyway: Cloudflare waits 10 min for it, then fails, and the quota is spent.
    dex_offline_after_minutes: int = Field(5, ge=1)

    # What the thread says about an artifact (bot.insight)
    #: Operators' extra warp-diag rules (YAML), added to the shipped ones.
    dex_insight_rules_file: Path | None = None
    #: WARP clients older than this are flagged in a diagnostic bundle's findings.
    dex_min_client_version: str = "2024.12.492.0"
    #: A zip whose declared or real uncompressed size is over this is not read (zip bombs).
    dex_insight_max_uncompressed_mb: int = Field(1024, ge=1)
    dex_insight_time_budget_seconds: float = Field(20.0, gt=0)
    dex_insight_packet_budget: int = Field(2_000_000, ge=1)

    # Worker
    dex_poll_interval_seconds: float = Field(15.0, gt=0)
    dex_poll_budget_share: float = Field(0.5, gt=0, le=1)
    #: A request left dispatching this long was interrupted, and is reconciled. Keep it far
    #: above the 60-second dispatch budget; tests of stalled replicas make it short.
    dex_dispatch_grace_seconds: float = Field(300.0, gt=0)
    dex_artifact_max_bytes: int = Field(1_000_000_000, ge=1)
    dex_artifact_dir: str | None = None
    #: Requests whose slow rows (artifact uploads, summaries) are delivered at once, each in
    #: its own lane beside the rest of the outbox (``bot.worker.deliver``).
    dex_upload_concurrency: int = Field(2, ge=1, le=32)
    #: How long a thread the bot cannot reach (removed from the channel, channel archived or
    #: gone) is retried before its replies and upload are given up; the requester is told by
    #: direct message at once. The artifact stays at Cloudflare and is fetched again then.
    dex_undeliverable_keep_seconds: int = Field(86_400, ge=60)

    # Runners
    health_host: str = "127.0.0.1"
    health_port: int = Field(3001, ge=0, le=65535)
    #: ``dexbot worker``'s ``/healthz``, ``/readyz`` and ``/metrics`` (0: any free port, logged).
    worker_health_port: int = Field(3002, ge=0, le=65535)
    log_level: str = "INFO"
    #: ``text`` for terminals; ``json``: one object per line for a log pipeline.
    dexbot_log_format: Literal["text", "json"] = "text"

    @field_validator("dex_requesters", "dex_approvers", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return _split_ids(value)

    @field_validator(
        "cloudflare_quota_error_codes", "cloudflare_quota_error_patterns", mode="before"
    )
    @classmethod
    def _split_list(cls, value: object) -> object:
        return _split_ids(value)

    @field_validator("cloudflare_quota_error_patterns")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
        return value

    @field_validator("dex_requesters", "dex_approvers")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not _SLACK_PRINCIPAL.match(v)]
        if bad:
            raise ValueError(
                f"{', '.join(bad)}: expected Slack user IDs (U…/W…) or user-group IDs (S…)"
            )
        return value

    @field_validator("cloudflare_account_id")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9a-fA-F]{32}", value):
            raise ValueError("expected the 32-character hexadecimal account ID")
        return value

    @field_validator("database_url")
    @classmethod
    def _db(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///FILE or postgresql+asyncpg://…")
        return value

    # -- derived ---------------------------------------------------------------

    @property
    def uses_simulator_defaults(self) -> bool:
        """True when no Cloudflare token is configured: the local simulator's credentials apply."""
        return self.cloudflare_api_token is None

    def cloudflare_token(self) -> str:
        """The Cloudflare API token, or the local simulator's when none is configured."""
        token = self.cloudflare_api_token
        return token.get_secret_value() if token is not None else LOCAL_SIM_TOKEN

    def cloudflare_account(self) -> str:
        """The Cloudflare account ID, or the local simulator's when none is configured."""
        return self.cloudflare_account_id or LOCAL_SIM_ACCOUNT

    def check_for(self, mode: Mode) -> list[str]:
        """Problems that stop ``mode`` from starting, one line each naming the variable."""
        problems: list[str] = []

        def need(value: object, name: str, why: str) -> None:
            if value is None or (isinstance(value, SecretStr) and not value.get_secret_value()):
                problems.append(f"{name} is not set: {why}")

        if mode in ("serve", "socket"):
            need(self.slack_bot_token, "SLACK_BOT_TOKEN", "the bot token (xoxb-…) from OAuth")
            need(self.cloudflare_api_token, "CLOUDFLARE_API_TOKEN", "a token with DEX Write")
            need(self.cloudflare_account_id, "CLOUDFLARE_ACCOUNT_ID", "the Cloudflare account")
            if not self.dex_requesters and not self.dex_policy_file:
                problems.append(
                    "DEX_REQUESTERS is empty: list the Slack user or group IDs allowed to use /dex"
                )
            no_policy = not self.dex_policy_file  # a policy file names its own approvers
            if no_policy and not self.dex_approvers and not self.dex_allow_self_approval:
                problems.append(
                    "DEX_APPROVERS is empty: nobody could approve a request (every one would "
                    "expire); list the approvers' user or group IDs"
                )
        if mode == "serve":
            need(self.slack_signing_secret, "SLACK_SIGNING_SECRET", "from Basic Information")
        if mode == "socket":
            need(self.slack_app_token, "SLACK_APP_TOKEN", "an app-level token (xapp-…)")
        if mode == "worker":
            need(self.slack_bot_token, "SLACK_BOT_TOKEN", "the worker posts into threads")
            need(self.cloudflare_api_token, "CLOUDFLARE_API_TOKEN", "a token with DEX Write")
            need(self.cloudflare_account_id, "CLOUDFLARE_ACCOUNT_ID", "the Cloudflare account")
        for name, secret, prefix in (
            ("SLACK_BOT_TOKEN", self.slack_bot_token, "xox"),
            ("SLACK_APP_TOKEN", self.slack_app_token, "xapp-"),
        ):
            if secret is not None and not secret.get_secret_value().startswith(prefix):
                problems.append(f"{name} does not look like a Slack token (expected {prefix}…)")
        return problems


def load_settings(mode: Mode | None = None, **overrides: object) -> Settings:
    """Read settings; on failure raise ``SettingsError`` with one line per bad variable.

    With ``mode``, every problem is reported in one round: the malformed values, and what
    ``check_for(mode)`` finds with those values left at their defaults.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems, bad = [], set()
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else ""
            bad.add(field)
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{field.upper() or 'settings'}: {msg}")
        if mode is not None:
            problems += _other_problems(mode, bad, overrides)
        raise SettingsError(problems) from None


def _other_problems(mode: Mode, bad: set[str], overrides: dict[str, object]) -> list[str]:
    fields = Settings.model_fields
    defaults = {f: fields[f].get_default(call_default_factory=True) for f in bad if f in fields}
    try:
        rest = Settings(**{**overrides, **defaults})
    except ValidationError:
        return []
    # A malformed value was replaced by its default: don't also call it "not set".
    return [p for p in rest.check_for(mode) if p.split(" ", 1)[0].lower() not in bad]
