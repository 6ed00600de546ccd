"""``dexbot`` subcommands. Thin: each parses its flags and hands over to the module that does
the work, imported only when that subcommand runs (no I/O, no heavy imports at start)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from bot.config import Mode, Settings, SettingsError, StartupError, load_settings


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dexbot", description="Cloudflare DEX remote commands from Slack."
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sim = sub.add_parser("simulate", help="run the local Cloudflare DEX simulator")
    sim.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    sim.add_argument(
        "--port", type=int, default=8787, help="port to listen on (default: %(default)s)"
    )
    sim.add_argument("--fleet", help="JSON file describing the fleet (default: built-in)")
    sim.add_argument("--seed", type=int, default=1, help="seed for generated data")
    sim.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per real second (default 1)"
    )

    serve = sub.add_parser("serve", help="serve Slack over HTTP (POST /slack/events)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    serve.add_argument(
        "--port", type=int, default=3000, help="port to listen on (default: %(default)s)"
    )
    serve.add_argument("--no-worker", action="store_true", help="run the poller elsewhere")

    sock = sub.add_parser("socket", help="connect to Slack in Socket Mode (no public URL)")
    sock.add_argument("--no-worker", action="store_true", help="run the poller elsewhere")

    shell = sub.add_parser(
        "shell", help="try the whole bot in this terminal (emulated Slack, DEX simulator)"
    )
    shell.add_argument(
        "--script", metavar="FILE", help="run these lines instead of asking (stdin if piped)"
    )
    shell.add_argument(
        "--db", metavar="PATH", default="dexbot-shell.db", help="SQLite file (default: %(default)s)"
    )
    shell.add_argument(
        "--artifacts",
        metavar="DIR",
        default="dexbot-artifacts",
        help="where uploads are saved (default: %(default)s)",
    )
    shell.add_argument(
        "--speed",
        metavar="X",
        type=float,
        default=1.0,
        help="simulated seconds per real second (default 1)",
    )

    doctor = sub.add_parser(
        "doctor", help="check the set-up against Slack, Cloudflare and the database"
    )
    doctor.add_argument(
        "--mode",
        choices=["serve", "socket", "worker"],
        help="the runner to check for (default: socket when SLACK_APP_TOKEN is set, else serve)",
    )
    doctor.add_argument(
        "--manifest", metavar="FILE", help="app manifest to compare scopes with (app_manifest.yml)"
    )
    policy = sub.add_parser("policy", help="check an approval policy file")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True, metavar="ACTION")
    check = policy_sub.add_parser("check", help="print the effective rules, or every problem")
    check.add_argument("file", metavar="FILE", help="the YAML policy file")

    audit = sub.add_parser("audit", help="export the audit log (for a SIEM)")
    audit.add_argument(
        "--since", default="7d", metavar="AGE", help="how far back: 30m, 12h, 7d (default 7d)"
    )
    audit.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")

    sub.add_parser("worker", help="run only the background poller")
    sub.add_parser("migrate", help="upgrade the database schema")
    return p


def _settings(mode: Mode) -> Settings:
    try:
        settings = load_settings(mode)
    except SettingsError as exc:
        _fail(exc.problems)
    problems = settings.check_for(mode)
    if not problems and mode in ("serve", "socket", "worker"):
        from bot.services.policy_file import PolicyError, load_policy

        try:
            load_policy(settings)
        except PolicyError as exc:
            problems = [f"DEX_POLICY_FILE: {line}" for line in exc.problems]
    if problems:
        _fail(problems)
    return settings


def _audit(since: str, fmt: str) -> int:
    import re
    from datetime import UTC, datetime, timedelta

    match = re.fullmatch(r"(\d{1,5})([mhd])", since.strip().lower())
    if match is None:
        print("dexbot audit: --since takes an age like 30m, 12h or 7d", file=sys.stderr)
        return 2
    unit = {"m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    start = datetime.now(UTC) - timedelta(**{unit: int(match.group(1))})
    try:
        settings = load_settings()
    except SettingsError as exc:
        _fail(exc.problems)

    async def export() -> None:
        from bot.services.audit import export_since, write
        from bot.store.db import create_engine, session_factory
        from bot.store.transitions import RequestStore

        engine = create_engine(settings.database_url)
        try:
            steps = await export_since(RequestStore(session_factory(engine)), start)
        finally:
            await engine.dispose()
        write(steps, fmt, sys.stdout)

    asyncio.run(export())
    return 0


def _policy_check(path: str) -> int:
    from bot.domain.rules import describe
    from bot.services.policy_file import PolicyError, read_policy_file

    try:
        policy = read_policy_file(path)
    except PolicyError as exc:
        for line in exc.problems:
            print(f"{path}: {line}")
        return 1
    for line in describe(policy):
        print(line)
    return 0


def _fail(problems: list[str]) -> Any:
    print("dexbot cannot start:", file=sys.stderr)
    for line in problems:
        print(f"  - {line}", file=sys.stderr)
    raise SystemExit(2)


def _run(coro: Coroutine[Any, Any, None]) -> int:
    """Run until done, Ctrl-C or SIGTERM (how systemd, Docker and Kubernetes stop us);
    cancelling lets every runner close its connections and release its leases."""

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await coro

    # What start-up built (modules, classes, SQLAlchemy's and pydantic's tables) lives as
    # long as the process: keep it out of every later collection too (see ``main``).
    gc.freeze()
    gc.enable()
    try:
        asyncio.run(main())
    except StartupError as exc:  # a refusal that retrying cannot fix, e.g. a wrong token
        print(f"dexbot cannot start: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dexbot`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "simulate":
        from bot.sim.dex.server import run_simulator

        return run_simulator(args)
    if args.command == "shell":
        from bot.shell import run_shell

        return run_shell(args)
    if args.command == "doctor":
        from pathlib import Path

        from bot.doctor import run_doctor

        return run_doctor(args.mode, Path(args.manifest) if args.manifest else None, sys.stdout)
    if args.command == "policy":
        return _policy_check(args.file)
    if args.command == "audit":
        return _audit(args.since, args.format)
    # The runners import some 200,000 long-lived objects; the cyclic collector would walk
    # them all, several times over, while they are being made: ~100 ms of a 0.5 s start.
    # Nothing made before the event loop starts is garbage, so collect nothing until then.
    gc.disable()
    settings = _settings(args.command)
    from bot.logs import quiet_libraries, setup_logging

    setup_logging(settings)
    quiet_libraries(settings.log_level)
    if args.command == "migrate":
        from bot.runners import migrate_only

        return _run(migrate_only(settings))
    if args.command == "serve":
        from bot.runners import run_serve

        return _run(run_serve(settings, args.host, args.port, worker=not args.no_worker))
    if args.command == "socket":
        from bot.runners import run_socket_mode

        return _run(run_socket_mode(settings, worker=not args.no_worker))
    if args.command == "worker":
        from bot.runners import run_worker

        return _run(run_worker(settings))
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
