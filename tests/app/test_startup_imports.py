"""What `dexbot serve` loads before it answers /healthz: not the artifact readers (dpkt), not
Alembic, not the simulator, the shell or the doctor. Each costs start-up time for work a
restart does not do (docs/benchmarks.md, "Start-up"); this guards it without timing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# What `python -m bot serve` runs up to listening, in the order it runs it (bot.cli.main,
# bot.runners.run_serve, bot.web.serve), minus the I/O: no database, no network.
SERVE_PATH = """
import json, sys
from bot.cli import _settings
from bot.logs import setup_logging
from bot.app import assemble
from bot.runners import _background, instrument
from bot.web import build_web_app

settings = _settings("serve")
setup_logging(settings)
bot = assemble(settings)
metrics = instrument(bot.services)
_background(bot, True)
build_web_app(bot, metrics=metrics)
print(json.dumps(sorted(sys.modules)))
"""

NOT_BEFORE_HEALTHY = (
    "dpkt",
    "alembic",
    "mako",
    "bot.insight.pcap",
    "bot.insight.pcap_counts",
    "bot.insight.warpdiag",
    "bot.insight.speedtest",
    "bot.sim",
    "bot.shell",
    "bot.doctor",
)


def test_serve_does_not_import_what_a_restart_does_not_need(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "CLOUDFLARE_", "DEX_", "DATABASE_"))
    }
    env.update(
        SLACK_BOT_TOKEN="xoxb-not-used",
        SLACK_SIGNING_SECRET="not-used",
        CLOUDFLARE_API_URL="http://127.0.0.1:9",
        CLOUDFLARE_API_TOKEN="not-used",
        CLOUDFLARE_ACCOUNT_ID="0123456789abcdef0123456789abcdef",
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/x.db",
        DEX_REQUESTERS="S0SUPPORT",
        DEX_APPROVERS="S0MANAGER",
    )
    out = subprocess.run(
        [sys.executable, "-c", SERVE_PATH],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    loaded = json.loads(out.splitlines()[-1])
    early = [m for m in loaded if any(m == p or m.startswith(f"{p}.") for p in NOT_BEFORE_HEALTHY)]
    assert not early, f"serve imports these before it listens: {early}"
