"""Where metrics are recorded without touching the code they measure: the SDK's and httpx's
own extension points, attached once by the runner.

- Slack: a retry handler that never retries. ``slack_sdk`` shows every answer (each attempt,
  429s included, and connection errors) to each retry handler in turn; this one counts it and
  says "no", so the real rate-limit handler behind it decides as before.
- Cloudflare and the upload client: httpx response hooks (each attempt, 429s included).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

import httpx
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot.dex.client import DexClient
from bot.dex.ratelimit import RateLimiter
from bot.metrics import Metrics

_SLACK_METHOD = re.compile(r"/([a-z][A-Za-z]*(?:\.[A-Za-z]+)+)$")
_SLACK_ERROR = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
#: Cloudflare paths after ``/accounts/{account_id}``, templated so no id becomes a label.
_CF_ENDPOINTS = (
    (re.compile(r"/dex/commands$"), "/dex/commands"),
    (re.compile(r"/dex/commands/devices$"), "/dex/commands/devices"),
    (re.compile(r"/dex/commands/quota$"), "/dex/commands/quota"),
    (
        re.compile(r"/dex/commands/[^/]+/downloads/[^/]+$"),
        "/dex/commands/{command_id}/downloads/{filename}",
    ),
    (
        re.compile(r"/dex/devices/[^/]+/fleet-status/live$"),
        "/dex/devices/{device_id}/fleet-status/live",
    ),
)
_CF_ACCOUNT = re.compile(r"/accounts/[^/]+(/.*)$")
_INTERACTIVE = frozenset(
    {"block_actions", "view_submission", "view_closed", "block_suggestion", "shortcut"}
)


def cloudflare_endpoint(path: str) -> str:
    """``/client/v4/accounts/abc/dex/commands/c1/downloads/x.zip`` -> the templated path."""
    found = _CF_ACCOUNT.search(path)
    if found is None:
        return "other"
    tail = found.group(1)
    return next((name for pattern, name in _CF_ENDPOINTS if pattern.fullmatch(tail)), "other")


def slack_method(url: str) -> str:
    """``https://slack.com/api/chat.postMessage`` -> ``chat.postMessage`` (else ``other``)."""
    found = _SLACK_METHOD.search(url.split("?", 1)[0])
    return found.group(1) if found else "other"


def slack_error(status: int, body: Mapping[str, Any] | None) -> str:
    """``ok``, Slack's error code (bounded in shape), ``ratelimited`` for a 429, or ``http_N``."""
    if status == 429:
        return "ratelimited"
    if body and body.get("ok") is True:
        return "ok"
    error = body.get("error") if body else None
    if isinstance(error, str) and _SLACK_ERROR.match(error):
        return error
    return "ok" if status == 200 and body is None else f"http_{status}"


def payload_kind(body: Mapping[str, Any]) -> str:
    """What a Slack payload is, for the ack-latency label: command, block_actions, ..."""
    if "command" in body:
        return "command"
    kind = body.get("type")
    if kind in _INTERACTIVE:
        return str(kind)
    if kind == "event_callback":
        return "event"
    return "other"


class SlackCallCounter(AsyncRetryHandler):
    """Counts every Slack Web API answer; never asks for a retry."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__(max_retry_count=0)
        self.metrics = metrics

    async def can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        """Record the answer (or the connection error) and let the next handler decide."""
        method = slack_method(request.url)
        if response is None:
            label = "connection_error" if error is not None else "no_response"
        else:
            label = slack_error(response.status_code, response.body)
        self.metrics.slack_calls.labels(method, label).inc()
        return False


def instrument_slack_client(client: AsyncWebClient, metrics: Metrics) -> None:
    """Count ``client``'s calls by method and error (call once, before the client is used)."""
    if not any(isinstance(h, SlackCallCounter) for h in client.retry_handlers):
        client.retry_handlers.insert(0, SlackCallCounter(metrics))


def instrument_dex_client(dex: DexClient, metrics: Metrics) -> None:
    """Count Cloudflare answers by endpoint and status; keep the quota gauges as last read;
    export the client's rate budget (used in the current window) at scrape time."""

    async def on_response(response: httpx.Response) -> None:
        endpoint = cloudflare_endpoint(response.request.url.path)
        method = response.request.method
        metrics.cloudflare_calls.labels(method, endpoint, str(response.status_code)).inc()
        if endpoint == "/dex/commands/quota" and response.status_code == 200:
            await response.aread()  # small and read anyway; httpx keeps it for the client
            _record_quota(metrics, response.content)

    dex.add_response_hook(on_response)
    watch_rate_limiter(dex.limiter, metrics)


def _record_quota(metrics: Metrics, content: bytes) -> None:
    try:
        result = json.loads(content)["result"]
        quota, usage = int(result["quota"]), int(result["quota_usage"])
        reset = result.get("reset_time")
        reset_at = (
            datetime.fromisoformat(reset.replace("Z", "+00:00")).timestamp() if reset else None
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return  # the client reports a bad answer to its caller; a gauge just keeps its value
    metrics.observe_quota(quota, usage, reset_at)


def watch_rate_limiter(limiter: RateLimiter, metrics: Metrics) -> None:
    """Export ``limiter``'s budget: requests used in the current window, and the limit."""
    metrics.rate_budget_used.set_function(lambda: float(limiter.used()))
    metrics.rate_budget_limit.set(limiter.limit)


class HookedClient(Protocol):
    """Something that hands httpx event hooks to its client (``ArtifactRelay``)."""

    def add_event_hook(self, kind: str, hook: Callable[..., Any]) -> None: ...


def instrument_upload_client(http: HookedClient, metrics: Metrics) -> None:
    """Time each artifact upload (a POST to Slack's upload URL) and count its bytes."""

    async def on_request(request: httpx.Request) -> None:
        request.extensions["dexbot_started"] = time.monotonic()

    async def on_response(response: httpx.Response) -> None:
        request = response.request
        if request.method != "POST":
            return
        started = request.extensions.get("dexbot_started")
        ok = response.status_code < 300
        if isinstance(started, float):
            metrics.relay.labels("ok" if ok else "failed").observe(time.monotonic() - started)
        length = request.headers.get("content-length")
        if ok and length and length.isdigit():
            metrics.relayed_bytes.inc(int(length))

    http.add_event_hook("request", on_request)
    http.add_event_hook("response", on_response)
