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
