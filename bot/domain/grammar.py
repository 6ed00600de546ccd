"""The ``/dex`` grammar: the text after the slash command -> a typed ``Parsed``.

Pure: no Slack, HTTP or database. ``parse`` returns a ``Parsed`` or raises ``ParseError``
(a ``ValueError``) whose message is short, tells the user what to type instead, and is safe
to post in Slack mrkdwn as is. ``Incomplete`` is the ``ParseError`` for a capture that is
valid but lacks a target, type or reason: the handler can open the request modal pre-filled.

Free text (reasons, searches, device names) comes back unescaped: Slack sends ``&lt;`` for a
typed ``<`` and we return ``<``, so renderers must escape what they show.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bot.domain.durations import (
    CLOSERS,
    INVISIBLE,
    UNIT_WORDS,
    Token,
    echo,
    looks_like_duration,
    parse_minutes,
    parse_size_mb,
    parse_snaplen,
    tokenize,
    unescape,
)
from bot.domain.model import CommandStatus, CommandType

MAX_TEXT = 2000
MAX_REASON = 500
MAX_SEARCH = 100


class ParseError(ValueError):
    """The text is not a valid ``/dex`` command; ``str(error)`` is the answer to show."""


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
    """An unknown first word (already made safe to show); the handler answers with help."""

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
    pcap only (defaulted and clamped); ``notes`` say what the grammar changed.
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


class Incomplete(ParseError):
    """A capture that is valid so far but lacks ``missing`` (of "target", "type", "reason").

    ``partial`` holds everything that was given, for pre-filling the request modal.
    """

    def __init__(self, message: str, partial: CaptureDraft, missing: tuple[str, ...]) -> None:
        super().__init__(message)
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
    '`/dex diag @ann --reason "can\'t reach the wiki"` — add `--all-routes` or'
    " `--no-all-routes` to choose whether every route is tested; `--device`, `--all` work too.",
    "speedtest": "*Speed test* (needs approval)\n"
    '`/dex speedtest @ann tunnel --reason "slow calls"` — interfaces: `default`, `tunnel`'
    " or `both`; `--device`, `--all` work too.",
    "status": "*Device status*: `/dex status @ann`, `/dex status ann-mbp` or a device id.",
    "devices": "*Eligible devices*: `/dex devices`, `/dex devices @ann` or `/dex devices mac`.",
    "quota": "*Command quota* left for the account: `/dex quota`.",
    "history": "*Past commands*: `/dex history @ann --status failed` (`pending_exec`,"
    " `pending_upload`, `success` or `failed`).",
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
_PICK = "pick them from the @ menu so Slack turns it into a mention"


def _target(token: Token) -> Target:
    """A person (mention) or a device (any other word); other Slack markup is refused."""
    text = token.text
    if token.unbalanced:
        raise ParseError("There's an opening quote with no closing one: close it or drop it.")
    if token.quoted:
        if not text.strip():
            raise ParseError('Give a device name between the quotes, e.g. "Ann\'s MacBook".')
        return DeviceTarget(unescape(text.strip()))
    if match := _MENTION.fullmatch(text):
        return UserTarget(match.group(1))
    if match := _SPECIAL.fullmatch(text):
        raise ParseError(f"Mention one person with @, not @{match.group(1)}.")
    if match := _GROUP.fullmatch(text):
        raise ParseError("Mention one person with @, not a user group.")
    if _CHANNEL.fullmatch(text):
        raise ParseError("Mention a person with @, not a channel.")
    if match := _LINK.fullmatch(text):
        # Slack links device names that look like domains ("ann-mbp.local"): use the label.
        return DeviceTarget(match.group(2) or match.group(1))
    if text.startswith("<mailto:"):
        raise ParseError("Mention the person with @ rather than their email address.")
    if text.startswith("@"):
        raise ParseError(f'I couldn\'t find a Slack user in "{echo(text)}" — {_PICK}.')
    if text.startswith("<") or not any(ch.isalnum() for ch in text):
        shown = f' "{echo(text)}"' if echo(text) else " that"
        raise ParseError(
            f"I couldn't read{shown} as a person or a device. "
            "Mention a person with @, or give a device name or id."
        )
    return DeviceTarget(unescape(text))


def _one_target(tokens: list[Token]) -> Target | None:
    targets = [_target(t) for t in tokens]
    if len(targets) > 1:
        raise ParseError(
            "Give one person or one device. "
            'For a device name with spaces use quotes: "Ann\'s MacBook".'
        )
    return targets[0] if targets else None


# -- options ---------------------------------------------------------------------------------

_FLAGS = {"all", "all-routes", "no-all-routes", "anyway"}
_WHERE = {
    "device": "only applies to pcap, diag and speedtest",
    "all": "only applies to pcap, diag and speedtest",
    "reason": "only applies to pcap, diag and speedtest",
    "size": "only applies to pcap captures",
    "snaplen": "only applies to pcap captures",
    "all-routes": "only applies to diag",
    "no-all-routes": "only applies to diag",
    "status": "only applies to /dex history",
    "anyway": "only applies to pcap, diag and speedtest",
}
_EXAMPLE = {"device": "--device ann-mbp", "size": "--size 50MB", "snaplen": "--snaplen 1500"}
_EXAMPLE |= {"status": "--status failed"}
_CAPTURE_OPTIONS = frozenset(_WHERE) - {"status"}
_UNBALANCED = "There's an opening quote with no closing one: close it or drop it."

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
            if token.text.startswith("-") and token.text.lstrip("-").lower() in _WHERE:
                raise ParseError(f"Options start with two dashes: --{token.text.lstrip('-')}.")
            positionals.append(token)
            continue
        name, eq, value = token.text[2:].partition("=")
        name = name.lower()
        if name not in _WHERE:
            known = ", ".join(f"--{o}" for o in sorted(allowed)) or "none here"
            raise ParseError(f'I don\'t know the option "--{echo(name)}". Options: {known}.')
        if name not in allowed:
            raise ParseError(f"--{name} {_WHERE[name]}.")
        if name in options:
            raise ParseError(f"Give --{name} only once.")
        if name in _FLAGS:
            if eq:
                raise ParseError(f"--{name} takes no value: just --{name}.")
            options[name] = True
        elif name == "reason":
            options[name], i = _reason(text, tokens, i - 1)
        else:
            if token.unbalanced:
                raise ParseError(_UNBALANCED)
            if not eq:
                if i == len(tokens) or tokens[i].is_option:
                    raise ParseError(f"--{name} needs a value, e.g. {_EXAMPLE[name]}.")
                if tokens[i].unbalanced:
                    raise ParseError(_UNBALANCED)
                value, i = tokens[i].text, i + 1
                # "--size 50 MB": the unit came as a word of its own.
                if (
                    name == "size"
                    and i < len(tokens)
                    and re.fullmatch(r"[kmg]i?b?", tokens[i].text, re.I)
                ):
                    value, i = value + tokens[i].text, i + 1
            if not value.strip():
                raise ParseError(f"--{name} needs a value, e.g. {_EXAMPLE[name]}.")
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
    return " ".join(unescape(text).split())


def _read(reader: Callable[..., int], *args: object) -> int:
    try:
        return reader(*args)
    except ValueError as exc:  # the readers' messages are written for the user already
        raise ParseError(str(exc)) from None


# -- verbs -----------------------------------------------------------------------------------

_TYPES = {"pcap": CommandType.PCAP, "diag": CommandType.WARP_DIAG}
_TYPES |= {"warp-diag": CommandType.WARP_DIAG, "speedtest": CommandType.SPEED_TEST}
_TYPES |= {"speed-test": CommandType.SPEED_TEST}
_INTERFACES = {"default": ("default",), "tunnel": ("tunnel",), "both": ("default", "tunnel")}
_STATUSES = {s.value.lower(): s for s in CommandStatus}
_EXAMPLES = {
    CommandType.PCAP: '`/dex pcap @ann 5m --reason "VPN drops"`',
    CommandType.WARP_DIAG: '`/dex diag @ann --reason "VPN drops"`',
    CommandType.SPEED_TEST: '`/dex speedtest @ann --reason "slow calls"`',
}
_MISSING = {
    "target": "a person (@mention) or a device",
    "type": "what to run (pcap, diag or speedtest)",
    "reason": 'a reason (--reason "why you need this")',
}


def _words(
    kind: CommandType | None, words: list[Token]
) -> tuple[CommandType | None, list[Token], list[str], set[str]]:
    """The capture type, then the words that are targets, lengths and interfaces."""
    if kind is None:  # "capture @ann pcap": the type word may stand anywhere
        kinds = {_TYPES[w.text.lower()] for w in words if not w.quoted and w.text.lower() in _TYPES}
        if len(kinds) > 1:
            raise ParseError("Pick one of pcap, diag or speedtest.")
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
            raise ParseError(f'This is a {kind} request already: drop "{echo(word.text)}".')
        elif low in _INTERFACES:
            interfaces.update(_INTERFACES[low])
        elif low in UNIT_WORDS and lengths and re.fullmatch(r"[\d.]+", words[index - 1].text):
            lengths[-1] += low  # "5 min", written as two words
        elif looks_like_duration(word.text):
            lengths.append(word.text)
        else:
            targets.append(word)
    return kind, targets, lengths, interfaces


def _check_fits(
    kind: CommandType | None, options: Options, lengths: list[str], interfaces: set[str]
) -> None:
    """Refuse what does not fit the capture type (unchecked while the type is unknown)."""
    if kind not in (None, CommandType.PCAP):
        if lengths:
            raise ParseError(
                f'A capture length only applies to pcap captures: drop "{echo(lengths[0])}".'
            )
        if bad := next((o for o in ("size", "snaplen") if o in options), None):
            raise ParseError(f"--{bad} only applies to pcap captures.")
    if interfaces and kind not in (None, CommandType.SPEED_TEST):
        raise ParseError("default, tunnel and both only apply to speed tests.")
    routes = [o for o in ("all-routes", "no-all-routes") if o in options]
    if routes and kind not in (None, CommandType.WARP_DIAG):
        raise ParseError("--all-routes and --no-all-routes only apply to diag.")
    if len(routes) > 1:
        raise ParseError("Use --all-routes or --no-all-routes, not both.")
    if len(lengths) > 1:
        raise ParseError("Give one capture length, e.g. 1h30m.")


def _capture(kind: CommandType | None, text: str, tokens: list[Token], limits: Limits) -> Parsed:
    """``pcap``/``diag``/``speedtest @user …``, or ``capture @user TYPE …`` (kind None)."""
    words, options = _split(text, tokens, _CAPTURE_OPTIONS)
    kind, targets, lengths, interfaces = _words(kind, words)
    target = _one_target(targets)
    device = options.get("device")
    all_devices = options.get("all") is True
    routes = True if "all-routes" in options else False if "no-all-routes" in options else None
    _check_fits(kind, options, lengths, interfaces)
    if isinstance(device, str):
        if device.startswith(("<@", "@")):
            raise ParseError("--device takes a device name or id; mention the person before it.")
        if isinstance(target, DeviceTarget):
            raise ParseError(
                "You named a device already: --device picks one of a person's devices."
            )
        if all_devices:
            raise ParseError("Use --device or --all, not both.")
        if target is None:  # "pcap --device ann-mbp" names the device itself
            target, device = DeviceTarget(device), None
    if all_devices and isinstance(target, DeviceTarget):
        raise ParseError("--all means all of a person's devices: mention the person, not a device.")
    notes: tuple[str, ...] = ()
    minutes = _read(parse_minutes, lengths[0]) if lengths else None
    if minutes is not None and minutes > limits.pcap_max_minutes:
        minutes = limits.pcap_max_minutes
        notes = (f"Capture length clamped to {minutes} min, Cloudflare's current maximum.",)
    if minutes is None and kind == CommandType.PCAP:
        minutes = min(limits.pcap_default_minutes, limits.pcap_max_minutes)
    size, snaplen = options.get("size"), options.get("snaplen")
    reason = str(options.get("reason", "")) or None
    if reason is not None and len(reason) > MAX_REASON:
        raise ParseError(
            f"Keep the reason under {MAX_REASON} characters (yours has {len(reason)})."
        )
    draft = CaptureDraft(
        kind,
        target,
        device=device if isinstance(device, str) else None,
        all_devices=all_devices,
        time_limit_min=minutes,
        max_file_size_mb=_read(parse_size_mb, size, limits.max_size_mb) if size else None,
        packet_size_bytes=_read(parse_snaplen, snaplen, limits.max_snaplen) if snaplen else None,
        test_all_routes=routes,
        interfaces=tuple(i for i in ("default", "tunnel") if i in interfaces) or None,
        reason=reason,
        notes=notes,
        anyway=options.get("anyway") is True,
    )
    absent = (target is None, kind is None, reason is None and limits.require_reason)
    missing = tuple(m for m, gone in zip(_MISSING, absent, strict=True) if gone)
    if not missing:  # the draft is whole: same fields, none of them None any more
        return CaptureAsk(**vars(draft))
    if missing == ("reason",):
        raise Incomplete('Add a reason: --reason "why you need this"', draft, missing)
    wanted = " and ".join(_MISSING[m] for m in missing)
    raise Incomplete(f"Add {wanted}, e.g. {_EXAMPLES[kind or CommandType.PCAP]}.", draft, missing)


def _status(text: str, tokens: list[Token], limits: Limits) -> Parsed:
    target = _one_target(_split(text, tokens, frozenset())[0])
    if target is None:
        raise ParseError("Tell me whose status: `/dex status @user` or `/dex status device-name`.")
    return Status(target)


def _devices(text: str, tokens: list[Token], limits: Limits) -> Parsed:
    words = _split(text, tokens, frozenset())[0]
    if any(w.unbalanced for w in words):
        raise ParseError(_UNBALANCED)
    # Mentions (and things meant as mentions) pick the person; other words are a search.
    people = [w for w in words if not w.quoted and w.text.startswith(("<@", "<!", "<#", "@"))]
    search = _tidy(" ".join(w.text for w in words if w not in people))
    if len(search) > MAX_SEARCH:
        raise ParseError(f"Keep the search under {MAX_SEARCH} characters.")
    target = _one_target(people)
    return Devices(target if isinstance(target, UserTarget) else None, search or None)


def _quota(text: str, tokens: list[Token], limits: Limits) -> Parsed:
    if _split(text, tokens, frozenset())[0]:
        raise ParseError("`/dex quota` takes nothing else: just type `/dex quota`.")
    return QuotaAsk()


def _history(text: str, tokens: list[Token], limits: Limits) -> Parsed:
    words, options = _split(text, tokens, frozenset({"status"}))
    wanted = str(options.get("status", ""))
    status = _STATUSES.get(wanted.lower().replace("-", "_")) if wanted else None
    if wanted and status is None:
        raise ParseError(
            f'I don\'t know the status "{echo(wanted)}". '
            "Use pending_exec, pending_upload, success or failed."
        )
    return History(_one_target(words), status)


def _typed(kind: CommandType | None) -> Callable[[str, list[Token], Limits], Parsed]:
    return lambda text, tokens, limits: _capture(kind, text, tokens, limits)


_VERBS = {"status": _status, "devices": _devices, "device": _devices, "quota": _quota}
_VERBS |= {"history": _history, "capture": _typed(None)} | {w: _typed(k) for w, k in _TYPES.items()}


def parse(text: str, limits: Limits = Limits()) -> Parsed:
    """The command in ``text`` (what follows ``/dex``); raises ``ParseError`` for the user.

    Empty text opens the request modal; an unknown first word is ``Unknown`` (answer with
    help). Any input gives a ``Parsed`` or a ``ParseError``, never another exception.
    """
    if len(text) > MAX_TEXT:
        raise ParseError("That's too long for a /dex command.")
    text = text.translate(INVISIBLE)
    tokens = tokenize(text)
    if not tokens:
        return OpenModal()
    head, rest = tokens[0], tokens[1:]
    verb = "" if head.quoted else head.text.lower()
    if verb in ("help", "?", "--help", "-h"):
        return Help(_HELP_TOPICS.get(rest[0].text.lower()) if rest else None)
    if verb not in _VERBS:
        return Unknown(echo(head.text))
    if any(t.is_option and t.text.lower() == "--help" for t in rest):
        return Help(_HELP_TOPICS.get(verb))
    return _VERBS[verb](text, rest, limits)
