"""``GET /metrics``: Prometheus text, for loopback or a bearer token only, never cached."""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from geoportal.errors import Forbidden, Unauthorized
from geoportal.ops.metrics import Metrics
from geoportal.settings import Settings

router = APIRouter(tags=["service"])
NOT_CACHED = {"Cache-Control": "no-store", "Vary": "Authorization"}


def _loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_access(request: Request, settings: Settings) -> None:
    """With ``metrics_token`` set, that bearer token from anywhere; else loopback clients.

    The client is the peer, or the address a trusted proxy forwarded (uvicorn's
    ``--forwarded-allow-ips``), so a scrape from outside through nginx is not loopback.
    """
    token = settings.metrics_token
    if token is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), token.get_secret_value().encode()):
            raise Unauthorized("Les métriques demandent le jeton de supervision (Bearer).",
                               en="The metrics need the monitoring token (Bearer).",
                               invalid_token=bool(given))
        return
    if not _loopback(request.client.host if request.client else None):
        raise Forbidden("Les métriques ne sont servies qu'en local (127.0.0.1), ou avec le "
                        "jeton de supervision.",
                        en="The metrics are served to loopback clients only, or with the "
                           "monitoring token.")


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Every metric of the service (all its workers' in multiprocess mode)."""
    settings: Settings = request.app.state.settings
    check_access(request, settings)
    collected: Metrics = request.app.state.metrics
    router = request.app.state.read_router
    replicas = {node.name: node.pool for node in router.replicas} if router else None
    await collected.read_database(request.app.state.pool, replicas)
    return Response(collected.exposition(), media_type=CONTENT_TYPE_LATEST, headers=NOT_CACHED)
