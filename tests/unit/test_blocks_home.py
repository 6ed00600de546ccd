"""The Home view: within Slack's limits however full, the card's very buttons on every waiting
request, escaped outside text, the quota's reset time, and presets from a policy."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import timedelta

from bot.dex.models import Quota
from bot.domain.errors import NotARequester
from bot.services.home import HomeData, presets_of
from handlers.blocks.capture import render_card
from handlers.blocks.home import render_home
from handlers.ids import ActionId
from tests.unit.test_blocks_capture import APPROVED, NOW, PENDING, POSTED

QUOTA = Quota.model_validate(
    {"quota": 25, "quota_usage": 7, "reset_time": NOW + timedelta(hours=3)}
)


def text(view: dict[str, object]) -> str:
    return json.dumps(view, ensure_ascii=False)


def test_a_full_home_stays_within_the_limits_and_offers_the_cards_buttons() -> None:
    many = [replace(PENDING, id=f"{i:032x}") for i in range(15)]
    data = HomeData("U0MANAGER1", NOW, [POSTED, APPROVED] * 4, many, QUOTA)
    view = render_home(data)
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    actions = [b for b in view["blocks"] if b["type"] == "actions"]
    assert len(actions) == 15
    for block, req in zip(actions, many, strict=True):
        approve, deny = block["elements"]
        assert (approve["action_id"], approve["value"]) == (ActionId.APPROVE, req.id)
        assert (deny["action_id"], deny["value"]) == (ActionId.DENY, req.id)
        card = render_card(req, None, now=NOW).blocks
        assert block["elements"] == next(b for b in card if b["type"] == "actions")["elements"]
    shown = text(view)
    assert "*18 of 25* commands left until 13:45 UTC" in shown  # the gauge with its reset


def test_outside_text_is_escaped() -> None:
    hostile = replace(PENDING, reason="<!channel> *bold* <https://evil|click>")
    shown = text(render_home(HomeData("U0MANAGER1", NOW, [], [hostile], None)))
    assert "<!channel>" not in shown and "<https://evil" not in shown
    assert "quota could not be read" in shown


def test_thread_links_when_known() -> None:
    link = "https://dexbot-demo.slack.com/archives/C0SUPPORT/p1741603200000100"
    data = HomeData("U0SUPPORT1", NOW, [POSTED], None, QUOTA, links={POSTED.id: link})
    shown = text(render_home(data))
    assert f"<{link}|Open the thread>" in shown
    assert "Waiting for your approval" not in shown  # not an approver


def test_a_refused_person_reads_only_why() -> None:
    shown = text(
        render_home(HomeData("U0X", NOW, [], None, None, refused=NotARequester(contact=None)))
    )
    assert "not on dexbot's list" in shown and "quota" not in shown.lower()


@dataclass
class FakePreset:  # the shape an approval policy's presets have
    description: str

    def words(self) -> list[str]:
        return ["pcap", "5m", "--size", "20"]


@dataclass
class FakePolicy:
    presets: dict[str, FakePreset]


def test_presets_of_a_policy_are_listed() -> None:
    assert presets_of(None) == []
    presets = presets_of(FakePolicy({"vpn": FakePreset("VPN drops <b>")}))
    shown = text(render_home(HomeData("U0SUPPORT1", NOW, [], None, QUOTA, presets=presets)))
    assert "`vpn` — pcap 5m --size 20: VPN drops" in shown and "<b>" not in shown
