"""The operators' log: what the app writes to standard error, and the
filter that keeps query strings out of it and out of gunicorn's error log.

An address's query can hold a name searched for or a note search's words
(``/sign-in?next=/referrals?q%3DEllis%2BOkafor``); the operators' logs are
read and kept by people who may not see them. gunicorn's access log leaves
the query out by its format (gunicorn.conf.py), but its error log wrote the
address whole ("Error handling request /sign-in?next=...", found by review).
"""

from __future__ import annotations

import logging
import re
import sys
from datetime import UTC, datetime

from flask import g, has_request_context

# The app's own records, and the sign-in throttle's ("Rate limit storage
# unreachable": Redis is down and each worker throttles on its own).
APP_LOGGERS = ("casework", "flask-limiter")
FORMAT = "%(asctime)s %(levelname)s request=%(request_id)s %(name)s: %(message)s"

# A "?" straight after a character of a path ("/referrals?q=", "/?next="),
# and what follows it up to a space or a quote; not an SQL statement's
# placeholders ("= ?", "(?, ?)"), which follow a space or a bracket.
_QUERY = re.compile(r"(?<=[\w/.~%-])\?[^\s'\"]*")


def without_queries(text: str) -> str:
    """``text`` with the query taken off every address in it."""
    return _QUERY.sub("", text)


class WithoutQueries(logging.Filter):
    """Takes the queries out of a record: its message, its exception's
    text and its stack. The record is changed, not copied, so every handler
    after this one writes it without them too."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = without_queries(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = without_queries(record.exc_text)
        if record.stack_info:
            record.stack_info = without_queries(record.stack_info)
        return True


def strip_queries(logger: logging.Logger) -> None:
    """Keep queries out of everything ``logger`` writes (once, however often asked)."""
    if not any(isinstance(f, WithoutQueries) for f in logger.filters):
        logger.addFilter(WithoutQueries())


class _RequestId(logging.Filter):
    """The id of the request a record was written in (``X-Request-Id`` on
    its response; ``-`` outside a request): a user reporting an error page
    can be matched with the record of it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


class _Formatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """The moment in UTC, to the millisecond (2026-11-21T12:00:00.123Z):
        the 500 page asks users to report the time it happened, and servers
        in several places or clock zones agree on it."""
        moment = datetime.fromtimestamp(record.created, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _StandardError(logging.StreamHandler):
    """To standard error as it is when a record is written (a test's
    capture, gunicorn's worker's), not as it was when the handler was made."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr


def configure_logging() -> None:
    """Records of the app's loggers go to standard error, each once, with
    the time, level and request id, and without queries. Nothing set this
    up before: an unhandled error went to Python's last resort, the message
    alone (found by review). The same under gunicorn and ``flask run``,
    neither of which gives the root logger a handler; the records are not
    passed on to the root logger, whose handlers (Alembic's, in the process
    that migrates) would write them a second time.

    Where the operators have configured logging (the root logger has a
    handler when the app is made: gunicorn's ``--log-config``, a
    ``dictConfig``), the records go there, as they did before, and nothing
    is added (a review found them kept from it). A logger already given a
    handler (an earlier app in this process, or the operators' own) is left
    as it is; a library's NullHandler (Flask-Limiter's) is no one's
    configuration."""
    if logging.getLogger().handlers:
        return
    for name in APP_LOGGERS:
        logger = logging.getLogger(name)
        if any(not isinstance(handler, logging.NullHandler) for handler in logger.handlers):
            continue
        handler = _StandardError()
        handler.addFilter(_RequestId())
        handler.addFilter(WithoutQueries())
        handler.setFormatter(_Formatter(FORMAT))
        logger.addHandler(handler)
        logger.propagate = False
