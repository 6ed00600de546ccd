"""Pure renderers: domain objects -> Block Kit (``Rendered``: fallback text + block dicts).

No I/O, no Slack client, no clock reads; every result has passed ``check_limits``.
"""

from handlers.blocks.common import Rendered, check_limits, ephemeral_error, escape_mrkdwn
from handlers.blocks.readonly import (
    render_devices,
    render_help,
    render_history,
    render_quota,
    render_status,
)

__all__ = [
    "Rendered",
    "check_limits",
    "ephemeral_error",
    "escape_mrkdwn",
    "render_devices",
    "render_help",
    "render_history",
    "render_quota",
    "render_status",
]

# Capture requests: parent message, approval card, thread replies; the request and deny modals.
from handlers.blocks.capture import (
    describe_command,
    render_card,
    render_parent,
    render_request_ack,
    render_thread_note,
    render_thread_status,
)
from handlers.blocks.modal import deny_modal, modal_errors, read_submission, request_modal
from handlers.blocks.policy import render_audit, render_audit_usage, render_presets

__all__ += [
    "deny_modal",
    "describe_command",
    "modal_errors",
    "read_submission",
    "render_audit",
    "render_audit_usage",
    "render_card",
    "render_parent",
    "render_presets",
    "render_request_ack",
    "render_thread_note",
    "render_thread_status",
    "request_modal",
]
