"""``check_limits`` applies the same table of Block Kit limits as the fake Slack."""

from __future__ import annotations

from typing import Any

import pytest

from bot.blockkit import LIMITS, blocks_problems
from handlers.blocks.common import Rendered, check_limits
from tests.fakes.test_strict_slack import BAD_BLOCKS, BAD_VIEWS


@pytest.mark.parametrize("blocks", BAD_BLOCKS.values(), ids=BAD_BLOCKS.keys())
def test_check_limits_refuses_what_the_fake_refuses(blocks: list[dict[str, Any]]) -> None:
    with pytest.raises(ValueError, match="allows"):
        check_limits(Rendered("fallback", blocks))


BAD_MODAL_BLOCKS = ("label 2000", "hint 2000", "101 blocks", "bad block inside")


@pytest.mark.parametrize("name", BAD_MODAL_BLOCKS)
def test_modal_inputs_over_the_limits_are_refused_in_a_modal(name: str) -> None:
    blocks = BAD_VIEWS[name]["blocks"]
    assert blocks_problems(blocks, "modal")
    with pytest.raises(ValueError, match="allows"):
        check_limits(Rendered("", blocks), surface="modal")


def test_a_modal_allows_more_blocks_than_a_message() -> None:
    blocks = [{"type": "divider"}] * (LIMITS["message_blocks"] + 1)
    check_limits(Rendered("", blocks), surface="modal")
    with pytest.raises(ValueError, match="51 blocks"):
        check_limits(Rendered("t", blocks))
