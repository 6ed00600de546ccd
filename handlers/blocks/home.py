"""The App Home tab: the approvals waiting for this person (with the card's own Approve and
Deny buttons), their recent requests with state and thread links, the quota gauge with its
reset time, and the presets a policy defines. Pure; returns the ``view`` for ``views.publish``.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.domain.model import CaptureRequest, RequestState
from bot.services.home import HomeData, HomePreset
from handlers.blocks.capture import _buttons, _code, _person, _state_text, _target, _what
from handlers.blocks.common import (
    Rendered,
    check_limits,
    format_utc,
    outside,
    plural,
    relative_time,
)
from handlers.blocks.problems import describe_problem
from handlers.blocks.readonly import render_quota

#: ``callback_id`` of the Home view (Slack echoes it in block_actions from the tab).
HOME_CALLBACK = "dex.home"
MAX_PRESETS = 10


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=text))


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=text)])


def _thread(req: CaptureRequest, links: dict[str, str]) -> str:
    link = links.get(req.id)
    return f" · <{link}|Open the thread>" if link else ""


def _approval(req: CaptureRequest, data: HomeData) -> list[Block]:
    now = data.now
    lines = (
        f"*{_what(req)}* for {_target(req)}\n"
        f"Asked by {_person(req.requester_id)} · {plural(req.units, 'device')} · "
        f"expires {format_utc(req.expires_at, now)} ({relative_time(req.expires_at, now)})"
    )
    if req.reason:
        lines += f"\n_{outside(req.reason, 300)}_"
    return [
        _section(lines),
        _buttons(req),
        _context(f"Request {_code(req.short_id)}{_thread(req, data.links)}"),
    ]


def _mine(req: CaptureRequest, data: HomeData) -> list[Block]:
    now = data.now
    if req.state is RequestState.PENDING_APPROVAL:
        state = (
            ":hourglass_flowing_sand: Waiting for approval "
            f"(expires {format_utc(req.expires_at, now)})"
        )
    else:
        state = _state_text(req, now=now, card=False).split("\n", 1)[0]
    return [
        _section(f"*{_what(req)}* for {_target(req)}\n{state}"),
        _context(
            f"Request {_code(req.short_id)} · asked {format_utc(req.created_at, now)}"
            f"{_thread(req, data.links)}"
        ),
    ]


def _quota(data: HomeData) -> list[dict[str, Any]]:
    if data.quota is None:
        return [_context("Cloudflare's command quota could not be read just now.").to_dict()]
    return list(render_quota(data.quota, now=data.now).blocks)


def _presets(presets: list[HomePreset]) -> list[Block]:
    lines = []
    for p in presets[:MAX_PRESETS]:
        line = f"• `{outside(p.name, 40)}`"
        if p.words:
            line += f" — {outside(p.words, 80)}"
        if p.description:
            line += f": {outside(p.description, 200)}"
        lines.append(line)
    usage = "Ask with `/dex capture @someone <preset>`."
    return [HeaderBlock(text="Presets"), _section("\n".join(lines)), _context(usage)]


def _body(data: HomeData) -> list[Block | dict[str, Any]]:
    blocks: list[Block | dict[str, Any]] = [HeaderBlock(text="Your recent requests")]
    if data.requests:
        for req in data.requests:
            blocks += _mine(req, data)
    else:
        blocks.append(_section("You have not asked for anything yet. Type `/dex help` to start."))
    blocks += [DividerBlock(), HeaderBlock(text="Cloudflare quota"), *_quota(data)]
    if data.presets:
        blocks += [DividerBlock(), *_presets(list(data.presets))]
    return blocks


def render_home(data: HomeData) -> dict[str, Any]:
    """The Home view of one person (``{"type": "home", "blocks": [...]}``)."""
    blocks: list[Block | dict[str, Any]] = [HeaderBlock(text="dexbot")]
    if data.refused is not None:
        blocks.append(_section(describe_problem(data.refused)))
    elif data.approvals is not None:
        blocks.append(HeaderBlock(text="Waiting for your approval"))
        if data.approvals:
            for req in data.approvals:
                blocks += _approval(req, data)
        else:
            blocks.append(_section("Nothing waits for your approval."))
        blocks.append(DividerBlock())
    if data.refused is None:
        blocks += _body(data)
    blocks.append(_context(f"Updated {format_utc(data.now, data.now)}"))
    dicts = [b if isinstance(b, dict) else b.to_dict() for b in blocks]
    check_limits(Rendered(text="", blocks=dicts), surface="modal")  # a Home allows 100 too
    return {"type": "home", "callback_id": HOME_CALLBACK, "blocks": dicts}
