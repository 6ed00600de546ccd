"""``dexbot simulate``: run the DEX simulator until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys

from bot.config import LOCAL_SIM_ACCOUNT, LOCAL_SIM_TOKEN, cannot_listen
from bot.sim.dex.fleet import FleetError
from bot.sim.dex.simulator import DexSimulator


def credentials_from_env() -> tuple[str, str, str]:
    """(token, account, where they came from), never revealing a token from the environment."""
    token = os.environ.get("CLOUDFLARE_API_TOKEN") or None
    account = os.environ.get("CLOUDFLARE_ACCOUNT_ID") or LOCAL_SIM_ACCOUNT
    if token:
        source = "token from CLOUDFLARE_API_TOKEN"
    else:
        source = f"local default token {LOCAL_SIM_TOKEN!r}"
    return token or LOCAL_SIM_TOKEN, account, source


async def serve(args: argparse.Namespace) -> None:
    """Start the simulator on ``args.host:args.port`` and run until SIGINT or SIGTERM."""
    token, account, source = credentials_from_env()
    sim = DexSimulator(
        seed=args.seed,
        speed=args.speed,
        fleet_file=args.fleet,
        token=token,
        account_id=account,
    )
    url = await sim.start(args.host, args.port)
    print(f"DEX simulator on {url} (account {account}, {source})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await sim.stop()


def run_simulator(args: argparse.Namespace) -> int:
    """Entry point of ``dexbot simulate``; returns the exit status (2: could not start, with
    one line on stderr saying why: a bad ``--fleet`` file or a port that is taken)."""
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(args))
    except FleetError as exc:
        print(f"dexbot simulate cannot start: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(
            f"dexbot simulate cannot start: {cannot_listen(args.host, args.port, exc, '--port')}",
            file=sys.stderr,
        )
        return 2
    return 0
