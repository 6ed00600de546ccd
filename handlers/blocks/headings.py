"""Headings of the read-only answers, from what the query was about."""

from __future__ import annotations

from bot.services.queries import DevicesAnswer, HistoryAnswer


def status_title(subject: str) -> str:
    """ "WARP status for Ann" """
    return f"WARP status for {subject}"


def devices_heading(found: DevicesAnswer) -> str:
    """Whose devices, or which search, or the whole fleet."""
    if found.email:
        return f"Devices of {found.email}"
    if found.search:
        return f"Devices matching “{found.search}”"
    return "Devices seen in the last hour"


def history_heading(hist: HistoryAnswer) -> str:
    """Whose or which device's commands, or the account's."""
    if hist.email:
        return f"Recent commands for {hist.email}"
    if hist.device:
        return f"Recent commands on {hist.device}"
    return "Recent commands"
