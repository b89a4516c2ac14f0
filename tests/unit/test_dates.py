"""Dates as the pages show them (casework.dates): what strftime gave in
English, for every day of several years, and the same in any locale."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from casework.dates import date_time, local_date, long_date, short_date


def test_every_day_reads_as_strftime_in_english():
    # Python starts with the C locale for dates, whose names are English
    day = date(2023, 1, 1)
    while day < date(2029, 1, 1):
        assert long_date(day) == day.strftime("%-d %B %Y")
        assert short_date(day) == day.strftime("%-d %b %Y")
        day += timedelta(days=1)


def test_explicit_dates():
    assert long_date(date(2026, 11, 26)) == "26 November 2026"
    assert long_date(date(2009, 3, 4)) == "4 March 2009"
    assert short_date(date(2026, 9, 1)) == "1 Sep 2026"
    assert long_date(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == "31 December 2026"
    assert date_time(datetime(2026, 11, 26, 9, 5, tzinfo=UTC)) == "26 November 2026 at 09:05"
    assert date_time(datetime(2026, 1, 2, 23, 0)) == "2 January 2026 at 23:00"
    moment = datetime(2026, 7, 4, 14, 30, 59)
    assert date_time(moment) == moment.strftime("%-d %B %Y at %H:%M")


def test_the_local_date_is_englands():
    # summer time: 23:30 UTC is 00:30 the next day in England
    assert local_date(datetime(2026, 7, 14, 23, 30, tzinfo=UTC)) == date(2026, 7, 15)
    # winter: England is on UTC
    assert local_date(datetime(2026, 12, 14, 23, 30, tzinfo=UTC)) == date(2026, 12, 14)
    # a naive moment (as SQLite gives it back) is UTC
    assert local_date(datetime(2026, 7, 14, 23, 30)) == date(2026, 7, 15)


def test_a_moment_is_shown_at_englands_time():
    from casework.dates import local_date_time, local_time

    summer = datetime(2026, 6, 30, 23, 30, 5, tzinfo=UTC)
    assert local_date_time(summer) == "1 July 2026 at 00:30"
    assert local_date_time(summer.replace(tzinfo=None)) == "1 July 2026 at 00:30"  # SQLite's
    assert local_time(summer) == "00:30:05"
    winter = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    assert local_date_time(winter) == "31 December 2026 at 23:30"
