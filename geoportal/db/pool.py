"""The asyncpg connection pool of the service, opened in the app's lifespan.

The pool object exists even while the database is down: its connections are opened on
demand through a :class:`ConnectGate`, so the service recovers by itself when the database
comes back, without a restart. While the database is down, one probe at a time (after a
short back-off) tries to connect; every other request fails at once with
:class:`DatabaseUnavailable`, which the error mapping turns into a 503 with Retry-After.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import asyncpg
import orjson

from geoportal.db.urls import libpq_url, resolve_database_url, resolve_write_database_url
from geoportal.errors import DatabaseUnavailable
from geoportal.settings import Settings

log = logging.getLogger("geoportal")
BACKOFF_MIN_S = 0.25
CLOSE_TIMEOUT_S = 10.0


class ConnectGate:
    """Opens the pool's connections, and spares the database a flood while it is down.

    While connections succeed, they are opened concurrently as the pool asks. After a
    failure, the gate is closed for a back-off (doubling from ``BACKOFF_MIN_S`` up to
    ``backoff_max_s``); then a single probe may try, and its success opens the gate again.
    The URL is resolved at each attempt, so a private cluster started later is found too.
    """

    def __init__(self, url: Callable[[], str], backoff_max_s: float) -> None:
        self._url = url
        self._backoff_max_s = backoff_max_s
        self._backoff_s = BACKOFF_MIN_S
        self._retry_at = 0.0
        self._failing = False
        self._probe = asyncio.Lock()

    @property
    def failing(self) -> bool:
        """Whether the last connection attempt failed."""
        return self._failing

    @property
    def may_probe(self) -> bool:
        """Whether a connection may be tried now (answering, or the back-off is over)."""
        return not self._failing or (time.monotonic() >= self._retry_at
                                     and not self._probe.locked())

    def _failed(self) -> None:
        if not self._failing:
            log.warning("database unreachable: connections paused, retried every %.2g s at most",
                        self._backoff_max_s)
        else:
            self._backoff_s = min(self._backoff_s * 2, self._backoff_max_s)
        self._failing = True
        self._retry_at = time.monotonic() + self._backoff_s

    def _succeeded(self) -> None:
        if self._failing:
            log.warning("database reachable again")
        self._failing = False
        self._backoff_s = BACKOFF_MIN_S

    async def _attempt(self, kwargs: dict[str, Any]) -> asyncpg.Connection:
        try:
            url = libpq_url(self._url())
        except Exception as exc:  # e.g. no private cluster set up yet
            self._failed()
            raise DatabaseUnavailable("no database configured") from exc
        try:
            conn: asyncpg.Connection = await asyncpg.connect(url, **kwargs)
        except (OSError, TimeoutError) as exc:  # refused, unreachable, or no answer in time
            self._failed()
            raise DatabaseUnavailable(f"cannot connect: {type(exc).__name__}: {exc}") from exc
        except Exception:
            self._failed()
            raise
        self._succeeded()
        return conn

    async def connect(self, *_dsn: Any, **kwargs: Any) -> asyncpg.Connection:
        """Open one connection (the pool's ``connect`` hook)."""
        if not self._failing:
            return await self._attempt(kwargs)
        if time.monotonic() < self._retry_at or self._probe.locked():
            raise DatabaseUnavailable("database unreachable; retrying shortly")
        async with self._probe:
            return await self._attempt(kwargs)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name, encoder=json.dumps, decoder=orjson.loads, schema="pg_catalog"
        )


async def _reset_connection(conn: asyncpg.Connection) -> None:
    """Return a connection to the pool without asyncpg's full reset round trip.

    The service never LISTENs, takes advisory locks or changes session settings on pooled
    connections (session settings are fixed in ``server_settings``), so only an unfinished
    transaction needs undoing; that is known locally, with no query.
    """
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


def server_settings(settings: Settings) -> dict[str, str]:
    """Session settings of every pooled connection."""
    return {
        "statement_timeout": str(settings.statement_timeout_ms),
        "application_name": "geoportal",
        "jit": "off",
        # Many small concurrent queries on few cores: parallel workers only add overhead.
        "max_parallel_workers_per_gather": "0",
        # The private cluster runs with synchronous_commit = off for bulk loads; whatever the
        # service commits must survive a crash of the server.
        "synchronous_commit": "on",
    }


async def create_pool(settings: Settings, write: bool = False,
                      gate: ConnectGate | None = None) -> asyncpg.Pool:
    """A bounded pool that opens no connection yet: it cannot fail when the database is down.

    ``write``: the pool of edits, with the writer's role (``settings.write_database_url``).
    ``gate``: the connect gate of another server for the read role (a replica), kept by the
    caller to know whether that server is failing.
    Connections time out after ``db_connect_timeout_s`` when connecting and after the
    statement timeout plus a margin on each command (the server's own timeout comes first).
    """
    if gate is None:
        resolve = resolve_write_database_url if write else resolve_database_url
        gate = ConnectGate(partial(resolve, settings), backoff_max_s=settings.db_retry_max_s)
    pool = await asyncpg.create_pool(
        connect=gate.connect,
        init_size=0,
        min_size=0,  # no floor kept by asyncpg: its maintenance task retries and logs forever
        max_size=settings.write_pool_max_size if write else settings.pool_max_size,
        server_settings=server_settings(settings),
        init=_init_connection,
        reset=_reset_connection,
        timeout=settings.db_connect_timeout_s,
        command_timeout=settings.statement_timeout_ms / 1000 + 5,
    )
    assert pool is not None
    return pool


async def warm_up(pool: asyncpg.Pool, size: int) -> bool:
    """Open ``size`` connections now if the database answers; whether it did."""
    held: list[asyncpg.pool.PoolConnectionProxy] = []
    try:
        for _ in range(size):
            held.append(await pool.acquire())
    except Exception as exc:  # the database is down: the service starts anyway, says 503
        log.warning("database unreachable at start-up (%s): connections will be opened "
                    "when it answers", type(exc).__name__)
        return False
    finally:
        for conn in held:
            await pool.release(conn)
    return True


async def close_pool(pool: asyncpg.Pool) -> None:
    """Close the pool, waiting a little for connections in use, then cutting them."""
    try:
        await asyncio.wait_for(pool.close(), CLOSE_TIMEOUT_S)
    except TimeoutError:
        pool.terminate()
