"""Fixtures for the fake Slack Web API (``bot.sim.slack``).

``fake_slack``: a started :class:`~bot.sim.slack.FakeSlack` on 127.0.0.1 (free port), with
uploads written under the test's ``tmp_path``; stopped at teardown, which fails if the
fake itself crashed on a call.
``slack_client``: the SDK's ``AsyncWebClient`` with the fake's bot token, pointed at it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from slack_sdk.web.async_client import AsyncWebClient

from bot.sim.slack import FAKE_BOT_TOKEN, FakeSlack


@pytest_asyncio.fixture
async def fake_slack(tmp_path: Path) -> AsyncIterator[FakeSlack]:
    """A running fake Slack seeded with the demo workspace."""
    fake = FakeSlack(files_dir=tmp_path / "slack-files")
    await fake.start(host="127.0.0.1", port=0)
    try:
        yield fake
    finally:
        await fake.stop()
    # A crash inside the fake is a bug in the fake, not something the bot should handle.
    assert not fake.internal_errors, f"fake Slack crashed: {fake.internal_errors!r}"


@pytest.fixture
def slack_client(fake_slack: FakeSlack) -> AsyncWebClient:
    """``AsyncWebClient(token=FAKE_BOT_TOKEN, base_url=fake_slack.api_url)``."""
    return AsyncWebClient(token=FAKE_BOT_TOKEN, base_url=fake_slack.api_url)
