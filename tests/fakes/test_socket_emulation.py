"""The fake Slack's Socket Mode: tokens, tickets, hello, envelopes and acks, drops. Checked
with a bare aiohttp WebSocket and with slack_sdk's own aiohttp ``SocketModeClient``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.sim.people import SAM, SUPPORT_CHANNEL
from bot.sim.slack import FAKE_APP_TOKEN, FAKE_BOT_TOKEN, FakeSlack
from bot.sim.slack.payloads import slash_command_payload


def quota_payload(fake: FakeSlack) -> dict[str, str]:
    url = fake.new_response_url(channel=SUPPORT_CHANNEL, user=SAM.user_id)
    return slash_command_payload("quota", SAM.user_id, SUPPORT_CHANNEL, url, "trig-1")


@pytest_asyncio.fixture
async def sdk_client(fake_slack: FakeSlack) -> AsyncIterator[SocketModeClient]:
    """slack_sdk's client, acking every envelope with ``{"text": "got <type>"}``."""
    web = AsyncWebClient(token=FAKE_BOT_TOKEN, base_url=fake_slack.api_url)
    client = SocketModeClient(app_token=FAKE_APP_TOKEN, web_client=web, ping_interval=10)

    async def ack(client: SocketModeClient, req: SocketModeRequest) -> None:
        payload = {"text": f"got {req.type}"}
        await client.send_socket_mode_response(SocketModeResponse(req.envelope_id, payload))

    client.socket_mode_request_listeners.append(ack)  # type: ignore[arg-type]
    try:
        await client.connect()
        yield client
    finally:
        await client.close()


async def test_connections_open_wants_the_app_level_token(fake_slack: FakeSlack) -> None:
    web = AsyncWebClient(token=FAKE_BOT_TOKEN, base_url=fake_slack.api_url)
    with pytest.raises(SlackApiError) as bot_token:
        await web.api_call("apps.connections.open", http_verb="POST")
    assert bot_token.value.response["error"] == "not_allowed_token_type"
    with pytest.raises(SlackApiError) as wrong_app_token:
        await web.apps_connections_open(app_token="xapp-1-A0OTHER-1-nope")
    assert wrong_app_token.value.response["error"] == "invalid_auth"
    with pytest.raises(SlackApiError) as app_token_elsewhere:
        await AsyncWebClient(token=FAKE_APP_TOKEN, base_url=fake_slack.api_url).auth_test()
    assert app_token_elsewhere.value.response["error"] == "not_allowed_token_type"

    opened = await web.apps_connections_open(app_token=FAKE_APP_TOKEN)
    assert opened["url"].startswith(fake_slack.base_url.replace("http://", "ws://") + "socket/")
    assert [c.token for c in fake_slack.calls("apps.connections.open")][-1] == FAKE_APP_TOKEN


async def test_hello_then_envelope_and_ack_on_a_single_use_url(fake_slack: FakeSlack) -> None:
    web = AsyncWebClient(token=FAKE_BOT_TOKEN, base_url=fake_slack.api_url)
    url = (await web.apps_connections_open(app_token=FAKE_APP_TOKEN))["url"]
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        hello = await ws.receive_json(timeout=5)
        assert hello["type"] == "hello"
        assert hello["num_connections"] == 1
        assert hello["connection_info"] == {"app_id": "A0DEXBOT0"}
        assert fake_slack.socket_connected()

        sending = asyncio.create_task(fake_slack.socket_send("slash_commands", {"text": "quota"}))
        envelope = await ws.receive_json(timeout=5)
        assert envelope["type"] == "slash_commands"
        assert envelope["payload"] == {"text": "quota"}
        assert envelope["accepts_response_payload"] is True
        await ws.send_json({"envelope_id": "not-one-we-sent"})
        await ws.send_json({"envelope_id": envelope["envelope_id"], "payload": {"text": "hi"}})
        ack = await sending
        assert ack == {"envelope_id": envelope["envelope_id"], "payload": {"text": "hi"}}
        assert [a.payload for a in fake_slack.socket_acks()] == [{"text": "hi"}]
        assert fake_slack.socket.stray == ['{"envelope_id": "not-one-we-sent"}']

        with pytest.raises(aiohttp.WSServerHandshakeError) as reused:
            await http.ws_connect(url)
        assert reused.value.status == 401


async def test_send_fails_the_test_without_a_client_or_an_ack(fake_slack: FakeSlack) -> None:
    with pytest.raises(AssertionError, match="no Socket Mode client"):
        await fake_slack.socket_send("events_api", {"type": "event_callback"})
    web = AsyncWebClient(token=FAKE_BOT_TOKEN, base_url=fake_slack.api_url)
    url = (await web.apps_connections_open(app_token=FAKE_APP_TOKEN))["url"]
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        await ws.receive_json(timeout=5)
        with pytest.raises(AssertionError, match="no ack for events_api"):
            await fake_slack.socket_send("events_api", {"type": "event_callback"}, timeout=0.2)
        event = await ws.receive_json(timeout=5)
        assert event["accepts_response_payload"] is False
        assert event["retry_attempt"] == 0

        # A session Slack closes while an envelope waits: the sender hears at once.
        sending = asyncio.create_task(fake_slack.socket_send("interactive", {"type": "x"}))
        await ws.receive_json(timeout=5)
        assert await fake_slack.socket_drop() == 1
        with pytest.raises(AssertionError, match="closed before the interactive ack"):
            await sending
    assert not fake_slack.socket_connected()


async def test_sdk_client_is_acked_and_reconnects_after_a_drop(
    fake_slack: FakeSlack, sdk_client: SocketModeClient
) -> None:
    await fake_slack.wait_socket_connected()
    ack = await fake_slack.socket_send("slash_commands", quota_payload(fake_slack))
    assert ack["payload"] == {"text": "got slash_commands"}

    await fake_slack.socket_drop()
    await fake_slack.wait_socket_connected(nth=2)
    assert fake_slack.count("apps.connections.open") == 2
    assert [c.method for c in fake_slack.calls() if c.method.startswith("socket_")] == [
        "socket_hello",
        "socket_ack",
        "socket_closed",
        "socket_hello",
    ]
    ack = await fake_slack.socket_send("interactive", {"type": "block_actions"})
    assert ack["payload"] == {"text": "got interactive"}
    assert await sdk_client.is_connected()


async def test_disconnect_message_makes_the_sdk_move_to_a_new_session(
    fake_slack: FakeSlack, sdk_client: SocketModeClient
) -> None:
    await fake_slack.wait_socket_connected()
    await fake_slack.socket_drop(reason="refresh_requested")
    await fake_slack.wait_socket_connected(nth=2)
    ack: dict[str, Any] = await fake_slack.socket_send("events_api", {"type": "event_callback"})
    assert ack["payload"] == {"text": "got events_api"}
