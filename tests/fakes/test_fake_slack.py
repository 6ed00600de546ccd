"""The fake Slack answers the SDK's own client as Slack would, and remembers what it was told."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import types
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from urllib.parse import parse_qs

import aiohttp
import pytest
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_async_handlers
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import Clock as SdkClock
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.sim import people
from bot.sim.people import (
    ANN,
    APPROVALS_CHANNEL,
    MANAGERS_GROUP_ID,
    NOEMAIL,
    PRIVATE_CHANNEL_WITHOUT_BOT,
    PUBLIC_CHANNEL_WITHOUT_BOT,
    SUPPORT_CHANNEL,
)
from bot.sim.slack import FAKE_BOT_TOKEN, FAKE_SIGNING_SECRET, Event, FakeSlack, Workspace
from bot.sim.slack.payloads import (
    block_actions_body,
    sign,
    signed_headers,
    slash_command_body,
    view_submission_body,
)

MODAL = {
    "type": "modal",
    "callback_id": "dex.request",
    "title": {"type": "plain_text", "text": "Request a capture"},
    "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "Which device?"}}],
}


async def slack_error(coro: object) -> str:
    """The Slack error code a call fails with."""
    with pytest.raises(SlackApiError) as info:
        await coro  # type: ignore[misc]
    return str(info.value.response["error"])


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def clocked_slack(clock: Clock, tmp_path: Path) -> AsyncIterator[FakeSlack]:
    async with FakeSlack(Workspace.demo(clock=clock), tmp_path) as fake:
        yield fake


# -- identity and directory --------------------------------------------------------------
async def test_auth_test_names_the_bot(slack_client: AsyncWebClient) -> None:
    me = await slack_client.auth_test()
    assert (me["user_id"], me["team_id"], me["bot_id"]) == (
        people.BOT.user_id,
        people.TEAM_ID,
        "B0DEXBOT0",
    )


async def test_users_info_gives_email_except_for_the_guest(
    fake_slack: FakeSlack, slack_client: AsyncWebClient
) -> None:
    ann = (await slack_client.users_info(user=ANN.user_id))["user"]
    guest = (await slack_client.users_info(user=NOEMAIL.user_id))["user"]
    bot = (await slack_client.users_info(user=people.BOT.user_id))["user"]

    assert ann["profile"]["email"] == "ann@example.com"
    assert (ann["real_name"], ann["is_bot"], ann["deleted"]) == ("Ann Lee", False, False)
    assert "email" not in guest["profile"]
    assert bot["is_bot"] is True
    assert await slack_error(slack_client.users_info(user="U0NOBODY0")) == "user_not_found"


async def test_users_info_hides_email_without_the_scope(
    fake_slack: FakeSlack, slack_client: AsyncWebClient
) -> None:
    fake_slack.workspace.scopes.discard("users:read.email")
    fake_slack.workspace.users[ANN.user_id].deleted = True

    ann = (await slack_client.users_info(user=ANN.user_id))["user"]

    assert "email" not in ann["profile"]
    assert ann["deleted"] is True


async def test_usergroup_members(slack_client: AsyncWebClient) -> None:
    managers = await slack_client.usergroups_users_list(usergroup=MANAGERS_GROUP_ID)
    assert managers["users"] == [people.MAX.user_id, people.MIA.user_id]
    bad = slack_client.usergroups_users_list(usergroup="S0NOPE")
    assert await slack_error(bad) == "no_such_subteam"


async def test_token_is_checked(fake_slack: FakeSlack) -> None:
    wrong = AsyncWebClient(token="xoxb-wrong", base_url=fake_slack.api_url)
    missing = AsyncWebClient(base_url=fake_slack.api_url)
    assert await slack_error(wrong.auth_test()) == "invalid_auth"
    assert await slack_error(missing.auth_test()) == "not_authed"
    assert [c.error for c in fake_slack.calls("auth.test")] == ["invalid_auth", "not_authed"]


async def test_unknown_method(slack_client: AsyncWebClient) -> None:
    assert await slack_error(slack_client.api_call("dex.nothing")) == "unknown_method"


async def test_token_in_a_form_field_and_json_strings_decoded(
    fake_slack: FakeSlack, slack_client: AsyncWebClient
) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    form = {"token": FAKE_BOT_TOKEN, "channel": SUPPORT_CHANNEL, "blocks": json.dumps(blocks)}
    anonymous = AsyncWebClient(base_url=fake_slack.api_url)

    await anonymous.api_call("chat.postMessage", data=form)

    call = fake_slack.last("chat.postMessage")
    assert call.ok and call.args["blocks"] == blocks and call.token == FAKE_BOT_TOKEN
    assert "token" not in call.args


# -- channels ----------------------------------------------------------------------------
async def test_channel_visibility(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    fake_slack.workspace.scopes |= {"channels:read", "groups:read"}  # dexbot does not ask
    support = (await slack_client.conversations_info(channel=SUPPORT_CHANNEL))["channel"]
    public = (await slack_client.conversations_info(channel=PUBLIC_CHANNEL_WITHOUT_BOT))["channel"]

    assert (support["is_member"], support["is_private"]) == (True, False)
    assert (public["is_member"], public["is_channel"]) == (False, True)
    # A private channel the bot is not in does not exist, as far as the bot can tell.
    hidden = slack_client.conversations_info(channel=PRIVATE_CHANNEL_WITHOUT_BOT)
    assert await slack_error(hidden) == "channel_not_found"
    members = await slack_client.conversations_members(channel=APPROVALS_CHANNEL)
    assert people.BOT.user_id in members["members"]


async def test_not_in_channel_until_the_bot_joins(
    fake_slack: FakeSlack, slack_client: AsyncWebClient
) -> None:
    post = slack_client.chat_postMessage(channel=PUBLIC_CHANNEL_WITHOUT_BOT, text="hello")
    assert await slack_error(post) == "not_in_channel"

    joined = await slack_client.conversations_join(channel=PUBLIC_CHANNEL_WITHOUT_BOT)
    posted = await slack_client.chat_postMessage(channel=PUBLIC_CHANNEL_WITHOUT_BOT, text="hello")

    assert joined["channel"]["is_member"] is True
    assert [m.text for m in fake_slack.messages(PUBLIC_CHANNEL_WITHOUT_BOT)] == ["hello"]
    assert posted["channel"] == PUBLIC_CHANNEL_WITHOUT_BOT
    again = await slack_client.conversations_join(channel=PUBLIC_CHANNEL_WITHOUT_BOT)
    assert again["warning"] == "already_in_channel"


async def test_private_channels_cannot_be_joined(
    fake_slack: FakeSlack, slack_client: AsyncWebClient
) -> None:
    join = slack_client.conversations_join(channel=PRIVATE_CHANNEL_WITHOUT_BOT)
    assert await slack_error(join) == "method_not_supported_for_channel_type"
    post = slack_client.chat_postMessage(channel="C0NOWHERE", text="x")
    assert await slack_error(post) == "channel_not_found"

    fake_slack.set_member(PRIVATE_CHANNEL_WITHOUT_BOT, True)  # someone invited the bot

    await slack_client.chat_postMessage(channel=PRIVATE_CHANNEL_WITHOUT_BOT, text="thanks")
    fake_slack.set_member(SUPPORT_CHANNEL, False)
    gone = slack_client.chat_postMessage(channel=SUPPORT_CHANNEL, text="x")
    assert await slack_error(gone) == "not_in_channel"


async def test_direct_messages(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    fake_slack.workspace.scopes |= {"im:write"}  # dexbot does not ask for it
    dm = (await slack_client.conversations_open(users=ANN.user_id))["channel"]["id"]
    await slack_client.chat_postMessage(channel=dm, text="your capture is ready")
    await slack_client.chat_postMessage(channel=ANN.user_id, text="posted to the user id")

    assert dm.startswith("D")
    assert [m.text for m in fake_slack.messages(dm)] == [
        "your capture is ready",
        "posted to the user id",
    ]


# -- messages ----------------------------------------------------------------------------
async def test_threads_and_metadata(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    meta = {"event_type": "dex_request", "event_payload": {"request_id": 7}}
    parent = await slack_client.chat_postMessage(
        channel=SUPPORT_CHANNEL, text="capture for ann", metadata=meta
    )
    first = await slack_client.chat_postMessage(
        channel=SUPPORT_CHANNEL, text="approved", thread_ts=parent["ts"]
    )
    # Replying to a reply still threads under the parent, as in Slack.
    await slack_client.chat_postMessage(
        channel=SUPPORT_CHANNEL, text="running", thread_ts=first["ts"], reply_broadcast=True
    )

    plain = await slack_client.conversations_replies(channel=SUPPORT_CHANNEL, ts=parent["ts"])
    rich = await slack_client.conversations_replies(
        channel=SUPPORT_CHANNEL, ts=parent["ts"], include_all_metadata=True
    )

    texts = [m["text"] for m in plain["messages"]]
    assert texts == ["capture for ann", "approved", "running"]
    assert plain["messages"][0]["reply_count"] == 2
    assert {m["thread_ts"] for m in plain["messages"]} == {parent["ts"]}
    assert "metadata" not in plain["messages"][0]
    assert rich["messages"][0]["metadata"] == meta
    # The broadcast reply also shows in the channel.
    assert [m.text for m in fake_slack.messages(SUPPORT_CHANNEL)] == ["capture for ann", "running"]
    missing = slack_client.chat_postMessage(channel=SUPPORT_CHANNEL, text="x", thread_ts="1.2")
    assert await slack_error(missing) == "thread_not_found"


async def test_ts_are_unique_and_increasing(slack_client: AsyncWebClient) -> None:
    posts = [
        await slack_client.chat_postMessage(channel=SUPPORT_CHANNEL, text=str(i)) for i in range(20)
    ]
    stamps = [p["ts"] for p in posts]
    assert stamps == sorted(stamps, key=float) and len(set(stamps)) == 20
    assert all(len(ts.split(".")[1]) == 6 for ts in stamps)


@pytest.mark.filterwarnings("ignore:The top-level `text` argument:UserWarning")
async def test_message_validation(slack_client: AsyncWebClient) -> None:
    no_text = slack_client.chat_postMessage(channel=SUPPORT_CHANNEL)
    too_many = [{"type": "divider"}] * 51
    blocks = slack_client.chat_postMessage(channel=SUPPORT_CHANNEL, text="x", blocks=too_many)
    bad_meta = slack_client.chat_postMessage(channel=SUPPORT_CHANNEL, text="x", metadata={"a": 1})
    assert await slack_error(no_text) == "no_text"
    assert await slack_error(blocks) == "invalid_blocks"
    assert await slack_error(bad_meta) == "invalid_metadata_format"


async def test_update_keeps_history(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    posted = await slack_client.chat_postMessage(channel=SUPPORT_CHANNEL, text="pending")
    await slack_client.chat_update(channel=SUPPORT_CHANNEL, ts=posted["ts"], text="approved")
    updated = await slack_client.chat_update(channel=SUPPORT_CHANNEL, ts=posted["ts"], text="done")

    [msg] = fake_slack.messages(SUPPORT_CHANNEL)
    assert msg.text == "done" and msg.edited is not None
    assert [v.text for v in msg.history] == ["pending", "approved"]
    assert updated["message"]["edited"]["user"] == people.BOT.user_id
    bad = slack_client.chat_update(channel=SUPPORT_CHANNEL, ts="1.000001", text="x")
    assert await slack_error(bad) == "message_not_found"


async def test_ephemeral_and_permalink(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    eph = await slack_client.chat_postEphemeral(
        channel=SUPPORT_CHANNEL, user=ANN.user_id, text="only you can see this"
    )
    posted = await slack_client.chat_postMessage(channel=SUPPORT_CHANNEL, text="x")
    link = await slack_client.chat_getPermalink(channel=SUPPORT_CHANNEL, message_ts=posted["ts"])

    assert eph["message_ts"]
    assert [e.text for e in fake_slack.ephemerals(ANN.user_id)] == ["only you can see this"]
    assert link["permalink"].endswith(
        f"/archives/{SUPPORT_CHANNEL}/p{posted['ts'].replace('.', '')}"
    )
    stranger = slack_client.chat_postEphemeral(channel=SUPPORT_CHANNEL, user="U0NOBODY0", text="x")
    assert await slack_error(stranger) == "user_not_found"


# -- modals ------------------------------------------------------------------------------
async def test_trigger_id_opens_one_modal(
    fake_slack: FakeSlack, slack_client: AsyncWebClient
) -> None:
    trigger = fake_slack.new_trigger_id(ANN.user_id)
    opened = (await slack_client.views_open(trigger_id=trigger, view=MODAL))["view"]

    assert opened["id"].startswith("V") and opened["callback_id"] == "dex.request"
    assert await slack_error(slack_client.views_open(trigger_id=trigger, view=MODAL)) == (
        "exchanged_trigger_id"
    )
    assert fake_slack.views()[0].user == ANN.user_id


async def test_views_update_and_push(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    opened = (await slack_client.views_open(trigger_id=fake_slack.new_trigger_id(), view=MODAL))[
        "view"
    ]
    changed = {**MODAL, "blocks": [{"type": "divider"}]}
    updated = await slack_client.views_update(
        view_id=opened["id"], view=changed, hash=opened["hash"]
    )
    pushed = await slack_client.views_push(trigger_id=fake_slack.new_trigger_id(), view=MODAL)

    assert updated["view"]["blocks"] == [{"type": "divider"}]
    assert pushed["view"]["root_view_id"] == opened["id"]
    stale = slack_client.views_update(view_id=opened["id"], view=MODAL, hash=opened["hash"])
    assert await slack_error(stale) == "hash_conflict"
    assert await slack_error(slack_client.views_update(view_id="V0NOPE", view=MODAL)) == "not_found"
    assert len(fake_slack.views()[0].versions) == 2


async def test_trigger_id_expires_after_three_seconds(
    clocked_slack: FakeSlack, clock: Clock
) -> None:
    client = AsyncWebClient(token=FAKE_BOT_TOKEN, base_url=clocked_slack.api_url)
    trigger = clocked_slack.new_trigger_id()
    clock.now += 3.5
    assert await slack_error(client.views_open(trigger_id=trigger, view=MODAL)) == (
        "expired_trigger_id"
    )


# -- files -------------------------------------------------------------------------------
async def _post_file(url: str, path: Path) -> aiohttp.ClientResponse:
    """POST a file's bytes, streamed from disk, as Slack's upload URL expects them."""
    size = await asyncio.to_thread(lambda: path.stat().st_size)
    headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
    fh = await asyncio.to_thread(path.open, "rb")
    try:
        async with aiohttp.ClientSession() as http, http.post(url, data=fh, headers=headers) as r:
            await r.read()
            return r
    finally:
        fh.close()


async def test_external_upload_into_a_thread(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, tmp_path: Path
) -> None:
    artifact = tmp_path / "capture.zip"
    artifact.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    parent = await slack_client.chat_postMessage(channel=SUPPORT_CHANNEL, text="capture done")
    size = artifact.stat().st_size

    ticket = await slack_client.files_getUploadURLExternal(filename="capture.zip", length=size)
    uploaded = await _post_file(ticket["upload_url"], artifact)
    before = (await slack_client.files_info(file=ticket["file_id"]))["file"]
    done = await slack_client.files_completeUploadExternal(
        files=[{"id": ticket["file_id"], "title": "pcap for ann"}],
        channel_id=SUPPORT_CHANNEL,
        thread_ts=parent["ts"],
        initial_comment="here it is",
    )
    after = (await slack_client.files_info(file=ticket["file_id"]))["file"]

    assert uploaded.status == 200
    assert ticket["upload_url"].startswith(fake_slack.base_url + "upload/")
    [completed] = done["files"]
    assert (completed["id"], completed["title"]) == (ticket["file_id"], "pcap for ann")
    assert before["shares"] == {}
    [share] = after["shares"]["public"][SUPPORT_CHANNEL]
    assert share["thread_ts"] == parent["ts"]
    [f] = fake_slack.files()
    assert f.size == size and f.sha256 == hashlib.sha256(artifact.read_bytes()).hexdigest()
    assert f.path is not None and f.path.read_bytes() == artifact.read_bytes()
    thread = fake_slack.messages(SUPPORT_CHANNEL, thread_ts=parent["ts"])
    assert [(m.text, m.files) for m in thread[1:]] == [("here it is", [f.id])]
    assert fake_slack.last("files.completeUploadExternal").args["files"][0]["id"] == f.id
    # The upload URL works once.
    assert (await _post_file(ticket["upload_url"], artifact)).status == 410


async def test_upload_needs_content_length(
    fake_slack: FakeSlack, slack_client: AsyncWebClient
) -> None:
    ticket = await slack_client.files_getUploadURLExternal(filename="a.txt", length=3)

    async def chunks() -> AsyncIterator[bytes]:
        yield b"abc"

    async with aiohttp.ClientSession() as http, http.post(ticket["upload_url"], data=chunks()) as r:
        assert r.status == 411
    never = slack_client.files_completeUploadExternal(files=[{"id": ticket["file_id"]}])
    assert await slack_error(never) == "file_not_found"


async def test_injected_upload_failure_then_retry(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, tmp_path: Path
) -> None:
    artifact = tmp_path / "diag.zip"
    artifact.write_bytes(b"x" * 1000)
    ticket = await slack_client.files_getUploadURLExternal(filename="diag.zip", length=1000)
    fake_slack.fail_upload()

    assert (await _post_file(ticket["upload_url"], artifact)).status == 500
    assert (await _post_file(ticket["upload_url"], artifact)).status == 200
    assert [c.status for c in fake_slack.calls("upload")] == [500, 200]


async def test_dropped_upload(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    ticket = await slack_client.files_getUploadURLExternal(filename="d.bin", length=4)
    fake_slack.fail_upload(mode="drop")
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientError):
            async with http.post(ticket["upload_url"], data=b"data") as resp:
                await resp.read()


async def test_file_size_restriction(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    fake_slack.restrict_file_size(10)
    ticket = await slack_client.files_getUploadURLExternal(filename="big.bin", length=11)
    async with aiohttp.ClientSession() as http, http.post(ticket["upload_url"], data=b"x" * 11):
        pass
    big = slack_client.files_completeUploadExternal(
        files=[{"id": ticket["file_id"]}], channel_id=SUPPORT_CHANNEL
    )
    assert await slack_error(big) == "file_upload_size_restricted"


async def test_files_upload_v2_works_against_the_fake(
    fake_slack: FakeSlack, slack_client: AsyncWebClient
) -> None:
    result = await slack_client.files_upload_v2(
        content=b"hello", filename="hello.txt", channel=SUPPORT_CHANNEL
    )
    info = await slack_client.files_info(file=result["file"]["id"])
    assert info["file"]["shares"]["public"][SUPPORT_CHANNEL]
    assert fake_slack.files()[0].size == 5


# -- faults ------------------------------------------------------------------------------
async def test_rate_limit_answers_429(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    fake_slack.rate_limit("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as info:
        await slack_client.chat_postMessage(channel=SUPPORT_CHANNEL, text="x")
    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] == "7"
    assert info.value.response["error"] == "ratelimited"


async def test_rate_limit_retry_handler_recovers(
    fake_slack: FakeSlack, slack_client: AsyncWebClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []

    async def no_wait(seconds: float) -> None:
        slept.append(seconds)

    # Only the handler's own module sees this asyncio: the wait it computes is recorded.
    monkeypatch.setattr(builtin_async_handlers, "asyncio", types.SimpleNamespace(sleep=no_wait))
    slack_client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
    fake_slack.rate_limit("chat.postMessage", count=2, retry_after=3)

    posted = await slack_client.chat_postMessage(channel=SUPPORT_CHANNEL, text="eventually")

    assert posted["ok"]
    assert [c.status for c in fake_slack.calls("chat.postMessage")] == [429, 429, 200]
    assert len(slept) == 2 and all(3 <= s < 4 for s in slept)


async def test_injected_error(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    fake_slack.fail("chat.update", "cant_update_message", count=1)
    posted = await slack_client.chat_postMessage(channel=SUPPORT_CHANNEL, text="x")
    failed = slack_client.chat_update(channel=SUPPORT_CHANNEL, ts=posted["ts"], text="y")
    assert await slack_error(failed) == "cant_update_message"
    await slack_client.chat_update(channel=SUPPORT_CHANNEL, ts=posted["ts"], text="y")


# -- response_url ------------------------------------------------------------------------
async def test_response_url_allows_five_posts(fake_slack: FakeSlack) -> None:
    url = fake_slack.new_response_url(channel=SUPPORT_CHANNEL, user=ANN.user_id)
    hook = AsyncWebhookClient(url)

    answers = [await hook.send(text=f"step {i}") for i in range(6)]

    assert [a.status_code for a in answers] == [200] * 5 + [404]
    assert answers[0].body == "ok" and answers[5].body == "used_url"
    assert [r.text for r in fake_slack.responses(url)] == [f"step {i}" for i in range(5)]
    assert [e.source for e in fake_slack.ephemerals(ANN.user_id)] == ["response_url"] * 5


async def test_response_url_expires_after_thirty_minutes(
    clocked_slack: FakeSlack, clock: Clock
) -> None:
    url = clocked_slack.new_response_url()
    clock.now += 30 * 60 + 1
    answer = await AsyncWebhookClient(url).send(text="too late")
    assert (answer.status_code, answer.body) == (404, "expired_url")


async def test_response_url_in_channel_and_replace_original(
    fake_slack: FakeSlack, slack_client: AsyncWebClient
) -> None:
    posted = await slack_client.chat_postMessage(channel=SUPPORT_CHANNEL, text="Approve?")
    url = fake_slack.new_response_url(
        channel=SUPPORT_CHANNEL, user=people.MAX.user_id, message_ts=posted["ts"]
    )
    hook = AsyncWebhookClient(url)

    await hook.send(text="Approved by max", replace_original=True)
    await hook.send(text="Everyone: capture running", response_type="in_channel")

    texts = [m.text for m in fake_slack.messages(SUPPORT_CHANNEL)]
    assert texts == ["Approved by max", "Everyone: capture running"]
    assert fake_slack.responses(url)[0].replace_original is True


# -- observing ---------------------------------------------------------------------------
async def test_wait_for_wakes_on_the_call(
    fake_slack: FakeSlack, slack_client: AsyncWebClient
) -> None:
    waiting = asyncio.create_task(fake_slack.wait_for("chat.postMessage", count=2, timeout=5))
    await slack_client.chat_postMessage(channel=SUPPORT_CHANNEL, text="one")
    await slack_client.chat_postMessage(channel=SUPPORT_CHANNEL, text="two")
    calls = await waiting
    assert [c.args["text"] for c in calls] == ["one", "two"]
    by_text = await fake_slack.wait_for(lambda c: c.args.get("text") == "two")
    assert len(by_text) == 1


async def test_wait_for_timeout_lists_calls(
    fake_slack: FakeSlack, slack_client: AsyncWebClient
) -> None:
    await slack_client.chat_postMessage(channel=SUPPORT_CHANNEL, text="the only message")
    with pytest.raises(AssertionError) as info:
        await fake_slack.wait_for("views.open", timeout=0.05)
    message = str(info.value)
    assert "views.open" in message and "got 0" in message
    assert "chat.postMessage" in message and "the only message" in message


async def test_subscribers_see_changes(fake_slack: FakeSlack, slack_client: AsyncWebClient) -> None:
    plain: list[Event] = []
    awaited: list[str] = []

    async def record_async(event: Event) -> None:
        awaited.append(event.kind)

    fake_slack.subscribe(plain.append)
    unsubscribe = fake_slack.subscribe(record_async)
    posted = await slack_client.chat_postMessage(channel=SUPPORT_CHANNEL, text="a")
    await slack_client.chat_update(channel=SUPPORT_CHANNEL, ts=posted["ts"], text="b")
    unsubscribe()
    await slack_client.views_open(trigger_id=fake_slack.new_trigger_id(), view=MODAL)

    assert [e.kind for e in plain] == ["message_posted", "message_updated", "view_opened"]
    assert awaited == ["message_posted", "message_updated"]
    assert plain[0].channel == SUPPORT_CHANNEL and plain[0].item.ts == posted["ts"]


# -- requests from Slack to the bot -------------------------------------------------------
class FrozenSdkClock(SdkClock):
    """The verifier's clock, stopped at the signed timestamp."""

    def now(self) -> float:
        return 1_700_000_000.0


def test_signature_verifies_with_the_sdk() -> None:
    body = slash_command_body("capture @ann pcap 5m", ANN.user_id, SUPPORT_CHANNEL, "u", "t")
    headers = sign(FAKE_SIGNING_SECRET, body, timestamp=1_700_000_000)
    verifier = SignatureVerifier(FAKE_SIGNING_SECRET, clock=FrozenSdkClock())
    assert verifier.is_valid_request(body, headers)
    assert not verifier.is_valid_request(body + b"x", headers)


def test_slash_command_body_has_every_field() -> None:
    body = slash_command_body("help", ANN.user_id, SUPPORT_CHANNEL, "https://r", "trig")
    fields = {k: v[0] for k, v in parse_qs(body.decode()).items()}
    assert fields["command"] == "/dex" and fields["user_name"] == "ann"
    assert fields["channel_name"] == "dex-support"
    expected = {"token", "team_id", "team_domain", "channel_id", "channel_name", "user_id",
                "user_name", "command", "text", "api_app_id", "is_enterprise_install",
                "response_url", "trigger_id"}  # fmt: skip
    assert expected <= fields.keys()


async def test_bolt_app_handles_signed_payloads(
    fake_slack: FakeSlack, slack_client: AsyncWebClient
) -> None:
    app = AsyncApp(client=slack_client, signing_secret=FAKE_SIGNING_SECRET)
    seen: list[str] = []

    @app.command("/dex")
    async def dex(ack, body, client) -> None:  # type: ignore[no-untyped-def]
        await ack()
        await client.chat_postMessage(channel=body["channel_id"], text=f"on it: {body['text']}")

    @app.action("dex.approve")
    async def approve(ack, body, respond) -> None:  # type: ignore[no-untyped-def]
        await ack()
        seen.append(body["actions"][0]["value"])
        await respond(text="approved", replace_original=True)

    @app.view("dex.request")
    async def submitted(ack, view) -> None:  # type: ignore[no-untyped-def]
        await ack()
        seen.append(view["state"]["values"]["device"]["pick"]["value"])

    url = fake_slack.new_response_url(channel=SUPPORT_CHANNEL)
    bodies = [
        slash_command_body("capture @ann", ANN.user_id, SUPPORT_CHANNEL, url, "t1"),
        block_actions_body(
            "dex.approve", "42", people.MAX.user_id, SUPPORT_CHANNEL, "1.2", url, "t2"
        ),
        view_submission_body(
            "dex.request", {"device": {"pick": {"type": "plain_text_input", "value": "laptop"}}},
            ANN.user_id,
        ),
    ]  # fmt: skip
    for body in bodies:
        headers: dict[str, str | Sequence[str]] = {**signed_headers(FAKE_SIGNING_SECRET, body)}
        request = AsyncBoltRequest(body=body.decode(), headers=headers)
        assert (await app.async_dispatch(request)).status == 200

    await fake_slack.wait_for("chat.postMessage")
    await fake_slack.wait_for("response_url")
    assert fake_slack.last("chat.postMessage").args["text"] == "on it: capture @ann"
    assert seen == ["42", "laptop"]
