"""``/dex``: acknowledge at once, then parse, check access, make one service call and answer
ephemerally through ``respond`` (the command's response_url)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond

from bot.domain import grammar as g
from bot.domain import rules
from bot.services.api import BotApi
from handlers.blocks import (
    Rendered,
    render_audit,
    render_audit_usage,
    render_devices,
    render_help,
    render_history,
    render_presets,
    render_quota,
    render_status,
)
from handlers.blocks.headings import devices_heading, history_heading, status_title
from handlers.capture import fill_devices, open_request_modal, request_from_slash
from handlers.errors import guarded

log = logging.getLogger("dexbot.commands")

READ_ONLY = (g.Help, g.Unknown, g.Status, g.Devices, g.QuotaAsk, g.History)


def read_only_text(text: str, api: BotApi) -> bool:
    """Whether ``/dex <text>`` only reads (help, status, history …): nothing to lose."""
    try:
        return isinstance(g.parse(text, api.limits), READ_ONLY)
    except g.ParseError:
        return True  # answered with the problem at once; nothing would be stored


def responder(respond: AsyncRespond) -> Any:
    """A reply function that sends a ``Rendered`` ephemerally via the response_url."""

    async def reply(rendered: Rendered) -> None:
        await respond(
            text=rendered.text,
            blocks=rendered.blocks,
            response_type="ephemeral",
            replace_original=False,
        )

    return reply


async def handle_dex(api: BotApi, body: dict[str, Any], respond: AsyncRespond, client: Any) -> None:
    """Route one ``/dex`` invocation (already acknowledged)."""
    reply = responder(respond)
    async with guarded(reply, log):
        user_id = body["user_id"]
        text, preset = api.flows.expand_preset(body.get("text") or "")
        policy_ask = rules.policy_verb(text)
        if policy_ask is not None:
            await api.flows.check_use(user_id, read_only=policy_ask.verb == "presets")
            await reply(await policy_answer(api, policy_ask, user_id))
            return
        try:
            cmd: g.Parsed | None = g.parse(text, api.limits)
        except g.ParseError as exc:
            # A help topic that does not exist is still help: anyone may read the answer.
            cmd = g.Help() if exc.code is g.ParseProblem.UNKNOWN_TOPIC else None
        read_only = cmd is not None and isinstance(cmd, READ_ONLY)
        # Access first: a stranger learns nothing, not even whether their input parsed.
        # Help is for everyone: it is how a newcomer learns whom to ask.
        if not isinstance(cmd, g.Help):
            await api.flows.check_use(user_id, read_only=read_only)
        try:
            cmd = g.parse(text, api.limits)
        except g.Incomplete as missing:
            # Something is missing: the form asks for it (trigger_id first, before slow calls).
            view_id = await open_request_modal(
                api, client, body["trigger_id"], body["channel_id"], missing.partial, None
            )
            await fill_devices(api, client, view_id, body["channel_id"], missing.partial)
            return
        if isinstance(cmd, g.OpenModal):
            await open_request_modal(
                api, client, body["trigger_id"], body["channel_id"], None, None
            )
            return
        await reply(await answer(api, cmd, body, client, preset=preset))


async def policy_answer(api: BotApi, ask: rules.PolicyAsk, user_id: str) -> Rendered:
    """``/dex presets`` and ``/dex audit REQUEST``."""
    if ask.verb == "presets":
        return render_presets(api.flows.presets())
    if ask.ref is None:
        return render_audit_usage()
    return render_audit(await api.flows.audit(user_id, ask.ref), now=api.clock())


async def answer(
    api: BotApi, cmd: g.Parsed, body: dict[str, Any], client: Any, *, preset: str | None = None
) -> Rendered:
    """The rendered answer to a parsed command."""
    now = api.clock()
    q = api.queries
    match cmd:
        case g.Help(topic=topic):
            return render_help(g.help_for(topic, api.limits))
        case g.QuotaAsk():
            quota = await q.quota()
            return render_quota(quota.quota, awaiting_approval=quota.awaiting, now=now)
        case g.Status(target=target):
            status = await q.status(target)
            return render_status(status.statuses, title=status_title(status.subject), now=now)
        case g.Devices(target=target, search=search):
            found = await q.devices(target, search)
            return render_devices(found.devices, heading=devices_heading(found), now=now)
        case g.History(target=target, status=status):
            hist = await q.history(target, status)
            return render_history(
                hist.commands,
                heading=history_heading(hist),
                now=now,
                device_names=hist.names,
                ours=hist.ours,
                unsent=hist.unsent,
            )
        case g.CaptureAsk():
            return await request_from_slash(api, cmd, body, client, preset=preset)
        case _:
            return render_help(g.HELP_TEXT)
