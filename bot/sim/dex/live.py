"""Plausible ``fleet-status/live`` values for a device, stable within a simulated minute."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from bot.sim.dex.clock import isoformat
from bot.sim.dex.fleet import Device

_ISPS = (
    (7922, "Comcast Cable Communications, LLC", "comcast"),
    (701, "Verizon Business", "verizon"),
    (3320, "Deutsche Telekom AG", "telekom"),
    (2856, "British Telecommunications PLC", "bt"),
    (1136, "KPN B.V.", "kpn"),
)
_CITIES = {
    "SJC": ("San Jose", "US", "CA", "95113"),
    "ORD": ("Chicago", "US", "IL", "60601"),
    "LHR": ("London", "GB", None, None),
    "AMS": ("Amsterdam", "NL", None, None),
    "FRA": ("Frankfurt", "DE", None, None),
    "SIN": ("Singapore", "SG", None, None),
    "NRT": ("Tokyo", "JP", None, None),
}
_APPS = {
    "windows": ("msedge.exe", "Teams.exe", "OUTLOOK.EXE", "Cloudflare WARP.exe"),
    "mac": ("Google Chrome", "Slack", "zoom.us", "Cloudflare WARP"),
    "linux": ("firefox", "code", "slack", "warp-svc"),
}


def _directional(rng: random.Random, low: int, high: int) -> dict[str, int]:
    return {"downstream": rng.randint(low, high), "upstream": rng.randint(low, high)}


def live_status(
    device: Device, status: str, now: datetime, seed: int, since_minutes: int
) -> dict[str, Any]:
    """The device object of ``GET /dex/devices/{id}/fleet-status/live`` (bare, no envelope)."""
    minute = int(now.timestamp() // 60)
    rng = random.Random(f"{seed}-{device.device_id}-{minute}")
    connected = status == "connected"
    asn, aso, isp_name = _ISPS[int(device.device_id[:8], 16) % len(_ISPS)]
    city, country, state, zip_code = _CITIES.get(device.colo, ("San Jose", "US", "CA", "95113"))
    last_seen = now - timedelta(seconds=rng.randint(5, 55) if connected else 45 * 60)
    if now - last_seen > timedelta(minutes=since_minutes):
        last_seen = now - timedelta(minutes=since_minutes, seconds=-1)
    mobile = device.platform in ("ios", "android")
    wifi = device.platform != "windows" or not device.name.endswith("desktop")
    reg = device.registrations[-1]
    apps = _APPS.get(device.platform, ("Safari", "Slack", "1.1.1.1"))
    location = {"city": city, "country_iso": country, "state_iso": state, "zip": zip_code}
    body: dict[str, Any] = {
        "colo": device.colo,
        "deviceId": device.device_id,
        "deviceName": device.name,
        "registrationId": reg.registration_id,
        "personEmail": reg.email,
        "mode": "warp+doh",
        "platform": device.platform,
        "status": status,
        "timestamp": isoformat(last_seen),
        "version": device.version,
        "alwaysOn": True,
        "switchLocked": False,
        "firewallEnabled": device.platform in ("windows", "mac"),
        "tunnelType": "masque" if connected else None,
        "dohSubdomain": "dexbot-demo",
        "metal": device.colo.lower() + "01",
        "cpuPct": round(rng.uniform(3, 65), 1),
        "cpuPctByApp": [{"name": a, "cpu_pct": round(rng.uniform(0.1, 15), 1)} for a in apps],
        "ramUsedPct": round(rng.uniform(35, 85), 1),
        "ramAvailableKb": rng.randint(1_500_000, 9_000_000),
        "ramUsedPctByApp": [
            {"name": a, "ram_used_pct": round(rng.uniform(0.5, 12), 1)} for a in apps
        ],
        "diskUsagePct": round(rng.uniform(20, 90), 1),
        "diskReadBps": rng.randint(10_000, 5_000_000),
        "diskWriteBps": rng.randint(10_000, 3_000_000),
        "batteryPct": round(rng.uniform(15, 100), 1) if wifi else None,
        "batteryCharging": rng.random() < 0.4 if wifi else None,
        "batteryCycles": rng.randint(20, 900) if wifi else None,
        "connectionType": ("cellular" if mobile else "wifi") if wifi else "ethernet",
        "wifiStrengthDbm": rng.randint(-75, -40) if wifi and not mobile else None,
        "networkSsid": "Office-5G" if wifi and not mobile else None,
        "networkRcvdBps": rng.randint(50_000, 40_000_000),
        "networkSentBps": rng.randint(20_000, 8_000_000),
        "estimatedLossPct": round(rng.uniform(0, 2.5), 2),
        "handshakeLatencyMs": rng.randint(12, 90),
        "rtt": {
            "rttUs": _directional(rng, 8_000, 60_000),
            "minRttUs": _directional(rng, 5_000, 8_000),
            "rttVarUs": _directional(rng, 200, 4_000),
        },
        "deviceIpv4": {
            "address": f"192.168.1.{rng.randint(10, 250)}",
            "netmask": "255.255.255.0",
            "version": 1,
            "location": location,
        },
        "gatewayIpv4": {"address": "192.168.1.1", "netmask": "255.255.255.0", "version": 1},
        "ispIpv4": {
            "address": f"73.{rng.randint(1, 254)}.{rng.randint(1, 254)}.{rng.randint(1, 254)}",
            "asn": asn,
            "aso": aso,
            "name": isp_name,
            "version": 1,
            "location": location,
        },
        "ispIpv6": {
            "address": f"2601:646:{rng.randint(0, 0xFFFF):x}::{rng.randint(1, 0xFFFF):x}",
            "asn": asn,
            "aso": aso,
            "name": isp_name,
            "version": 2,
            "location": location,
        },
    }

    if connected:
        # Omitted rather than null: the schema says nullable, but through allOf, which a
        # strict validator reads as not nullable.
        body["tunnelStats"] = {
            "statsWindowMs": 60_000,
            "bytesSent": _directional(rng, 100_000, 9_000_000),
            "bytesReceived": _directional(rng, 100_000, 90_000_000),
            "bytesLost": _directional(rng, 0, 20_000),
            "bytesRetransmitted": _directional(rng, 0, 50_000),
            "packetsSent": _directional(rng, 1_000, 90_000),
            "packetsReceived": _directional(rng, 1_000, 120_000),
            "packetsLost": _directional(rng, 0, 40),
            "packetsRetransmitted": _directional(rng, 0, 80),
        }
    return body
