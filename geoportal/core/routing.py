"""Routes declared once for FastAPI (OpenAPI, dependencies) and served without its layers.

A hot endpoint that takes only the ``Request`` and returns a ``Response`` gains nothing from
FastAPI's dependency solving and validation but their cost (a third of a rules lookup at 8
connections on 2 cores). ``DirectRoute`` keeps the one ``APIRoute`` declaration — path,
summary, parameters and responses in ``/openapi.json`` — and calls the endpoint directly
while no dependency is declared; once one is (on the route or on a router that includes it,
e.g. authentication), FastAPI's own handler serves the route, so the dependency applies.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import routing as fastapi_routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

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
