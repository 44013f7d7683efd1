"""``/health`` (200 only when the database answers and is migrated) and ``/version``."""

from __future__ import annotations

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from geoportal import __version__
from geoportal.db.migrate import head_revision
from geoportal.db.versions import data_version
from geoportal.deps import PoolDep

router = APIRouter(tags=["service"])


async def _current_revision(pool: asyncpg.Pool) -> str | None:
    exists = await pool.fetchval("SELECT to_regclass('public.alembic_version') IS NOT NULL")
    if not exists:
        return None
    value = await pool.fetchval("SELECT version_num FROM alembic_version")
    return str(value) if value is not None else None


@router.get("/health", summary="Service health")
async def health(request: Request) -> JSONResponse:
    """200 when the database answers and its schema is at the code's head revision."""
    pool: asyncpg.Pool | None = getattr(request.app.state, "pool", None)
    head = head_revision()
    if pool is None:
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
    try:
        current = await _current_revision(pool)
    except (asyncpg.PostgresError, OSError):
        return JSONResponse({"status": "unavailable", "database": "not answering"}, 503)
    body = {"status": "ok", "database": "ok", "migration": current, "head": head}
    if current != head:
        body["status"] = "unavailable"
        body["database"] = "not migrated: run `geoportal migrate`"
        return JSONResponse(body, 503)
    return JSONResponse(body)


@router.get("/version", summary="Software and data versions")
async def version(pool: PoolDep) -> dict[str, str]:
    """The software version, the schema revision and the data version."""
    return {
        "version": __version__,
        "schema": head_revision(),
        "data_version": await data_version(pool),
    }
