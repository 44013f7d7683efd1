"""Logging that stays readable during an outage: one line per kind of event per interval."""

from __future__ import annotations

import logging
import time
from typing import Any


class RateLimitedLog:
    """Logs the first event of each key, then at most one per ``interval_s``, with a count."""

    def __init__(self, logger: logging.Logger, interval_s: float) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def _due(self, key: str) -> int | None:
        """The number of events suppressed since the last line, or None to stay quiet."""
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return None
        self._last[key] = now
        return self._suppressed.pop(key, 0)

    def warning(self, key: str, message: str, *args: Any) -> None:
        """A warning line, rate-limited by ``key``."""
        suppressed = self._due(key)
        if suppressed is not None:
            suffix = f" (+{suppressed} similar since the last line)" if suppressed else ""
            self.logger.warning(message + suffix, *args)

    def exception(self, key: str, message: str, *args: Any, exc: BaseException) -> None:
        """An error line with its traceback, rate-limited by ``key``."""
        suppressed = self._due(key)
        if suppressed is not None:
            suffix = f" (+{suppressed} similar since the last line)" if suppressed else ""
            self.logger.error(message + suffix, *args, exc_info=exc)
