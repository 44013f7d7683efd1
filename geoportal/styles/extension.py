"""What styles add to the OGC API: conformance classes, and links to the styles."""

from __future__ import annotations

from functools import lru_cache

from geoportal.core.extensions import OgcExtension
from geoportal.core.links import Link, Links
from geoportal.core.openapi import OpenApiPart, router_part
from geoportal.registry import Layer
from geoportal.styles.routes import COLLECTION_ENCODINGS, STYLE_ID, router

STYLES = "http://www.opengis.net/spec/ogcapi-styles-1/1.0/conf"
CONFORMANCE = (f"{STYLES}/core", f"{STYLES}/mapbox-styles", f"{STYLES}/sld-11")
REL_STYLES = "http://www.opengis.net/def/rel/ogc/1.0/styles"


def collection_links(layer: Layer, links: Links) -> list[Link]:
    """The collection's styles, and its default style in each encoding (none for a table)."""
    if not layer.has_geometry:
        return []
    path = f"/ogc/collections/{layer.id}/styles"
    return [
        {"rel": REL_STYLES, "type": "application/json", "href": links.url(path),
         "title": "Styles de la collection (symbologie de l'agence)"},
        *(links.link(f"{path}/{STYLE_ID}", "stylesheet", fmt, f"Style : {fmt.title}")
          for fmt in COLLECTION_ENCODINGS),
    ]


def landing_links(links: Links) -> list[Link]:
    """The map styles."""
    return [{"rel": REL_STYLES, "type": "application/json", "href": links.url("/ogc/styles"),
             "title": "Styles de la carte (toutes les couches)"}]


@lru_cache(maxsize=1)
def openapi_part() -> OpenApiPart:
    """The styles paths of ``/ogc/api``, from the declarations of the styles routes."""
    return router_part(router.routes, ({"name": "styles",
                                        "description": "OGC API Styles: MapLibre, SLD, QML"},))


def styles_extension() -> OgcExtension:
    """The styles capability, as an extension of the OGC API."""
    return OgcExtension(conformance=CONFORMANCE, collection_links=collection_links,
                        landing_links=landing_links, openapi=openapi_part)
