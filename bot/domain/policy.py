"""Who may do what. Default deny: only listed requesters (users or members of listed user
groups) may use ``/dex``; only listed approvers may approve; never one's own request unless the
break-glass setting says so."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.errors import NotApprover, NotARequester, SelfApproval
from bot.domain.ports import DirectoryPort


@dataclass(frozen=True)
class AccessPolicy:
    """The configured lists and switches."""

    requesters: Sequence[str]
    approvers: Sequence[str]
    read_open: bool = False
    allow_self_approval: bool = False
    contact: str | None = None  # who to ask for access, shown as a mention

    async def check_use(self, directory: DirectoryPort, user_id: str, *, read_only: bool) -> None:
        """Raise ``NotARequester`` unless ``user_id`` may run this kind of ``/dex`` command."""
        if read_only and self.read_open:
            return
        # Approvers can always look and ask: they are the people who would approve it anyway.
        if await directory.is_listed(user_id, [*self.requesters, *self.approvers]):
            return
        raise NotARequester(contact=self.contact)

    async def check_approve(
        self,
        directory: DirectoryPort,
        user_id: str,
        requester_id: str,
        *,
        approvers: Sequence[str] | None = None,
        allow_self: bool | None = None,
    ) -> bool:
        """Raise ``NotApprover``/``SelfApproval`` unless ``user_id`` may decide; True when it
        is break-glass (an approver approving their own request, allowed by the setting).

        ``approvers``/``allow_self``: the matched rule's, instead of the global lists."""
        # Fresh: a click is a decision, and group membership may have changed since the cache.
        if not await directory.is_listed(user_id, approvers or self.approvers, fresh=True):
            raise NotApprover()
        if user_id == requester_id:
            allowed = self.allow_self_approval if allow_self is None else allow_self
            if not allowed:
                raise SelfApproval()
            return True
        return False
