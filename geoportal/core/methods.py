"""HTTP methods the way clients expect them: ``HEAD`` wherever ``GET`` works, and ``OPTIONS``
answering ``Allow`` with what the path accepts (QGIS decides to offer editing from it)."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.routing import BaseRoute, Match, Mount, Router
from starlette.types import ASGIApp, Receive, Scope, Send

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def add_head_to_get_routes(routes: Iterable[BaseRoute]) -> None:
    """Let every GET route answer HEAD too (Starlette's plain routes do; FastAPI's do not).

    Call it once all routers are included, before the first request (FastAPI builds its
    effective routes from the routes' methods on first use).
    """
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's included routers
        if included is not None:
            add_head_to_get_routes(included.routes)
            continue
        methods = getattr(route, "methods", None)
        if isinstance(methods, set) and "GET" in methods:
            methods.add("HEAD")


def allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> set[str]:
    """Every method some route accepts for the request's path (mounts searched within)."""
    allowed: set[str] = set()
    for route in routes:
        if isinstance(route, Mount):
            match, child = route.matches(scope)
            if match is not Match.NONE:
                allowed |= allowed_methods(route.routes, {**scope, **child})
            continue
        allowed |= {m for m in METHODS
                    if route.matches({**scope, "method": m})[0] is Match.FULL}
    return allowed


class OptionsAllow:
    """Answers a plain ``OPTIONS`` (not a CORS preflight) with 204 and ``Allow``."""

    def __init__(self, app: ASGIApp, router: Router) -> None:
        self.app = app
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "OPTIONS" or any(
                key == b"access-control-request-method" for key, _ in scope["headers"]):
            await self.app(scope, receive, send)
            return
        allowed = allowed_methods(self.router.routes, scope)
        if not allowed:
            await self.app(scope, receive, send)  # no such path: the usual 404
            return
        allow = ", ".join(sorted(allowed | {"OPTIONS"}))
        await send({"type": "http.response.start", "status": 204,
                    "headers": [(b"allow", allow.encode())]})
        await send({"type": "http.response.body", "body": b""})
