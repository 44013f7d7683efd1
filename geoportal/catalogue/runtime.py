"""How pygeoapi's plugins reach the service: its pool, loop, registry and raster sampler.

pygeoapi builds its providers and processes itself, from the configuration, and calls them
in a worker thread. When pygeoapi is mounted in the service, the request handler puts the
service's :class:`Runtime` in a context variable that the thread inherits, and the plugins
run their (async) queries on the service's pool. Run on their own (``pygeoapi serve`` with
the same configuration), they open a connection of their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar

import asyncpg

from geoportal.core.i18n import Language
from geoportal.db.urls import libpq_url
from geoportal.errors import is_connection_failure
from geoportal.registry import LayerRegistry
from geoportal.rules.rasters import RasterSampler

T = TypeVar("T")
Database: TypeAlias = asyncpg.Pool | asyncpg.Connection
QUERY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Runtime:
    """The running service, as the plugins see it."""

    loop: asyncio.AbstractEventLoop
    state: Any
    registry: LayerRegistry
    rasters: RasterSampler
    callbacks: Any = None  # geoportal.catalogue.jobs.Callbacks: where a subscriber may be told
    # Database outages seen by this request's plugins: pygeoapi would make them a 500 or a
    # 400, the mount answers 503 with Retry-After instead.
    outages: list[BaseException] = field(default_factory=list)

    @property
    def pool(self) -> asyncpg.Pool | None:
        """The service's pool (None while the database is unreachable)."""
        pool: asyncpg.Pool | None = getattr(self.state, "pool", None)
        return pool


RUNTIME: ContextVar[Runtime | None] = ContextVar("geoportal_pygeoapi_runtime", default=None)
LANGUAGE: ContextVar[Language] = ContextVar("geoportal_pygeoapi_language", default="fr")


def current() -> Runtime | None:
    """The service the plugin runs in, if any."""
    return RUNTIME.get()


def language() -> Language:
    """The language the client asked its messages in (French unless it prefers English)."""
    return LANGUAGE.get()


def run(query: Callable[[Database], Awaitable[T]], database_url: str) -> T:
    """Run an async query from pygeoapi's worker thread: on the service's pool if mounted."""
    runtime = RUNTIME.get()
    if runtime is not None and runtime.pool is not None:
        future = asyncio.run_coroutine_threadsafe(_call(query, runtime.pool), runtime.loop)
        try:
            return future.result(timeout=QUERY_TIMEOUT_S)
        except Exception as exc:
            if is_connection_failure(exc):
                runtime.outages.append(exc)
            raise

    async def alone() -> T:
        conn = await asyncpg.connect(libpq_url(database_url))
        try:
            return await query(conn)
        finally:
            await conn.close()

    return asyncio.run(alone())


async def _call(query: Callable[[Database], Awaitable[T]], db: Database) -> T:
    return await query(db)
