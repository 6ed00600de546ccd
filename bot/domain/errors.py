"""Errors whose message is written for the person who typed the command."""

from __future__ import annotations


class UserFacingError(Exception):
    """A known problem; ``str(exc)`` is shown to the user as is (ephemeral)."""


class NotAllowed(UserFacingError):
    """The acting user may not do this."""
