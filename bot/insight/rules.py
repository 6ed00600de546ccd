"""warp-diag rules from a YAML data file, validated with pydantic.

A rule names the files it searches (shell globs on the base name: ``daemon*.log``), regular
expressions, a severity, the finding, the remediation and a Cloudflare docs link. The file
may also set ``minimum_version`` and list ``bad_versions``: the client version is checked
against them. The default set ships as ``bot/insight/rules/default.yaml``; operators add
their own file (``load_rules(extra)``), whose rules are appended and whose version settings,
when present, win.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.insight.model import Severity


class RuleFileError(ValueError):
    """A rule file that cannot be loaded; the message says which file and why."""


class Rule(BaseModel):
    """One rule: files to search, patterns, and what to say when one matches."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=64)
    files: tuple[str, ...] = Field(min_length=1)
    patterns: tuple[str, ...] = Field(min_length=1)
    severity: Severity
    finding: str = Field(min_length=1, max_length=500)
    remediation: str = Field(min_length=1, max_length=800)
    docs: str = Field(pattern=r"^https://")

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                re.compile(_scoped(pattern))
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} is not a regular expression: {exc}") from exc
        return patterns

    def regexes(self) -> tuple[re.Pattern[str], ...]:
        """Each pattern compiled on its own (``^``/``$`` match at lines).

        Not one alternation: Python's engine drops its literal-prefix search for ``a|b``,
        which made a 100 MB bundle's scan several times slower.
        """
        return tuple(re.compile(_scoped(p), re.MULTILINE) for p in self.patterns)


_LEADING_FLAGS = re.compile(r"^\(\?([imsx]+)\)")


def _scoped(pattern: str) -> str:
    """``(?i)abc`` -> ``(?i:abc)``, so patterns with flags can be joined by ``|``."""
    match = _LEADING_FLAGS.match(pattern)
    if match:
        return f"(?{match.group(1)}:{pattern[match.end() :]})"
    return f"(?:{pattern})"


class BadVersion(BaseModel):
    """A client version known to be bad, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(pattern=r"^\d+(\.\d+)*$")
    reason: str = Field(min_length=1, max_length=300)


class VersionPolicy(BaseModel):
    """Client versions: a minimum and a list of known-bad ones, with the remediation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    minimum: str | None = Field(None, pattern=r"^\d+(\.\d+)*$")
    bad: tuple[BadVersion, ...] = ()
    remediation: str = "Update the WARP client to a current release."
    docs: str = Field(
        "https://developers.cloudflare.com/cloudflare-one/connections/connect-devices/warp/download-warp/",
        pattern=r"^https://",
    )


class RuleFile(BaseModel):
    """The YAML document: ``versions`` and ``rules``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    versions: VersionPolicy | None = None
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class RuleSet:
    """Rules ready to run, and the version policy."""

    rules: tuple[Rule, ...]
    versions: VersionPolicy


def parse_rule_file(text: str, source: str = "rules") -> RuleFile:
    """Validate a rule file's text (RuleFileError with the first problem)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RuleFileError(f"{source}: not valid YAML ({exc})") from None
    try:
        return RuleFile.model_validate(data or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RuleFileError(f"{source}: {where}: {first['msg']}") from None


def default_rules() -> RuleFile:
    """The rule set shipped with dexbot."""
    text = resources.files("bot.insight").joinpath("rules/default.yaml").read_text("utf-8")
    return parse_rule_file(text, "default.yaml")


def load_rules(extra: Path | None = None, *, minimum_version: str | None = None) -> RuleSet:
    """The default rules plus an operator's file; ``minimum_version`` overrides both files'.

    Call once at start-up: a bad file raises RuleFileError there, not mid-delivery.
    """
    base = default_rules()
    rules = list(base.rules)
    versions = base.versions or VersionPolicy()
    if extra is not None:
        try:
            text = extra.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RuleFileError(f"{extra}: cannot be read ({exc})") from None
        more = parse_rule_file(text, str(extra))
        ids = {r.id for r in rules}
        rules += [r for r in more.rules if r.id not in ids]
        rules = [next((m for m in more.rules if m.id == r.id), r) for r in rules]
        if more.versions is not None:
            versions = more.versions
    if minimum_version is not None:
        versions = versions.model_copy(update={"minimum": minimum_version})
        VersionPolicy.model_validate(versions.model_dump())
    return RuleSet(tuple(rules), versions)


def version_tuple(text: str) -> tuple[int, ...] | None:
    """``2024.12.492.0`` -> (2024, 12, 492, 0); None if it is not dotted numbers."""
    match = re.match(r"^\s*v?(\d+(?:\.\d+)*)", text)
    return tuple(int(p) for p in match.group(1).split(".")) if match else None


_SECRETS = (
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),  # JWT
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"(?i)((?:token|secret|password|passwd|api[_-]?key|auth[a-z_-]*|private[_-]?key|"
        r"client[_-]?secret|cookie)\s*[=:]\s*\"?)[^\s\",;]+"
    ),
    re.compile(r"\b[A-Fa-f0-9]{40,}\b"),
    re.compile(r"\b[A-Za-z0-9+/]{40,}={0,2}"),
)


def mask(line: str, limit: int = 300) -> str:
    """``line`` with tokens, keys and secrets replaced by ``****``, cut to ``limit``."""
    for pattern in _SECRETS:
        line = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "****", line)
    line = line.strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"
