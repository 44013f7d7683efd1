"""The one typed set of long-lived services of an app, built in ``create_app``.

Each capability room registers the objects it keeps between requests (a tile cache, the
extents of the collections, download slots…) under their own class, and reads them back
with ``services_of(request).get(TheClass)``: typed, built once, never created lazily on a
request, and without the rooms importing one another.
"""

from __future__ import annotations

from typing import TypeVar, cast

from starlette.requests import Request

from geoportal.core.admission import Admission

T = TypeVar("T")


class Services:
    """The app's services: the core ones as attributes, the rooms' ones by class."""

    def __init__(self, admission: Admission) -> None:
        self.admission = admission
        self._by_class: dict[type, object] = {}

    def provide(self, service: T) -> T:
        """Register ``service`` under its class (once)."""
        kind = type(service)
        if kind in self._by_class:
            raise ValueError(f"a {kind.__name__} is already provided")
        self._by_class[kind] = service
        return service

    def get(self, kind: type[T]) -> T:
        """The service of that class; a missing one is a programming error."""
        try:
            return cast(T, self._by_class[kind])
        except KeyError:
            raise LookupError(f"no {kind.__name__} was provided in create_app") from None


def services_of(request: Request) -> Services:
    """The services of the app serving this request."""
    services: Services = request.app.state.services
    return services
