"""warp-diag triage on bundles in the real layout: the facts, and each default rule firing
on a bundle made to trigger it (and only it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.insight import RuleFileError, WarpDiagSummary, load_rules, summarize
from bot.insight.model import Severity, WarpFacts
from bot.insight.rules import mask
from tests.insight.bundles import CALM_LOG, bundle


def diag(path: Path, **kwargs) -> WarpDiagSummary:  # type: ignore[no-untyped-def]
    summary = summarize("warp-diag", path, **kwargs)
    assert isinstance(summary, WarpDiagSummary), summary
    return summary


def test_a_calm_bundle_gives_its_facts_and_no_findings(tmp_path: Path) -> None:
    summary = diag(bundle(tmp_path / "a.zip"))
    assert summary.facts == WarpFacts(
        version="2025.1.861.0",
        platform="macOS",
        status="Connected",
        mode="WarpWithDnsOverHttps",
        latency_ms=14.0,
        loss_pct=0.0,
        since_handshake_s=54,
        split_tunnel_mode="exclude",
        split_tunnel_entries=5,
        interface_kind="WiFi",
        captive_network=False,
        account_type="Team",
        organization="example",
    )
    assert summary.findings == () and summary.missing == () and summary.notes == ()


def test_a_bundle_inside_a_folder_reads_the_same(tmp_path: Path) -> None:
    nested = diag(bundle(tmp_path / "a.zip", folder="warp-debugging-info-20260310/"))
    assert nested.facts == diag(bundle(tmp_path / "b.zip")).facts


def test_missing_files_are_not_in_this_bundle(tmp_path: Path) -> None:
    summary = diag(bundle(tmp_path / "a.zip", warp_stats_txt=None, warp_network_txt=None))
    assert summary.missing == ("warp-stats.txt", "warp-network.txt")
    assert summary.facts.latency_ms is None and summary.facts.interface_kind is None
    assert summary.facts.version == "2025.1.861.0"


def test_a_disconnected_client_and_an_ethernet_captive_network(tmp_path: Path) -> None:
    network = '{"v4_iface": {"name": "eth0", "kind": "Ethernet"}, "captive_network": true}'
    summary = diag(
        bundle(
            tmp_path / "a.zip",
            warp_status_txt="Ok(Disconnected(Manual))\n",
            warp_network_txt=network,
            warp_stats_txt="Time since last handshake: 2m5s\n",
        )
    )
    f = summary.facts
    assert (f.status, f.interface_kind, f.captive_network) == ("Disconnected", "Ethernet", True)
    assert f.since_handshake_s == 125


TRIGGERS = {
    "other-vpn": {"ps_txt": "  PID COMMAND\n  777 /Applications/GlobalProtect.app/PanGPS\n"},
    "tls-inspection": {
        "daemon_log": CALM_LOG
        + "2026-03-10T10:41:00Z ERROR warp::doh: invalid peer certificate: UnknownIssuer\n"
    },
    "port-53-bound": {
        "daemon_1_log": "2026-03-10T10:41:00Z ERROR warp::dns: bind 127.0.2.2:53: Address"
        " already in use (os error 48)\n"
    },
    "device-revoked": {
        "daemon_log": "2026-03-10T10:41:00Z ERROR warp::api: registration failed: missing"
        " device id token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijklmnop\n"
    },
    "os-firewall": {
        "connectivity_txt": "DNS resolution: failed: An attempt was made to access a socket in"
        " a way forbidden by its access permissions. (os error 10013)\n"
    },
    "old-version": {"version_txt": "Version: 2024.6.415.0\n"},
}


@pytest.mark.parametrize("rule_id", list(TRIGGERS))
def test_each_default_rule_fires_on_its_bundle(tmp_path: Path, rule_id: str) -> None:
    summary = diag(bundle(tmp_path / "a.zip", **TRIGGERS[rule_id]))
    assert [f.rule_id for f in summary.findings] == [rule_id]
    finding = summary.findings[0]
    assert finding.docs.startswith("https://developers.cloudflare.com/")
    assert finding.matches == 1


def test_the_quoted_line_masks_tokens(tmp_path: Path) -> None:
    (finding,) = diag(bundle(tmp_path / "a.zip", **TRIGGERS["device-revoked"])).findings
    assert finding.line == (
        "2026-03-10T10:41:00Z ERROR warp::api: registration failed: missing device id token=****"
    )
    assert finding.file == "daemon.log" and finding.severity is Severity.CRITICAL


def test_mask_hides_secrets_of_every_shape() -> None:
    assert mask("Authorization: Bearer abcdef0123456789") == "Authorization: **** ****"
    assert mask('client_secret="s3cr3t-value"') == 'client_secret="****"'
    assert mask("key " + "a" * 64) == "key ****"
    assert mask("password=hunter2 next") == "password=**** next"


def test_findings_are_ranked_by_severity(tmp_path: Path) -> None:
    changes = {**TRIGGERS["other-vpn"], **TRIGGERS["os-firewall"], **TRIGGERS["old-version"]}
    summary = diag(bundle(tmp_path / "a.zip", **changes))
    ranked = [(f.severity.value, f.rule_id) for f in summary.findings]
    assert ranked == [("critical", "os-firewall"), ("warning", "old-version"),
                      ("warning", "other-vpn")]  # fmt: skip


def test_a_known_bad_version_from_an_operator_file(tmp_path: Path) -> None:
    extra = tmp_path / "ops.yaml"
    extra.write_text(
        "versions:\n  minimum: '2024.1.0'\n  bad:\n    - version: '2025.1.861.0'\n"
        "      reason: drops the tunnel on sleep\n"
        "rules:\n  - id: zoom\n    files: [ps.txt]\n    patterns: ['(?i)zoom']\n"
        "    severity: info\n    finding: Zoom is running.\n    remediation: None needed.\n"
        "    docs: https://developers.cloudflare.com/\n"
    )
    rules = load_rules(extra)
    ps = "  PID COMMAND\n  9 /Applications/zoom.us.app\n"
    summary = diag(bundle(tmp_path / "a.zip", ps_txt=ps), rules=rules)
    assert [(f.rule_id, f.severity) for f in summary.findings] == [
        ("bad-version", Severity.CRITICAL),
        ("zoom", Severity.INFO),
    ]
    assert summary.findings[0].finding == "WARP 2025.1.861.0: drops the tunnel on sleep"


def test_a_configured_minimum_version_wins(tmp_path: Path) -> None:
    rules = load_rules(minimum_version="2026.1.0")
    summary = diag(bundle(tmp_path / "a.zip"), rules=rules)
    assert [f.rule_id for f in summary.findings] == ["old-version"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("rules: [{id: x}]", "rules.0.files: Field required"),
        ("rules:\n  - {id: x, files: [a], patterns: ['('], severity: warning, finding: f,"
         " remediation: r, docs: 'https://x'}", "is not a regular expression"),
        ("rules:\n  - {id: x, files: [a], patterns: [a], severity: fatal, finding: f,"
         " remediation: r, docs: 'https://x'}", "rules.0.severity"),
        ("rules:\n  - {id: x, files: [a], patterns: [a], severity: info, finding: f,"
         " remediation: r, docs: 'http://x'}", "rules.0.docs"),
        ("surprise: 1", "surprise"),
        ("rules: [", "not valid YAML"),
    ],
)  # fmt: skip
def test_a_bad_rule_file_is_refused_with_the_reason(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "ops.yaml"
    path.write_text(text)
    with pytest.raises(RuleFileError, match=r"ops\.yaml") as caught:
        load_rules(path)
    assert problem in str(caught.value)


def test_the_rule_scan_has_a_time_budget(tmp_path: Path) -> None:
    from bot.insight import SummaryBudget

    log = CALM_LOG * 10_000
    ticks = iter(range(0, 10**6, 100))  # read after each block: 100 s, then 200 s: stop
    limits = SummaryBudget(time_budget_s=150, clock=lambda: float(next(ticks)))
    late = "ERROR Address already in use\n"
    summary = diag(bundle(tmp_path / "a.zip", daemon_log=log + late), limits=limits)
    assert summary.stopped_early and summary.findings == ()


def test_a_long_log_is_scanned_in_blocks_and_each_line_counted_once(tmp_path: Path) -> None:
    trigger = "2026-03-10T10:41:00Z ERROR warp::dns: Address already in use; Address already in use"
    log = CALM_LOG * 20_000 + trigger + "\n" + CALM_LOG * 20_000 + trigger  # ~6 MB, no final \n
    (finding,) = diag(bundle(tmp_path / "a.zip", daemon_log=log)).findings
    assert (finding.rule_id, finding.line, finding.matches) == ("port-53-bound", trigger, 2)
