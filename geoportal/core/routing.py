"""Hot routes served without FastAPI's layers, declared once for FastAPI all the same.

A hot endpoint that takes only the ``Request`` and returns a ``Response`` gains nothing from
FastAPI's dependency solving and validation but their cost (a third of a rules lookup at 8
connections on 2 cores). ``DirectRoute`` keeps the one ``APIRoute`` declaration — path,
summary, parameters and responses in ``/openapi.json`` — and calls the endpoint directly
while no dependency is declared; once one is (on the route or on a router that includes it,
e.g. authentication), FastAPI's own handler serves the route, so the dependency applies.

``TriedFirst`` puts a router ahead of the others for the paths of its hot routes (the vector
tiles), so that they are not matched against every other route first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi import routing as fastapi_routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.datastructures import URLPath
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

# FastAPI (0.16x) builds an included route's handler with the including routers'
# dependencies in this context variable. Without it (other FastAPI internals), every route
# takes FastAPI's full handler: slower, never less safe.
_INCLUDED = getattr(fastapi_routing, "_effective_route_context_var", None)


class DirectRoute(APIRoute):
    """An ``APIRoute`` whose endpoint is called with the request alone (see the module)."""

    def _served_dependant(self) -> Dependant | None:
        """What FastAPI would solve for this route where it is being mounted; None if unknown."""
        if _INCLUDED is None:
            return None
        context = _INCLUDED.get()
        if context is not None and getattr(context, "original_route", None) is self:
            found = getattr(context, "dependant", None)
            return found if isinstance(found, Dependant) else None
        return self.dependant

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        dependant = self._served_dependant()
        if dependant is None or dependant.dependencies or dependant.path_params \
                or dependant.query_params or dependant.body_params:
            return super().get_route_handler()
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            response: Response = await endpoint(request)
            return response

        return handler


class TriedFirst(BaseRoute):
    """An included router tried first for the paths ``pattern`` finds, and skipped for all
    the others at the cost of one pattern search.

    The app's router tries its routes in order, and FastAPI (0.16x) walks every route of
    every included router before the one that matches: a vector tile, the most frequent
    request, was matched against the health, account and OGC routes first. Placed first in
    the app's routes, this tries the router behind a hot path (the tiles) before them. The
    router stays included where it was (OpenAPI, ``url_path_for``, ``OPTIONS``), so this only
    reorders the search for paths no earlier route serves; the middlewares, exception
    handlers and the route's own dependencies apply as before.
    """

    def __init__(self, pattern: re.Pattern[str], included: BaseRoute) -> None:
        self.pattern = pattern
        self.included = included

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or self.pattern.search(scope["path"]) is None:
            return Match.NONE, {}
        return self.included.matches(scope)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NoMatchFound(name, path_params)  # the included router answers, where it is

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.included.handle(scope, receive, send)


def include_tried_first(app: FastAPI, router: APIRouter, prefix: str, pattern: str) -> None:
    """Include ``router`` under ``prefix`` and try it first for the paths ``pattern`` finds
    (searched in the request's full path, so a ``root_path`` before it does not matter)."""
    app.include_router(router, prefix=prefix)
    included = app.router.routes[-1]
    app.router.routes.insert(0, TriedFirst(re.compile(pattern), included))
