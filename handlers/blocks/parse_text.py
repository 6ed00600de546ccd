"""The words for the grammar's typed errors: ``ParseError`` and ``ReadError`` -> one answer.

Every sentence a person reads about a ``/dex`` line they typed lives here. Text inside the
errors' ``data`` was made safe to quote by the grammar (``echo``); ``ReadError.word`` is raw
and is echoed here. Answers are mrkdwn, short, and say what to type instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from bot.domain.durations import ReadError, ReadProblem, echo
from bot.domain.grammar import Clamped, ParseError, ParseProblem
from bot.domain.model import CommandType

DURATION_FORMS = "90s, 5m, 1h30m, or a number of minutes like 2"
ONE_QUOTE = "There's an opening quote with no closing one: close it or drop it."
_PICK = "pick them from the @ menu so Slack turns it into a mention"
_CAPTURES = "only applies to pcap, diag and speedtest"
_WHERE = {"device": _CAPTURES, "all": _CAPTURES, "reason": _CAPTURES, "anyway": _CAPTURES}
_WHERE |= {"size": "only applies to pcap captures", "snaplen": "only applies to pcap captures"}
_WHERE |= {"all-routes": "only applies to diag", "no-all-routes": "only applies to diag"}
_WHERE |= {"status": "only applies to /dex history"}
_EXAMPLE = {"device": "--device ann-mbp", "size": "--size 50MB", "snaplen": "--snaplen 1500"}
_EXAMPLE |= {"status": "--status failed"}
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
#: One line of usage per verb (and alias), for "Did you mean …?".
USAGE = {
    "pcap": '`/dex pcap @ann 5m --reason "VPN drops"`',
    "capture": '`/dex capture @ann pcap 5m --reason "VPN drops"`',
    "diag": '`/dex diag @ann --reason "can\'t reach the wiki"`',
    "speedtest": '`/dex speedtest @ann tunnel --reason "slow calls"`',
    "status": "`/dex status @ann` or `/dex status device-name`",
    "devices": "`/dex devices`, `/dex devices @ann` or `/dex devices mac`",
    "quota": "`/dex quota`",
    "history": "`/dex history @ann --status failed`",
    "help": "`/dex help` or `/dex help capture`",
}
USAGE |= {"warp-diag": USAGE["diag"], "speed-test": USAGE["speedtest"]}
USAGE |= {"device": USAGE["devices"]}
_UNITS = {"time_limit_min": "min", "max_file_size_mb": "MB", "packet_size_bytes": "bytes"}


def _codes(words: Sequence[object]) -> str:
    return ", ".join(f"`{w}`" for w in words)


def _or(words: Sequence[object]) -> str:
    items = [str(w) for w in words]
    return items[0] if len(items) < 2 else f"{', '.join(items[:-1])} or {items[-1]}"


def _unknown_command(d: dict[str, object]) -> str:
    word, suggestion = d["word"], d.get("suggestion")
    head = f"I don't know `{word}`." if word else "I don't know that command."
    if isinstance(suggestion, str):
        return f"{head} Did you mean `{suggestion}`?\n{USAGE.get(suggestion, '')}".rstrip()
    verbs = d.get("verbs") or ()
    assert isinstance(verbs, tuple)
    return f"{head} Commands: {_codes(verbs)}. `/dex help` explains them."


def _incomplete(d: dict[str, object]) -> str:
    missing = d["missing"]
    assert isinstance(missing, tuple)
    if missing == ("reason",):
        return 'Add a reason: --reason "why you need this"'
    kind = d.get("kind")
    wanted = " and ".join(_MISSING[str(m)] for m in missing)
    example = _EXAMPLES[kind if isinstance(kind, CommandType) else CommandType.PCAP]
    return f"Add {wanted}, e.g. {example}."


def _unreadable(d: dict[str, object]) -> str:
    shown = f' "{d["text"]}"' if d.get("text") else " that"
    return (
        f"I couldn't read{shown} as a person or a device. "
        "Mention a person with @, or give a device name or id."
    )


def _option_list(d: dict[str, object]) -> str:
    known = d.get("known") or ()
    assert isinstance(known, tuple)
    return ", ".join(f"--{o}" for o in known) or "none here"


_P = ParseProblem
_TEXT: dict[ParseProblem, Callable[[dict[str, object]], str]] = {
    _P.TOO_LONG: lambda d: "That's too long for a /dex command.",
    _P.UNKNOWN_COMMAND: _unknown_command,
    _P.UNKNOWN_TOPIC: lambda d: (
        f"There's no help topic `{d['topic']}`. Topics: {_codes(d['topics'])}."  # type: ignore[arg-type]
    ),
    _P.UNBALANCED_QUOTE: lambda d: ONE_QUOTE,
    _P.EMPTY_QUOTES: lambda d: 'Give a device name between the quotes, e.g. "Ann\'s MacBook".',
    _P.SPECIAL_MENTION: lambda d: f"Mention one person with @, not @{d['which']}.",
    _P.GROUP_MENTION: lambda d: "Mention one person with @, not a user group.",
    _P.CHANNEL_MENTION: lambda d: "Mention a person with @, not a channel.",
    _P.EMAIL: lambda d: "Mention the person with @ rather than their email address.",
    _P.NOT_A_USER: lambda d: f'I couldn\'t find a Slack user in "{d["text"]}" — {_PICK}.',
    _P.UNREADABLE_TARGET: _unreadable,
    _P.MANY_TARGETS: lambda d: (
        'Give one person or one device. For a device name with spaces use quotes: "Ann\'s MacBook".'
    ),
    _P.SINGLE_DASH: lambda d: f"Options start with two dashes: --{d['option']}.",
    _P.UNKNOWN_OPTION: lambda d: (
        f'I don\'t know the option "--{d["option"]}". Options: {_option_list(d)}.'
    ),
    _P.OPTION_NOT_HERE: lambda d: f"--{d['option']} {_WHERE[str(d['option'])]}.",
    _P.OPTION_TWICE: lambda d: f"Give --{d['option']} only once.",
    _P.FLAG_WITH_VALUE: lambda d: f"--{d['option']} takes no value: just --{d['option']}.",
    _P.NEEDS_VALUE: lambda d: f"--{d['option']} needs a value, e.g. {_EXAMPLE[str(d['option'])]}.",
    _P.MANY_TYPES: lambda d: "Pick one of pcap, diag or speedtest.",
    _P.TYPE_TWICE: lambda d: f'This is a {d["kind"]} request already: drop "{d["word"]}".',
    _P.LENGTH_NOT_PCAP: lambda d: (
        f'A capture length only applies to pcap captures: drop "{d["length"]}".'
    ),
    _P.PCAP_ONLY: lambda d: f"--{d['option']} only applies to pcap captures.",
    _P.INTERFACES_NOT_SPEED_TEST: lambda d: "default, tunnel and both only apply to speed tests.",
    _P.UNKNOWN_INTERFACE: lambda d: (
        f'I don\'t know the interface "{d["word"]}": use {_or(d["interfaces"])}.'  # type: ignore[arg-type]
    ),
    _P.ROUTES_NOT_DIAG: lambda d: "--all-routes and --no-all-routes only apply to diag.",
    _P.ROUTES_BOTH: lambda d: "Use --all-routes or --no-all-routes, not both.",
    _P.MANY_LENGTHS: lambda d: "Give one capture length, e.g. 1h30m.",
    _P.DEVICE_IS_PERSON: lambda d: (
        "--device takes a device name or id; mention the person before it."
    ),
    _P.DEVICE_TWICE: lambda d: (
        "You named a device already: --device picks one of a person's devices."
    ),
    _P.DEVICE_AND_ALL: lambda d: "Use --device or --all, not both.",
    _P.ALL_ON_DEVICE: lambda d: (
        "--all means all of a person's devices: mention the person, not a device."
    ),
    _P.REASON_TOO_LONG: lambda d: (
        f"Keep the reason under {d['limit']} characters (yours has {d['length']})."
    ),
    _P.BAD_VALUE: lambda d: describe_read_error(d["error"]),  # type: ignore[arg-type]
    _P.STATUS_NEEDS_TARGET: lambda d: (
        "Tell me whose status: `/dex status @user` or `/dex status device-name`."
    ),
    _P.SEARCH_TOO_LONG: lambda d: f"Keep the search under {d['limit']} characters.",
    _P.QUOTA_TAKES_NOTHING: lambda d: "`/dex quota` takes nothing else: just type `/dex quota`.",
    _P.UNKNOWN_STATUS: lambda d: (
        f'I don\'t know the status "{d["status"]}". '
        "Use succeeded, failed, running or waiting "
        "(or Cloudflare's success, pending_exec, pending_upload)."
    ),
    _P.INCOMPLETE: _incomplete,
}


def describe_parse_error(err: ParseError) -> str:
    """The answer to show for ``err``: short mrkdwn that says what to type instead."""
    return _TEXT[err.code](err.data)


def describe_read_error(err: ReadError) -> str:
    """The answer for a length, size or packet size that could not be read."""
    word, top = echo(err.word), err.maximum
    match err.code:
        case ReadProblem.LENGTH_UNREADABLE:
            return f'I can\'t read "{word}" as a capture length. Use {DURATION_FORMS}.'
        case ReadProblem.LENGTH_TOO_SHORT:
            return "Capture length must be at least 1 minute."
        case ReadProblem.SIZE_UNREADABLE:
            return f'I can\'t read "{word}" as a size. Use megabytes, e.g. --size 50MB.'
        case ReadProblem.SIZE_TOO_SMALL_UNIT:
            most = f", at most {top}MB" if top is not None else ""
            return f"--size is in megabytes: use at least 1MB{most}."
        case ReadProblem.SIZE_OUT_OF_RANGE:
            if top is None:
                return "--size must be at least 1 MB."
            return f"--size must be between 1 and {top} MB."
        case ReadProblem.SNAPLEN_UNREADABLE:
            return f'I can\'t read "{word}" as --snaplen. Give bytes, e.g. --snaplen {top or 1500}.'
        case ReadProblem.SNAPLEN_OUT_OF_RANGE:
            if top is None:
                return "--snaplen must be at least 1 byte."
            return f"--snaplen must be between 1 and {top} bytes."


def describe_clamped(item: Clamped) -> str:
    """A clamped value as a renderer shows it: ``10 min (asked 90; the maximum is 10)``."""
    unit = _UNITS.get(item.field, "")
    value = f"{item.maximum} {unit}".strip()
    return f"{value} (asked {item.asked}; the maximum is {item.maximum})"
