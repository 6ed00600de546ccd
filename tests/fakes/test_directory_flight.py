"""The directory's look-ups share a call already in flight: a burst of decisions or of
requests from one person makes one Slack call, not one each (usergroups.users.list is Tier
2, about 20 calls a minute), while a read after the answer asks again (decisions stay fresh)."""

from __future__ import annotations

import asyncio

from slack_sdk.web.async_client import AsyncWebClient

from bot.sim.people import MANAGERS_GROUP_ID, MAX, SAM
from bot.sim.slack import FakeSlack
from bot.slackapi.directory import Directory


async def test_fresh_group_reads_at_once_share_one_call(
    fake_slack: FakeSlack, slack_client: AsyncWebClient
) -> None:
    directory = Directory(slack_client)
    hold = fake_slack.hold("usergroups.users.list")
    reads = [
        asyncio.ensure_future(directory.members(MANAGERS_GROUP_ID, fresh=True)) for _ in range(5)
    ]
    await hold.reached.wait()
    hold.release()
    assert {MAX.user_id in m for m in await asyncio.gather(*reads)} == {True}
    assert fake_slack.count("usergroups.users.list") == 1
    await directory.members(MANAGERS_GROUP_ID, fresh=True)  # after the answer: asks again
    assert fake_slack.count("usergroups.users.list") == 2


async def test_user_look_ups_at_once_share_one_call(
    fake_slack: FakeSlack, slack_client: AsyncWebClient
) -> None:
    directory = Directory(slack_client)
    hold = fake_slack.hold("users.info")
    looks = [asyncio.ensure_future(directory.user(SAM.user_id)) for _ in range(4)]
    await hold.reached.wait()
    hold.release()
    assert {u.email for u in await asyncio.gather(*looks)} == {SAM.email}
    assert fake_slack.count("users.info") == 1
