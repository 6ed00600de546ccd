"""A warp-diag bundle in the real layout and formats (see docs/simulator.md), so the bot's
parser is exercised end to end: fact files, then ``daemon.log`` / ``daemon.N.log`` filled
with client log lines to about ``size`` bytes, streamed into the zip in chunks."""

from __future__ import annotations

import json
import random
import zipfile
from datetime import UTC, datetime

from bot.sim.dex.clock import isoformat

_LOG_LINES = (
    " INFO warp::warp_service: Tunnel connected protocol=MASQUE colo={colo}",
    " DEBUG warp::dns: DoH query ok upstream=https://dexbot-demo.cloudflare-gateway.com",
    " INFO warp::network: Default route changed interface=en0 gateway=192.168.1.1",
    " WARN warp::happy_eyeballs: IPv6 connect slow, falling back to IPv4 after 250ms",
    " INFO warp::posture: Device posture check passed id=disk-encryption",
    " DEBUG warp::stats: rtt_us={rtt} loss_pct=0.{loss}",
)
_SETTINGS = """Merged configuration:
(derived)\tAlways On: true
(network policy)\tSwitch Locked: false
(network policy)\tMode: WarpWithDnsOverHttps
(network policy)\tExclude mode, with hosts/ips:
  10.0.0.0/8
  100.64.0.0/10
  169.254.0.0/16
  172.16.0.0/12
  192.0.0.0/24
  192.168.0.0/16
  224.0.0.0/24
  fd00::/8
  fe80::/10
(network policy)\tFallback domains:
  corp.example
  intranet
(network policy)\tDaemon Teams Auth: true
"""
_PS = """  PID TTY           TIME CMD
    1 ??         1:02.11 /sbin/launchd
  312 ??         0:14.20 /Applications/Cloudflare WARP.app/Contents/Resources/CloudflareWARP
  318 ??         0:03.02 /Applications/Cloudflare WARP.app/Contents/MacOS/Cloudflare WARP
  402 ??         0:40.51 /Applications/Slack.app/Contents/MacOS/Slack
  511 ??         1:12.00 /Applications/Google Chrome.app/Contents/MacOS/Google Chrome
"""
LOG_FILES = ("daemon.log", "daemon.1.log", "daemon.2.log")


def write_bundle(
    zf: zipfile.ZipFile, command_id: str, created: datetime, size: int, colo: str
) -> list[str]:
    """Write the bundle's files into ``zf``; returns their names."""
    rng = random.Random(command_id)
    stamp = isoformat(created)
    network = {
        "v4_iface": {"name": "en0", "addr": "192.168.1.23", "kind": {"WiFi": {"ssid": "Office"}}},
        "v6_iface": None,
        "dns_servers": ["192.168.1.1"],
        "captive_network": False,
        "setup_dns": True,
    }
    facts = {
        "warp-status.txt": "Ok(Connected)\n",
        "version.txt": "Version: 2025.1.861.0\nCommit: 8f2a1c7\n",
        "platform.txt": "macOS\n",
        "warp-settings.txt": _SETTINGS,
        "warp-stats.txt": (
            "Endpoints: 162.159.193.1:2408, [2606:4700:100::a29f:c101]:2408\n"
            f"Time since last handshake: {rng.randint(5, 110)}s\n"
            f"Sent: {rng.uniform(5, 90):.1f}MB; Received: {rng.uniform(50, 900):.1f}MB\n"
            f"Estimated latency: {rng.randint(9, 40)}ms\n"
            f"Estimated loss: {rng.choice(('0.00', '0.00', '0.12'))}%;\n"
        ),
        "warp-network.txt": json.dumps(network),
        "warp-account.txt": (
            "Account type: Team\nDevice ID: 7d1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b\n"
            "Organization: dexbot-demo\n"
        ),
        "connectivity.txt": (
            "DNS resolution (inside tunnel): connectivity-check.warp-svc. -> 162.159.193.1 ok\n"
            f"Trace to 162.159.193.1: ok colo={colo}\n"
        ),
        "dns-check.txt": "DNS check: doh upstream reachable, 3 of 3 queries ok\n",
        "ps.txt": _PS,
        "date.txt": f"{stamp}\n",
    }
    for name, text in facts.items():
        zf.writestr(name, text)
    base = created.timestamp()
    share = max(0, size - sum(len(t) for t in facts.values())) // len(LOG_FILES)
    for index, name in enumerate(LOG_FILES):
        _write_log(zf, name, share, rng, base - 3600 * (index + 1), colo)
    return [*facts, *LOG_FILES]


def _write_log(
    zf: zipfile.ZipFile, name: str, share: int, rng: random.Random, base: float, colo: str
) -> None:
    with zf.open(name, "w", force_zip64=share > 1 << 30) as out:
        written, second = 0, 0.0
        while written < share or written == 0:
            lines = []
            for _ in range(2000):
                second += rng.random()
                stamp = isoformat(datetime.fromtimestamp(base + second, UTC))
                template = rng.choice(_LOG_LINES)
                text = template.format(
                    colo=colo, rtt=rng.randint(9000, 60000), loss=rng.randint(0, 9)
                )
                lines.append(f"{stamp}{text}\n")
            chunk = "".join(lines).encode()[: max(1, share - written)]
            out.write(chunk)
            written += len(chunk)
            if written >= share:
                break
