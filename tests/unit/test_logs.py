"""Queries kept out of the operators' logs (casework.logs)."""

from __future__ import annotations

import logging

import pytest

from casework.logs import WithoutQueries, without_queries


@pytest.mark.parametrize(("text", "expected"), [
    ("Error handling request /sign-in?next=/referrals?q%3DEllis%2BOkafor",
     "Error handling request /sign-in"),
    ("Invalid HTTP request line: 'GET /notes/search?words=knife+Ellis HTTP/1.1'",
     "Invalid HTTP request line: 'GET /notes/search HTTP/1.1'"),
    ('"GET /?next=%2Freferrals%3Fq%3DOkafor HTTP/1.1"', '"GET / HTTP/1.1"'),
    ("from https://casework.example/referrals?q=Ellis&page=2 on",
     "from https://casework.example/referrals on"),
    # not an address's: SQL's placeholders
    ("WHERE id = ? AND name IN (?, ?)", "WHERE id = ? AND name IN (?, ?)"),
    ("Unhandled error on GET /people/12", "Unhandled error on GET /people/12"),
])
def test_queries_are_taken_off_addresses(text, expected):
    assert without_queries(text) == expected


def test_a_records_message_arguments_and_exception_lose_their_queries():
    try:
        raise ValueError("bad redirect to /referrals?q=Ellis")
    except ValueError:
        import sys

        record = logging.LogRecord("gunicorn.error", logging.ERROR, __file__, 1,
                                   "Error handling request %s", ("/x?q=Okafor",),
                                   sys.exc_info())
    assert WithoutQueries().filter(record)
    text = logging.Formatter().format(record)
    assert text.startswith("Error handling request /x\n")
    assert "ValueError: bad redirect to /referrals" in text
    assert "Ellis" not in text and "Okafor" not in text
