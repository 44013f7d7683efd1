"""Edits made as the database owner in SQL, as an editor's session would make them: one
transaction that names its actor (``geoportal.actor``), so the history triggers record who.

Moments are read from the database's own clock, the one the triggers stamp rows with.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg


def database_now(url: str) -> dt.datetime:
    """The database's clock now (between two edits: a moment that separates them)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    moment: dt.datetime = row[0]
    return moment


def edit(url: str, actor: str, *statements: tuple[str, tuple[Any, ...]],
         comment: str | None = None) -> dt.datetime:
    """Run the statements in one transaction as ``actor``; the moment they are stamped with."""
    with psycopg.connect(url) as conn, conn.transaction():
        conn.execute("SELECT set_config('geoportal.actor', %s, true), "
                     "set_config('geoportal.source', 'test', true), "
                     "set_config('geoportal.comment', %s, true)", (actor, comment or ""))
        for text, args in statements:
            conn.execute(text, args)  # type: ignore[arg-type]
        row = conn.execute("SELECT now()").fetchone()
    assert row is not None
    moment: dt.datetime = row[0]
    return moment


def utc_text(moment: dt.datetime) -> str:
    """A moment as an ``at=`` value (RFC 3339, UTC)."""
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
