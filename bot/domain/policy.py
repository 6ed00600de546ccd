"""Who may do what. Default deny: only listed requesters (users or members of listed user
groups) may use ``/dex``; only listed approvers may approve; never one's own request unless the
break-glass setting says so."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.errors import NotAllowed
from bot.domain.ports import DirectoryPort

NOT_A_REQUESTER = (
    "You're not on dexbot's list of people who can use `/dex`. "
    "Ask your Slack admin to add you (or your team's user group) to DEX_REQUESTERS."
)
NOT_AN_APPROVER = "You are not an approver for this request."
SELF_APPROVAL = "You can't approve your own request; ask another approver."


@dataclass(frozen=True)
class AccessPolicy:
    """The configured lists and switches."""

    requesters: Sequence[str]
    approvers: Sequence[str]
    read_open: bool = False
    allow_self_approval: bool = False

    async def check_use(self, directory: DirectoryPort, user_id: str, *, read_only: bool) -> None:
        """Raise ``NotAllowed`` unless ``user_id`` may run this kind of ``/dex`` command."""
        if read_only and self.read_open:
            return
        # Approvers can always look and ask: they are the people who would approve it anyway.
        if await directory.is_listed(user_id, [*self.requesters, *self.approvers]):
            return
        raise NotAllowed(NOT_A_REQUESTER)

    async def check_approve(
        self, directory: DirectoryPort, user_id: str, requester_id: str
    ) -> bool:
        """Raise ``NotAllowed`` unless ``user_id`` may decide; True when it is break-glass."""
        if not await directory.is_listed(user_id, self.approvers):
            raise NotAllowed(NOT_AN_APPROVER)
        if user_id == requester_id:
            if not self.allow_self_approval:
                raise NotAllowed(SELF_APPROVAL)
            return True
        return False
