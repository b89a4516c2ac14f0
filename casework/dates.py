"""Dates as the pages show them, in the GOV.UK style and in English whatever
the server's locale.

The pages wrote ``strftime("%-d %B %Y")``, which names the month in the
locale's language, is not understood everywhere (``%-d`` is glibc's), and
cost a person page a twentieth of its time (a date on each item of its
record)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

# The partnership works in England: "today", and the day a moment fell on,
# are England's, not UTC's (from midnight to 01:00 in summer time UTC's date
# is still yesterday's, so today's date was refused as in the future).
LOCAL_ZONE = ZoneInfo("Europe/London")

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")


def long_date(value: date) -> str:
    """``26 November 2026`` (a datetime's date as it stands)."""
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


def short_date(value: date) -> str:
    """``26 Nov 2026``, for tables."""
    return f"{value.day} {MONTHS[value.month - 1][:3]} {value.year}"


def date_time(value: datetime) -> str:
    """``26 November 2026 at 09:05`` (the time as it stands: the caller says
    which zone)."""
    return f"{long_date(value)} at {value.hour:02d}:{value.minute:02d}"


def local_date_time(moment: datetime) -> str:
    """``1 July 2026 at 00:30``: when ``moment`` was in England (a naive
    moment is UTC). A moment shown in UTC beside days that are England's
    contradicted them around midnight: "Randomised 30 June … at 23:30 UTC",
    then a move dated 30 June refused as before randomisation (1 July)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return date_time(moment.astimezone(LOCAL_ZONE))


def local_time(moment: datetime) -> str:
    """``00:30:05``: the time of day ``moment`` was in England."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(LOCAL_ZONE).strftime("%H:%M:%S")


def local_date(moment: datetime) -> date:
    """The day ``moment`` fell on in England (a naive moment is UTC, as
    SQLite gives them back)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(LOCAL_ZONE).date()
