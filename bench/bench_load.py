"""Benchmark: the whole bot under load, with Slack's rate limits on (issue 14, item 4).

``python -m bot serve`` runs as a process of its own (HTTP mode, SQLite file, the worker
inside). This process runs the DEX simulator (real time), the fake Slack (its per-method
rate limits on) and the load: ``--rate`` capture requests a second for ``--seconds``, from
``--channels`` channels and ``--requesters`` requesters, on ``--devices`` simulated devices
(each request a distinct device and command type, so none is refused as a duplicate). A
manager approves each card as soon as it appears. Then it waits until every request is final
and the outbox is empty (``--drain`` seconds at most) and prints:

- slash-command ack: the signed POST's answer time, as the load generator saw it;
- request -> card posted: from the POST to the fake Slack accepting the card;
- approval -> command created: from the click's POST to the simulator's create call;
- status change -> thread reply: from the simulator's status change to the reply in Slack;
- Slack 429s by method, and whether each Retry-After was waited out (a call to the same
  method and channel before it is "early"), plus posts lost (outbox rows given up) or
  repeated (two messages carrying one outbox key);
- quota: the simulator's quota and usage, and any create it refused;
- the bot process's RSS at the end (and its peak, sampled every 100 ms).

``--devices-delay 2.5`` makes the simulator answer the devices list after 2.5 s.

    python bench/bench_load.py
    python bench/bench_load.py --devices-delay 2.5
    python bench/bench_load.py --no-slack-limits
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from aiohttp import web

from bot.sim.dex import DexSimulator
from bot.sim.dex.fleet import FILLER_OWNERS, filler_devices
from bot.sim.people import MAX, MIA, SUPPORT_GROUP_ID
from bot.sim.slack import FAKE_SIGNING_SECRET, FakeSlack
from bot.sim.slack.model import Channel, Event, Message, User
from bot.sim.slack.payloads import block_actions_body, signed_headers, slash_command_body
from bot.sim.slack.workspace import Workspace
from bot.sim.world import free_port, process_env
from handlers.ids import ActionId

HERE = Path(__file__).resolve().parent.parent
KINDS = ("pcap", "warp-diag", "speedtest")
FINAL = ("completed", "denied", "expired", "cancelled", "dispatch_failed")


def ask_text(kind: str, owner_id: str, device: str) -> str:
    """The ``/dex`` text of one request."""
    target = f"<@{owner_id}>"
    if kind == "pcap":
        return f'capture {target} pcap 1m --device {device} --reason "load"'
    if kind == "warp-diag":
        return f'capture {target} warp-diag --device {device} --reason "load"'
    return f'speedtest {target} --device {device} --reason "load"'


@dataclass
class Seen:
    """What the load generator, the fake Slack and the simulator saw, on one clock."""

    acks: list[float] = field(default_factory=list)
    ack_status: Counter[int] = field(default_factory=Counter)
    asked: dict[tuple[str, str], float] = field(default_factory=dict)  # (device, type) -> t
    cards: dict[str, float] = field(default_factory=dict)  # request id -> t
    approved: dict[str, float] = field(default_factory=dict)  # request id -> click t
    created: dict[tuple[str, str], float] = field(default_factory=dict)  # (device, type) -> t
    statuses: dict[tuple[str, str], float] = field(default_factory=dict)  # (rid, status) -> t
    keys: Counter[str] = field(default_factory=Counter)  # outbox key -> messages carrying it
    quota_refused: int = 0
    cloudflare: Counter[str] = field(default_factory=Counter)  # "GET /dex/…" -> calls
    cloudflare_429: int = 0
    clicks: list[asyncio.Task[None]] = field(default_factory=list)


def workspace(channels: int, requesters: int) -> tuple[Workspace, list[str], list[str]]:
    """The demo workspace plus the load's channels (the bot in each) and requesters."""
    ws = Workspace.demo()
    ids = [f"U0LOAD{i:03d}" for i in range(1, requesters + 1)]
    for uid in ids:
        ws.users[uid] = User(
            uid, uid.lower(), f"Requester {uid[-3:]}", f"{uid.lower()}@example.com"
        )
        ws.add_im(uid)
    ws.groups[SUPPORT_GROUP_ID] = (*ws.groups[SUPPORT_GROUP_ID], *ids)
    members = set(ws.users) - {ws.bot_user_id}
    chans = [f"C0LOAD{i:03d}" for i in range(1, channels + 1)]
    for cid in chans:
        ws.channels[cid] = Channel(cid, cid.lower(), False, bot_member=True, members=set(members))
        ws.channels[cid].members.add(ws.bot_user_id)
    return ws, chans, ids


def sim_middleware(seen: Seen, delay: float) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Records each create call's devices; answers the devices list ``delay`` s late."""

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        t = time.monotonic()
        if delay and request.method == "GET" and request.path.endswith("/devices"):
            await asyncio.sleep(delay)
        body = await request.json() if request.method == "POST" and request.can_read_body else None
        response = await handler(request)
        seen.cloudflare[f"{request.method} {endpoint(request.path)}"] += 1
        seen.cloudflare_429 += response.status == 429
        if request.path.endswith("/commands") and isinstance(body, dict):
            if response.status == 200:
                for c in body.get("commands") or []:
                    seen.created[(str(c.get("device_id")), str(c.get("type")))] = t
            elif response.status == 400:
                seen.quota_refused += 1
        return response

    return middleware


def endpoint(path: str) -> str:
    """``/client/v4/accounts/A/dex/devices/D/fleet-status/live`` -> ``/dex/devices/{id}/…``."""
    parts = path.split("/dex/", 1)[-1].split("/")
    return "/dex/" + "/".join("{id}" if len(p) >= 32 or p.count("-") == 4 else p for p in parts)


def environment(
    sim: DexSimulator, slack: FakeSlack, db: str, args: argparse.Namespace
) -> dict[str, str]:
    """The bot process's environment: the local world's, with the load's knobs."""
    return process_env(
        sim,
        slack,
        db,
        DEX_POLL_INTERVAL_SECONDS=str(args.poll_interval),
        CLOUDFLARE_RATE_LIMIT=str(args.cf_limit),
        PYTHONPATH=str(HERE),
        LOG_LEVEL="WARNING",
        **({"DEX_UPLOAD_CONCURRENCY": str(args.lanes)} if args.lanes else {}),
    )


def on_slack_event(seen: Seen, approve: Callable[[Message], None]) -> Callable[[Event], None]:
    """Times every post carrying an outbox key; a new card is approved at once."""

    def callback(event: Event) -> None:
        if event.kind != "message_posted" or not isinstance(event.item, Message):
            return
        key = ((event.item.metadata or {}).get("event_payload") or {}).get("key")
        if not key:
            return
        now = time.monotonic()
        seen.keys[key] += 1
        rid, kind = key.split(":")[:2]
        if kind == "post_card" and rid not in seen.cards:
            seen.cards[rid] = now
            approve(event.item)
        elif kind == "thread_status":
            for status in ("PENDING_UPLOAD", "SUCCESS", "FAILED"):
                if status in key:
                    seen.statuses.setdefault((rid, status), now)

    return callback


def approve_button(card: Message) -> str | None:
    """The request id on the card's Approve button."""
    for block in card.blocks or []:
        for el in block.get("elements", []) if block.get("type") == "actions" else []:
            if el.get("action_id") == ActionId.APPROVE:
                return str(el["value"])
    return None


def pct(values: list[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of ``values``; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def line(name: str, values: list[float], unit: float = 1000.0, suffix: str = "ms") -> str:
    """``name: n=…, p50 …, p99 …, max …``."""
    if not values:
        return f"{name:34} none measured"
    fmt = (lambda v: f"{v * unit:.0f} {suffix}") if unit == 1000.0 else (lambda v: f"{v:.2f} s")
    return (
        f"{name:34} n={len(values)}, p50 {fmt(pct(values, 50))}, p99 {fmt(pct(values, 99))}, "
        f"max {fmt(max(values))}"
    )


def refusals(slack: FakeSlack) -> Counter[str]:
    """Slash commands answered without a request being stored, by the answer's words."""
    first: dict[str, str] = {}
    for call in slack.calls("response_url"):
        hook = slack.workspace.response_urls.get(call.path.rsplit("/", 1)[-1])
        if hook is not None and hook.message_ts is None:  # a slash command's, not a click's
            first.setdefault(call.path, str(call.args.get("text") or ""))
    stored = ("saved", "posted")
    return Counter(t for t in first.values() if not any(w in t for w in stored))


QUERIES = {
    "states": "SELECT state FROM capture_requests",
    "pairs": "SELECT request_id, device_id, command_type FROM request_devices",
    "outbox": "SELECT state FROM slack_outbox",
    "failed": "SELECT key, error FROM slack_outbox WHERE state = 'failed'",
}


async def read_db(url: str) -> dict[str, Any]:
    """The bot's own record: requests by state, (device, type) -> request, outbox rows."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    if url.startswith("sqlite"):
        con = sqlite3.connect(f"file:{url.split(':///', 1)[1]}?mode=ro", uri=True, timeout=5)
        try:
            rows = {k: list(con.execute(q)) for k, q in QUERIES.items()}
        finally:
            con.close()
    else:
        con = await asyncpg.connect(url.replace("+asyncpg", ""), timeout=5)
        try:
            rows = {k: [tuple(r) for r in await con.fetch(q)] for k, q in QUERIES.items()}
        finally:
            await con.close()
    return {
        "states": Counter(s for (s,) in rows["states"]),
        "pairs": {(d, t): r for r, d, t in rows["pairs"]},
        "outbox": Counter(s for (s,) in rows["outbox"]),
        "failed": [f"{k}: {e}" for k, e in rows["failed"]],
    }


def honoured(slack: FakeSlack) -> tuple[Counter[str], Counter[str]]:
    """429s by method, and calls made to the same method (and channel, for posts) before the
    Retry-After of the previous 429 there had passed."""
    limited: Counter[str] = Counter()
    until: dict[tuple[str, str], float] = {}
    early: Counter[str] = Counter()
    for call in slack.calls():
        scope = (
            call.method,
            str(call.args.get("channel", "")) if call.method == "chat.postMessage" else "",
        )
        if call.at < until.get(scope, 0.0) - 0.05:  # 50 ms for the fake's own rounding
            early[call.method] += 1
        if call.status == 429:
            limited[call.method] += 1
            after = float((call.response or {}).get("retry_after") or 1)
            until[scope] = max(until.get(scope, 0.0), call.at + after)
    return limited, early


async def run(args: argparse.Namespace) -> None:
    """Set the world up, run the load, wait for it to drain, print the figures."""
    work = Path(tempfile.mkdtemp(prefix="dexbench-load-"))
    seen = Seen()
    ws, chans, requesters = workspace(args.channels, args.requesters)
    slack = await FakeSlack(ws, work / "slack-files", rate_limits=not args.no_slack_limits).start()
    sim = DexSimulator(seed=1, speed=1.0)
    sim.configure({"rate_limit": args.cf_limit})
    sim.state.devices = filler_devices(1, args.devices, start=0)
    total = int(args.rate * args.seconds)
    sim.state.quota = args.quota if args.quota is not None else total - total // 10
    await sim.start(middlewares=[sim_middleware(seen, args.devices_delay)])
    owners = {p.email: p.user_id for p in FILLER_OWNERS}
    devices = [(d.name, d.device_id, owners[d.registrations[0].email]) for d in sim.state.devices]
    db = f"sqlite+aiosqlite:///{work / 'bot.db'}"
    if args.engine == "postgresql":  # a throw-away database, dropped at the end
        admin = await asyncpg.connect(args.pg, timeout=5)
        name = f"dexbench_load_{os.getpid()}"
        await admin.execute(f'CREATE DATABASE "{name}"')
        db = (
            args.pg.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
        )
    port = free_port()
    events = f"http://127.0.0.1:{port}/slack/events"
    log = (work / "bot.log").open("wb")  # the bot process writes its log here
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", "--port", str(port),
        env=environment(sim, slack, db, args), cwd=str(HERE),
        stdout=asyncio.subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    bot = psutil.Process(proc.pid)
    peak = [0]
    approvers = (MAX.user_id, MIA.user_id)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:

        async def click(card: Message) -> None:
            rid = approve_button(card)
            if rid is None:
                return
            who = approvers[len(seen.approved) % 2]
            url = slack.new_response_url(channel=card.channel, user=who, message_ts=card.ts)
            body = block_actions_body(
                ActionId.APPROVE, rid, who, card.channel, card.ts, url, slack.new_trigger_id(who)
            )
            seen.approved[rid] = time.monotonic()
            await http.post(events, content=body, headers=signed_headers(FAKE_SIGNING_SECRET, body))

        def approve(card: Message) -> None:
            seen.clicks.append(asyncio.create_task(click(card)))

        async def ask(i: int) -> None:
            name, device_id, owner = devices[i % len(devices)]
            kind = KINDS[(i // len(devices)) % len(KINDS)]
            channel, user = chans[i % len(chans)], requesters[i % len(requesters)]
            url = slack.new_response_url(channel=channel, user=user)
            body = slash_command_body(
                ask_text(kind, owner, name), user, channel, url, slack.new_trigger_id(user)
            )
            wire = "speed-test" if kind == "speedtest" else kind
            t0 = seen.asked[(device_id, wire)] = time.monotonic()
            r = await http.post(
                events, content=body, headers=signed_headers(FAKE_SIGNING_SECRET, body)
            )
            seen.acks.append(time.monotonic() - t0)
            seen.ack_status[r.status_code] += 1

        async def sample() -> None:
            while True:
                peak[0] = max(peak[0], bot.memory_info().rss)
                await asyncio.sleep(0.1)

        slack.subscribe(on_slack_event(seen, approve))
        deadline = time.monotonic() + 30
        while True:  # the bot is up once /healthz answers
            try:
                if (await http.get(events.replace("/slack/events", "/healthz"))).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.returncode is not None or time.monotonic() > deadline:
                raise SystemExit(f"the bot did not start; see {work / 'bot.log'}")
            await asyncio.sleep(0.05)
        sampler = asyncio.create_task(sample())
        asks: list[asyncio.Task[None]] = []
        start = time.monotonic()
        for i in range(total):
            await asyncio.sleep(max(0.0, start + i / args.rate - time.monotonic()))
            asks.append(asyncio.create_task(ask(i)))
        await asyncio.gather(*asks)
        load_s = time.monotonic() - start
        drain_deadline = time.monotonic() + args.drain
        state: dict[str, Any] = {}
        while time.monotonic() < drain_deadline:
            await asyncio.gather(*seen.clicks)
            state = await read_db(db)
            busy = state["outbox"]["pending"] + state["outbox"]["sending"]
            # Settled: every request stored or answered with a refusal, nothing left to post,
            # and each request final or waiting for a person (an approval refused for the
            # quota leaves its request pending until it expires).
            moving = [s for s in state["states"] if s not in (*FINAL, "pending_approval")]
            answered = sum(state["states"].values()) + len(refusals(slack))
            if answered >= total and not busy and not moving:
                break
            await asyncio.sleep(1.0)
        drained_s = time.monotonic() - start
        rss = bot.memory_info().rss
        cpu = (sum(bot.cpu_times()[:2]), sum(psutil.Process().cpu_times()[:2]))
        sampler.cancel()
    proc.send_signal(signal.SIGTERM)
    await proc.wait()
    log.close()
    limited, early = honoured(slack)
    quota, usage, _ = sim.state.current_quota()
    await slack.stop()
    await sim.stop()
    refused = refusals(slack)
    report(
        args, seen, state, load_s, drained_s, limited, early, (quota, usage), rss, peak[0], total
    )
    for text, n in refused.most_common(5):
        print(f"  {n} slash commands answered without a request: {text[:120]}")
    print(
        f"CPU seconds: the bot {cpu[0]:.1f}, the stand-ins and the load generator {cpu[1]:.1f} "
        f"(over {drained_s:.0f} s)"
    )
    if args.engine == "postgresql":
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {work}")


def report(
    args: argparse.Namespace,
    seen: Seen,
    state: dict[str, Any],
    load_s: float,
    drained_s: float,
    limited: Counter[str],
    early: Counter[str],
    quota: tuple[int, int],
    rss: int,
    peak: int,
    total: int,
) -> None:
    """Print the figures."""
    pairs: dict[tuple[str, str], str] = state.get("pairs", {})
    to_card, to_command, to_reply = [], [], []
    exec_s, upload_s = 20.0, 20.0  # the simulator's defaults (SimConfig)
    for pair, asked in seen.asked.items():
        rid = pairs.get(pair)
        if rid is None:
            continue
        if rid in seen.cards:
            to_card.append(seen.cards[rid] - asked)
        created = seen.created.get(pair)
        if created is not None and rid in seen.approved:
            to_command.append(created - seen.approved[rid])
        if created is not None:
            for status, at in (("PENDING_UPLOAD", exec_s), ("SUCCESS", exec_s + upload_s)):
                if (rid, status) in seen.statuses:
                    to_reply.append(seen.statuses[(rid, status)] - (created + at))
    repeated = sum(1 for n in seen.keys.values() if n > 1)
    print(
        f"load: {total} requests at {args.rate}/s for {args.seconds} s (sent in {load_s:.1f} s) "
        f"from {args.channels} channels and {args.requesters} requesters on {args.devices} "
        f"devices; Slack rate limits {'off' if args.no_slack_limits else 'on'}; devices call "
        f"delayed {args.devices_delay} s; poll interval {args.poll_interval} s; "
        f"{args.engine}; Cloudflare limit {args.cf_limit} per 5 min"
    )
    print(f"acks by HTTP status: {dict(seen.ack_status)}")
    print(line("slash-command ack", seen.acks))
    print(line("request -> card posted", to_card, unit=1, suffix="s"))
    print(line("approval -> command created", to_command, unit=1, suffix="s"))
    print(line("status change -> thread reply", to_reply, unit=1, suffix="s"))
    print(f"requests by state: {dict(state.get('states', {}))}; cards seen {len(seen.cards)}")
    print(f"commands created: {len(seen.created)}; creates refused: {seen.quota_refused}")
    calls = ", ".join(f"{k} {n}" for k, n in seen.cloudflare.most_common())
    print(f"Cloudflare calls: {calls}; answered 429: {seen.cloudflare_429}")
    print(f"quota: {quota[1]} used of {quota[0]} (overspent: {quota[1] > quota[0]})")
    print(f"Slack 429s: {dict(limited) or 'none'}")
    print(f"calls made before their Retry-After had passed: {dict(early) or 'none'}")
    print(f"outbox rows by state: {dict(state.get('outbox', {}))}")
    for f in state.get("failed", [])[:5]:
        print(f"  given up: {f}")
    print(f"posts repeated (one key, several messages): {repeated}")
    print(f"settled (or gave up waiting) {drained_s:.1f} s after the first request")
    print(f"bot RSS at the end {rss / 2**20:.0f} MiB (peak {peak / 2**20:.0f} MiB)")
    print(f"measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--channels", type=int, default=10)
    parser.add_argument("--requesters", type=int, default=20)
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--quota", type=int, default=None, help="default: 90%% of the requests")
    parser.add_argument("--devices-delay", type=float, default=0.0)
    parser.add_argument("--no-slack-limits", action="store_true")
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--pg", default="postgresql://postgres@127.0.0.1:5432/postgres", help="admin database"
    )
    parser.add_argument(
        "--cf-limit", type=int, default=1200, help="Cloudflare requests per 5 minutes (sim and bot)"
    )
    parser.add_argument("--poll-interval", type=float, default=15.0)
    parser.add_argument("--lanes", type=int, default=0, help="DEX_UPLOAD_CONCURRENCY")
    parser.add_argument("--drain", type=float, default=900.0, help="longest wait to settle, s")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    asyncio.run(run(parser.parse_args()))
