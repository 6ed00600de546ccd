"""``dexbot policy check FILE``: the effective rules in plain words for a valid file, one line
per problem (exit 1) for each kind of bad file; ``serve`` refuses to start on the same lines;
without a file the settings are the one default rule."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import Settings
from bot.domain.model import CommandType
from bot.domain.rules import Facts
from bot.services.policy_file import from_settings

SCENARIO_POLICY = Path(__file__).parents[1] / "scenario" / "policies" / "team.yaml"
README = Path(__file__).parents[2] / "README.md"

GOOD = """
presets:
  vpn-drops: {type: pcap, minutes: 5, size_mb: 20, reason: VPN drops}
requesters:
  - who: [S0SUPPORT]
rules:
  - name: big
    match: {type: [pcap], devices: {min: 3}}
    approvers: [S0MANAGER]
    quorum: 2
  - name: default
    approvers: [U0MAX0012]
"""

BAD = {
    "unknown preset": (
        """
requesters: [{who: [S0SUPPORT], presets: [vpn-drop]}]
rules: [{name: default, approvers: [S0MANAGER]}]
""",
        "requesters[1]: unknown preset 'vpn-drop'",
    ),
    "malformed id": (
        """
requesters: [{who: [S0SUPPORT]}]
rules: [{name: default, approvers: [max@example.com]}]
""",
        "rule 'default': 'max@example.com' is not a Slack user (U…/W…) or group (S…) id",
    ),
    "quorum over a fixed list": (
        """
requesters: [{who: [S0SUPPORT]}]
rules: [{name: default, approvers: [U0MAX0012, U0MIA0013], quorum: 3}]
""",
        "rule 'default': a quorum of 3 but only 2 approver(s) listed",
    ),
    "shadowed rule": (
        """
requesters: [{who: [S0SUPPORT]}]
rules:
  - {name: default, approvers: [S0MANAGER]}
  - {name: big, match: {devices: {min: 3}}, approvers: [S0MANAGER], quorum: 2}
""",
        "rule 'big' can never match: rule 'default' before it matches every request it would",
    ),
    "empty range": (
        """
requesters: [{who: [S0SUPPORT]}]
rules:
  - {name: odd, match: {minutes: {min: 8, max: 4}}, approvers: [S0MANAGER]}
  - {name: default, approvers: [S0MANAGER]}
""",
        "rule 'odd' can never match: its minutes range is empty (8 > 4)",
    ),
    "unknown key": (
        """
requesters: [{who: [S0SUPPORT]}]
rules: [{name: default, approvers: [S0MANAGER], quorom: 2}]
""",
        "rules[1].quorom: Extra inputs are not permitted",
    ),
    "not yaml": ("rules: [\n", "not valid YAML"),
}


def test_a_valid_file_prints_its_rules_in_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(GOOD)
    assert main(["policy", "check", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "Preset vpn-drops: pcap 5m --size 20",
        "S0SUPPORT may request any type",
        "Rule 1 big: pcap at least 3 devices -> needs 2 distinct approvals from S0MANAGER; "
        "expires after 30 min; never by the requester",
        "Rule 2 default: any request -> needs 1 distinct approval from U0MAX0012; "
        "expires after 30 min; never by the requester",
        "A request no rule matches is refused.",
    ]


@pytest.mark.parametrize("kind", sorted(BAD))
def test_each_kind_of_bad_file_is_one_line_and_exit_1(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text, line = BAD[kind]
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    assert main(["policy", "check", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}: {line}" in out.splitlines()[0], out


def test_the_scenario_and_readme_policies_are_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["policy", "check", str(SCENARIO_POLICY)]) == 0
    readme = README.read_text()
    example = readme.split("```yaml\n# dexbot-policy.yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "readme.yaml"
    path.write_text(example)
    assert main(["policy", "check", str(path)]) == 0, capsys.readouterr().out


def test_serve_refuses_to_start_on_an_invalid_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(BAD["quorum over a fixed list"][0])
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "CLOUDFLARE_", "DEX_", "DATABASE_"))
    }
    env |= {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        "CLOUDFLARE_API_TOKEN": "t",
        "CLOUDFLARE_ACCOUNT_ID": "0123456789abcdef0123456789abcdef",
        "DEX_POLICY_FILE": str(path),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "serve"],
        env=env,
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "dexbot cannot start" in proc.stderr
    assert "DEX_POLICY_FILE: rule 'default': a quorum of 3 but only 2 approver(s)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_without_a_file_the_settings_are_the_default_rule() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        dex_requesters="S0SUPPORT",
        dex_approvers="S0MANAGER",
        dex_allow_self_approval=True,
        dex_approval_ttl_seconds=600,
    )
    policy = from_settings(settings)
    rule = policy.rule_for(Facts(CommandType.PCAP, devices=5, minutes=10))
    assert rule is not None and rule.approvers == ("S0MANAGER",)
    assert (rule.quorum, rule.self_approval, rule.ttl_seconds, rule.auto) == (1, True, 600, None)
    assert policy.requesters == ("S0SUPPORT", "S0MANAGER")
