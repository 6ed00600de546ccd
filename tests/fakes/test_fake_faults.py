"""The fake Slack's failure modes for one Web API call: a bare 5xx (nothing done), an answer
never sent after acting (dropped connection), a hold before acting, faults aimed at one channel."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.sim.people import APPROVALS_CHANNEL, SUPPORT_CHANNEL
from bot.sim.slack import FAKE_BOT_TOKEN, FakeSlack


def client(fake: FakeSlack) -> AsyncWebClient:
    c = AsyncWebClient(token=FAKE_BOT_TOKEN, base_url=fake.api_url, timeout=5)
    c.retry_handlers[:] = []  # see each failure as it happens
    return c


async def test_a_5xx_is_answered_without_acting(fake_slack: FakeSlack) -> None:
    fake_slack.fail_http("chat.postMessage", 502)
    with pytest.raises(SlackApiError) as err:
        await client(fake_slack).chat_postMessage(channel=SUPPORT_CHANNEL, text="hi")
    assert err.value.response.status_code == 502
    assert fake_slack.messages(SUPPORT_CHANNEL) == []
    await client(fake_slack).chat_postMessage(channel=SUPPORT_CHANNEL, text="again")
    assert [m.text for m in fake_slack.messages(SUPPORT_CHANNEL)] == ["again"]


async def test_a_dropped_connection_acts_but_never_answers(fake_slack: FakeSlack) -> None:
    fake_slack.drop("chat.postMessage")
    with pytest.raises(aiohttp.ClientError):
        await client(fake_slack).chat_postMessage(channel=SUPPORT_CHANNEL, text="hi")
    assert [m.text for m in fake_slack.messages(SUPPORT_CHANNEL)] == ["hi"]


async def test_faults_aim_at_the_channel_named(fake_slack: FakeSlack) -> None:
    fake_slack.fail(
        "chat.postMessage", "is_archived", where=lambda a: a["channel"] == APPROVALS_CHANNEL
    )
    await client(fake_slack).chat_postMessage(channel=SUPPORT_CHANNEL, text="parent")
    with pytest.raises(SlackApiError, match="is_archived"):
        await client(fake_slack).chat_postMessage(channel=APPROVALS_CHANNEL, text="card")
    assert [m.text for m in fake_slack.messages(SUPPORT_CHANNEL)] == ["parent"]


async def test_a_hold_before_acting_drops_the_call_of_a_client_that_left(
    fake_slack: FakeSlack,
) -> None:
    hold = fake_slack.hold("chat.postMessage", before=True)
    call = asyncio.create_task(
        client(fake_slack).chat_postMessage(channel=SUPPORT_CHANNEL, text="hi")
    )
    await asyncio.wait_for(hold.reached.wait(), 5)
    assert fake_slack.messages(SUPPORT_CHANNEL) == []  # waiting, not yet done
    call.cancel()  # the client goes away (its connection is closed)
    with pytest.raises(asyncio.CancelledError):
        await call
    hold.release()
    await fake_slack.wait_for(lambda c: c.method == "chat.postMessage" and c.status == 0, 1, 5)
    assert fake_slack.messages(SUPPORT_CHANNEL) == []


async def test_a_hold_before_acting_acts_on_release(fake_slack: FakeSlack) -> None:
    hold = fake_slack.hold("chat.postMessage", before=True)
    call = asyncio.create_task(
        client(fake_slack).chat_postMessage(channel=SUPPORT_CHANNEL, text="hi")
    )
    await asyncio.wait_for(hold.reached.wait(), 5)
    assert fake_slack.messages(SUPPORT_CHANNEL) == []
    hold.release()
    assert (await call)["ok"]
    assert [m.text for m in fake_slack.messages(SUPPORT_CHANNEL)] == ["hi"]
