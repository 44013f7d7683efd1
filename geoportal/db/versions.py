"""Data versions: a counter per table, bumped by triggers, for ETags, caches and the note."""

from __future__ import annotations

import hashlib

import asyncpg

DATA_VERSION_SQL = """
SELECT coalesce(max(updated_at), 'epoch'::timestamptz) AS updated_at,
       coalesce(string_agg(table_name || ':' || version, ',' ORDER BY table_name), '') AS tag
FROM layer_versions
"""


async def layer_version(conn: asyncpg.Connection | asyncpg.Pool, table: str) -> int:
    """The change counter of one table (0 when unknown)."""
    value = await conn.fetchval(
        "SELECT version FROM layer_versions WHERE table_name = $1", table
    )
    return int(value or 0)


async def data_version(conn: asyncpg.Connection | asyncpg.Pool) -> str:
    """A short tag that changes whenever any layer's data changes."""
    row = await conn.fetchrow(DATA_VERSION_SQL)
    assert row is not None
    digest = hashlib.sha256(row["tag"].encode()).hexdigest()[:12]
    return f"{row['updated_at']:%Y%m%d%H%M%S}-{digest}"
