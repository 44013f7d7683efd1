"""Every worker learns at once that a layer changed: one ``LISTEN`` connection per worker.

The statement trigger that bumps ``layer_versions`` also sends ``NOTIFY geoportal_changes``
with the table's name (migration 0004), delivered when the change commits. Caches that would
otherwise re-read versions on a timer (the tile cache) subscribe here and drop what they hold.
After the connection was lost, subscribers are told ``*`` (anything may have changed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

from geoportal.core.logs import RateLimitedLog
from geoportal.db.urls import libpq_url

CHANNEL = "geoportal_changes"
EVERYTHING = "*"
APPLICATION_NAME = "geoportal-changes"
PING_S = 15.0  # a dead server is noticed within this time even without a TCP reset

log = logging.getLogger("geoportal")
outage_log = RateLimitedLog(log, interval_s=30.0)


class ChangeFeed:
    """Calls its subscribers with a table name each time a change to it commits."""

    def __init__(self, url: Callable[[], str], retry_max_s: float) -> None:
        self._url = url
        self._retry_max_s = retry_max_s
        self._subscribers: list[Callable[[str], None]] = []
        self._task: asyncio.Task[None] | None = None
        self.connected: asyncio.Event | None = None  # made in start (it needs the loop)

    def subscribe(self, callback: Callable[[str], None]) -> None:
        """``callback(table)`` on every committed change (``*``: anything may have)."""
        self._subscribers.append(callback)

    def _tell(self, table: str) -> None:
        for callback in self._subscribers:
            callback(table)

    def start(self) -> None:
        """Listen in the background until :meth:`stop`."""
        self.connected = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        backoff = 0.25
        while True:
            try:
                await self._listen()
                backoff = 0.25
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: try again later
                outage_log.warning("change feed: no connection (%s); retrying",
                                   type(exc).__name__)
            if self.connected is not None:
                self.connected.clear()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._retry_max_s)

    async def _listen(self) -> None:
        conn: asyncpg.Connection = await asyncpg.connect(
            libpq_url(self._url()), timeout=5,
            server_settings={"application_name": APPLICATION_NAME})
        try:
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(CHANNEL, lambda _c, _pid, _ch, table: self._tell(table))
            self._tell(EVERYTHING)  # changes made while nobody listened
            if self.connected is not None:
                self.connected.set()
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), PING_S)
                if not lost.is_set():
                    await conn.execute("SELECT 1", timeout=5)
        finally:
            conn.terminate()
