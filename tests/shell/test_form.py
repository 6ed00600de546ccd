"""Modals as prompts, pure: answers become the state Slack would submit, in the shape the
handlers read back (``handlers.blocks.modal.read_submission``)."""

from __future__ import annotations

import pytest

from bot.dex.models import CommandType, EligibleDevice
from bot.domain.grammar import CaptureDraft, UserTarget
from bot.shell.form import BadAnswer, answer, fields_of, prompt, question, state_values
from bot.shell.render import Names
from bot.sim.people import ANN, BOB
from handlers.blocks.modal import read_submission, request_modal
from handlers.ids import BlockId

NAMES = Names(users={ANN.user_id: "ann", BOB.user_id: "bob"})


def _device(name: str, device_id: str) -> EligibleDevice:
    return EligibleDevice.model_validate(
        {"deviceId": device_id, "deviceName": name, "platform": "mac", "eligible": True}
    )


def _modal(kind: CommandType | None = None) -> dict:
    draft = CaptureDraft(command_type=kind, target=UserTarget(ANN.user_id), reason="VPN drops")
    devices = [_device("ann-macbook", "d1"), _device("ann-desktop", "d2")]
    return request_modal(draft, devices=devices, limits_note="Up to 10 min.", private_metadata="{}")


def test_fields_start_from_the_initial_values() -> None:
    fields = {f.block_id: f for f in fields_of(_modal(), NAMES)}
    assert prompt(fields[BlockId.USER], NAMES) == "  Whose device? (required) [@ann] > "
    assert fields[BlockId.DEVICE].empty
    assert question(fields[BlockId.DEVICE], NAMES) == [
        "  Device (required):",
        "    1) All eligible devices (2)",
        "    2) ann-macbook · mac",
        "    3) ann-desktop · mac",
    ]


def test_answers_read_back_as_the_handlers_expect() -> None:
    fields = {f.block_id: f for f in fields_of(_modal(CommandType.PCAP), NAMES)}
    fields[BlockId.USER].state = answer(fields[BlockId.USER], "@bob", NAMES)
    fields[BlockId.DEVICE].state = answer(fields[BlockId.DEVICE], "ann-mac", NAMES)  # a prefix
    fields[BlockId.TYPE].state = answer(fields[BlockId.TYPE], "1", NAMES)
    fields[BlockId.DURATION].state = answer(fields[BlockId.DURATION], "7m", NAMES)
    values = read_submission(state_values(list(fields.values())))
    assert values[BlockId.USER] == BOB.user_id
    assert values[BlockId.DEVICE] == "d1"
    assert values[BlockId.TYPE] == "pcap"
    assert values[BlockId.DURATION] == "7m"
    assert values[BlockId.REASON] == "VPN drops"  # untouched: the initial value is submitted


def test_checkboxes_read_back_as_the_handlers_expect() -> None:
    speed = {f.block_id: f for f in fields_of(_modal(CommandType.SPEED_TEST), NAMES)}
    speed[BlockId.INTERFACES].state = answer(speed[BlockId.INTERFACES], "1, tunnel", NAMES)
    assert read_submission(state_values(list(speed.values())))[BlockId.INTERFACES] == [
        "default",
        "tunnel",
    ]
    diag = {f.block_id: f for f in fields_of(_modal(CommandType.WARP_DIAG), NAMES)}
    diag[BlockId.ALL_ROUTES].state = answer(diag[BlockId.ALL_ROUTES], "-", NAMES)
    assert read_submission(state_values(list(diag.values())))[BlockId.ALL_ROUTES] == []


@pytest.mark.parametrize(
    ("block", "typed"),
    [(BlockId.USER, "@nobody"), (BlockId.DEVICE, "9"), (BlockId.DEVICE, "ann-")],
)
def test_answers_that_do_not_fit_are_refused(block: BlockId, typed: str) -> None:
    field = next(f for f in fields_of(_modal(), NAMES) if f.block_id == block)
    with pytest.raises(BadAnswer):
        answer(field, typed, NAMES)
