"""In CI (``CI=true``) everything is meant to run: a PostgreSQL-marked test or a contract
test that skips (no server, no OpenAPI file) fails the run instead of passing quietly.
Locally such tests still skip with their reason."""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

#: Tests that must never skip in CI: the marker, or the folder.
MUST_RUN_MARKERS = ("postgres",)
MUST_RUN_DIRS = ("tests/contract/",)


def _must_run(item: pytest.Item) -> bool:
    if any(item.get_closest_marker(m) for m in MUST_RUN_MARKERS):
        return True
    return any(d in item.nodeid for d in MUST_RUN_DIRS)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[Any]:
    """Turn a must-run test's skip into a failure when ``CI=true``."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if os.environ.get("CI", "").lower() != "true" or not report.skipped or not _must_run(item):
        return
    if hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped in CI, where it must run: {reason}"
