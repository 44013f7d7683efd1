"""The service's log lines: plain text for a terminal, or one JSON object per line.

Every record made while a request runs carries its request id, whichever logger made it.
Configured once per process by the application factory; handlers of other libraries and
the root logger are left alone.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Literal

import orjson

from geoportal.core.requestid import current_request_id

LogFormat = Literal["plain", "json"]
_HANDLER_MARK = "_geoportal_handler"


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (or None) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, HTTP fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        http = getattr(record, "http", None)
        if isinstance(http, dict):
            line.update(http)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class PlainFormatter(logging.Formatter):
    """``time level logger message [rid=…]``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = getattr(record, "request_id", None)
        return f"{text} rid={request_id}" if request_id else text


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass


def configure_logging(log_format: LogFormat, level: int = logging.INFO) -> None:
    """One handler on the ``geoportal`` logger (stderr), replaced if called again."""
    logger = logging.getLogger("geoportal")
    for handler in list(logger.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            logger.removeHandler(handler)
    handler = StderrHandler()
    setattr(handler, _HANDLER_MARK, True)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else PlainFormatter())
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > level:
        logger.setLevel(level)
