"""warp-diag bundles in the real layout, with files replaced or left out per test."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

SETTINGS = """Merged configuration:
(derived)\tAlways On: true
(network policy)\tSwitch Locked: false
(network policy)\tMode: WarpWithDnsOverHttps
(network policy)\tExclude mode, with hosts/ips:
  10.0.0.0/8
  100.64.0.0/10
  169.254.0.0/16
  172.16.0.0/12 (private)
  192.168.0.0/16
(network policy)\tFallback domains:
  corp.example
"""

STATS = """Endpoints: 162.159.193.1:2408, [2606:4700:100::a29f:c101]:2408
Time since last handshake: 54s
Sent: 80.8MB; Received: 818.4MB
Estimated latency: 14ms
Estimated loss: 0.00%;
"""

NETWORK = {
    "v4_iface": {"name": "en0", "addr": "192.168.1.23", "kind": {"WiFi": {"ssid": "Office"}}},
    "v6_iface": None,
    "dns_servers": ["192.168.1.1"],
    "captive_network": False,
    "setup_dns": True,
}

CALM_LOG = (
    "2026-03-10T10:40:01.123Z  INFO warp::warp_service: Tunnel connected protocol=MASQUE\n"
    "2026-03-10T10:40:02.456Z DEBUG warp::dns: DoH query ok upstream=https://x.cloudflare-gateway.com\n"
)

DEFAULT_FILES: dict[str, str | bytes] = {
    "warp-status.txt": "Ok(Connected)\n",
    "version.txt": "Version: 2025.1.861.0\nCommit: 1a2b3c\n",
    "platform.txt": "macOS\n",
    "warp-settings.txt": SETTINGS,
    "warp-stats.txt": STATS,
    "warp-network.txt": json.dumps(NETWORK),
    "warp-account.txt": "Account type: Team\nDevice ID: 6f1c2a3b\nOrganization: example\n",
    "connectivity.txt": "DNS resolution: ok\nTrace to 162.159.193.1: ok\n",
    "dns-check.txt": "DNS check passed\n",
    "daemon.log": CALM_LOG,
    "daemon.1.log": CALM_LOG,
    "ps.txt": "  PID COMMAND\n  101 /Applications/Cloudflare WARP.app\n  230 /usr/sbin/syslogd\n",
    "date.txt": "2026-03-10 10:45:00 UTC\n",
}


def bundle(path: Path, folder: str = "", **changes: str | bytes | None) -> Path:
    """A zip of ``DEFAULT_FILES`` with ``changes`` (key: file name with ``-``/``.`` as ``_``;
    ``None`` leaves the file out) applied, optionally inside ``folder``."""
    files = dict(DEFAULT_FILES)
    for key, value in changes.items():
        name = next(n for n in [*files, _name(key)] if _key(n) == key)
        if value is None:
            files.pop(name, None)
        else:
            files[name] = value
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(folder + name, data)
    return path


def _key(name: str) -> str:
    return name.replace("-", "_").replace(".", "_")


def _name(key: str) -> str:
    # New files: processes_txt -> processes.txt, daemon_2_log -> daemon.2.log
    stem, ext = key.rsplit("_", 1)
    return stem.replace("_", "." if stem.startswith("daemon") else "-") + "." + ext
