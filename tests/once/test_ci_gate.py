"""Issue 16, item 10: with ``CI=true`` a PostgreSQL test that skips fails the run (here the
server is made unreachable on purpose); without it the same test skips with its reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PG_TEST = "tests/store/test_store.py::test_created_request_round_trips[postgres]"


def run(ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["DEXBOT_TEST_POSTGRES_URL"] = "postgresql://postgres@127.0.0.1:9/postgres"  # nobody
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", PG_TEST],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_skipped_postgres_test_fails_in_ci() -> None:
    ci = run("true")
    assert ci.returncode != 0, ci.stdout
    # The skip happens in the fixture, so pytest reports it as an error at setup.
    assert ("1 failed" in ci.stdout or "1 error" in ci.stdout) and "must run" in ci.stdout


def test_it_skips_with_the_reason_elsewhere() -> None:
    local = run(None)
    assert local.returncode == 0, local.stdout
    assert "1 skipped" in local.stdout and "PostgreSQL not reachable" in local.stdout
