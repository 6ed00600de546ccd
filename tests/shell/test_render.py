"""The Block Kit -> text renderer, pure: what a person reads in the terminal."""

from __future__ import annotations

from bot.shell.feed import changes
from bot.shell.render import Confirm, Names, mrkdwn, render_blocks, render_message

NAMES = Names(
    users={"U0ANN0001": "ann", "U0MAX0012": "max"},
    channels={"C0APPROVE": "dex-approvals"},
    groups={"S0MANAGER": "managers"},
)


def test_mentions_channels_and_groups_read_as_names() -> None:
    text = "For <@U0ANN0001>, asked by <@U0MAX0012|max> in <#C0APPROVE> cc <!subteam^S0MANAGER>"
    assert mrkdwn(text, NAMES) == "For @ann, asked by @max in #dex-approvals cc @managers"


def test_unknown_ids_fall_back_to_the_label_or_the_id() -> None:
    assert mrkdwn("<@U0NOBODY1|olly> <#C0OTHER01> <!here>", NAMES) == "@olly #C0OTHER01 @here"


def test_escaped_text_stays_literal_and_never_becomes_a_mention() -> None:
    assert (
        mrkdwn("Approved by &lt;@U0MAX0012&gt; &amp; co", NAMES) == "Approved by <@U0MAX0012> & co"
    )


def test_links_show_their_label() -> None:
    assert mrkdwn("<https://x.slack.com/archives/C1/p1|See the request>", NAMES) == (
        "See the request"
    )
    assert mrkdwn("<https://example.com>", NAMES) == "https://example.com"


def test_known_emoji_become_emoji_and_bold_loses_its_stars() -> None:
    assert mrkdwn(":white_check_mark: *ann-macbook*: finished", NAMES) == "✅ ann-macbook: finished"
    assert mrkdwn(":not_a_known_one: at 04:41:20", NAMES) == ":not_a_known_one: at 04:41:20"
    assert mrkdwn("2*3*4 and snake_case_name", NAMES) == "2*3*4 and snake_case_name"


def test_header_section_fields_and_context() -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Approval needed: *pcap*"}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": ":mag: *Packet capture, 5 min*"},
            "fields": [
                {"type": "mrkdwn", "text": "*Requested by*\n<@U0MAX0012>"},
                {"type": "mrkdwn", "text": "*Devices*\nann-macbook · mac\nann-desktop · windows"},
                {"type": "mrkdwn", "text": "no label here"},
            ],
        },
        {"type": "divider"},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "Request `5dc2a95f`"}]},
    ]
    assert render_blocks(blocks, NAMES).lines == [
        "== Approval needed: *pcap* ==",  # plain_text is never read as mrkdwn
        "🔍 Packet capture, 5 min",
        "Requested by: @max",
        "Devices: ann-macbook · mac",
        "         ann-desktop · windows",
        "no label here",
        "────────────────────────",
        "  Request `5dc2a95f`",
    ]


def _card_buttons() -> list[dict[str, object]]:
    confirm = {
        "title": {"type": "plain_text", "text": "Approve this packet capture?"},
        "text": {"type": "plain_text", "text": "It spends 1 command."},
        "confirm": {"type": "plain_text", "text": "Approve"},
        "deny": {"type": "plain_text", "text": "Back"},
    }
    return [
        {
            "type": "actions",
            "block_id": "b1",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Approve"},
                    "action_id": "dex.approve",
                    "value": "r1",
                    "style": "primary",
                    "confirm": confirm,
                },
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Deny"},
                    "action_id": "dex.deny",
                    "value": "r1",
                },
            ],
        }
    ]


def test_buttons_are_numbered_choices_from_the_first_free_number() -> None:
    drawn = render_blocks(_card_buttons(), NAMES, first_number=4)
    assert drawn.lines == ["[4] Approve  [5] Deny"]
    approve, deny = drawn.buttons
    assert (approve.number, approve.action_id, approve.value, approve.block_id) == (
        4,
        "dex.approve",
        "r1",
        "b1",
    )
    assert approve.style == "primary"
    assert approve.confirm == Confirm(
        "Approve this packet capture?", "It spends 1 command.", "Approve", "Back"
    )
    assert (deny.number, deny.confirm) == (5, None)


def test_a_message_without_blocks_shows_its_text() -> None:
    assert render_message("Sent to <@U0ANN0001>\nsecond line", None, NAMES).lines == [
        "Sent to @ann",
        "second line",
    ]


def test_unknown_blocks_are_named_not_dropped() -> None:
    assert render_blocks([{"type": "video"}], NAMES).lines == ["[video block]"]


def test_an_edit_shows_what_changed_and_that_the_buttons_went() -> None:
    before = ["== Approval needed ==", "For: @ann", "[1] Approve  [2] Deny"]
    after = ["== Approved ==", "For: @ann", "✅ Approved by @max"]
    assert changes(before, after) == [
        "== Approved ==",
        "✅ Approved by @max",
        "(its buttons are gone)",
    ]
    assert changes(after, list(after[:2])) == ["(nothing visible changed)"]
