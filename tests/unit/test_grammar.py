"""The /dex grammar: what people type, and what they get back (a command or a message)."""

from __future__ import annotations

import math
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.dex.models import CommandStatus, CommandType
from bot.domain.durations import parse_minutes
from bot.domain.grammar import (
    HELP_TEXT,
    CaptureAsk,
    CaptureDraft,
    Clamped,
    Devices,
    DeviceTarget,
    Help,
    History,
    Incomplete,
    Limits,
    OpenModal,
    ParseError,
    QuotaAsk,
    Status,
    UserTarget,
    help_for,
    parse,
)
from handlers.blocks.parse_text import describe_clamped, describe_parse_error

ANN = UserTarget("U0ANN")
REASON = '--reason "VPN drops"'
ONE_TARGET = (
    'Give one person or one device. For a device name with spaces use quotes: "Ann\'s MacBook".'
)
DEFAULTS = Limits()


def error(text: str, limits: Limits = DEFAULTS) -> str:
    """The message a user sees for ``text``, which must be refused outright."""
    with pytest.raises(ParseError) as caught:
        parse(text, limits)
    assert not isinstance(caught.value, Incomplete), caught.value
    return describe_parse_error(caught.value)


def incomplete(text: str, limits: Limits = DEFAULTS) -> Incomplete:
    """The ``Incomplete`` raised for ``text`` (valid, but the modal must ask for more)."""
    with pytest.raises(Incomplete) as caught:
        parse(text, limits)
    return caught.value


def capture(text: str, limits: Limits = DEFAULTS) -> CaptureAsk:
    result = parse(text, limits)
    assert isinstance(result, CaptureAsk), result
    return result


# -- the simple verbs --------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\u200b"])
def test_nothing_typed_opens_the_request_modal(text: str) -> None:
    assert parse(text) == OpenModal()


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("help", None),
        ("HELP", None),
        ("?", None),
        ("help capture", "capture"),
        ("help pcap", "capture"),
        ("help warp-diag", "diag"),
        ("help speed-test", "speedtest"),
        ("help history", "history"),
        ("pcap --help", "capture"),
        ("status --help", "status"),
    ],
)
def test_help_and_its_topics(text: str, topic: str | None) -> None:
    assert parse(text) == Help(topic)


COMMANDS = (
    "Commands: `pcap`, `diag`, `speedtest`, `capture`, `status`, `devices`, `quota`,"
    " `history`, `help`. `/dex help` explains them."
)


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        (
            "captur <@U0BOB> pcap 5m",
            "I don't know `captur`. Did you mean `capture`?\n"
            '`/dex capture @ann pcap 5m --reason "VPN drops"`',
        ),
        (
            "stauts <@U0ANN>",
            "I don't know `stauts`. Did you mean `status`?\n"
            "`/dex status @ann` or `/dex status device-name`",
        ),
        (
            "devcies",
            "I don't know `devcies`. Did you mean `devices`?\n"
            "`/dex devices`, `/dex devices @ann` or `/dex devices mac`",
        ),
        (
            "Pcapp <@U1>",
            'I don\'t know `Pcapp`. Did you mean `pcap`?\n`/dex pcap @ann 5m --reason "VPN drops"`',
        ),
        ("\U0001f4a5 <@U0ANN>", f"I don't know `\U0001f4a5`. {COMMANDS}"),
        ("frobnicate", f"I don't know `frobnicate`. {COMMANDS}"),
        ("<!channel> hi", f"I don't know `!channel`. {COMMANDS}"),
    ],
)
def test_an_unknown_first_word_names_the_closest_command(text: str, answer: str) -> None:
    assert error(text) == answer


@pytest.mark.parametrize("text", ["help foo", "help   nonsense more", "? foo"])
def test_an_unknown_help_topic_lists_the_topics(text: str) -> None:
    topic = text.split()[1]
    assert error(text) == (
        f"There's no help topic `{topic}`. Topics: `capture`, `diag`, `speedtest`, `status`,"
        " `devices`, `quota`, `history`."
    )


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("speedtest <@U0BOB> tunel", "tunel"),
        ("speedtest tunnle <@U0BOB>", "tunnle"),
        ("speedtest ann-mbp defualt", "defualt"),
    ],
)
def test_a_misspelt_interface_is_named(text: str, word: str) -> None:
    assert error(f"{text} {REASON}") == (
        f'I don\'t know the interface "{word}": use default, tunnel or both.'
    )
    assert error(f"speedtest <@U0BOB> laptop {REASON}") == ONE_TARGET


def test_help_text_shows_every_verb_with_an_example() -> None:
    for verb in ("pcap", "diag", "speedtest", "status", "devices", "quota", "history"):
        assert f"`/dex {verb}" in HELP_TEXT
    assert HELP_TEXT.count("`") % 2 == 0


def test_help_for_a_topic_uses_the_configured_limits() -> None:
    text = help_for("pcap", Limits(pcap_max_minutes=7, max_size_mb=20))
    assert "at most 7 min" in text and "at most 20 MB" in text
    assert help_for(None) == HELP_TEXT == help_for("nonsense")
    for topic in ("capture", "diag", "speedtest", "status", "devices", "quota", "history"):
        assert help_for(topic).count("`") % 2 == 0


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("status <@U0ANN>", ANN),
        ("status <@U0ANN|ann>", ANN),
        ("status <@W0GRID>", UserTarget("W0GRID")),
        ("STATUS Ann-MBP", DeviceTarget("Ann-MBP")),
        (
            "status f174e90a-fafe-4643-bbbc-4a0ed4fc8415",
            DeviceTarget("f174e90a-fafe-4643-bbbc-4a0ed4fc8415"),
        ),
        ('status "Ann\'s MacBook Pro"', DeviceTarget("Ann's MacBook Pro")),
        ("status “Ann’s MacBook”", DeviceTarget("Ann’s MacBook")),
        ("status <http://ann-mbp.local|ann-mbp.local>", DeviceTarget("ann-mbp.local")),
    ],
)
def test_status_of_a_person_or_a_device(text: str, target: UserTarget | DeviceTarget) -> None:
    assert parse(text) == Status(target)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("status", "Tell me whose status: `/dex status @user` or `/dex status device-name`."),
        ("status <!channel>", "Mention one person with @, not @channel."),
        ("status <!here|here>", "Mention one person with @, not @here."),
        ("status <!everyone>", "Mention one person with @, not @everyone."),
        ("status <!subteam^S123|@oncall>", "Mention one person with @, not a user group."),
        ("status <#C123|general>", "Mention a person with @, not a channel."),
        (
            "status @bob",
            'I couldn\'t find a Slack user in "@bob" — pick them from the @ menu so Slack '
            "turns it into a mention.",
        ),
        (
            "status <mailto:ann@example.com|ann@example.com>",
            "Mention the person with @ rather than their email address.",
        ),
        (
            "status <",
            "I couldn't read that as a person or a device. "
            "Mention a person with @, or give a device name or id.",
        ),
        (
            "status <@bob>",
            'I couldn\'t read "@bob" as a person or a device. '
            "Mention a person with @, or give a device name or id.",
        ),
        (
            "status Ann MacBook",
            ONE_TARGET,
        ),
        ('status "Ann', "There's an opening quote with no closing one: close it or drop it."),
        ('status ""', 'Give a device name between the quotes, e.g. "Ann\'s MacBook".'),
        ("status ann --size 5", "--size only applies to pcap captures."),
    ],
)
def test_status_refusals_say_what_to_type(text: str, message: str) -> None:
    assert error(text) == message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("devices", Devices()),
        ("devices <@U0ANN>", Devices(ANN)),
        ("devices MacBook  Pro", Devices(None, "MacBook Pro")),
        ("devices <@U0ANN> mac", Devices(ANN, "mac")),
        ('devices "Ann\'s"', Devices(None, "Ann's")),
        ("devices a&amp;b", Devices(None, "a&b")),
    ],
)
def test_devices_for_a_person_or_a_search(text: str, expected: Devices) -> None:
    assert parse(text) == expected


def test_devices_refusals() -> None:
    assert error("devices <!here>") == "Mention one person with @, not @here."
    assert error("devices @ann").startswith('I couldn\'t find a Slack user in "@ann"')
    assert error("devices " + "x" * 101) == "Keep the search under 100 characters."
    assert error("devices <@U1> <@U2>").startswith("Give one person or one device.")


def test_quota() -> None:
    assert parse("quota") == QuotaAsk()
    assert parse("Quota") == QuotaAsk()
    assert error("quota please") == "`/dex quota` takes nothing else: just type `/dex quota`."
    assert error("quota --all") == "--all only applies to pcap, diag and speedtest."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("history", History()),
        ("history <@U0ANN>", History(ANN)),
        ("history ann-mbp", History(DeviceTarget("ann-mbp"))),
        ("history --status failed", History(None, CommandStatus.FAILED)),
        ("history <@U0ANN> --status=SUCCESS", History(ANN, CommandStatus.SUCCESS)),
        ("history --status pending-exec", History(None, CommandStatus.PENDING_EXEC)),
        ("history --status PENDING_EXEC", History(None, CommandStatus.PENDING_EXEC)),
        (
            "history --status pending_upload ann",
            History(DeviceTarget("ann"), CommandStatus.PENDING_UPLOAD),
        ),
    ],
)
def test_history_with_a_target_and_a_status(text: str, expected: History) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "history --status done",
            'I don\'t know the status "done". Use succeeded, failed, running or waiting'
            " (or Cloudflare's success, pending_exec, pending_upload).",
        ),
        ("history --status", "--status needs a value, e.g. --status failed."),
        ("history --status failed --status success", "Give --status only once."),
        ("pcap <@U1> --status failed", "--status only applies to /dex history."),
        (
            "history <@U1> ann-mbp",
            ONE_TARGET,
        ),
    ],
)
def test_history_refusals(text: str, message: str) -> None:
    assert error(text) == message


# -- captures: forms and aliases ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"pcap <@U0ANN> 5m {REASON}",
        f"capture <@U0ANN> pcap 5m {REASON}",
        f"capture pcap <@U0ANN> 5m {REASON}",
        f"PCAP <@U0ANN|ann> {REASON} 5m",
        f"{REASON.replace('--', '—')} ignored",  # a reason alone is no verb
    ][:4],
)
def test_a_packet_capture_in_each_accepted_form(text: str) -> None:
    assert capture(text) == CaptureAsk(CommandType.PCAP, ANN, time_limit_min=5, reason="VPN drops")


def test_pcap_without_a_length_gets_the_configured_default() -> None:
    assert capture(f"pcap <@U0ANN> {REASON}").time_limit_min == 5
    assert capture(f"pcap <@U0ANN> {REASON}", Limits(pcap_default_minutes=3)).time_limit_min == 3
    # A default above the maximum is held to the maximum, silently: the user asked for nothing.
    request = capture(f"pcap <@U0ANN> {REASON}", Limits(pcap_default_minutes=30))
    assert (request.time_limit_min, request.notes) == (10, ())


@pytest.mark.parametrize(
    "text",
    [f"diag <@U0ANN> {REASON}", f"warp-diag <@U0ANN> {REASON}", f"capture <@U0ANN> diag {REASON}"],
)
def test_warp_diag_in_each_accepted_form(text: str) -> None:
    assert capture(text) == CaptureAsk(CommandType.WARP_DIAG, ANN, reason="VPN drops")


@pytest.mark.parametrize(("flag", "routes"), [("--all-routes", True), ("--no-all-routes", False)])
def test_diag_all_routes_flags(flag: str, routes: bool) -> None:
    assert capture(f"diag <@U0ANN> {flag} {REASON}").test_all_routes is routes


@pytest.mark.parametrize(
    ("text", "interfaces"),
    [
        ("speedtest <@U0ANN>", None),
        ("speedtest <@U0ANN> default", ("default",)),
        ("speed-test <@U0ANN> tunnel", ("tunnel",)),
        ("speedtest <@U0ANN> both", ("default", "tunnel")),
        ("speedtest <@U0ANN> Tunnel default", ("default", "tunnel")),
        ("capture <@U0ANN> speedtest both", ("default", "tunnel")),
        ("capture <@U0ANN> speed-test", None),
    ],
)
def test_speed_test_interfaces(text: str, interfaces: tuple[str, ...] | None) -> None:
    request = capture(f"{text} {REASON}")
    assert (request.command_type, request.interfaces) == (CommandType.SPEED_TEST, interfaces)


def test_a_device_as_the_target_keeps_its_case() -> None:
    request = capture(f"pcap Ann-MBP 2 {REASON}")
    assert (request.target, request.device, request.time_limit_min) == (
        DeviceTarget("Ann-MBP"),
        None,
        2,
    )


def test_device_option_picks_one_of_a_persons_devices() -> None:
    for option in (
        "--device Ann-MBP",
        "--device=Ann-MBP",
        '--device "Ann-MBP"',
        '--device="Ann-MBP"',
    ):
        request = capture(f"pcap <@U0ANN> {option} {REASON}")
        assert (request.target, request.device) == (ANN, "Ann-MBP")
    assert capture(f'pcap <@U0ANN> --device "Ann\'s Mac" {REASON}').device == "Ann's Mac"


def test_device_option_without_a_person_names_the_device_itself() -> None:
    request = capture(f"pcap --device ann-mbp {REASON}")
    assert (request.target, request.device) == (DeviceTarget("ann-mbp"), None)


def test_all_devices_of_a_person() -> None:
    request = capture(f"diag <@U0ANN> --all {REASON}")
    assert request.all_devices and request.device is None


def test_options_may_come_anywhere_after_the_verb() -> None:
    request = capture(f"pcap --size 20MB {REASON} <@U0ANN> --snaplen 200 3m --device ann-mbp")
    assert request == CaptureAsk(
        CommandType.PCAP,
        ANN,
        device="ann-mbp",
        time_limit_min=3,
        max_file_size_mb=20,
        packet_size_bytes=200,
        reason="VPN drops",
    )


# -- durations -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "minutes"),
    [
        ("90s", 2),
        ("60s", 1),
        ("1s", 1),
        ("5m", 5),
        ("5min", 5),
        ("5mins", 5),
        ("5 min", 5),
        ("1 m", 1),
        ("2", 2),
        ("1.5", 2),
        ("1.5m", 2),
        ("0.5h", 10),
        ("+3m", 3),
        ("4M", 4),
        ("1m30s", 2),
        ("9m59s", 10),
    ],
)
def test_capture_length_forms_round_up_to_whole_minutes(length: str, minutes: int) -> None:
    assert capture(f"pcap <@U0ANN> {length} {REASON}").time_limit_min == minutes


@pytest.mark.parametrize("length", ["1h", "1h30m", "1h30", "11m", "601s", "2hours"])
def test_lengths_over_the_maximum_are_clamped_and_the_ask_kept(length: str) -> None:
    request = capture(f"pcap <@U0ANN> {length} {REASON}")
    asked = parse_minutes(length)
    assert request.time_limit_min == 10
    assert request.clamped == (Clamped("time_limit_min", asked, 10),)
    assert describe_clamped(request.clamped[0]) == f"10 min (asked {asked}; the maximum is 10)"
    assert request.notes == ()


def test_the_maximum_comes_from_the_limits() -> None:
    request = capture(f"pcap <@U0ANN> 1h {REASON}", Limits(pcap_max_minutes=30))
    assert request.clamped == (Clamped("time_limit_min", 60, 30),)
    assert capture(f"pcap <@U0ANN> 10m {REASON}").clamped == ()


def test_every_over_limit_value_is_clamped_and_shown_as_asked() -> None:
    request = capture(f"pcap <@U0ANN> 90m --size 500MB --snaplen 9000 {REASON}")
    assert (request.time_limit_min, request.max_file_size_mb, request.packet_size_bytes) == (
        10,
        50,
        1500,
    )
    assert [describe_clamped(c) for c in request.clamped] == [
        "10 min (asked 90; the maximum is 10)",
        "50 MB (asked 500; the maximum is 50)",
        "1500 bytes (asked 9000; the maximum is 1500)",
    ]
    assert incomplete("pcap <@U0ANN> 90m").partial.clamped == (Clamped("time_limit_min", 90, 10),)


@pytest.mark.parametrize("length", ["0", "0s", "0m", "-5m", "-1", "0.0"])
def test_a_capture_length_under_a_minute_of_nothing_is_refused(length: str) -> None:
    assert error(f"pcap <@U0ANN> {length} {REASON}") == "Capture length must be at least 1 minute."


@pytest.mark.parametrize("length", ["5x", "5mm", "5m30", "1h1h", "3.m", "12345678901m", "1e400"])
def test_an_unreadable_length_is_named_with_the_accepted_forms(length: str) -> None:
    assert error(f"pcap <@U0ANN> {length} {REASON}") == (
        f'I can\'t read "{length}" as a capture length. '
        "Use 90s, 5m, 1h30m, or a number of minutes like 2."
    )


def test_capture_length_refusals() -> None:
    assert error(f"pcap <@U0ANN> 5m 2m {REASON}") == "Give one capture length, e.g. 1h30m."
    assert error(f"diag <@U0ANN> 5m {REASON}") == (
        'A capture length only applies to pcap captures: drop "5m".'
    )
    assert error(f"speedtest <@U0ANN> 90s {REASON}").startswith("A capture length only applies")


# -- sizes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "mb"),
    [
        ("50MB", 50),
        ("50mb", 50),
        ("50", 50),
        ("1", 1),
        ("20M", 20),
        ("20 MB", 20),
        ("=20MB", 20),
        ("2.5MB", 3),
        ("0.01GB", 11),
    ],
)
def test_size_forms(size: str, mb: int) -> None:
    separator = "" if size.startswith("=") else " "
    request = capture(f"pcap <@U0ANN> --size{separator}{size} {REASON}")
    assert request.max_file_size_mb == mb


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ("-3MB", "--size must be between 1 and 50 MB."),
        ("0", "--size must be between 1 and 50 MB."),
        ("500KB", "--size is in megabytes: use at least 1MB, at most 50MB."),
        ("big", 'I can\'t read "big" as a size. Use megabytes, e.g. --size 50MB.'),
        ("5TB", 'I can\'t read "5TB" as a size. Use megabytes, e.g. --size 50MB.'),
    ],
)
def test_size_refusals_name_the_limit(size: str, message: str) -> None:
    assert error(f"pcap <@U0ANN> --size {size} {REASON}") == message


def test_size_limit_comes_from_the_limits() -> None:
    assert error(f"pcap <@U0ANN> --size 0 {REASON}", Limits(max_size_mb=10)) == (
        "--size must be between 1 and 10 MB."
    )
    request = capture(f"pcap <@U0ANN> --size 1GB {REASON}", Limits(max_size_mb=10))
    assert request.max_file_size_mb == 10
    assert request.clamped == (Clamped("max_file_size_mb", 1024, 10),)


@pytest.mark.parametrize(
    ("snaplen", "size"), [("1500", 1500), ("1", 1), ("160B", 160), ("=96", 96)]
)
def test_snaplen_forms(snaplen: str, size: int) -> None:
    separator = "" if snaplen.startswith("=") else " "
    assert (
        capture(f"pcap <@U0ANN> --snaplen{separator}{snaplen} {REASON}").packet_size_bytes == size
    )


@pytest.mark.parametrize(
    ("snaplen", "message"),
    [
        ("0", "--snaplen must be between 1 and 1500 bytes."),
        ("-1", "--snaplen must be between 1 and 1500 bytes."),
        ("1.5k", 'I can\'t read "1.5k" as --snaplen. Give bytes, e.g. --snaplen 1500.'),
    ],
)
def test_snaplen_refusals(snaplen: str, message: str) -> None:
    assert error(f"pcap <@U0ANN> --snaplen {snaplen} {REASON}") == message


@pytest.mark.parametrize("verb", ["diag <@U0ANN>", "speedtest <@U0ANN>", "capture <@U0ANN> diag"])
@pytest.mark.parametrize("option", ["--size", "--snaplen"])
def test_pcap_only_options_are_refused_elsewhere(verb: str, option: str) -> None:
    assert error(f"{verb} {option} 5 {REASON}") == f"{option} only applies to pcap captures."


# -- reasons -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "option",
    [
        '--reason "VPN keeps dropping"',
        "--reason 'VPN keeps dropping'",
        "--reason “VPN keeps dropping”",
        "--reason ‘VPN keeps dropping’",
        '--reason="VPN keeps dropping"',
        "--reason=“VPN keeps dropping”",
        "--reason='VPN keeps dropping'",
        "--reason VPN keeps dropping",
        "--reason=VPN keeps dropping",
        "—reason VPN keeps dropping",
        "–reason “VPN keeps dropping”",
        '--reason "  VPN   keeps\tdropping "',
        "--REASON VPN keeps dropping",
    ],
)
def test_every_quote_style_and_dash_gives_the_same_reason(option: str) -> None:
    assert capture(f"pcap <@U0ANN> 5m {option}").reason == "VPN keeps dropping"


def test_an_unquoted_reason_runs_to_the_next_option() -> None:
    request = capture("pcap <@U0ANN> --reason VPN drops at 5pm --device ann-mbp")
    assert (request.reason, request.device) == ("VPN drops at 5pm", "ann-mbp")
    request = capture("pcap <@U0ANN> —reason VPN drops —device ann-mbp")
    assert (request.reason, request.device) == ("VPN drops", "ann-mbp")


def test_a_quoted_reason_ends_at_its_closing_quote() -> None:
    request = capture('pcap --reason "VPN drops" <@U0ANN> 3m')
    assert (request.reason, request.target, request.time_limit_min) == ("VPN drops", ANN, 3)


def test_reasons_keep_apostrophes_dashes_and_slack_escapes_undone() -> None:
    assert capture("pcap <@U0ANN> --reason ‘it’s broken’").reason == "it’s broken"
    assert capture("pcap <@U0ANN> --reason it's broken — badly").reason == "it's broken — badly"
    assert capture('pcap <@U0ANN> --reason "Ann\'s VPN"').reason == "Ann's VPN"
    assert capture("pcap <@U0ANN> --reason latency &gt; 100ms &amp; loss").reason == (
        "latency > 100ms & loss"
    )


def test_a_reason_with_an_unclosed_quote_still_reads_as_meant() -> None:
    request = capture('pcap <@U0ANN> --reason "VPN drops --all')
    assert (request.reason, request.all_devices) == ("VPN drops", True)
    assert capture("pcap <@U0ANN> --reason=“VPN drops").reason == "VPN drops"


def test_reason_length_limit() -> None:
    assert capture(f"pcap <@U0ANN> --reason {'x' * 500}").reason == "x" * 500
    assert error(f"pcap <@U0ANN> --reason {'x' * 501}") == (
        "Keep the reason under 500 characters (yours has 501)."
    )


def test_reason_is_optional_when_the_limits_say_so() -> None:
    request = capture("pcap <@U0ANN> 5m", Limits(require_reason=False))
    assert request.reason is None


# -- incomplete: the modal asks for the rest -----------------------------------------------------


def test_a_missing_reason_asks_for_one_and_keeps_the_rest() -> None:
    raised = incomplete("pcap <@U0ANN> 3m --device ann-mbp")
    assert describe_parse_error(raised) == 'Add a reason: --reason "why you need this"'
    assert raised.missing == ("reason",)
    assert raised.partial == CaptureDraft(CommandType.PCAP, ANN, device="ann-mbp", time_limit_min=3)


@pytest.mark.parametrize(
    "text", ["pcap <@U0ANN> --reason", 'pcap <@U0ANN> --reason ""', "pcap <@U0ANN> --reason="]
)
def test_an_empty_reason_counts_as_missing(text: str) -> None:
    assert incomplete(text).missing == ("reason",)


def test_a_missing_target_asks_for_one() -> None:
    raised = incomplete("capture pcap 5m", Limits(require_reason=False))
    assert raised.missing == ("target",)
    assert describe_parse_error(raised) == (
        'Add a person (@mention) or a device, e.g. `/dex pcap @ann 5m --reason "VPN drops"`.'
    )
    assert raised.partial == CaptureDraft(CommandType.PCAP, None, time_limit_min=5)


def test_missing_target_and_reason_are_both_listed() -> None:
    raised = incomplete("capture pcap 5m")
    assert raised.missing == ("target", "reason")
    assert describe_parse_error(raised) == (
        'Add a person (@mention) or a device and a reason (--reason "why you need this"), '
        'e.g. `/dex pcap @ann 5m --reason "VPN drops"`.'
    )
    assert incomplete("pcap").missing == ("target", "reason")


def test_a_capture_without_a_type_asks_for_one() -> None:
    raised = incomplete(f"capture <@U0ANN> {REASON}")
    assert raised.missing == ("type",)
    assert describe_parse_error(raised) == (
        'Add what to run (pcap, diag or speedtest), e.g. `/dex pcap @ann 5m --reason "VPN drops"`.'
    )
    assert raised.partial.target == ANN and raised.partial.reason == "VPN drops"


def test_a_diag_without_a_target_keeps_its_options() -> None:
    raised = incomplete(f"diag --no-all-routes --all {REASON}")
    assert raised.missing == ("target",)
    assert raised.partial == CaptureDraft(
        CommandType.WARP_DIAG, None, all_devices=True, test_all_routes=False, reason="VPN drops"
    )
    assert "`/dex diag @ann" in describe_parse_error(raised)


def test_an_invalid_text_is_refused_even_when_something_is_missing() -> None:
    assert error("capture pcap 5x") == (
        'I can\'t read "5x" as a capture length. Use 90s, 5m, 1h30m, or a number of minutes like 2.'
    )
    assert error("pcap <@U0ANN> --size -99") == "--size must be between 1 and 50 MB."


# -- capture refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            f"pcap <@U0ANN> <@U0BOB> {REASON}",
            ONE_TARGET,
        ),
        (
            f"pcap <@U0ANN> ann-mbp {REASON}",
            ONE_TARGET,
        ),
        (
            f"pcap ann-mbp --all {REASON}",
            "--all means all of a person's devices: mention the person, not a device.",
        ),
        (
            f"pcap ann-mbp --device bob-mbp {REASON}",
            "You named a device already: --device picks one of a person's devices.",
        ),
        (f"pcap <@U0ANN> --device ann-mbp --all {REASON}", "Use --device or --all, not both."),
        (
            f"pcap <@U0ANN> --device <@U0BOB> {REASON}",
            "--device takes a device name or id; mention the person before it.",
        ),
        (f"pcap <@U0ANN> --device {REASON}", "--device needs a value, e.g. --device ann-mbp."),
        (f"pcap <@U0ANN> --device= {REASON}", "--device needs a value, e.g. --device ann-mbp."),
        (
            f'pcap <@U0ANN> {REASON} --device "ann',
            "There's an opening quote with no closing one: close it or drop it.",
        ),
        (f"pcap <@U0ANN> --size {REASON}", "--size needs a value, e.g. --size 50MB."),
        (f"pcap <@U0ANN> --all=yes {REASON}", "--all takes no value: just --all."),
        (f"pcap <@U0ANN> --all --all {REASON}", "Give --all only once."),
        (f"pcap <@U0ANN> {REASON} --reason again", "Give --reason only once."),
        (f"pcap <@U0ANN> -all {REASON}", "Options start with two dashes: --all."),
        (
            f"pcap <@U0ANN> --time 5m {REASON}",
            'I don\'t know the option "--time". Options: --all, --all-routes, --anyway, --device, '
            "--no-all-routes, --reason, --size, --snaplen.",
        ),
        (
            f"pcap <@U0ANN> -- {REASON}",
            'I don\'t know the option "--". Options: --all, --all-routes, --anyway, --device, '
            "--no-all-routes, --reason, --size, --snaplen.",
        ),
        (f"capture <@U0ANN> pcap diag {REASON}", "Pick one of pcap, diag or speedtest."),
        (f"pcap <@U0ANN> diag {REASON}", 'This is a pcap request already: drop "diag".'),
        (f"pcap <@U0ANN> tunnel {REASON}", "default, tunnel and both only apply to speed tests."),
        (
            f"pcap <@U0ANN> --all-routes {REASON}",
            "--all-routes and --no-all-routes only apply to diag.",
        ),
        (
            f"diag <@U0ANN> --all-routes --no-all-routes {REASON}",
            "Use --all-routes or --no-all-routes, not both.",
        ),
        (f"pcap <!here> {REASON}", "Mention one person with @, not @here."),
        (f"speedtest <#C1|ops> {REASON}", "Mention a person with @, not a channel."),
        (
            f"diag @ann {REASON}",
            'I couldn\'t find a Slack user in "@ann" — pick them from the @ menu so Slack '
            "turns it into a mention.",
        ),
    ],
)
def test_capture_refusals_say_what_to_type(text: str, message: str) -> None:
    assert error(text) == message


# -- input hygiene -------------------------------------------------------------------------------


def test_too_long_text_is_refused_before_anything_else() -> None:
    assert parse("quota " + " " * 1994) == QuotaAsk()
    assert error("quota " + " " * 1995) == "That's too long for a /dex command."
    assert error("<!channel>" * 600) == "That's too long for a /dex command."


def test_control_characters_and_invisible_spaces_are_ignored() -> None:
    assert capture("pcap\x00 <@U0ANN>\u200b 5m\r\n--reason\tVPN\x07 drops").reason == "VPN drops"
    assert parse("status\u00a0ann-mbp") == Status(DeviceTarget("ann-mbp"))


def test_echoed_input_is_short_and_cannot_ping_or_break_formatting() -> None:
    message = error("status @" + "`<!channel>`" * 20)
    assert len(message) < 200
    assert "<" not in message and ">" not in message and "`" not in message
    assert "…" in message
    assert error("`<!here>`" * 10) == f"I don't know `{'!here' * 7 + '!her…'}`. {COMMANDS}"


# -- properties ----------------------------------------------------------------------------------

TOKENS = st.sampled_from(
    [
        "pcap", "capture", "diag", "warp-diag", "speedtest", "speed-test", "status", "devices",
        "history", "quota", "help", "<@U0ANN>", "<@W1|x>", "<@u1>", "<!here>", "<!channel|c>",
        "<!subteam^S1|@g>", "<#C1|ops>", "<mailto:a@b.c|a@b.c>", "<http://x.local|x.local>",
        "@bob", "<", ">", "<@", "--", "—", "–", "—reason", "--reason", "--reason=", "--device",
        "--device=", "--all", "--all=1", "--all-routes", "--no-all-routes", "--status",
        "--status=", "--size", "--snaplen", "--help", "-all", '"', "“", "”", "'", "‘", "’",
        '""', "5m", "90s", "1h30m", "1h30", "2", "0", "-3", "5x", "1e9", "9" * 40, "min",
        "50MB", "1GB", "5KB", "1500", "both", "tunnel", "default", "failed", "PENDING-EXEC",
        "&lt;", "&amp;", "=", "\x00", "\n", "\u200b", "x" * 60,
    ]
)  # fmt: skip
WORDS = st.text(alphabet=st.characters(codec="utf-8"), max_size=8)


def _parse_or_refuse(text: str) -> None:
    try:
        parse(text)
    except ParseError as refused:
        message = describe_parse_error(refused)
        # Shown in Slack mrkdwn: short, no markup from the user, balanced code spans.
        assert 0 < len(message) <= 240, message
        assert "<" not in message and ">" not in message, message
        assert message.count("`") % 2 == 0, message


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_any_text_gives_a_command_or_a_parse_error(text: str) -> None:
    _parse_or_refuse(text)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(TOKENS, TOKENS, WORDS), max_size=14).map(" ".join))
def test_plausible_token_soup_gives_a_command_or_a_parse_error(text: str) -> None:
    _parse_or_refuse(text)


@settings(max_examples=50)
@given(
    st.builds(
        lambda head, fill, size: (head + fill * size)[:size],
        st.text(max_size=40),
        st.sampled_from(["x", " ", "\x00", "<!here>", "—reason ", "“"]),
        st.integers(2001, 5500),
    )
)
def test_any_text_over_the_limit_is_refused_as_too_long(text: str) -> None:
    assert error(text) == "That's too long for a /dex command."


ID_CHARS = string.ascii_uppercase + string.digits
USER_IDS = st.builds(str.__add__, st.sampled_from("UW"), st.text(ID_CHARS, min_size=2, max_size=10))
DEVICE_NAMES = st.builds(
    str.__add__,
    st.sampled_from(string.ascii_letters),
    st.text(string.ascii_letters + string.digits + "_.-", max_size=20),
).filter(
    lambda name: name.lower() not in {"pcap", "diag", "warp-diag", "both", "tunnel", "default"}
)
REASONS = st.text(
    alphabet=string.ascii_letters + string.digits + " ,.!?'", min_size=1, max_size=80
).filter(lambda r: r.strip() and "'" not in r)
QUOTES = st.sampled_from([('"', '"'), ("'", "'"), ("“", "”"), ("‘", "’")])


@settings(max_examples=200)
@given(
    as_capture=st.booleans(),
    user=USER_IDS,
    seconds=st.none() | st.integers(1, 3 * 3600),
    size=st.none() | st.integers(1, 50),
    snaplen=st.none() | st.integers(1, 1500),
    device=st.none() | DEVICE_NAMES,
    reason=REASONS,
    quotes=QUOTES,
    dash=st.sampled_from(["--", "—"]),
    data=st.data(),
)
def test_generated_pcap_requests_round_trip(
    as_capture: bool,
    user: str,
    seconds: int | None,
    size: int | None,
    snaplen: int | None,
    device: str | None,
    reason: str,
    quotes: tuple[str, str],
    dash: str,
    data: st.DataObject,
) -> None:
    options = [f"{dash}reason {quotes[0]}{reason}{quotes[1]}"]
    if size is not None:
        options.append(
            data.draw(st.sampled_from([f"--size {size}MB", f"--size={size}mb", f"--size {size}"]))
        )
    if snaplen is not None:
        options.append(f"--snaplen {snaplen}")
    if device is not None:
        options.append(data.draw(st.sampled_from([f"--device {device}", f"--device={device}"])))
    if seconds is not None:
        options.append(f"{seconds}s")
    options = data.draw(st.permutations(options))
    head = f"capture <@{user}> pcap" if as_capture else f"pcap <@{user}>"
    request = capture(" ".join([head, *options]))
    minutes = 5 if seconds is None else min(math.ceil(seconds / 60), 10)
    assert request == CaptureAsk(
        CommandType.PCAP,
        UserTarget(user),
        device=device,
        time_limit_min=minutes,
        max_file_size_mb=size,
        packet_size_bytes=snaplen,
        reason=" ".join(reason.split()),
        clamped=request.clamped,
    )
    assert bool(request.clamped) == (seconds is not None and math.ceil(seconds / 60) > 10)


@settings(max_examples=300)
@given(st.integers(1, 100_000), st.integers(1, 60))
def test_seconds_round_up_to_minutes_then_clamp(seconds: int, maximum: int) -> None:
    limits = Limits(pcap_max_minutes=maximum)
    request = capture(f"pcap <@U1> {seconds}s --reason x", limits)
    assert request.time_limit_min == min(math.ceil(seconds / 60), maximum)
    assert capture(f"pcap <@U1> {seconds}s --reason x").time_limit_min == min(
        math.ceil(seconds / 60), 10
    )


def test_limits_come_from_the_settings() -> None:
    from bot.config import Settings

    settings = Settings(
        _env_file=None,
        dex_pcap_max_minutes=30,
        dex_pcap_default_minutes=2,
        dex_pcap_max_size_mb=100,
        dex_pcap_max_snaplen=9000,
        dex_require_reason=False,
    )
    assert Limits.from_settings(settings) == Limits(30, 2, 100, 9000, require_reason=False)


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("succeeded", CommandStatus.SUCCESS),
        ("failed", CommandStatus.FAILED),
        ("Running", CommandStatus.PENDING_UPLOAD),
        ("waiting", CommandStatus.PENDING_EXEC),
        ("success", CommandStatus.SUCCESS),
        ("PENDING-EXEC", CommandStatus.PENDING_EXEC),
        ("pending_upload", CommandStatus.PENDING_UPLOAD),
    ],
)
def test_history_takes_the_words_it_shows_and_cloudflares(word: str, status: CommandStatus) -> None:
    assert parse(f"history <@U0ANN> --status {word}") == History(ANN, status)


HIDDEN_REASON = "VPN\u202e sp\u2066oo\u2069fed\u200b\u200c\u200d\u2060\ufeff \u202adrops\u202c"


def test_a_reason_loses_bidi_controls_and_zero_width_characters() -> None:
    assert capture(f'pcap <@U0ANN> --reason "{HIDDEN_REASON}"').reason == "VPN spoofed drops"
    assert capture(f"pcap <@U0ANN> --reason {HIDDEN_REASON}").reason == "VPN spoofed drops"
