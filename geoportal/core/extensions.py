"""What a capability adds to the OGC API: conformance classes and links.

The tiles capability, for instance, registers its conformance classes and a "tiles" link
per collection in ``create_app``::

    register_extension(services, OgcExtension(conformance=(...), collection_links=tile_links))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from geoportal.core.links import Link, Links
from geoportal.core.openapi import OpenApiPart
from geoportal.core.services import Services
from geoportal.registry import Layer

CollectionLinks = Callable[[Layer, Links], list[Link]]


@dataclass(frozen=True)
class OgcExtension:
    """Conformance classes, per-collection links and OpenAPI paths contributed by another
    capability (``openapi``: built once, when the API document is first asked)."""

    conformance: tuple[str, ...] = ()
    collection_links: CollectionLinks | None = None
    landing_links: Callable[[Links], list[Link]] | None = None
    openapi: Callable[[], OpenApiPart] | None = None


class OgcExtensions(list[OgcExtension]):
    """The extensions of this application's OGC API (a service of the app)."""


def register_extension(services: Services, extension: OgcExtension) -> None:
    """Add an extension to this application's OGC API."""
    services.get(OgcExtensions).append(extension)


