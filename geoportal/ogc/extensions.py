"""The OGC API's conformance classes, and what other capabilities add to them (see core).

The tiles capability, for instance, registers its conformance classes and a "tiles" link
per collection in ``create_app``::

    register_extension(services, OgcExtension(conformance=(...), collection_links=tile_links))
"""

from __future__ import annotations

from fastapi import Request

from geoportal.core.extensions import (
    CollectionLinks,
    OgcExtension,
    OgcExtensions,
    register_extension,
)
from geoportal.core.links import Link, Links
from geoportal.core.openapi import OpenApiPart
from geoportal.core.services import services_of
from geoportal.registry import Layer

FEATURES_1 = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf"
FEATURES_2 = "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf"
FEATURES_3 = "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf"
FEATURES_4 = "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf"
FEATURES_5 = "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf"
CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf"

CONFORMANCE: tuple[str, ...] = (
    f"{FEATURES_1}/core",
    f"{FEATURES_1}/oas30",
    f"{FEATURES_1}/html",
    f"{FEATURES_1}/geojson",
    f"{FEATURES_2}/crs",
    f"{FEATURES_3}/queryables",
    f"{FEATURES_3}/queryables-query-parameters",
    f"{FEATURES_3}/filter",
    f"{FEATURES_3}/features-filter",
    f"{FEATURES_4}/create-replace-delete",
    f"{FEATURES_4}/update",
    f"{FEATURES_4}/features",
    f"{FEATURES_4}/optimistic-locking-etags",
    f"{FEATURES_5}/schemas",
    f"{FEATURES_5}/core-roles-features",
    f"{CQL2}/cql2-text",
    f"{CQL2}/cql2-json",
    f"{CQL2}/basic-cql2",
    f"{CQL2}/advanced-comparison-operators",
    f"{CQL2}/case-insensitive-comparison",
    f"{CQL2}/basic-spatial-functions",
    f"{CQL2}/basic-spatial-functions-plus",
    f"{CQL2}/spatial-functions",
    f"{CQL2}/temporal-functions",
    f"{CQL2}/arithmetic",
    "http://www.opengis.net/spec/json-fg-1/0.2/conf/core",
)

def _extensions(request: Request) -> list[OgcExtension]:
    return list(services_of(request).get(OgcExtensions))


def conformance_classes(request: Request) -> list[str]:
    """Every conformance class the application declares, ours first."""
    extra = [c for ext in _extensions(request) for c in ext.conformance]
    return list(dict.fromkeys([*CONFORMANCE, *extra]))


def extra_collection_links(request: Request, layer: Layer, links: Links) -> list[Link]:
    """Links that extensions add to a collection (e.g. tiles)."""
    return [link for ext in _extensions(request) if ext.collection_links
            for link in ext.collection_links(layer, links)]


def extra_openapi(request: Request) -> list[OpenApiPart]:
    """The OpenAPI paths that extensions add to ``/ogc/api`` (e.g. tiles)."""
    return [ext.openapi() for ext in _extensions(request) if ext.openapi]


def extra_landing_links(request: Request, links: Links) -> list[Link]:
    """Links that extensions add to the landing page."""
    return [link for ext in _extensions(request) if ext.landing_links
            for link in ext.landing_links(links)]


__all__ = ["CollectionLinks", "OgcExtension", "OgcExtensions", "conformance_classes",
           "extra_collection_links", "extra_landing_links", "extra_openapi",
           "register_extension"]
