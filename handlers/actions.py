"""Approve and Deny buttons on the approval card, and the modal's interactive inputs.

Button values carry the request id only; who may click is checked every time, and the state
comes from the store, never from the payload."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.app import Services
from bot.domain import grammar as g
from bot.services.dispatch import dispatch
from handlers.blocks.common import Rendered
from handlers.blocks.modal import deny_modal, request_modal
from handlers.capture import devices_for_draft, limits_note
from handlers.errors import guarded
from handlers.ids import ActionId

log = logging.getLogger("dexbot.actions")


def _ephemeral(client: Any, body: dict[str, Any]) -> Any:
    channel = (body.get("channel") or body.get("container") or {}).get("id") or (
        body.get("container") or {}
    ).get("channel_id")
    user = body["user"]["id"]

    async def reply(rendered: Rendered) -> None:
        await client.chat_postEphemeral(
            channel=channel, user=user, text=rendered.text, blocks=rendered.blocks
        )

    return reply


async def approve_and_send(svc: Services, request_id: str, approver: str) -> None:
    """Approve, tell the thread and edit the card, then send to Cloudflare once."""
    await svc.captures.approve(request_id, approver)
    await svc.deliverer.run_once(request_id=request_id)
    await dispatch(svc, request_id, actor=approver)
    await svc.deliverer.run_once(request_id=request_id)


def register_actions(app: AsyncApp, svc: Services) -> None:
    """Button and select listeners."""

    @app.action(ActionId.APPROVE.value)
    async def on_approve(ack: Any, body: dict[str, Any], client: Any) -> None:
        await ack()
        async with guarded(_ephemeral(client, body), log):
            await approve_and_send(
                svc, str(body["actions"][0].get("value") or ""), body["user"]["id"]
            )

    @app.action(ActionId.DENY.value)
    async def on_deny(ack: Any, body: dict[str, Any], client: Any) -> None:
        await ack()
        async with guarded(_ephemeral(client, body), log):
            request_id = str(body["actions"][0].get("value") or "")
            req = await svc.captures.check_can_deny(request_id, body["user"]["id"])
            await client.views_open(
                trigger_id=body["trigger_id"], view=deny_modal(req.id, req.short_id)
            )

    @app.action(ActionId.MODAL_USER.value)
    async def on_modal_user(ack: Any, body: dict[str, Any], client: Any) -> None:
        # Choosing a person in the modal refreshes the device select with their devices.
        await ack()
        user_id = body["actions"][0].get("selected_user")
        view = body["view"]
        draft = g.CaptureDraft(command_type=None, target=g.UserTarget(user_id)) if user_id else None
        devices = await devices_for_draft(svc, draft)
        await client.views_update(
            view_id=view["id"],
            hash=view.get("hash"),
            view=request_modal(
                draft,
                devices=devices,
                limits_note=limits_note(svc),
                private_metadata=view.get("private_metadata") or "",
            ),
        )

    @app.action(ActionId.MODAL_TYPE.value)
    async def on_modal_type(ack: Any) -> None:
        await ack()  # the type's options are all shown; nothing to refresh
