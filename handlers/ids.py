"""Action, callback and block ids as string enums: one spelling, used by listeners and renderers."""

from __future__ import annotations

from enum import StrEnum


class ActionId(StrEnum):
    """``action_id`` of interactive elements."""

    APPROVE = "dex.approve"
    DENY = "dex.deny"
    MODAL_USER = "dex.modal.user"
    MODAL_TYPE = "dex.modal.type"
    OWNER_OK = "dex.owner.ok"
    OWNER_DECLINE = "dex.owner.decline"


class CallbackId(StrEnum):
    """``callback_id`` of modals."""

    REQUEST = "dex.request"
    DENY_REASON = "dex.deny_reason"


class BlockId(StrEnum):
    """``block_id`` of modal inputs (errors are reported against these)."""

    USER = "user"
    DEVICE = "device"
    TYPE = "type"
    DURATION = "duration"
    SIZE = "size"
    SNAPLEN = "snaplen"
    ALL_ROUTES = "all_routes"
    INTERFACES = "interfaces"
    ANYWAY = "anyway"
    REASON = "reason"
