"""The asyncpg connection pool of the service, opened in the app's lifespan."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import orjson

from geoportal.db.urls import libpq_url
from geoportal.settings import Settings


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


async def create_pool(settings: Settings) -> asyncpg.Pool:
    """A bounded pool with a statement timeout on every connection."""
    server_settings: dict[str, Any] = {
        "statement_timeout": str(settings.statement_timeout_ms),
        "application_name": "geoportal",
        "jit": "off",
        # Many small concurrent queries on few cores: parallel workers only add overhead.
        "max_parallel_workers_per_gather": "0",
    }
    pool = await asyncpg.create_pool(
        libpq_url(settings.resolved_database_url()),
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        server_settings=server_settings,
        init=_init_connection,
        reset=_reset_connection,
        command_timeout=settings.statement_timeout_ms / 1000 + 5,
    )
    assert pool is not None
    return pool
