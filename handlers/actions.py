"""Approve and Deny buttons on the approval card, and the modal's interactive inputs.

Button values carry the request id only; who may click is checked every time, and the state
comes from the store, never from the payload."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

from bot.services.api import BotApi
from handlers.blocks.common import Rendered
from handlers.blocks.form_read import draft_from_state, read_submission
from handlers.blocks.modal import deny_modal, request_modal
from handlers.blocks.policy import render_owner_answered
from handlers.capture import limits_note
from handlers.errors import guarded
from handlers.ids import ActionId

log = logging.getLogger("dexbot.actions")


def _ephemeral(client: Any, body: dict[str, Any], respond: Any = None) -> Any:
    channel = (body.get("channel") or body.get("container") or {}).get("id") or (
        body.get("container") or {}
    ).get("channel_id")
    user = body["user"]["id"]
    from_home = (body.get("view") or {}).get("type") == "home"

    async def reply(rendered: Rendered) -> None:
        if from_home:  # a click in the App Home has no channel: answer in the bot's DM
            await client.chat_postMessage(channel=user, text=rendered.text, blocks=rendered.blocks)
            return
        if respond is not None and body.get("response_url"):
            # A click on a message brings a response_url: an answer there spends none of
            # chat.postEphemeral's per-workspace allowance (busy under load) and is never
            # rate-limited away.
            await respond(
                text=rendered.text,
                blocks=rendered.blocks,
                response_type="ephemeral",
                replace_original=False,
            )
            return
        await client.chat_postEphemeral(
            channel=channel, user=user, text=rendered.text, blocks=rendered.blocks
        )

    return reply


def _value(body: dict[str, Any]) -> str:
    actions = body.get("actions") or [{}]
    return str(actions[0].get("value") or "")


def register_actions(app: AsyncApp, api: BotApi, track: Callable[[Any], Any]) -> None:
    """Button and select listeners."""

    @app.action(ActionId.APPROVE.value)
    @track
    async def on_approve(ack: Any, body: dict[str, Any], client: Any, respond: Any) -> None:
        await ack()
        async with guarded(_ephemeral(client, body, respond), log):
            await api.flows.approve(_value(body), body["user"]["id"])

    @app.action(ActionId.DENY.value)
    @track
    async def on_deny(ack: Any, body: dict[str, Any], client: Any, respond: Any) -> None:
        await ack()
        async with guarded(_ephemeral(client, body, respond), log):
            req = await api.flows.check_can_deny(_value(body), body["user"]["id"])
            await client.views_open(
                trigger_id=body["trigger_id"], view=deny_modal(req.id, req.short_id)
            )

    @app.action(ActionId.OWNER_OK.value)
    @track
    async def on_owner_ok(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await _owner_answer(ack, body, respond, ok=True)

    @app.action(ActionId.OWNER_DECLINE.value)
    @track
    async def on_owner_decline(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await _owner_answer(ack, body, respond, ok=False)

    async def _owner_answer(ack: Any, body: dict[str, Any], respond: Any, *, ok: bool) -> None:
        await ack()

        async def reply(rendered: Rendered) -> None:
            await respond(text=rendered.text, blocks=rendered.blocks, replace_original=False)

        async with guarded(reply, log):
            await api.flows.owner_answer(_value(body), body["user"]["id"], ok=ok)
            done = render_owner_answered(ok)
            await respond(text=done.text, blocks=done.blocks, replace_original=True)

    async def refresh(body: dict[str, Any], client: Any, user_id: str | None) -> None:
        # Render the form again from what it holds, with the person's devices looked up.
        view = body["view"]
        fields = read_submission((view.get("state") or {}).get("values") or {})
        draft = draft_from_state(fields, user_id=user_id)
        devices = await api.queries.devices_for_draft(draft) if draft.target else None
        try:
            await client.views_update(
                view_id=view["id"],
                hash=view.get("hash"),
                view=request_modal(
                    draft,
                    devices=devices,
                    limits_note=limits_note(api),
                    private_metadata=view.get("private_metadata") or "",
                    require_reason=api.limits.require_reason,
                    presets=api.flows.presets(),
                ),
            )
        except SlackApiError as exc:
            # Closed, or changed again meanwhile (hash_conflict): the newer view stands.
            log.info("request form not refreshed: %s", exc.response.get("error"))

    @app.action(ActionId.MODAL_USER.value)
    @track
    async def on_modal_user(ack: Any, body: dict[str, Any], client: Any) -> None:
        # Choosing a person refreshes the device select with their devices.
        await ack()
        user_id = (body.get("actions") or [{}])[0].get("selected_user")
        await refresh(body, client, user_id or "")

    @app.action(ActionId.MODAL_TYPE.value)
    @track
    async def on_modal_type(ack: Any, body: dict[str, Any], client: Any) -> None:
        # Choosing a type shows that type's fields only.
        await ack()
        await refresh(body, client, None)
