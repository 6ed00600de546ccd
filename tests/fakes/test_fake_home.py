"""The fake Slack's App Home: ``views.publish`` keeps one Home per user and refuses what
Slack refuses; ``app_home_opened`` is delivered signed over HTTP, as Bolt verifies it."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.sim.people import ANN, MAX
from bot.sim.slack import FAKE_BOT_TOKEN, FAKE_SIGNING_SECRET, FakeSlack

HOME = {"type": "home", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]}


async def test_publish_keeps_one_home_per_user_with_every_version(
    fake_slack: FakeSlack, slack_client: AsyncWebClient
) -> None:
    first = await slack_client.views_publish(user_id=ANN.user_id, view=HOME)
    second = await slack_client.views_publish(user_id=ANN.user_id, view={**HOME, "blocks": []})
    assert first["view"]["id"] == second["view"]["id"]  # the same Home, replaced
    assert first["view"]["hash"] != second["view"]["hash"]
    home = fake_slack.home(ANN.user_id)
    assert home is not None and home.view["blocks"] == [] and len(home.versions) == 2
    assert fake_slack.home(MAX.user_id) is None


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"user_id": ANN.user_id, "view": {**HOME, "type": "modal"}}, "invalid_arguments"),
        ({"user_id": ANN.user_id, "view": {**HOME, "blocks": [{}] * 101}}, "invalid_arguments"),
        ({"user_id": "U0NOBODY0", "view": HOME}, "user_not_found"),
        ({"user_id": "", "view": HOME}, "invalid_arguments"),
    ],
)
async def test_publish_refuses_what_slack_refuses(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, kwargs: dict[str, Any], error: str
) -> None:
    with pytest.raises(SlackApiError) as refused:
        await slack_client.views_publish(**kwargs)
    assert refused.value.response["error"] == error
    assert fake_slack.home(ANN.user_id) is None


async def test_home_opened_over_http_is_signed_and_carries_the_home(
    fake_slack: FakeSlack, slack_client: AsyncWebClient
) -> None:
    seen: list[dict[str, Any]] = []
    app = AsyncApp(
        client=AsyncWebClient(token=FAKE_BOT_TOKEN, base_url=fake_slack.api_url),
        signing_secret=FAKE_SIGNING_SECRET,
    )

    @app.event("app_home_opened")
    async def opened(body: dict[str, Any]) -> None:
        seen.append(body)

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    web_app = web.Application()
    web_app.add_routes([web.post("/slack/events", events)])
    runner = web.AppRunner(web_app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    url = f"http://{host}:{port}/slack/events"
    try:
        await slack_client.views_publish(user_id=ANN.user_id, view=HOME)
        sent = await fake_slack.open_home(ANN.user_id, events_url=url, retries=1)
        assert sent["deliveries"] == [200, 200]
        bad = await fake_slack.open_home(ANN.user_id, events_url=url, signing_secret="wrong")
        assert bad["deliveries"] == [401]  # Bolt checks the signature of events too
    finally:
        await runner.cleanup()
    assert len(seen) == 2 and seen[0]["event_id"] == seen[1]["event_id"]
    event = seen[0]["event"]
    assert (event["type"], event["user"], event["tab"]) == ("app_home_opened", ANN.user_id, "home")
    assert event["view"]["type"] == "home" and event["channel"].startswith("D")
