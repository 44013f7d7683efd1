"""HTTP methods the way clients expect them: ``HEAD`` wherever ``GET`` works, and ``OPTIONS``
answering ``Allow`` with what the path accepts *for this caller* (QGIS decides to offer
editing from it: POST on ``/items``, PUT/PATCH/DELETE on ``/items/{id}``).

A route whose method only some callers may use marks its endpoint with :func:`offered_to`;
``OPTIONS`` then lists that method only when the permission admits the caller. The route
still answers everyone else, with its own 401/403/405.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.routing import BaseRoute, Match, Mount, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geoportal.core.routing import TriedFirst

log = logging.getLogger("geoportal")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
Permission = Callable[[Request], Awaitable[bool]]
"""Whether the caller of the request (its path parameters resolved) may use a method."""
_PERMISSION = "geoportal_offered_to"
Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])
HEAD_KEY = "geoportal.head"  # in the scope of a HEAD served as a GET


def is_head(scope: Scope) -> bool:
    """Whether the request is a ``HEAD`` (served as a ``GET``): a response that can tell its
    headers without producing its body (a file, a cached download) may skip the body."""
    return bool(scope.get(HEAD_KEY)) or scope.get("method") == "HEAD"


def offered_to(permission: Permission) -> Callable[[Endpoint], Endpoint]:
    """Mark an endpoint whose method ``OPTIONS`` lists only for callers ``permission`` admits."""

    def mark(endpoint: Endpoint) -> Endpoint:
        setattr(endpoint, _PERMISSION, permission)
        return endpoint

    return mark


def _matches(route: BaseRoute, scope: Scope) -> tuple[Match, Scope]:
    """``route.matches``, looking inside FastAPI's included routers, whose own match hides
    the endpoint and path parameters of the route that matched."""
    contexts = getattr(route, "effective_route_contexts", None)
    if not callable(contexts):
        return route.matches(scope)
    found: tuple[Match, Scope] = (Match.NONE, {})
    for leaf in contexts():
        match, child = leaf.matches(scope)
        if match is Match.FULL:
            return match, child
        if match is Match.PARTIAL and found[0] is Match.NONE:
            found = (match, child)
    return found


async def _admits(scope: Scope) -> bool:
    permission: Permission | None = getattr(scope.get("endpoint"), _PERMISSION, None)
    if permission is None:
        return True
    try:
        return await permission(Request(scope))
    except Exception:  # a permission that fails denies; OPTIONS itself never fails
        log.exception("OPTIONS: the permission of %s failed", scope.get("path"))
        return False


async def allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> set[str]:
    """Every method some route accepts for the request's path and caller (mounts searched
    within)."""
    allowed: set[str] = set()
    for route in routes:
        if isinstance(route, TriedFirst):  # only reorders: its router is among the routes
            continue
        if isinstance(route, Mount):
            match, child = route.matches(scope)
            if match is not Match.NONE:
                allowed |= await allowed_methods(route.routes, {**scope, **child})
            continue
        for method in METHODS:
            match, child = _matches(route, {**scope, "method": method})
            if match is Match.FULL and await _admits({**scope, **child}):
                allowed.add(method)
    if "GET" in allowed:
        allowed.add("HEAD")  # served by HttpMethods
    return allowed


class HttpMethods:
    """``HEAD`` served as a ``GET`` whose body is not sent,
    and a plain ``OPTIONS`` (not a CORS preflight) answered with 204 and ``Allow``.

    HEAD is handled here rather than declared on every route, so the OpenAPI document keeps
    one operation per path and method.
    """

    def __init__(self, app: ASGIApp, router: Router) -> None:
        self.app = app
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD":
            await self._head(scope, receive, send)
            return
        if scope["type"] != "http" or scope["method"] != "OPTIONS" or any(
                key == b"access-control-request-method" for key, _ in scope["headers"]):
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})  # one request state for every permission asked
        allowed = await allowed_methods(self.router.routes, scope)
        if not allowed:
            await self.app(scope, receive, send)  # no such path: the usual 404
            return
        allow = ", ".join(sorted(allowed | {"OPTIONS"}))
        # Vary: the answer depends on who asks; no-store: never shared between callers.
        await send({"type": "http.response.start", "status": 204,
                    "headers": [(b"allow", allow.encode()), (b"vary", b"Authorization"),
                                (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": b""})

    async def _head(self, scope: Scope, receive: Receive, send: Send) -> None:
        finished = False

        async def headers_only(message: Message) -> None:
            # The rest of a stream is swallowed rather than cut short: a stream stopped by an
            # exception would leave its generator, and its database connection, unclosed.
            nonlocal finished
            if message["type"] == "http.response.start":
                await send(message)
            elif message["type"] == "http.response.body" and not finished:
                finished = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        await self.app({**scope, "method": "GET", HEAD_KEY: True}, receive, headers_only)
