"""``dexbot`` subcommands. Thin: each parses its flags and hands over to the module that does
the work, imported only when that subcommand runs (no I/O, no heavy imports at start)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dexbot", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sim = sub.add_parser("simulate", help="run the local Cloudflare DEX simulator")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8787)
    sim.add_argument("--fleet", help="JSON file describing the fleet (default: built-in)")
    sim.add_argument("--seed", type=int, default=1, help="seed for generated data")
    sim.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per real second (default 1)"
    )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dexbot`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "simulate":
        from bot.sim.dex.server import run_simulator

        return run_simulator(args)
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
