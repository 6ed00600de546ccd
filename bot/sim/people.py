"""The demo workspace shared by the DEX simulator's seeded fleet and the Slack emulation.

One list, so that ``@ann`` in the fake Slack resolves to the email that owns devices in the
simulated fleet. Tests, the shell and the benchmarks all use these people.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Person:
    """A member of the demo workspace."""

    user_id: str
    handle: str
    real_name: str
    email: str | None
    is_bot: bool = False


TEAM_ID = "T0DEXBOT1"
#: Requesters: support staff. Approvers: the managers group.
SUPPORT_GROUP_ID = "S0SUPPORT"
MANAGERS_GROUP_ID = "S0MANAGER"

ANN = Person("U0ANN0001", "ann", "Ann Lee", "ann@example.com")
BOB = Person("U0BOB0002", "bob", "Bob Ortiz", "bob@example.com")
CAROL = Person("U0CAROL03", "carol", "Carol Diaz", "carol@example.com")
DAVE = Person("U0DAVE004", "dave", "Dave Kim", "dave@example.com")
ERIN = Person("U0ERIN005", "erin", "Erin Moss", "erin@example.com")
FRANK = Person("W0FRANK06", "frank", "Frank Ito", "frank@example.com")  # Enterprise Grid ID
GRACE = Person("U0GRACE07", "grace", "Grace Hall", "grace@example.com")
HEIDI = Person("U0HEIDI08", "heidi", "Heidi Berg", "heidi@example.com")  # no devices
NOEMAIL = Person("U0GUEST09", "guest", "Guest Without Email", None)
SAM = Person("U0SAM0010", "sam", "Sam Support", "sam@example.com")  # support staff
SUE = Person("U0SUE0011", "sue", "Sue Support", "sue@example.com")  # support staff
MAX = Person("U0MAX0012", "max", "Max Manager", "max@example.com")  # approver
MIA = Person("U0MIA0013", "mia", "Mia Manager", "mia@example.com")  # approver
OUTSIDER = Person("U0OUT0014", "olly", "Olly Outsider", "olly@example.com")  # no access
BOT = Person("U0DEXBOT0", "dexbot", "dexbot", None, is_bot=True)

PEOPLE: tuple[Person, ...] = (
    ANN,
    BOB,
    CAROL,
    DAVE,
    ERIN,
    FRANK,
    GRACE,
    HEIDI,
    NOEMAIL,
    SAM,
    SUE,
    MAX,
    MIA,
    OUTSIDER,
    BOT,
)

GROUPS: dict[str, tuple[str, ...]] = {
    SUPPORT_GROUP_ID: (SAM.user_id, SUE.user_id, MAX.user_id, MIA.user_id),
    MANAGERS_GROUP_ID: (MAX.user_id, MIA.user_id),
}

#: Channels of the demo workspace. The bot is a member of the first two only.
SUPPORT_CHANNEL = "C0SUPPORT"
APPROVALS_CHANNEL = "C0APPROVE"
PUBLIC_CHANNEL_WITHOUT_BOT = "C0RANDOM1"
PRIVATE_CHANNEL_WITHOUT_BOT = "G0SECRET1"


def by_handle(handle: str) -> Person | None:
    """The person with this handle (``ann``), or None."""
    return next((p for p in PEOPLE if p.handle == handle.lstrip("@")), None)
