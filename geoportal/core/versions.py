"""Data versions: what the data was at a moment, for ETags, caches, answers and notes.

Two kinds, each read in one place:

* the **data version** of the whole database — the latest change-set (``changesets``, made
  by the history triggers of migration 0004) at a moment, as ``YYYYMMDDHHMMSS-N``, or
  ``baseline`` before any; the same data and date always give the same version, so a note
  reproduced with ``at=`` carries the version it was issued with;
* the **layer version** — a counter per table bumped by a statement trigger, for the ETags
  and tile caches of one layer: ``layer_version_sql`` is the one SQL fragment that reads it,
  ``LAYER_VERSIONS_SQL`` the one statement that reads them all.
"""

from __future__ import annotations

import datetime as dt

import asyncpg

BASELINE = "baseline"


def data_version_sql(at: str | None = None) -> str:
    """A scalar subquery: the data version now, or at the timestamptz expression ``at``."""
    moment = f"WHERE created_at <= {at} " if at else ""
    label = "to_char(created_at AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISS') || '-' || id"
    order = "ORDER BY created_at DESC, id DESC LIMIT 1"
    latest = f"SELECT {label} FROM changesets {moment}{order}"  # noqa: S608
    return f"coalesce(({latest}), '{BASELINE}')"


DATA_VERSION_SQL = f"SELECT {data_version_sql()}"
DATA_VERSION_AT_SQL = f"SELECT {data_version_sql('$1::timestamptz')}"


def layer_version_sql(table_sql: str) -> str:
    """A scalar subquery: the change counter of the table named by the SQL expression
    ``table_sql`` (a quoted literal from the registry or a bound parameter); NULL if unknown."""
    return f"(SELECT version FROM layer_versions WHERE table_name = {table_sql})"  # noqa: S608


LAYER_VERSION_SQL = "SELECT version, updated_at FROM layer_versions WHERE table_name = $1"
LAYER_VERSIONS_SQL = "SELECT table_name, version, updated_at FROM layer_versions"
"""Every table's counter and last change (a statement, or a subquery to join)."""


async def layer_version(conn: asyncpg.Connection | asyncpg.Pool, table: str) -> int:
    """The change counter of one table (0 when unknown)."""
    return (await layer_version_row(conn, table))[0]


async def layer_version_row(conn: asyncpg.Connection | asyncpg.Pool, table: str
                            ) -> tuple[int, dt.datetime | None]:
    """The change counter of one table and when it last moved ((0, None) when unknown)."""
    row = await conn.fetchrow(LAYER_VERSION_SQL, table)
    return (int(row["version"]), row["updated_at"]) if row else (0, None)


async def data_version(conn: asyncpg.Connection | asyncpg.Pool,
                       at: dt.datetime | None = None) -> str:
    """The data version now, or as it stood at ``at``."""
    if at is None:
        return str(await conn.fetchval(DATA_VERSION_SQL))
    return str(await conn.fetchval(DATA_VERSION_AT_SQL, at))
