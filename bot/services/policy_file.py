"""Read the approval policy: the YAML file named by ``DEX_POLICY_FILE``, validated with
pydantic, or, without one, today's settings mapped onto the same shape (one rule).

``load_policy`` raises ``PolicyError`` with one plain line per problem: the lines
``dexbot policy check`` prints and ``serve``/``socket`` refuse to start with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.config import Settings
from bot.domain import rules as r
from bot.domain.durations import parse_minutes
from bot.domain.model import CommandType

TypeName = Literal["pcap", "diag", "warp-diag", "speedtest", "speed-test"]
_TYPES = {
    "pcap": CommandType.PCAP,
    "diag": CommandType.WARP_DIAG,
    "warp-diag": CommandType.WARP_DIAG,
    "speedtest": CommandType.SPEED_TEST,
    "speed-test": CommandType.SPEED_TEST,
}


class PolicyError(Exception):
    """The policy file is unreadable or unsafe; ``problems`` holds one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _minutes(value: object) -> object:
    if isinstance(value, str):
        try:
            return parse_minutes(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a length like 15m, 1h or 90") from None
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PresetIn(_Strict):
    """A preset as written."""

    type: TypeName
    minutes: int | None = Field(None, ge=1)
    size_mb: int | None = Field(None, ge=1)
    snaplen: int | None = Field(None, ge=1)
    interfaces: list[Literal["default", "tunnel"]] = Field(default_factory=list)
    all_routes: bool | None = None
    description: str = Field("", max_length=200)
    reason: str | None = Field(None, max_length=500)

    _m = field_validator("minutes", mode="before")(classmethod(lambda cls, v: _minutes(v)))


class GrantIn(_Strict):
    """One entry of ``requesters``."""

    who: list[str] = Field(min_length=1)
    types: list[TypeName] | None = None
    presets: list[str] | None = None


class SpanIn(_Strict):
    """``{min: 2, max: 10}``."""

    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)


class MatchIn(_Strict):
    """A rule's ``match``."""

    type: list[TypeName] | None = None
    preset: list[str] | None = None
    devices: SpanIn = SpanIn()
    minutes: SpanIn = SpanIn()
    size_mb: SpanIn = SpanIn()


class EscalateIn(_Strict):
    """A rule's ``escalate``."""

    after: int = Field(ge=1)
    mention: list[str] = Field(default_factory=list)

    _a = field_validator("after", mode="before")(classmethod(lambda cls, v: _minutes(v)))


class AutoIn(_Strict):
    """A rule's ``auto_approve``."""

    cap: int = Field(ge=1)
    per: int = Field(ge=1)
    reserve: int = Field(0, ge=0)

    _p = field_validator("per", mode="before")(classmethod(lambda cls, v: _minutes(v)))


class RuleIn(_Strict):
    """One entry of ``rules``."""

    name: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    match: MatchIn = MatchIn()
    approvers: list[str] = Field(min_length=1)
    quorum: int = Field(1, ge=1, le=10)
    self_approval: bool = False
    ttl: int = Field(30, ge=1, le=24 * 60)
    escalate: EscalateIn | None = None
    auto_approve: AutoIn | None = None
    device_owner: Literal["off", "notify", "acknowledge"] = "off"

    _t = field_validator("ttl", mode="before")(classmethod(lambda cls, v: _minutes(v)))


class PolicyIn(_Strict):
    """The whole file."""

    tell_requester: bool = True
    presets: dict[str, PresetIn] = Field(default_factory=dict)
    requesters: list[GrantIn] = Field(min_length=1)
    rules: list[RuleIn] = Field(min_length=1)


def _types(names: list[TypeName] | None) -> frozenset[CommandType] | None:
    return None if names is None else frozenset(_TYPES[n] for n in names)


def _span(s: SpanIn) -> r.Span:
    return r.Span(s.min, s.max)


def to_policy(doc: PolicyIn) -> r.Policy:
    """The domain policy a validated file describes."""
    presets = {
        name.lower(): r.Preset(
            name=name.lower(),
            command_type=_TYPES[p.type],
            minutes=p.minutes,
            size_mb=p.size_mb,
            snaplen=p.snaplen,
            interfaces=tuple(p.interfaces),
            all_routes=p.all_routes,
            description=p.description,
            reason=p.reason,
        )
        for name, p in doc.presets.items()
    }
    grants = tuple(
        r.Grant(
            who=tuple(g.who),
            types=_types(g.types),
            presets=frozenset(n.lower() for n in g.presets) if g.presets is not None else None,
        )
        for g in doc.requesters
    )
    rules = tuple(
        r.Rule(
            name=x.name,
            approvers=tuple(x.approvers),
            match=r.Match(
                types=_types(x.match.type),
                presets=frozenset(n.lower() for n in x.match.preset)
                if x.match.preset is not None
                else None,
                devices=_span(x.match.devices),
                minutes=_span(x.match.minutes),
                size_mb=_span(x.match.size_mb),
            ),
            quorum=x.quorum,
            self_approval=x.self_approval,
            ttl_seconds=x.ttl * 60,
            escalation=r.Escalation(x.escalate.after, tuple(x.escalate.mention))
            if x.escalate
            else None,
            auto=r.AutoApprove(x.auto_approve.cap, x.auto_approve.per, x.auto_approve.reserve)
            if x.auto_approve
            else None,
            device_owner=x.device_owner,
        )
        for x in doc.rules
    )
    return r.Policy(rules=rules, grants=grants, presets=presets, tell_requester=doc.tell_requester)


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "file"


def parse_policy(text: str) -> r.Policy:
    """The policy in YAML ``text``; ``PolicyError`` with one line per problem."""
    try:
        raw: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise PolicyError([f"not valid YAML{at}"]) from None
    if not isinstance(raw, dict):
        raise PolicyError(["the file must be a mapping with requesters: and rules:"])
    try:
        doc = PolicyIn.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{_where(err['loc'])}: {msg}")
        raise PolicyError(lines) from None
    policy = to_policy(doc)
    found = r.problems(policy)
    if found:
        raise PolicyError(found)
    return policy


def read_policy_file(path: str | Path) -> r.Policy:
    """The policy in the file at ``path``; ``PolicyError`` if unreadable or invalid."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError([f"{path}: cannot read it ({exc.strerror or 'unreadable'})"]) from None
    return parse_policy(text)


def from_settings(settings: Settings) -> r.Policy:
    """Today's behaviour as a policy: the listed requesters (and approvers) may request
    anything; one rule, one approval from the listed approvers, the configured TTL."""
    requesters = tuple(dict.fromkeys([*settings.dex_requesters, *settings.dex_approvers]))
    return r.Policy(
        rules=(
            r.Rule(
                name="default",
                approvers=tuple(settings.dex_approvers),
                self_approval=settings.dex_allow_self_approval,
                ttl_seconds=settings.dex_approval_ttl_seconds,
            ),
        ),
        grants=(r.Grant(who=requesters),) if requesters else (),
        tell_requester=settings.dex_tell_requester,
    )


def load_policy(settings: Settings) -> r.Policy:
    """The policy in force: the file named by ``DEX_POLICY_FILE``, else the settings'."""
    if settings.dex_policy_file:
        return read_policy_file(settings.dex_policy_file)
    return from_settings(settings)
