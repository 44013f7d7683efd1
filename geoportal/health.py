"""``/health`` (200 only when the database answers and is migrated) and ``/version``."""

from __future__ import annotations

import asyncio

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from geoportal import __version__
from geoportal.core.services import services_of
from geoportal.core.versions import data_version
from geoportal.db.migrate import head_revision
from geoportal.deps import PoolDep
from geoportal.errors import RETRY_AFTER_S, is_connection_failure

router = APIRouter(tags=["service"])
# A health check answers quickly or says unavailable; it never waits on a stuck database.
HEALTH_TIMEOUT_S = 2.0


async def _current_revision(pool: asyncpg.Pool) -> str | None:
    async with pool.acquire(timeout=HEALTH_TIMEOUT_S) as conn:
        exists = await conn.fetchval(
            "SELECT to_regclass('public.alembic_version') IS NOT NULL", timeout=HEALTH_TIMEOUT_S
        )
        if not exists:
            return None
        value = await conn.fetchval("SELECT version_num FROM alembic_version",
                                    timeout=HEALTH_TIMEOUT_S)
    return str(value) if value is not None else None


class HealthProbe:
    """One probe of the database at a time per worker, shared by the health checks that
    arrive while it runs: a flood of checks (a load balancer, a monitor, wrk) takes one
    pooled connection, not one each, from the requests that need them."""

    def __init__(self) -> None:
        self._running: asyncio.Task[str | None] | None = None

    async def revision(self, pool: asyncpg.Pool) -> str | None:
        """The database's schema revision (None before the first migration)."""
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(_current_revision(pool))
        # Shielded: a check whose client goes away does not cancel the others' probe.
        return await asyncio.shield(self._running)


def _unavailable(body: dict[str, str | None]) -> JSONResponse:
    return JSONResponse({"status": "unavailable", **body}, 503,
                        headers={"Retry-After": str(RETRY_AFTER_S)})


@router.get("/health", summary="Service health")
async def health(request: Request) -> JSONResponse:
    """200 when the database answers and its schema is at the code's head revision."""
    pool: asyncpg.Pool | None = getattr(request.app.state, "pool", None)
    head = head_revision()
    if pool is None:
        return _unavailable({"database": "unreachable"})
    try:
        current = await services_of(request).get(HealthProbe).revision(pool)
    except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError, TimeoutError) as exc:
        state = "unreachable" if is_connection_failure(exc) else "not answering"
        return _unavailable({"database": state})
    if current != head:
        return _unavailable({"database": "not migrated: run `geoportal migrate`",
                             "migration": current, "head": head})
    return JSONResponse({"status": "ok", "database": "ok", "migration": current, "head": head})


@router.get("/version", summary="Software and data versions")
async def version(pool: PoolDep) -> dict[str, str]:
    """The software version, the schema revision and the data version."""
    return {
        "version": __version__,
        "schema": head_revision(),
        "data_version": await data_version(pool),
    }
