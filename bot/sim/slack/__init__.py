"""A fake Slack Web API on loopback, for tests and for ``dexbot shell``'s Slack emulation.

Modules: ``fake`` (the :class:`FakeSlack` API), ``server`` (HTTP layer), ``methods`` and
``render`` (the Web API methods and their JSON), ``workspace``/``conversations``/``model``
(the workspace model), ``recorder`` (calls, faults, subscribers), ``payloads`` (signed
requests from Slack to the bot), ``socket`` (Slack's side of Socket Mode).
"""

from bot.sim.slack.fake import FakeSlack
from bot.sim.slack.model import Event, SlackError
from bot.sim.slack.recorder import Call
from bot.sim.slack.server import FAKE_BOT_TOKEN, FAKE_SIGNING_SECRET
from bot.sim.slack.socket import FAKE_APP_TOKEN
from bot.sim.slack.workspace import Workspace

__all__ = [
    "FAKE_APP_TOKEN",
    "FAKE_BOT_TOKEN",
    "FAKE_SIGNING_SECRET",
    "Call",
    "Event",
    "FakeSlack",
    "SlackError",
    "Workspace",
]
