"""The ``/dex`` grammar: the text after the slash command -> a typed ``Parsed``.

Pure: no Slack, HTTP or database. ``parse`` returns a ``Parsed`` or raises ``ParseError``
(a ``ValueError``) carrying a ``ParseProblem`` code and the facts in ``data``; the words a
person reads are written by ``handlers.blocks.parse_text.describe_parse_error``.
``Incomplete`` is the ``ParseError`` for a capture that is valid but lacks a target, type or
reason: the handler can open the request modal pre-filled. Values over a limit are clamped
to it, and the ``Clamped`` records in ``CaptureAsk.clamped`` say what was asked.

Free text (reasons, searches, device names) comes back unescaped: Slack sends ``&lt;`` for a
typed ``<`` and we return ``<``, so renderers must escape what they show.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from bot.domain.durations import (
    CLOSERS,
    INVISIBLE,
    UNIT_WORDS,
    ReadError,
    Token,
    echo,
    looks_like_duration,
    parse_minutes,
    read_size_mb,
    read_snaplen,
    tokenize,
    unescape,
)
from bot.domain.model import CommandStatus, CommandType
from bot.domain.text import clean_reason

MAX_TEXT = 2000
MAX_REASON = 500
MAX_SEARCH = 100


class ParseProblem(StrEnum):
    """What is wrong with a ``/dex`` command; each names the keys it puts in ``data``.

    Text in ``data`` is already made safe to quote (``echo``) unless noted.
    """

    TOO_LONG = "too_long"
    UNKNOWN_COMMAND = "unknown_command"  # word, suggestion (a verb or None), verbs
    UNKNOWN_TOPIC = "unknown_topic"  # topic, topics
    UNBALANCED_QUOTE = "unbalanced_quote"
    EMPTY_QUOTES = "empty_quotes"
    SPECIAL_MENTION = "special_mention"  # which (channel, here, everyone)
    GROUP_MENTION = "group_mention"
    CHANNEL_MENTION = "channel_mention"
    EMAIL = "email"
    NOT_A_USER = "not_a_user"  # text
    UNREADABLE_TARGET = "unreadable_target"  # text (may be "")
    MANY_TARGETS = "many_targets"
    SINGLE_DASH = "single_dash"  # option
    UNKNOWN_OPTION = "unknown_option"  # option, known (tuple of option names)
    OPTION_NOT_HERE = "option_not_here"  # option
    OPTION_TWICE = "option_twice"  # option
    FLAG_WITH_VALUE = "flag_with_value"  # option
    NEEDS_VALUE = "needs_value"  # option
    MANY_TYPES = "many_types"
    TYPE_TWICE = "type_twice"  # kind (CommandType), word
    LENGTH_NOT_PCAP = "length_not_pcap"  # length
    PCAP_ONLY = "pcap_only"  # option
    INTERFACES_NOT_SPEED_TEST = "interfaces_not_speed_test"
    UNKNOWN_INTERFACE = "unknown_interface"  # word, interfaces
    ROUTES_NOT_DIAG = "routes_not_diag"
    ROUTES_BOTH = "routes_both"
    MANY_LENGTHS = "many_lengths"
    DEVICE_IS_PERSON = "device_is_person"
    DEVICE_TWICE = "device_twice"
    DEVICE_AND_ALL = "device_and_all"
    ALL_ON_DEVICE = "all_on_device"
    REASON_TOO_LONG = "reason_too_long"  # limit, length
    BAD_VALUE = "bad_value"  # error (a durations.ReadError, with maximum where one applies)
    STATUS_NEEDS_TARGET = "status_needs_target"
    SEARCH_TOO_LONG = "search_too_long"  # limit
    QUOTA_TAKES_NOTHING = "quota_takes_nothing"
    UNKNOWN_STATUS = "unknown_status"  # status, statuses (the words we accept)
    INCOMPLETE = "incomplete"  # missing (of "target", "type", "reason"), kind (or None)


class ParseError(ValueError):
    """The text is not a valid ``/dex`` command: ``code`` says why, ``data`` gives the facts.

    ``str(error)`` is only the code; ``handlers.blocks.parse_text.describe_parse_error``
    writes the answer a person reads.
    """

    def __init__(self, code: ParseProblem, **data: object) -> None:
        super().__init__(code.value)
        self.code = code
        self.data: dict[str, object] = data


@dataclass(frozen=True)
class Clamped:
    """A value over its limit, clamped: ``field`` (a ``CaptureAsk`` field name) was asked as
    ``asked`` and set to ``maximum``, in the field's own unit (minutes, MB, bytes)."""

    field: str
    asked: int
    maximum: int


def clamp(field: str, asked: int, maximum: int) -> tuple[int, Clamped | None]:
    """``asked`` held to ``maximum``, and the record of it when it was over (else None).

    The one rule for limits: the slash path and the form path both call this.
    """
    if asked > maximum:
        return maximum, Clamped(field, asked, maximum)
    return asked, None


@dataclass(frozen=True)
class Limits:
    """The limits the grammar checks against; build it with ``Limits.from_settings``."""

    pcap_max_minutes: int = 10
    pcap_default_minutes: int = 5
    max_size_mb: int = 50
    max_snaplen: int = 1500
    require_reason: bool = True
    max_devices: int = 10  # not checked here: --all expands to devices only the service sees

    @classmethod
    def from_settings(cls, settings: _LimitSettings) -> Limits:
        """The limits configured in ``bot.config.Settings`` (or anything shaped like it)."""
        return cls(
            pcap_max_minutes=settings.dex_pcap_max_minutes,
            pcap_default_minutes=settings.dex_pcap_default_minutes,
            max_size_mb=settings.dex_pcap_max_size_mb,
            max_snaplen=settings.dex_pcap_max_snaplen,
            require_reason=settings.dex_require_reason,
        )


class _LimitSettings(Protocol):
    dex_pcap_max_minutes: int
    dex_pcap_default_minutes: int
    dex_pcap_max_size_mb: int
    dex_pcap_max_snaplen: int
    dex_require_reason: bool


# -- the commands ----------------------------------------------------------------------------


@dataclass(frozen=True)
class UserTarget:
    """A Slack user, from a mention: ``<@U123ABC>``."""

    user_id: str


@dataclass(frozen=True)
class DeviceTarget:
    """A device, by name or device id, case preserved."""

    ref: str


Target = UserTarget | DeviceTarget


@dataclass(frozen=True)
class OpenModal:
    """``/dex`` alone: open the request modal."""


@dataclass(frozen=True)
class Help:
    """``/dex help [topic]``; ``topic`` is a canonical verb (``capture``, ``diag``…) or None."""

    topic: str | None = None


@dataclass(frozen=True)
class Unknown:
    """No longer returned: an unknown first word is ``ParseProblem.UNKNOWN_COMMAND``.

    Kept only so handlers that still match on it import; remove it with them.
    """

    word: str


@dataclass(frozen=True)
class Status:
    """``/dex status <device | @user>``: the live state of a device."""

    target: Target


@dataclass(frozen=True)
class Devices:
    """``/dex devices [@user] [search]``: eligible devices."""

    target: UserTarget | None = None
    search: str | None = None


@dataclass(frozen=True)
class QuotaAsk:
    """``/dex quota``: the account's remaining commands."""


@dataclass(frozen=True)
class History:
    """``/dex history [@user | device] [--status S]``: past commands."""

    target: Target | None = None
    status: CommandStatus | None = None


@dataclass(frozen=True)
class CaptureAsk:
    """A request to run a remote command, ready for policy checks and approval.

    ``target`` is the person or device; ``device`` picks one of a person's devices
    (``--device``) and ``all_devices`` means all of them (``--all``); with neither, the
    service picks the person's only eligible device or asks. ``time_limit_min`` is set for
    pcap only (defaulted). Values over a limit hold the maximum, and ``clamped`` says what
    was asked for each. ``notes`` are words from the form path; the grammar leaves them empty.
    """

    command_type: CommandType
    target: Target
    device: str | None = None
    all_devices: bool = False
    time_limit_min: int | None = None
    max_file_size_mb: int | None = None
    packet_size_bytes: int | None = None
    test_all_routes: bool | None = None
    interfaces: tuple[str, ...] | None = None
    reason: str | None = None
    notes: tuple[str, ...] = ()
    anyway: bool = False  # --anyway: go ahead on a device that looks offline
    clamped: tuple[Clamped, ...] = ()


@dataclass(frozen=True)
class CaptureDraft:
    """A ``CaptureAsk`` with the parts the user left out set to None (see ``Incomplete``)."""

    command_type: CommandType | None
    target: Target | None
    device: str | None = None
    all_devices: bool = False
    time_limit_min: int | None = None
    max_file_size_mb: int | None = None
    packet_size_bytes: int | None = None
    test_all_routes: bool | None = None
    interfaces: tuple[str, ...] | None = None
    reason: str | None = None
    notes: tuple[str, ...] = ()
    anyway: bool = False
    clamped: tuple[Clamped, ...] = ()


class Incomplete(ParseError):
    """A capture that is valid so far but lacks ``missing`` (of "target", "type", "reason").

    ``partial`` holds everything that was given, for pre-filling the request modal. Its
    code is ``INCOMPLETE``, with ``missing`` and ``kind`` (the type, or None) in ``data``.
    """

    def __init__(self, partial: CaptureDraft, missing: tuple[str, ...]) -> None:
        super().__init__(ParseProblem.INCOMPLETE, missing=missing, kind=partial.command_type)
        self.partial = partial
        self.missing = missing


Parsed = OpenModal | Help | Unknown | Status | Devices | QuotaAsk | History | CaptureAsk

# -- help ------------------------------------------------------------------------------------

_HELP: dict[str, str] = {
    "capture": "*Packet capture* (needs approval)\n"
    '`/dex pcap @ann 5m --reason "VPN drops"` (also `/dex capture @ann pcap 5m …`)\n'
    "Length: `90s`, `5m`, `1h30m` or minutes (`2`); default {default} min, at most {max} min.\n"
    "Options: `--device NAME` (one of their devices) or `--all`, `--size 20MB` (at most"
    " {size} MB), `--snaplen 1500` (bytes per packet, at most {snaplen}).",
    "diag": "*WARP diagnostics* (needs approval)\n"
    '`/dex diag @ann --reason "can\'t reach the wiki"` — every route is tested unless you add'
    " `--no-all-routes` (`--all-routes` says so explicitly); `--device`, `--all` work too.",
    "speedtest": "*Speed test* (needs approval)\n"
    '`/dex speedtest @ann tunnel --reason "slow calls"` — interfaces: `default`, `tunnel`'
    " or `both`; `--device`, `--all` work too.",
    "status": "*Device status*: `/dex status @ann`, `/dex status ann-mbp` or a device id.",
    "devices": "*Eligible devices*: `/dex devices`, `/dex devices @ann` or `/dex devices mac`.",
    "quota": "*Command quota* left for the account: `/dex quota`.",
    "history": "*Past commands*: `/dex history @ann --status failed` (`succeeded`, `failed`,"
    " `running` or `waiting`; Cloudflare's `success`, `pending_exec` and `pending_upload`"
    " work too).",
}
_HELP_TOPICS = {"pcap": "capture", "warp-diag": "diag", "speed-test": "speedtest"}
_HELP_TOPICS |= {"device": "devices", "options": "capture"} | {t: t for t in _HELP}

HELP_TEXT = (
    "*How to use /dex*  (`/dex` alone opens a form)\n"
    '• `/dex pcap @ann 5m --reason "VPN drops"` — packet capture\n'
    '• `/dex diag @ann --reason "can\'t reach the wiki"` — WARP diagnostics\n'
    '• `/dex speedtest @ann tunnel --reason "slow calls"` — speed test\n'
    "• `/dex status @ann` — a device's live status\n"
    "• `/dex devices @ann` — eligible devices\n"
    "• `/dex quota` — commands left\n"
    "• `/dex history @ann --status failed` — past commands\n"
    "Captures need a reason and an approver. `/dex help capture` for the options."
)


def help_for(topic: str | None, limits: Limits = Limits()) -> str:
    """The help for ``topic`` (a verb or alias), or the overview when it is None or unknown."""
    key = _HELP_TOPICS.get((topic or "").strip().lower())
    if key is None:
        return HELP_TEXT
    return _HELP[key].format(
        default=min(limits.pcap_default_minutes, limits.pcap_max_minutes),
        max=limits.pcap_max_minutes,
        size=limits.max_size_mb,
        snaplen=limits.max_snaplen,
    )


# -- targets ---------------------------------------------------------------------------------

_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_SPECIAL = re.compile(r"<!(channel|here|everyone)(?:\|[^>]*)?>")
_GROUP = re.compile(r"<!subteam\^[A-Z0-9]+(?:\|([^>]*))?>")
_CHANNEL = re.compile(r"<#[A-Z0-9]+(?:\|([^>]*))?>")
_LINK = re.compile(r"<(https?://[^|>]*)(?:\|([^>]*))?>")


def _target(token: Token) -> Target:
    """A person (mention) or a device (any other word); other Slack markup is refused."""
    text = token.text
    if token.unbalanced:
        raise ParseError(ParseProblem.UNBALANCED_QUOTE)
    if token.quoted:
        if not text.strip():
            raise ParseError(ParseProblem.EMPTY_QUOTES)
        return DeviceTarget(unescape(text.strip()))
    if match := _MENTION.fullmatch(text):
        return UserTarget(match.group(1))
    if match := _SPECIAL.fullmatch(text):
        raise ParseError(ParseProblem.SPECIAL_MENTION, which=match.group(1))
    if match := _GROUP.fullmatch(text):
        raise ParseError(ParseProblem.GROUP_MENTION)
    if _CHANNEL.fullmatch(text):
        raise ParseError(ParseProblem.CHANNEL_MENTION)
    if match := _LINK.fullmatch(text):
        # Slack links device names that look like domains ("ann-mbp.local"): use the label.
        return DeviceTarget(match.group(2) or match.group(1))
    if text.startswith("<mailto:"):
        raise ParseError(ParseProblem.EMAIL)
    if text.startswith("@"):
        raise ParseError(ParseProblem.NOT_A_USER, text=echo(text))
    if text.startswith("<") or not any(ch.isalnum() for ch in text):
        raise ParseError(ParseProblem.UNREADABLE_TARGET, text=echo(text))
    return DeviceTarget(unescape(text))


def _one_target(tokens: list[Token]) -> Target | None:
    targets = [_target(t) for t in tokens]
    if len(targets) > 1:
        raise ParseError(ParseProblem.MANY_TARGETS)
    return targets[0] if targets else None


# -- options ---------------------------------------------------------------------------------

_FLAGS = {"all", "all-routes", "no-all-routes", "anyway"}
#: Every option the grammar knows (handlers.blocks.parse_text says where each applies).
OPTIONS = frozenset({"device", "all", "reason", "size", "snaplen", "all-routes", "status"})
OPTIONS |= {"no-all-routes", "anyway"}
_CAPTURE_OPTIONS = OPTIONS - {"status"}

Options = dict[str, str | bool]


def _split(text: str, tokens: list[Token], allowed: frozenset[str]) -> tuple[list[Token], Options]:
    """Positional words and ``--options`` (checked: known, allowed here, given once, valued)."""
    positionals: list[Token] = []
    options: Options = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if not token.is_option:
            if token.text.startswith("-") and token.text.lstrip("-").lower() in OPTIONS:
                raise ParseError(ParseProblem.SINGLE_DASH, option=token.text.lstrip("-"))
            positionals.append(token)
            continue
        name, eq, value = token.text[2:].partition("=")
        name = name.lower()
        if name not in OPTIONS:
            raise ParseError(
                ParseProblem.UNKNOWN_OPTION, option=echo(name), known=tuple(sorted(allowed))
            )
        if name not in allowed:
            raise ParseError(ParseProblem.OPTION_NOT_HERE, option=name)
        if name in options:
            raise ParseError(ParseProblem.OPTION_TWICE, option=name)
        if name in _FLAGS:
            if eq:
                raise ParseError(ParseProblem.FLAG_WITH_VALUE, option=name)
            options[name] = True
        elif name == "reason":
            options[name], i = _reason(text, tokens, i - 1)
        else:
            if token.unbalanced:
                raise ParseError(ParseProblem.UNBALANCED_QUOTE)
            if not eq:
                if i == len(tokens) or tokens[i].is_option:
                    raise ParseError(ParseProblem.NEEDS_VALUE, option=name)
                if tokens[i].unbalanced:
                    raise ParseError(ParseProblem.UNBALANCED_QUOTE)
                value, i = tokens[i].text, i + 1
                # "--size 50 MB": the unit came as a word of its own.
                if (
                    name == "size"
                    and i < len(tokens)
                    and re.fullmatch(r"[kmg]i?b?", tokens[i].text, re.I)
                ):
                    value, i = value + tokens[i].text, i + 1
            if not value.strip():
                raise ParseError(ParseProblem.NEEDS_VALUE, option=name)
            options[name] = unescape(value.strip())
    return positionals, options


def _reason(text: str, tokens: list[Token], at: int) -> tuple[str, int]:
    """The reason after ``tokens[at]`` and the index after it.

    Quoted, it is the quoted text; otherwise the rest of the line up to the next
    ``--option``, so ``--reason VPN drops --all`` works without quotes.
    """
    token = tokens[at]
    _, eq, glued = token.text.partition("=")
    end = at + 1
    if eq and token.glued:
        return _tidy(glued), end
    if eq and glued:
        start = text.index("=", token.start) + 1
    else:
        if end == len(tokens) or tokens[end].is_option:
            return "", end
        nxt = tokens[end]
        if nxt.quoted:  # the quotes say where the reason ends
            return _tidy(nxt.text), end + 1
        start = nxt.start
    while end < len(tokens) and not tokens[end].is_option:
        end += 1
    raw = text[start : max(start, tokens[end - 1].end)]
    # A reason with an unclosed quote still reads as the writer meant it.
    if raw[:1] in CLOSERS and not any(ch in CLOSERS[raw[0]] for ch in raw[1:]):
        raw = raw[1:]
    return _tidy(raw), end


def _tidy(text: str) -> str:
    return clean_reason(unescape(text))


def _read(reader: Callable[[str], int], word: str, maximum: int | None = None) -> int:
    try:
        return reader(word)
    except ReadError as exc:  # the maximum goes along: the answer names the range
        raise ParseError(
            ParseProblem.BAD_VALUE, error=ReadError(exc.code, exc.word, maximum)
        ) from None


# -- verbs -----------------------------------------------------------------------------------

_TYPES = {"pcap": CommandType.PCAP, "diag": CommandType.WARP_DIAG}
_TYPES |= {"warp-diag": CommandType.WARP_DIAG, "speedtest": CommandType.SPEED_TEST}
_TYPES |= {"speed-test": CommandType.SPEED_TEST}
_INTERFACES = {"default": ("default",), "tunnel": ("tunnel",), "both": ("default", "tunnel")}
_STATUSES = {s.value.lower(): s for s in CommandStatus}
_INTERFACE_WORDS = ("default", "tunnel", "both")
#: What ``/dex history --status`` accepts: the words we display, then Cloudflare's own.
#: "running" is PENDING_UPLOAD: the device has taken the command and is working on it
#: (capturing, then uploading); "waiting" is PENDING_EXEC, not yet picked up by the device.
HISTORY_STATUSES = {
    "succeeded": CommandStatus.SUCCESS,
    "failed": CommandStatus.FAILED,
    "running": CommandStatus.PENDING_UPLOAD,
    "waiting": CommandStatus.PENDING_EXEC,
}
HISTORY_STATUSES |= _STATUSES
_MISSING = ("target", "type", "reason")


def _words(
    kind: CommandType | None, words: list[Token]
) -> tuple[CommandType | None, list[Token], list[str], set[str]]:
    """The capture type, then the words that are targets, lengths and interfaces."""
    if kind is None:  # "capture @ann pcap": the type word may stand anywhere
        kinds = {_TYPES[w.text.lower()] for w in words if not w.quoted and w.text.lower() in _TYPES}
        if len(kinds) > 1:
            raise ParseError(ParseProblem.MANY_TYPES)
        kind = kinds.pop() if kinds else None
        words = [w for w in words if w.quoted or w.text.lower() not in _TYPES]
    targets: list[Token] = []
    lengths: list[str] = []
    interfaces: set[str] = set()
    for index, word in enumerate(words):
        low = word.text.lower()
        if word.quoted or word.unbalanced:
            targets.append(word)
        elif low in _TYPES:
            raise ParseError(ParseProblem.TYPE_TWICE, kind=kind, word=echo(word.text))
        elif low in _INTERFACES:
            interfaces.update(_INTERFACES[low])
        elif low in UNIT_WORDS and lengths and re.fullmatch(r"[\d.]+", words[index - 1].text):
            lengths[-1] += low  # "5 min", written as two words
        elif looks_like_duration(word.text):
            lengths.append(word.text)
        else:
            targets.append(word)
    return kind, targets, lengths, interfaces


def _check_interface_typo(targets: list[Token]) -> None:
    """A speed test's extra word that is nearly an interface ("tunel") is refused as one."""
    for word in targets:
        if word.quoted or word.text.startswith(("<", "@")):
            continue
        if difflib.get_close_matches(word.text.lower(), _INTERFACE_WORDS, n=1, cutoff=0.6):
            raise ParseError(
                ParseProblem.UNKNOWN_INTERFACE, word=echo(word.text), interfaces=_INTERFACE_WORDS
            )


def _check_fits(
    kind: CommandType | None, options: Options, lengths: list[str], interfaces: set[str]
) -> None:
    """Refuse what does not fit the capture type (unchecked while the type is unknown)."""
    if kind not in (None, CommandType.PCAP):
        if lengths:
            raise ParseError(ParseProblem.LENGTH_NOT_PCAP, length=echo(lengths[0]))
        if bad := next((o for o in ("size", "snaplen") if o in options), None):
            raise ParseError(ParseProblem.PCAP_ONLY, option=bad)
    if interfaces and kind not in (None, CommandType.SPEED_TEST):
        raise ParseError(ParseProblem.INTERFACES_NOT_SPEED_TEST)
    routes = [o for o in ("all-routes", "no-all-routes") if o in options]
    if routes and kind not in (None, CommandType.WARP_DIAG):
        raise ParseError(ParseProblem.ROUTES_NOT_DIAG)
    if len(routes) > 1:
        raise ParseError(ParseProblem.ROUTES_BOTH)
    if len(lengths) > 1:
        raise ParseError(ParseProblem.MANY_LENGTHS)


def _capture(kind: CommandType | None, text: str, tokens: list[Token], limits: Limits) -> Parsed:
    """``pcap``/``diag``/``speedtest @user …``, or ``capture @user TYPE …`` (kind None)."""
    words, options = _split(text, tokens, _CAPTURE_OPTIONS)
    kind, targets, lengths, interfaces = _words(kind, words)
    if kind is CommandType.SPEED_TEST and len(targets) > 1:
        _check_interface_typo(targets)
    target = _one_target(targets)
    device = options.get("device")
    all_devices = options.get("all") is True
    routes = True if "all-routes" in options else False if "no-all-routes" in options else None
    _check_fits(kind, options, lengths, interfaces)
    if isinstance(device, str):
        if device.startswith(("<@", "@")):
            raise ParseError(ParseProblem.DEVICE_IS_PERSON)
        if isinstance(target, DeviceTarget):
            raise ParseError(ParseProblem.DEVICE_TWICE)
        if all_devices:
            raise ParseError(ParseProblem.DEVICE_AND_ALL)
        if target is None:  # "pcap --device ann-mbp" names the device itself
            target, device = DeviceTarget(device), None
    if all_devices and isinstance(target, DeviceTarget):
        raise ParseError(ParseProblem.ALL_ON_DEVICE)
    clamped: list[Clamped] = []

    def held(field: str, asked: int | None, maximum: int) -> int | None:
        if asked is None:
            return None
        value, record = clamp(field, asked, maximum)
        clamped.extend([record] if record else [])
        return value

    minutes = held(
        "time_limit_min",
        _read(parse_minutes, lengths[0]) if lengths else None,
        limits.pcap_max_minutes,
    )
    if minutes is None and kind == CommandType.PCAP:
        minutes = min(limits.pcap_default_minutes, limits.pcap_max_minutes)
    size, snaplen = options.get("size"), options.get("snaplen")
    size_mb = held(
        "max_file_size_mb",
        _read(read_size_mb, size, limits.max_size_mb) if isinstance(size, str) else None,
        limits.max_size_mb,
    )
    snap = held(
        "packet_size_bytes",
        _read(read_snaplen, snaplen, limits.max_snaplen) if isinstance(snaplen, str) else None,
        limits.max_snaplen,
    )
    reason = reason_text(str(options.get("reason", "")))
    draft = CaptureDraft(
        kind,
        target,
        device=device if isinstance(device, str) else None,
        all_devices=all_devices,
        time_limit_min=minutes,
        max_file_size_mb=size_mb,
        packet_size_bytes=snap,
        test_all_routes=routes,
        interfaces=tuple(i for i in ("default", "tunnel") if i in interfaces) or None,
        reason=reason,
        anyway=options.get("anyway") is True,
        clamped=tuple(clamped),
    )
    absent = (target is None, kind is None, reason is None and limits.require_reason)
    missing = tuple(m for m, gone in zip(_MISSING, absent, strict=True) if gone)
    if not missing:  # the draft is whole: same fields, none of them None any more
        return CaptureAsk(**vars(draft))
    raise Incomplete(draft, missing)


def _status(text: str, tokens: list[Token], limits: Limits) -> Parsed:
    target = _one_target(_split(text, tokens, frozenset())[0])
    if target is None:
        raise ParseError(ParseProblem.STATUS_NEEDS_TARGET)
    return Status(target)


def _devices(text: str, tokens: list[Token], limits: Limits) -> Parsed:
    words = _split(text, tokens, frozenset())[0]
    if any(w.unbalanced for w in words):
        raise ParseError(ParseProblem.UNBALANCED_QUOTE)
    # Mentions (and things meant as mentions) pick the person; other words are a search.
    people = [w for w in words if not w.quoted and w.text.startswith(("<@", "<!", "<#", "@"))]
    search = _tidy(" ".join(w.text for w in words if w not in people))
    if len(search) > MAX_SEARCH:
        raise ParseError(ParseProblem.SEARCH_TOO_LONG, limit=MAX_SEARCH)
    target = _one_target(people)
    return Devices(target if isinstance(target, UserTarget) else None, search or None)


def _quota(text: str, tokens: list[Token], limits: Limits) -> Parsed:
    if _split(text, tokens, frozenset())[0]:
        raise ParseError(ParseProblem.QUOTA_TAKES_NOTHING)
    return QuotaAsk()


def _history(text: str, tokens: list[Token], limits: Limits) -> Parsed:
    words, options = _split(text, tokens, frozenset({"status"}))
    wanted = str(options.get("status", ""))
    status = HISTORY_STATUSES.get(wanted.lower().replace("-", "_")) if wanted else None
    if wanted and status is None:
        raise ParseError(
            ParseProblem.UNKNOWN_STATUS, status=echo(wanted), statuses=tuple(HISTORY_STATUSES)
        )
    return History(_one_target(words), status)


def _typed(kind: CommandType | None) -> Callable[[str, list[Token], Limits], Parsed]:
    return lambda text, tokens, limits: _capture(kind, text, tokens, limits)


_VERBS = {"status": _status, "devices": _devices, "device": _devices, "quota": _quota}
_VERBS |= {"history": _history, "capture": _typed(None)} | {w: _typed(k) for w, k in _TYPES.items()}


def reason_text(raw: str | None) -> str | None:
    """A reason (or a deny note) as stored: invisible and control characters (NUL among
    them) removed, trimmed, None when empty. The one check the slash command and both forms
    share; raises ``ParseError`` past ``MAX_REASON`` characters."""
    if raw is None:
        return None
    text = clean_reason(raw.translate(INVISIBLE))
    if len(text) > MAX_REASON:
        raise ParseError(ParseProblem.REASON_TOO_LONG, limit=MAX_REASON, length=len(text))
    return text or None


def parse(text: str, limits: Limits = Limits()) -> Parsed:
    """The command in ``text`` (what follows ``/dex``); raises ``ParseError`` for the user.

    Empty text opens the request modal; ``help`` alone the overview. An unknown first word
    or help topic is a ``ParseError`` naming the closest known one. Any input gives a
    ``Parsed`` or a ``ParseError``, never another exception.
    """
    if len(text) > MAX_TEXT:
        raise ParseError(ParseProblem.TOO_LONG)
    text = text.translate(INVISIBLE)
    tokens = tokenize(text)
    if not tokens:
        return OpenModal()
    head, rest = tokens[0], tokens[1:]
    verb = "" if head.quoted else head.text.lower()
    if verb in ("help", "?", "--help", "-h"):
        if not rest:
            return Help(None)
        topic = _HELP_TOPICS.get(rest[0].text.lower())
        if topic is None:
            raise ParseError(ParseProblem.UNKNOWN_TOPIC, topic=echo(rest[0].text), topics=TOPICS)
        return Help(topic)
    if verb not in _VERBS:
        raise ParseError(
            ParseProblem.UNKNOWN_COMMAND,
            word=echo(head.text),
            suggestion=_closest(verb),
            verbs=VERBS,
        )
    if any(t.is_option and t.text.lower() == "--help" for t in rest):
        return Help(_HELP_TOPICS.get(verb))
    return _VERBS[verb](text, rest, limits)


#: The verbs a person is shown (aliases like ``warp-diag`` work but are not offered).
VERBS = ("pcap", "diag", "speedtest", "capture", "status", "devices", "quota", "history", "help")
#: The help topics, as ``/dex help TOPIC`` accepts them.
TOPICS = tuple(_HELP)


def _closest(word: str) -> str | None:
    """The known verb (or alias) nearest to ``word``, if any is near enough."""
    found = difflib.get_close_matches(word, [*_VERBS, "help"], n=1, cutoff=0.6)
    return found[0] if found else None
