"""HTTP methods the way clients expect them: ``HEAD`` wherever ``GET`` works, and ``OPTIONS``
answering ``Allow`` with what the path accepts (QGIS decides to offer editing from it)."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.routing import BaseRoute, Match, Mount, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
HEAD_KEY = "geoportal.head"  # in the scope of a HEAD served as a GET


def is_head(scope: Scope) -> bool:
    """Whether the request is a ``HEAD`` (served as a ``GET``): a response that can tell its
    headers without producing its body (a file, a cached download) may skip the body."""
    return bool(scope.get(HEAD_KEY)) or scope.get("method") == "HEAD"


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
        allowed = allowed_methods(self.router.routes, scope)
        if not allowed:
            await self.app(scope, receive, send)  # no such path: the usual 404
            return
        allow = ", ".join(sorted(allowed | {"OPTIONS"}))
        await send({"type": "http.response.start", "status": 204,
                    "headers": [(b"allow", allow.encode())]})
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
