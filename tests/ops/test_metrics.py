"""``/metrics`` as Prometheus scrapes it: after a scripted capture through the real serve app
the counters moved by exactly what Cloudflare and Slack saw; gauges read the quota, the rate
budget and (on the poller lease's holder only) the database; labels carry no ids."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.metrics import Metrics
from bot.metrics.hooks import cloudflare_endpoint, slack_method
from bot.metrics.store import POLLER_LEASE, watch_store
from bot.sim.people import ANN, APPROVALS_CHANNEL, MAX, SAM, SUPPORT_CHANNEL
from bot.sim.slack.model import Message
from handlers.ids import ActionId
from tests.ops.conftest import MeteredBot

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "docs" / "grafana-dashboard.json"
PCAP_ANN = f'capture <@{ANN.user_id}> pcap 5m --device ann-macbook --reason "VPN drops"'


def _buttons(msg: Message) -> list[dict[str, Any]]:
    return [el for b in msg.blocks or [] if b.get("type") == "actions" for el in b["elements"]]


async def _capture_approved(m: MeteredBot) -> tuple[Message, str]:
    """Sam asks for a pcap on Ann's laptop, Max approves; returns (parent, request id)."""
    bot = m.harness
    reply = await bot.slash(PCAP_ANN, user=SAM)
    assert reply is not None and "waiting for approval" in reply.text.lower(), reply.text
    parent = bot.slack.messages(SUPPORT_CHANNEL)[-1]
    card = bot.slack.messages(APPROVALS_CHANNEL)[-1]
    [approve] = [b for b in _buttons(card) if b["action_id"] == ActionId.APPROVE]
    resp = await bot.click(
        ActionId.APPROVE, approve["value"], user=MAX, channel=APPROVALS_CHANNEL, message_ts=card.ts
    )
    assert resp.status_code == 200
    await bot.slack.wait_for(
        lambda c: (
            c.method == "chat.postMessage"
            and c.args.get("thread_ts") == parent.ts
            and "Sent to ann-macbook" in str(c.args.get("text"))
        ),
        timeout=15,
    )
    return parent, approve["value"]


async def test_a_capture_moves_the_counters_by_what_cloudflare_and_slack_saw(
    metered: MeteredBot,
) -> None:
    bot = metered.harness
    # Slack pushes back once on a look-up, which the listener's client waits out in line (the
    # outbox's own client defers instead: tests/worker/test_pacing.py).
    bot.slack.rate_limit("usergroups.users.list", count=1, retry_after=1)
    before = await metered.scrape()
    assert before.total("dexbot_cloudflare_calls_total") == 0

    parent, request_id = await _capture_approved(metered)
    after = await metered.scrape()

    # Cloudflare: one create, and every request the simulator received is counted once.
    seen = await bot.sim.requests()
    posts = [r for r in seen if r["method"] == "POST"]
    assert len(posts) == 1
    created = after.value(
        "dexbot_cloudflare_calls_total",
        method="POST",
        endpoint="/dex/commands",
        status=str(posts[0]["status"]),
    )
    assert created == 1
    assert after.total("dexbot_cloudflare_calls_total") == len(seen)
    # The client's own window counted the same requests.
    assert after.value("dexbot_cloudflare_rate_budget_used") == len(seen)
    assert after.value("dexbot_cloudflare_rate_budget_limit") == 1200

    # Slack: the 429, then every answer the fake gave, by method.
    assert (
        after.value("dexbot_slack_calls_total", method="usergroups.users.list", error="ratelimited")
        == 1
    )
    web_calls = [c for c in bot.slack.calls() if c.method not in ("response_url", "upload")]
    for method in {c.method for c in web_calls}:
        answered = sum(1 for c in web_calls if c.method == method)
        assert after.total("dexbot_slack_calls_total", method=method) == answered, method

    # The lifecycle counted what happened to the request, once each (the one transition path).
    assert after.value("dexbot_requests_received_total", type="pcap") == 1
    assert after.value("dexbot_approvals_total", type="pcap") == 1
    assert after.value("dexbot_dispatches_total", type="pcap") == 1
    assert after.total("dexbot_denials_total") == 0

    # Two payloads acknowledged: the slash command and the button click.
    assert after.value("dexbot_ack_latency_seconds_count", kind="command") == 1
    assert after.value("dexbot_ack_latency_seconds_count", kind="block_actions") == 1

    # No label carries a user, device, request, channel or command id.
    [command] = await bot.sim.commands()
    ids = {
        SAM.user_id,
        MAX.user_id,
        ANN.user_id,
        bot.sim.device("ann-macbook").device_id,
        request_id,
        command["id"],
        SUPPORT_CHANNEL,
        APPROVALS_CHANNEL,
        parent.ts,
        bot.sim.account_id,
    }
    leaked = {v for v in after.label_values() if any(i in v for i in ids)}
    assert leaked == set()


async def test_quota_gauges_show_what_cloudflare_said_last(metered: MeteredBot) -> None:
    bot = metered.harness
    reset = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    await bot.sim.set_quota(quota=40, quota_usage=7, reset_time=reset.isoformat())
    unread = await metered.scrape()  # nothing asked Cloudflare yet: unknown, not zero
    assert math.isnan(unread.value("dexbot_quota_remaining"))
    assert math.isnan(unread.value("dexbot_quota_reset_seconds"))
    reply = await bot.slash("quota", user=SAM)
    assert reply is not None and "33" in reply.text  # what the person saw ...
    got = await metered.scrape()
    assert got.value("dexbot_quota_remaining") == 33  # ... is what the operator sees
    assert got.value("dexbot_quota_limit") == 40
    assert 3500 < got.value("dexbot_quota_reset_seconds") <= 3600


async def test_database_gauges_come_only_from_the_lease_holder(metered: MeteredBot) -> None:
    bot = metered.harness
    svc = bot.dexbot.services
    await _capture_approved(metered)

    # No worker runs here, so another replica holds the lease: nothing from the database.
    other = Metrics()
    watch_store(other, svc.engine, "another-replica:1")
    ours = await metered.scrape()
    assert ours.value("dexbot_poller_lease_held") == 0
    assert ours.value("dexbot_store_up") == 1
    assert not ours.has("dexbot_outbox_depth") and not ours.has("dexbot_commands_in_flight")

    # This replica takes the lease: it alone exports them, with what the database holds.
    assert await svc.leases.acquire(POLLER_LEASE, svc.clock(), timedelta(minutes=5))
    holder = await metered.scrape()
    assert holder.value("dexbot_poller_lease_held") == 1
    assert holder.value("dexbot_commands_in_flight") == 1  # Ann's pcap, PENDING_EXEC
    assert holder.has("dexbot_outbox_depth") and holder.has("dexbot_outbox_oldest_age_seconds")
    from tests.ops.conftest import parse_scrape

    not_holder = parse_scrape((await other.scrape()).decode())
    assert not_holder.value("dexbot_poller_lease_held") == 0
    assert not not_holder.has("dexbot_outbox_depth")


def test_cloudflare_paths_are_templated_and_slack_methods_named() -> None:
    base = "/client/v4/accounts/0123abcd"
    assert cloudflare_endpoint(f"{base}/dex/commands") == "/dex/commands"
    assert cloudflare_endpoint(f"{base}/dex/commands/quota") == "/dex/commands/quota"
    assert (
        cloudflare_endpoint(f"{base}/dex/commands/c-9f/downloads/c-9f.zip")
        == "/dex/commands/{command_id}/downloads/{filename}"
    )
    assert (
        cloudflare_endpoint(f"{base}/dex/devices/dev-1/fleet-status/live")
        == "/dex/devices/{device_id}/fleet-status/live"
    )
    assert cloudflare_endpoint(f"{base}/dex/somewhere/new") == "other"
    assert slack_method("http://127.0.0.1:1/api/chat.postMessage") == "chat.postMessage"
    assert slack_method("https://files.slack.com/upload/v1/ABC") == "other"


def test_lifecycle_transitions_move_their_counters() -> None:
    m = Metrics()
    for event in ("requested", "approved", "dispatched", "completed"):
        m.observe_transition(event, "pcap")
    m.observe_transition("requested", "warp-diag")
    m.observe_transition("denied", "warp-diag")
    m.observe_transition("dispatch_retry", "pcap")  # a lifecycle event with no counter
    m.observe_transition("approved", "speed-test", by_policy=True)
    got = m.registry.get_sample_value
    assert got("dexbot_requests_received_total", {"type": "pcap"}) == 1
    assert got("dexbot_approvals_total", {"type": "pcap"}) == 1
    assert got("dexbot_dispatches_total", {"type": "pcap"}) == 1
    assert got("dexbot_requests_total", {"type": "pcap", "outcome": "completed"}) == 1
    assert got("dexbot_denials_total", {"type": "warp-diag"}) == 1
    assert got("dexbot_requests_total", {"type": "warp-diag", "outcome": "denied"}) == 1
    assert got("dexbot_approvals_total", {"type": "warp-diag"}) is None
    assert got("dexbot_auto_approvals_total", {"type": "speed-test"}) == 1
    assert got("dexbot_approvals_total", {"type": "speed-test"}) is None
    try:
        m.observe_transition("approve", "pcap")  # a typo must not count silently
    except ValueError:
        pass
    else:
        raise AssertionError("unknown event accepted")


def _dashboard_metric_names() -> set[str]:
    doc = json.loads(DASHBOARD.read_text())
    exprs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                exprs.append(node["expr"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    assert exprs, "the dashboard has no queries"
    return {n for e in exprs for n in re.findall(r"\bdexbot_[a-z_]+\b", e)}


def _all_names() -> set[str]:
    from sqlalchemy.ext.asyncio import create_async_engine

    m = Metrics()
    watch_store(m, create_async_engine("sqlite+aiosqlite://"), "x")  # never read: describe only
    return m.names()


def test_every_metric_the_dashboard_queries_exists() -> None:
    missing = _dashboard_metric_names() - _all_names()
    assert missing == set(), f"the dashboard queries metrics nobody exports: {sorted(missing)}"


def test_every_metric_is_on_the_dashboard() -> None:
    names = _all_names()
    families = {re.sub(r"_(total|bucket|sum|count)$", "", n) for n in names}
    shown = {re.sub(r"_(total|bucket|sum|count)$", "", n) for n in _dashboard_metric_names()}
    assert families - shown == set()


def test_the_readme_documents_every_metric() -> None:
    readme = (ROOT / "README.md").read_text()
    families = {re.sub(r"_(total|bucket|sum|count)$", "", n) for n in _all_names()}
    undocumented = {f for f in families if f not in readme}
    assert undocumented == set()
