"""The request id: taken from ``X-Request-Id`` when it looks sane, else made here.

It lives in a context variable for the request's task, so that log lines and the database
(``application_name`` of edit transactions) can carry it without passing it around.
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar

# Printable, no spaces or quotes: safe in a header, a log line and an application_name.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+=@-]{5,127}")
APPLICATION_NAME_MAX = 63  # PostgreSQL's NAMEDATALEN - 1

current_request_id: ContextVar[str | None] = ContextVar("geoportal_request_id", default=None)


def new_request_id() -> str:
    """A fresh random id (96 bits, hexadecimal)."""
    return os.urandom(12).hex()


def accept_request_id(header: bytes | None) -> str:
    """The client's or proxy's id when it looks sane, else a new one."""
    if header:
        try:
            text = header.decode("ascii")
        except UnicodeDecodeError:
            return new_request_id()
        if SANE_REQUEST_ID.fullmatch(text):
            return text
    return new_request_id()


def application_name() -> str:
    """``geoportal rid=<id>`` for the database's activity view and log (``%a``)."""
    request_id = current_request_id.get()
    if request_id is None:
        return "geoportal"
    return f"geoportal rid={request_id}"[:APPLICATION_NAME_MAX]
