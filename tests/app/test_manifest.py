"""The app manifest creates the app as it stands: every Web API method the code calls is
covered by a declared bot scope, and the slash command, interactivity, the Home tab and its
event subscription are declared."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml
from slack_sdk.web.async_client import AsyncWebClient

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = yaml.safe_load((ROOT / "app_manifest.yml").read_text())

#: Web API method (as the SDK names it) -> the bot scopes that allow it (any one suffices).
SCOPES: dict[str, set[str]] = {
    "auth_test": set(),
    # Socket Mode: called with the app-level token (connections:write), not a bot scope.
    "apps_connections_open": set(),
    "chat_postMessage": {"chat:write"},
    "chat_postEphemeral": {"chat:write"},
    "chat_update": {"chat:write"},
    "chat_getPermalink": set(),
    "conversations_join": {"channels:join"},
    "conversations_info": {"channels:read", "groups:read"},
    "conversations_open": {"im:write"},
    # A request made in the DM with the bot threads there too: im:history (see README).
    "conversations_replies": {"channels:history", "groups:history", "im:history"},
    "conversations_history": {"channels:history", "groups:history", "im:history"},
    "files_getUploadURLExternal": {"files:write"},
    "files_completeUploadExternal": {"files:write"},
    "files_info": {"files:read"},
    "users_info": {"users:read"},
    "usergroups_users_list": {"usergroups:read"},
    "views_open": set(),
    "views_update": set(),
    "views_push": set(),
    "views_publish": set(),
}


def called_web_api_methods() -> set[str]:
    """Every ``<something>.<AsyncWebClient method>(`` call in bot/ and handlers/ (not the sims)."""
    found: set[str] = set()
    for folder in ("bot", "handlers"):
        for path in (ROOT / folder).rglob("*.py"):
            if "sim" in path.relative_to(ROOT).parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and "_" in node.func.attr
                    and not node.func.attr.startswith("_")
                    and callable(getattr(AsyncWebClient, node.func.attr, None))
                    and node.func.attr not in {"api_call", "__init__"}
                ):
                    found.add(node.func.attr)
    return found


def test_every_called_method_is_covered_by_a_declared_scope() -> None:
    declared = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    called = called_web_api_methods()
    assert "chat_postMessage" in called  # the scan works
    unknown = called - SCOPES.keys()
    assert not unknown, f"add these methods and their scopes to the table: {sorted(unknown)}"
    missing = {m: s for m in called if (s := SCOPES[m]) and not s & declared}
    assert not missing, f"manifest lacks scopes for: {missing}"
    # users.info is used for emails, which need users:read.email as well.
    assert {"users:read", "users:read.email", "commands"} <= declared
    # Every conversation type dexbot threads in needs its own history scope.
    assert {"channels:history", "groups:history", "im:history"} <= declared


def test_no_scope_is_declared_that_nothing_uses() -> None:
    declared = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    used = {"commands", "users:read.email"}.union(*(SCOPES[m] for m in called_web_api_methods()))
    assert declared - used == set()


def test_slash_command_and_interactivity() -> None:
    (command,) = MANIFEST["features"]["slash_commands"]
    assert command["command"] == "/dex" and command["should_escape"] is True
    assert command["usage_hint"]
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True
    assert MANIFEST["settings"]["socket_mode_enabled"] is True
    assert MANIFEST["features"]["bot_user"]["display_name"] == "dexbot"


def test_home_tab_and_its_event_are_declared_for_both_modes() -> None:
    assert MANIFEST["features"]["app_home"]["home_tab_enabled"] is True
    events = MANIFEST["settings"]["event_subscriptions"]["bot_events"]
    assert events == ["app_home_opened"]  # every event a listener handles, and no other
    # Socket Mode gets events over the socket; HTTP mode at the same /slack/events URL as
    # commands and interactivity (the manifest leaves the URL to fill in, as for those).
    handlers = (ROOT / "handlers" / "home.py").read_text()
    assert '@app.event("app_home_opened")' in handlers
