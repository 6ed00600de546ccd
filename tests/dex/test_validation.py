"""Bad input is refused before anything reaches Cloudflare."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot.dex import CommandSpec, CommandType, DexClient, DexValidationError, PcapArgs

DEVICE = "cd613e30-d8f1-4adf-91b7-584a2265b1f5"


def warp(device_id: str = DEVICE) -> dict[str, Any]:
    return {"device_id": device_id, "user_email": "ann@example.com", "type": "warp-diag"}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda c: c.create_commands([warp(f"d{i}") for i in range(11)]),
            "at most 10 devices per command call; got 11",
        ),
        (lambda c: c.create_commands([]), "at least 1"),
        (
            lambda c: c.create_commands([{**warp(), "args": {"max-file-size-mb": 5}}]),
            "max-file-size-mb",
        ),
        (lambda c: c.create_commands([{**warp(), "command_type": "pcap"}]), "command_type"),
        (lambda c: c.create_commands([{**warp(), "type": "reboot"}]), "reboot"),
        (lambda c: c.create_commands([warp(), warp()]), "twice"),
        (lambda c: c.create_commands([warp("")]), "device_id"),
        (
            lambda c: c.list_commands(per_page=500),
            "per_page must be 1..50 (Cloudflare's maximum); got 500",
        ),
        (lambda c: c.list_commands(page=0), "page must be >= 1"),
        (lambda c: c.list_commands(command_type="reboot"), "command_type must be one of"),
        (lambda c: c.list_commands(status="DONE"), "status must be one of"),
        (lambda c: c.list_commands(from_=datetime(2026, 1, 1)), "timezone-aware"),
        (lambda c: c.list_commands(device_id=""), "device_id"),
        (lambda c: c.list_devices(per_page=0), "per_page must be 1..50"),
        (lambda c: c.live_status(DEVICE, since_minutes=0), "since_minutes must be 1..60; got 0"),
        (lambda c: c.live_status(DEVICE, since_minutes=61), "since_minutes must be 1..60"),
        (lambda c: c.live_status(" "), "device_id"),
        (lambda c: c.download_artifact("", "x.zip", Path(".")), "command_id"),
    ],
)
async def test_refused_before_sending(
    client: DexClient, dex_sim: Any, call: Any, message: str
) -> None:
    with pytest.raises(DexValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        await call(client)
    assert await dex_sim.requests() == []


def test_pcap_args_on_a_warp_diag_fail_when_the_spec_is_built() -> None:
    with pytest.raises(ValidationError, match="PcapArgs given for a warp-diag"):
        CommandSpec(
            device_id=DEVICE,
            user_email="ann@example.com",
            type=CommandType.WARP_DIAG,
            args=PcapArgs(time_limit_min=1),
        )
