"""The words of a ``/dex`` command: splitting the text into tokens, and reading numbers.

``tokenize`` splits on whitespace, keeps quoted phrases (straight or curly quotes) whole and
turns an autocorrected ``—option`` back into ``--option``. The readers turn one word into a
capture length, file size or packet size, or raise ``ReadError``: a ``ValueError`` carrying a
``ReadProblem`` code and the facts, no words (``handlers.blocks.parse_text`` writes them).
``read_*`` refuse only what can never be right (unreadable, zero, negative); ``parse_*`` also
refuse values over the maximum. Arithmetic is exact (``Fraction``), so ``90s`` is 2 minutes,
never 1. Nothing here knows about verbs.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from bot.domain.text import HIDDEN

#: How much of the user's own text an error message may quote back.
ECHO_LIMIT = 40

_UNIT_SECONDS: dict[str, int] = {}
for _names, _seconds in (
    (("s", "sec", "secs", "second", "seconds"), 1),
    (("m", "min", "mins", "minute", "minutes"), 60),
    (("h", "hr", "hrs", "hour", "hours"), 3600),
):
    for _name in _names:
        _UNIT_SECONDS[_name] = _seconds

#: Words that are only a unit, so ``5 min`` (two words) reads as ``5min``.
UNIT_WORDS = frozenset(_UNIT_SECONDS)

# A number is at most 9 digits (plus 6 decimals): enough for any real length, and it keeps
# the arithmetic cheap on 2,000 characters of digits.
_PART = re.compile(r"(\d{1,9}(?:\.\d{1,6})?)([a-z]*)")
_DURATION_LIKE = re.compile(r"[+-]?\d[0-9a-z.]*", re.IGNORECASE)
_SIZE = re.compile(r"([+-]?)(\d{1,9}(?:\.\d{1,6})?)\s*([a-z]*)", re.IGNORECASE)
_SIZE_UNITS = {"": Fraction(1), "m": Fraction(1), "mb": Fraction(1), "mib": Fraction(1)}
_SIZE_UNITS |= {"g": Fraction(1024), "gb": Fraction(1024), "gib": Fraction(1024)}
_SMALL_UNITS = frozenset({"b", "byte", "bytes", "k", "kb", "kib"})
_SNAPLEN = re.compile(r"([+-]?)(\d{1,9})\s*(b|byte|bytes)?", re.IGNORECASE)


class ReadProblem(StrEnum):
    """Why one word could not be read as a length, size or packet size."""

    LENGTH_UNREADABLE = "length_unreadable"  # word
    LENGTH_TOO_SHORT = "length_too_short"
    SIZE_UNREADABLE = "size_unreadable"  # word
    SIZE_TOO_SMALL_UNIT = "size_too_small_unit"  # maximum (KB or bytes were given)
    SIZE_OUT_OF_RANGE = "size_out_of_range"  # maximum
    SNAPLEN_UNREADABLE = "snaplen_unreadable"  # word, maximum
    SNAPLEN_OUT_OF_RANGE = "snaplen_out_of_range"  # maximum


class ReadError(ValueError):
    """A word the readers refuse: ``code`` says why, ``word`` and ``maximum`` give the facts.

    ``word`` is the text as typed (not yet made safe to show: renderers ``echo`` it).
    """

    def __init__(self, code: ReadProblem, word: str = "", maximum: int | None = None) -> None:
        super().__init__(code.value)
        self.code = code
        self.word = word
        self.maximum = maximum


def echo(text: str) -> str:
    """``text`` made safe to quote in a Slack mrkdwn message: short, one line, inert.

    Angle brackets and ``&`` are dropped (``<!channel>`` must not ping anyone when we say
    we could not read it) and so are backticks (they would break our own code spans).
    """
    cleaned = " ".join(ch for ch in text.split())
    cleaned = "".join(ch for ch in cleaned if ch not in "<>&`" and ch.isprintable())
    if len(cleaned) > ECHO_LIMIT:
        cleaned = cleaned[: ECHO_LIMIT - 1] + "…"
    return cleaned


def looks_like_duration(word: str) -> bool:
    """Whether ``word`` was meant as a capture length (a digit first, no inner hyphen).

    Such words are never read as device names: ``5x`` is a typo for a length, and device
    ids are UUIDs whose hyphens keep them out of this class.
    """
    return _DURATION_LIKE.fullmatch(word) is not None and "-" not in word[1:]


def parse_minutes(word: str) -> int:
    """Whole minutes, rounded up, in ``word`` (``90s`` -> 2, ``1h30m`` -> 90, ``2`` -> 2).

    Raises ``ReadError`` for unreadable words and for lengths under one second. There is no
    maximum here: the caller clamps (``bot.domain.grammar.clamp``).
    """
    bad = ReadError(ReadProblem.LENGTH_UNREADABLE, word)
    text = word.strip().lower()
    negative = text.startswith("-")
    text = text.removeprefix("-").removeprefix("+")
    if not text or len(text) > 24:
        raise bad
    seconds = Fraction(0)
    position = 0
    used: set[int] = set()
    parts = list(_PART.finditer(text))
    for index, part in enumerate(parts):
        if part.start() != position:
            raise bad
        position = part.end()
        number, unit = Fraction(part.group(1)), part.group(2)
        if unit:
            scale = _UNIT_SECONDS.get(unit)
        else:
            # A bare number means minutes, alone ("2") or after hours ("1h30").
            after_hours = index > 0 and parts[index - 1].group(2).startswith("h")
            last = index == len(parts) - 1
            scale = 60 if last and (index == 0 or after_hours) else None
        if scale is None or scale in used:
            raise bad
        used.add(scale)
        seconds += number * scale
    if position != len(text):
        raise bad
    if negative or seconds <= 0:
        raise ReadError(ReadProblem.LENGTH_TOO_SHORT, word)
    return math.ceil(seconds / 60)


def read_size_mb(word: str) -> int:
    """Megabytes in ``word`` (``50MB``, ``50mb``, ``50``, ``1GB``), rounded up; no maximum.

    Raises ``ReadError`` for zero or less, for KB or bytes, and for unreadable words.
    """
    match = _SIZE.fullmatch(word.strip())
    if match is None:
        raise ReadError(ReadProblem.SIZE_UNREADABLE, word)
    sign, number, unit = match.group(1), Fraction(match.group(2)), match.group(3).lower()
    if unit in _SMALL_UNITS:
        raise ReadError(ReadProblem.SIZE_TOO_SMALL_UNIT, word)
    if unit not in _SIZE_UNITS:
        raise ReadError(ReadProblem.SIZE_UNREADABLE, word)
    if sign == "-" or number <= 0:
        raise ReadError(ReadProblem.SIZE_OUT_OF_RANGE, word)
    return math.ceil(number * _SIZE_UNITS[unit])


def parse_size_mb(word: str, max_mb: int) -> int:
    """``read_size_mb``, also refusing more than ``max_mb`` (``ReadError`` with ``maximum``)."""
    try:
        megabytes = read_size_mb(word)
    except ReadError as exc:
        raise ReadError(exc.code, word, max_mb) from None
    if megabytes > max_mb:
        raise ReadError(ReadProblem.SIZE_OUT_OF_RANGE, word, max_mb)
    return megabytes


def read_snaplen(word: str) -> int:
    """Bytes per packet in ``word`` (``1500`` or ``1500B``); ``ReadError`` below 1; no maximum."""
    match = _SNAPLEN.fullmatch(word.strip())
    if match is None:
        raise ReadError(ReadProblem.SNAPLEN_UNREADABLE, word)
    value = int(match.group(2))
    if match.group(1) == "-" or value < 1:
        raise ReadError(ReadProblem.SNAPLEN_OUT_OF_RANGE, word)
    return value


def parse_snaplen(word: str, max_bytes: int) -> int:
    """``read_snaplen``, also refusing more than ``max_bytes`` (``ReadError`` with ``maximum``)."""
    try:
        value = read_snaplen(word)
    except ReadError as exc:
        raise ReadError(exc.code, word, max_bytes) from None
    if value > max_bytes:
        raise ReadError(ReadProblem.SNAPLEN_OUT_OF_RANGE, word, max_bytes)
    return value


# -- tokens ----------------------------------------------------------------------------------

# Straight and curly quotes: Slack clients send both, and macOS turns "x" into “x”.
CLOSERS = {'"': '"”', "“": '”"“', "”": '”"', "'": "'’", "‘": "’'", "’": "’'"}
# Autocorrect turns "--" into an em or en dash: "—reason" means "--reason".
_DASHED = re.compile(r"^(?:—|–|-–|-—)(?=[A-Za-z])")
# Control characters, and what bot.domain.text calls hidden (bidi controls, zero-width).
INVISIBLE = dict.fromkeys([*range(0x20), *range(0x7F, 0xA0), *HIDDEN])
INVISIBLE |= {ord("\t"): " ", ord("\n"): " ", ord("\r"): " "}


# A closing quote counts only before a space or the end, so "it's" does not close 'it's'.
_CLOSE = {opener: re.compile(f"[{closers}](?=\\s|$)") for opener, closers in CLOSERS.items()}


@dataclass(frozen=True)
class Token:
    """One word of the command, or one quoted phrase."""

    text: str  # dash-normalised, quotes removed
    start: int  # span in the cleaned text, for "the rest of the line"
    end: int
    quoted: bool = False  # the whole word was in quotes: never an option or a mention
    glued: bool = False  # --option="value": the value was in quotes
    unbalanced: bool = False  # opened a quote that never closes

    @property
    def is_option(self) -> bool:
        """An ``--option`` (or ``—option``), as opposed to a word or a quoted phrase."""
        return not self.quoted and self.text.startswith("--")


def tokenize(text: str) -> list[Token]:
    """Whitespace-separated words; a word opening with a quote runs to its closing quote.

    An unclosed quote leaves the word as typed, marked ``unbalanced``; nothing raises.
    """
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        j = i
        while j < n and not text[j].isspace():
            j += 1
        word = _DASHED.sub("--", text[i:j])
        # The quote opens the word, or the value of --option="...".
        eq = text.find("=", i, j) if word.startswith("--") else -1
        q = eq + 1 if eq >= 0 else i
        if q < n and text[q] in CLOSERS:
            found = _CLOSE[text[q]].search(text, q + 1)
            if found is not None:
                close = found.start()
                prefix = word[: len(word) - (j - q)]
                value = prefix + text[q + 1 : close]
                tokens.append(Token(value, i, close + 1, quoted=q == i, glued=q != i))
                i = close + 1
                continue
            tokens.append(Token(word, i, j, unbalanced=True))
        else:
            tokens.append(Token(word, i, j))
        i = j
    return tokens


def unescape(text: str) -> str:
    """Undo Slack's escaping of typed ``&``, ``<`` and ``>``."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
