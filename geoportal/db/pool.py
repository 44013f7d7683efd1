"""The asyncpg connection pool of the service, opened in the app's lifespan."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from geoportal.db.urls import libpq_url
from geoportal.settings import Settings


async def _init_connection(conn: asyncpg.Connection) -> None:
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(
            type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def create_pool(settings: Settings) -> asyncpg.Pool:
    """A bounded pool with a statement timeout on every connection."""
    server_settings: dict[str, Any] = {
        "statement_timeout": str(settings.statement_timeout_ms),
        "application_name": "geoportal",
        "jit": "off",
    }
    pool = await asyncpg.create_pool(
        libpq_url(settings.resolved_database_url()),
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        server_settings=server_settings,
        init=_init_connection,
        command_timeout=settings.statement_timeout_ms / 1000 + 5,
    )
    assert pool is not None
    return pool
