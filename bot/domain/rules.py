"""Approval policy as data: presets, who may request what, and the rules that say who approves
a request, how many must, and whether a rule may approve it by itself. Pure (stdlib only):
``bot.services.policy_file`` reads the YAML into these values; the services ask them questions.

::

    rule = policy.rule_for(Facts(CommandType.PCAP, preset=None, devices=3, minutes=10))
    rule.quorum              # 2
    auto_verdict(rule.auto, used=3, after=40)   # AutoVerdict(ok=False, why="cap")
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.domain.model import CommandType

#: A Slack user (U…/W…) or user-group (S…) id.
PRINCIPAL = re.compile(r"^[UWS][A-Z0-9]{2,}$")
#: How an approval by a rule (not a person) is recorded as the actor.
RULE_ACTOR_PREFIX = "rule:"
#: Whether the person whose device is targeted is told (notify) or must say OK (acknowledge).
OwnerMode = Literal["off", "notify", "acknowledge"]


@dataclass(frozen=True)
class Preset:
    """A named request: a type and its arguments in the words ``/dex`` takes, with a reason
    to use when the requester gives none."""

    name: str
    command_type: CommandType
    minutes: int | None = None
    size_mb: int | None = None
    snaplen: int | None = None
    interfaces: tuple[str, ...] = ()
    all_routes: bool | None = None
    description: str = ""
    reason: str | None = None

    def words(self) -> list[str]:
        """The preset as ``/dex`` words: ``["pcap", "5m", "--size", "20"]``."""
        out = [_TYPE_WORD[self.command_type]]
        if self.minutes is not None:
            out.append(f"{self.minutes}m")
        if self.size_mb is not None:
            out += ["--size", str(self.size_mb)]
        if self.snaplen is not None:
            out += ["--snaplen", str(self.snaplen)]
        out += list(self.interfaces)
        if self.all_routes is not None:
            out.append("--all-routes" if self.all_routes else "--no-all-routes")
        return out


_TYPE_WORD = {
    CommandType.PCAP: "pcap",
    CommandType.WARP_DIAG: "diag",
    CommandType.SPEED_TEST: "speedtest",
}


@dataclass(frozen=True)
class Grant:
    """``who`` (users or groups) may request these types and presets (None: any)."""

    who: tuple[str, ...]
    types: frozenset[CommandType] | None = None
    presets: frozenset[str] | None = None

    def allows(self, command_type: CommandType, preset: str | None) -> bool:
        """Whether this grant covers a request of this type (and preset)."""
        if self.types is not None and command_type not in self.types:
            return False
        return self.presets is None or (preset is not None and preset in self.presets)


@dataclass(frozen=True)
class Span:
    """An inclusive range; None at either end is open."""

    low: int | None = None
    high: int | None = None

    def holds(self, value: int | None) -> bool:
        """Whether ``value`` lies in the range (an absent value only in an open range)."""
        if value is None:
            return self.low is None and self.high is None
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    @property
    def empty(self) -> bool:
        """No value can lie in it."""
        return self.low is not None and self.high is not None and self.low > self.high

    def covers(self, other: Span) -> bool:
        """Every value ``other`` holds, this holds too."""
        low_ok = self.low is None or (other.low is not None and other.low >= self.low)
        high_ok = self.high is None or (other.high is not None and other.high <= self.high)
        return low_ok and high_ok

    def words(self, unit: str) -> str | None:
        """ "2 to 10 devices", "at least 2 devices", or None when open."""
        if self.low is None and self.high is None:
            return None
        if self.low is not None and self.high is not None:
            return f"{self.low} to {self.high} {unit}"
        if self.low is not None:
            return f"at least {self.low} {unit}"
        return f"at most {self.high} {unit}"


@dataclass(frozen=True)
class Facts:
    """What a rule matches on: the request's type, preset, device count, minutes and size."""

    command_type: CommandType
    preset: str | None = None
    devices: int = 1
    minutes: int | None = None
    size_mb: int | None = None


@dataclass(frozen=True)
class Match:
    """Which requests a rule applies to (every part None/open: all of them)."""

    types: frozenset[CommandType] | None = None
    presets: frozenset[str] | None = None
    devices: Span = Span()
    minutes: Span = Span()
    size_mb: Span = Span()

    def holds(self, f: Facts) -> bool:
        """Whether a request with these facts is matched."""
        if self.types is not None and f.command_type not in self.types:
            return False
        if self.presets is not None and f.preset not in self.presets:
            return False
        return (
            self.devices.holds(f.devices)
            and self.minutes.holds(f.minutes)
            and self.size_mb.holds(f.size_mb)
        )

    def covers(self, other: Match) -> bool:
        """Every request ``other`` matches, this matches too (so ``other`` after it is dead)."""
        return (
            _set_covers(self.types, other.types)
            and _set_covers(self.presets, other.presets)
            and self.devices.covers(other.devices)
            and self.minutes.covers(other.minutes)
            and self.size_mb.covers(other.size_mb)
        )


def _open(span: Span) -> bool:
    return span.low is None and span.high is None


def _set_covers(a: frozenset[Any] | None, b: frozenset[Any] | None) -> bool:
    return a is None or (b is not None and b <= a)


@dataclass(frozen=True)
class Escalation:
    """After ``after_minutes`` without a decision, remind the approvals channel and mention
    ``mention`` (a fallback group)."""

    after_minutes: int
    mention: tuple[str, ...] = ()


@dataclass(frozen=True)
class AutoApprove:
    """The rule approves by itself, at most ``cap`` times per ``per_minutes``, and only while
    the quota forecast after the request keeps at least ``reserve`` commands."""

    cap: int
    per_minutes: int
    reserve: int = 0


@dataclass(frozen=True)
class AutoVerdict:
    """Whether a rule may approve now; ``why`` ("cap" or "reserve") when it may not."""

    ok: bool
    why: Literal["cap", "reserve"] | None = None


def auto_verdict(auto: AutoApprove, *, used: int, after: int) -> AutoVerdict:
    """May the rule approve one more? ``used``: its approvals in the current interval;
    ``after``: the quota forecast left once this request is reserved."""
    if used >= auto.cap:
        return AutoVerdict(False, "cap")
    if after < auto.reserve:
        return AutoVerdict(False, "reserve")
    return AutoVerdict(True)


@dataclass(frozen=True)
class Rule:
    """What a matched request needs: its approvers, quorum, TTL, escalation, auto-approval."""

    name: str
    approvers: tuple[str, ...]
    match: Match = Match()
    quorum: int = 1
    self_approval: bool = False
    ttl_seconds: int = 1800
    escalation: Escalation | None = None
    auto: AutoApprove | None = None
    device_owner: OwnerMode = "off"

    @property
    def actor(self) -> str:
        """How the audit log names this rule when it approves."""
        return f"{RULE_ACTOR_PREFIX}{self.name}"


@dataclass(frozen=True)
class Policy:
    """The whole policy: presets by name, grants in order, rules matched in order."""

    rules: tuple[Rule, ...]
    grants: tuple[Grant, ...]
    presets: Mapping[str, Preset] = field(default_factory=dict)
    tell_requester: bool = True

    def rule_for(self, facts: Facts) -> Rule | None:
        """The first rule matching ``facts``, or None (the request is refused)."""
        return next((r for r in self.rules if r.match.holds(facts)), None)

    def rule(self, name: str | None) -> Rule | None:
        """The rule called ``name``."""
        return next((r for r in self.rules if r.name == name), None)

    def grants_for(self, command_type: CommandType, preset: str | None) -> list[Grant]:
        """The grants that cover this type and preset (the caller checks membership)."""
        return [g for g in self.grants if g.allows(command_type, preset)]

    @property
    def requesters(self) -> tuple[str, ...]:
        """Everyone named in any grant."""
        return tuple(dict.fromkeys(p for g in self.grants for p in g.who))

    @property
    def approvers(self) -> tuple[str, ...]:
        """Everyone named as an approver in any rule."""
        return tuple(dict.fromkeys(p for r in self.rules for p in r.approvers))


@dataclass(frozen=True)
class PolicyAsk:
    """``/dex presets`` or ``/dex audit REQUEST`` (``ref`` None when it was not given)."""

    verb: Literal["presets", "audit"]
    ref: str | None = None


def policy_verb(text: str) -> PolicyAsk | None:
    """The policy's own ``/dex`` words, read before the grammar (which does not know them)."""
    words = text.split()
    if not words:
        return None
    verb = words[0].lower()
    if verb == "presets":
        return PolicyAsk("presets")
    if verb == "audit":
        return PolicyAsk("audit", words[1] if len(words) == 2 else None)
    return None


def expand_preset(text: str, presets: Mapping[str, Preset]) -> tuple[str, Preset | None]:
    """``capture @ann vpn-drops …`` with the preset's words in place of its name (and its
    reason appended when none is given); other text comes back unchanged.

    Done on the text so the grammar stays as it is: the preset becomes what a person would
    have typed.
    """
    words = text.split()
    if len(words) < 2 or words[0].lower() != "capture":
        return text, None
    for i, word in enumerate(words[1:], start=1):
        if word.startswith("--"):
            break  # options (and a reason) follow: no preset names among them
        preset = presets.get(word.lower())
        if preset is None:
            continue
        out = [*words[:i], *preset.words(), *words[i + 1 :]]
        if preset.reason and not any(w.lower() == "--reason" for w in words):
            out += ["--reason", '"' + preset.reason.replace('"', "'") + '"']
        return " ".join(out), preset
    return text, None


# -- checking and describing -------------------------------------------------------------


def problems(policy: Policy) -> list[str]:
    """One line per problem that makes the policy unsafe to run (empty: it is valid)."""
    out: list[str] = []

    def ids(where: str, values: Sequence[str]) -> None:
        out.extend(
            f"{where}: {v!r} is not a Slack user (U…/W…) or group (S…) id"
            for v in values
            if not PRINCIPAL.match(v)
        )

    def presets_known(where: str, names: frozenset[str] | None) -> None:
        out.extend(
            f"{where}: unknown preset {n!r}" for n in sorted(names or ()) if n not in policy.presets
        )

    if not policy.rules:
        out.append("rules: there are none, so nothing could ever be approved")
    for i, g in enumerate(policy.grants, start=1):
        ids(f"requesters[{i}]", g.who)
        presets_known(f"requesters[{i}]", g.presets)
    for i, r in enumerate(policy.rules, start=1):
        where = f"rule {r.name!r}"
        ids(where, r.approvers)
        if r.escalation:
            ids(f"{where} escalation", r.escalation.mention)
        presets_known(where, r.match.presets)
        fixed = all(a.startswith(("U", "W")) for a in r.approvers)
        if fixed and r.quorum > len(r.approvers):
            out.append(
                f"{where}: a quorum of {r.quorum} but only {len(r.approvers)} approver(s) listed"
            )
        dead = _never_matches(policy, r, policy.rules[: i - 1])
        if dead:
            out.append(f"{where} can never match: {dead}")
    return out


def _never_matches(policy: Policy, rule: Rule, before: Sequence[Rule]) -> str | None:
    m = rule.match
    for label, span in (("devices", m.devices), ("minutes", m.minutes), ("size_mb", m.size_mb)):
        if span.empty:
            return f"its {label} range is empty ({span.low} > {span.high})"
    if m.types is not None and not m.types:
        return "it lists no types"
    if m.presets is not None and m.types is not None:
        known = [policy.presets[n] for n in m.presets if n in policy.presets]
        if known and all(p.command_type not in m.types for p in known):
            return "its presets are of types it does not match"
    pcap_only = m.types is not None and m.types <= {CommandType.PCAP}
    sized = not (_open(m.minutes) and _open(m.size_mb))
    if sized and m.types is not None and not pcap_only and CommandType.PCAP not in m.types:
        return "only packet captures have minutes and a size"
    for earlier in before:
        if earlier.match.covers(m):
            return f"rule {earlier.name!r} before it matches every request it would"
    return None


def describe(policy: Policy) -> list[str]:
    """The effective policy in plain words, one line per preset, grant and rule."""
    lines = []
    for p in policy.presets.values():
        what = " ".join(p.words())
        lines.append(f"Preset {p.name}: {what}" + (f" ({p.description})" if p.description else ""))
    for g in policy.grants:
        types = ", ".join(sorted(t.value for t in g.types)) if g.types else "any type"
        presets = f", presets {', '.join(sorted(g.presets))} only" if g.presets else ""
        lines.append(f"{', '.join(g.who)} may request {types}{presets}")
    for i, r in enumerate(policy.rules, start=1):
        lines.append(f"Rule {i} {r.name}: {describe_rule(r)}")
    lines.append("A request no rule matches is refused.")
    return lines


def describe_rule(r: Rule) -> str:
    """One rule in words: what it matches, and what it asks for."""
    m = r.match
    parts = [", ".join(sorted(t.value for t in m.types)) if m.types else "any request"]
    if m.presets is not None:
        parts.append(f"preset {' or '.join(sorted(m.presets))}")
    for span, unit in ((m.devices, "devices"), (m.minutes, "min"), (m.size_mb, "MB")):
        if (w := span.words(unit)) is not None:
            parts.append(w)
    who = ", ".join(r.approvers)
    needs = f"needs {r.quorum} distinct approval{'s' if r.quorum != 1 else ''} from {who}"
    tail = [f"expires after {max(1, r.ttl_seconds // 60)} min"]
    tail.append("the requester may approve" if r.self_approval else "never by the requester")
    if r.escalation:
        mention = f", mentioning {', '.join(r.escalation.mention)}" if r.escalation.mention else ""
        tail.append(f"reminds after {r.escalation.after_minutes} min{mention}")
    if r.auto:
        a = r.auto
        tail.append(
            f"approves by itself up to {a.cap} per {a.per_minutes} min while "
            f"{a.reserve} commands stay in reserve"
        )
    if r.device_owner == "notify":
        tail.append("tells the device's owner")
    elif r.device_owner == "acknowledge":
        tail.append("runs only once the device's owner says OK")
    return f"{' '.join(parts)} -> {needs}; {'; '.join(tail)}"
