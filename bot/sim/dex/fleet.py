"""The simulated fleet: WARP devices owned by the demo workspace's people.

The built-in fleet (``seeded_fleet(seed)``), deterministic for a seed:

=================  ========  =====================  =========================================
device             platform  owner(s)               why it is there
=================  ========  =====================  =========================================
ann-macbook        mac       ann                    eligible
ann-desktop        windows   ann                    eligible (a person with two devices)
bob-thinkpad       linux     bob                    eligible
carol-pc           windows   carol                  ineligible: WARP too old
dave-iphone        ios       dave                   ineligible: platform not supported
kiosk-lobby-01     linux     erin, frank            multi-user: one registration each
grace-laptop       windows   grace                  eligible but disconnected (times out)
=================  ========  =====================  =========================================

heidi, sam, sue, max, mia, olly and the guest own nothing. Generated filler devices
(``fleet-NNNN``) are shared out round-robin among the device owners above, for pagination.

``--fleet FILE`` replaces the built-in fleet with a JSON document::

    {
      "filler": 0,                          # optional: generated devices to add
      "devices": [
        {
          "name": "ann-macbook",            # required, unique
          "platform": "mac",                # windows | mac | linux | ios | android | chromeos
          "version": "2025.1.861.0",        # WARP client version
          "email": "ann@example.com",       # the owner (single-user device)
          "registrations": [                # instead of "email": a multi-user device
            {"email": "erin@example.com", "registration_id": "optional uuid"}
          ],
          "device_id": "optional uuid",     # generated from the seed when absent
          "status": "connected",            # or "disconnected": commands never run
          "colo": "SJC",                    # optional
          "outcome": "FAILED"               # optional: every command on it fails
        }
      ]
    }
"""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.sim import people

#: Remote captures need at least this WARP client on Windows, macOS and Linux.
MIN_VERSION = (2024, 12, 492, 0)
SUPPORTED_PLATFORMS = frozenset({"windows", "mac", "linux"})
PLATFORMS = frozenset({"windows", "mac", "linux", "ios", "android", "chromeos"})
CURRENT_VERSION = "2025.5.893.0"


@dataclass
class Registration:
    """One user's registration of the WARP client on a device."""

    registration_id: str
    email: str


@dataclass
class Device:
    """A WARP device. Multi-user devices carry more than one registration."""

    device_id: str
    name: str
    platform: str
    version: str
    registrations: list[Registration]
    status: str = "connected"
    colo: str = "SJC"
    outcome: str | None = None

    @property
    def multi_user(self) -> bool:
        """Whether several users are registered on this device."""
        return len(self.registrations) > 1

    @property
    def ineligible_reason(self) -> str | None:
        """Why remote commands cannot run here, or None when they can."""
        if self.platform not in SUPPORTED_PLATFORMS:
            return f"Remote captures are not supported on platform {self.platform}"
        if parse_version(self.version) < MIN_VERSION:
            return (
                f"WARP client version {self.version} is below the minimum "
                "2024.12.492.0 required for remote captures"
            )
        return None

    @property
    def eligible(self) -> bool:
        """Whether remote commands can run on this device."""
        return self.ineligible_reason is None

    def registration_for(self, email: str) -> Registration | None:
        """The registration of ``email`` on this device (case-insensitive), or None."""
        wanted = email.strip().lower()
        return next((r for r in self.registrations if r.email.lower() == wanted), None)


def parse_version(version: str) -> tuple[int, ...]:
    """``"2024.12.492.0"`` -> ``(2024, 12, 492, 0)``; anything unparsable sorts lowest."""
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return (0,)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _email(person: people.Person) -> str:
    assert person.email is not None
    return person.email


_SEEDED: tuple[tuple[str, str, str, tuple[people.Person, ...], str, str], ...] = (
    # name, platform, version, owners, status, colo
    ("ann-macbook", "mac", CURRENT_VERSION, (people.ANN,), "connected", "SJC"),
    ("ann-desktop", "windows", CURRENT_VERSION, (people.ANN,), "connected", "SJC"),
    ("bob-thinkpad", "linux", "2025.4.929.0", (people.BOB,), "connected", "ORD"),
    ("carol-pc", "windows", "2024.6.415.0", (people.CAROL,), "connected", "LHR"),
    ("dave-iphone", "ios", "1.9.0", (people.DAVE,), "connected", "SJC"),
    ("kiosk-lobby-01", "linux", CURRENT_VERSION, (people.ERIN, people.FRANK), "connected", "AMS"),
    ("grace-laptop", "windows", CURRENT_VERSION, (people.GRACE,), "disconnected", "FRA"),
)

#: Owners of generated filler devices: the people who already own devices.
FILLER_OWNERS: tuple[people.Person, ...] = (
    people.ANN,
    people.BOB,
    people.CAROL,
    people.DAVE,
    people.ERIN,
    people.FRANK,
    people.GRACE,
)


def seeded_fleet(seed: int, filler: int = 0) -> list[Device]:
    """The built-in fleet for ``seed`` (same seed, same IDs), plus ``filler`` generated devices."""
    rng = random.Random(seed)
    devices = [
        Device(
            device_id=_uuid(rng),
            name=name,
            platform=platform,
            version=version,
            registrations=[Registration(_uuid(rng), _email(p)) for p in owners],
            status=status,
            colo=colo,
        )
        for name, platform, version, owners, status, colo in _SEEDED
    ]
    devices.extend(filler_devices(seed, filler, start=0))
    return devices


def filler_devices(seed: int, count: int, start: int) -> list[Device]:
    """``count`` generated eligible devices named ``fleet-NNNN``, numbered from ``start + 1``."""
    out = []
    for index in range(start + 1, start + count + 1):
        rng = random.Random(f"{seed}-filler-{index}")
        owner = FILLER_OWNERS[(index - 1) % len(FILLER_OWNERS)]
        platform = ("windows", "mac", "linux")[index % 3]
        out.append(
            Device(
                device_id=_uuid(rng),
                name=f"fleet-{index:04d}",
                platform=platform,
                version=CURRENT_VERSION,
                registrations=[Registration(_uuid(rng), _email(owner))],
                colo=rng.choice(("SJC", "ORD", "LHR", "AMS", "FRA", "SIN", "NRT")),
            )
        )
    return out


class FleetError(ValueError):
    """A ``--fleet`` file that cannot be used; the message names the file and the problem."""


def load_fleet(path: str | Path, seed: int) -> list[Device]:
    """Read a fleet from a JSON file (format in the module docstring); ``FleetError`` if the
    file is missing, is not JSON, or does not describe a fleet."""
    try:
        return _load_fleet(path, seed)
    except FleetError:
        raise
    except OSError as exc:
        raise FleetError(f"cannot read the fleet file {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise FleetError(f"{path} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        detail = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
        raise FleetError(f"{path} does not describe a fleet: {detail}") from None


def _load_fleet(path: str | Path, seed: int) -> list[Device]:
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or not isinstance(doc.get("devices"), list):
        raise FleetError(f"{path}: expected an object with a 'devices' list")
    rng = random.Random(seed)
    devices = [_device_from_json(item, rng, path) for item in doc["devices"]]
    names = [d.name for d in devices]
    if len(set(names)) != len(names):
        raise FleetError(f"{path}: device names must be unique")
    devices.extend(filler_devices(seed, int(doc.get("filler", 0)), start=0))
    return devices


def _device_from_json(item: Any, rng: random.Random, path: str | Path) -> Device:
    if not isinstance(item, dict) or not item.get("name"):
        raise FleetError(f"{path}: every device needs a name")
    platform = str(item.get("platform", "windows"))
    if platform not in PLATFORMS:
        raise FleetError(f"{path}: {item['name']}: unknown platform {platform!r}")
    if "registrations" in item:
        regs = [
            Registration(str(r.get("registration_id") or _uuid(rng)), str(r["email"]))
            for r in item["registrations"]
        ]
    elif "email" in item:
        regs = [Registration(str(item.get("registration_id") or _uuid(rng)), str(item["email"]))]
    else:
        raise FleetError(f"{path}: {item['name']}: needs 'email' or 'registrations'")
    return Device(
        device_id=str(item.get("device_id") or _uuid(rng)),
        name=str(item["name"]),
        platform=platform,
        version=str(item.get("version", CURRENT_VERSION)),
        registrations=regs,
        status=str(item.get("status", "connected")),
        colo=str(item.get("colo", "SJC")),
        outcome=item.get("outcome"),
    )
