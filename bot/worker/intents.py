"""Slash commands acknowledged but never answered (their process died in between): the
requester is told by direct message, at most once, instead of the command vanishing."""

from __future__ import annotations

import logging
from datetime import timedelta

from slack_sdk.web.async_client import AsyncWebClient

from bot.services.context import Context
from bot.store.intents import Intents
from bot.worker.deliver import Renderers

log = logging.getLogger("dexbot.intents")
#: A live listener answers within seconds (pre-flight has a 60-second budget at most); one
#: still open after this was left by a dead process.
LEFT_BEHIND_AFTER = timedelta(minutes=2)


async def tell_left_behind(
    ctx: Context, intents: Intents, slack: AsyncWebClient, render: Renderers
) -> int:
    """Tell the requester of every command a dead process left unanswered; how many."""
    if render.dropped is None:
        return 0
    told = 0
    for intent in await intents.left_behind(ctx.clock() - LEFT_BEHIND_AFTER):
        if not await intents.take(intent):
            continue  # another worker has it, or the request was stored after all
        r = render.dropped(intent.text)
        try:
            await slack.chat_postMessage(channel=intent.user_id, text=r.text, blocks=r.blocks)
            told += 1
        except Exception:  # at most once: a DM that may have gone out is not repeated
            log.warning("could not tell %s about a lost command", intent.user_id, exc_info=True)
        await intents.close(intent.id)
    return told
