"""What tiles add to the OGC API: conformance classes, and links to the tilesets."""

from __future__ import annotations

from functools import lru_cache

from geoportal.core.extensions import OgcExtension
from geoportal.core.links import Link, Links
from geoportal.core.openapi import OpenApiPart, router_part
from geoportal.registry import Layer

TILES = "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf"
TMS = "http://www.opengis.net/spec/tms/2.0/conf"
CONFORMANCE = (
    f"{TILES}/core",
    f"{TILES}/tileset",
    f"{TILES}/tilesets-list",
    f"{TILES}/geodata-tilesets",
    f"{TILES}/dataset-tilesets",
    f"{TILES}/collections-selection",
    f"{TILES}/mvt",
    f"{TMS}/tilematrixset",
    f"{TMS}/json-tilematrixset",
)
REL_VECTOR_TILESETS = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
REL_TILING_SCHEMES = "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes"


def collection_links(layer: Layer, links: Links) -> list[Link]:
    """A collection's vector tilesets (none for a collection without geometry)."""
    if not layer.has_geometry:
        return []
    return [{"rel": REL_VECTOR_TILESETS, "type": "application/json",
             "title": "Tuiles vectorielles (Mapbox Vector Tile)",
             "href": links.url(f"/ogc/collections/{layer.id}/tiles")}]


def landing_links(links: Links) -> list[Link]:
    """The dataset's tilesets (every layer in one tile) and the tile matrix sets."""
    return [
        {"rel": REL_VECTOR_TILESETS, "type": "application/json",
         "title": "Tuiles vectorielles de toutes les couches", "href": links.url("/ogc/tiles")},
        {"rel": REL_TILING_SCHEMES, "type": "application/json",
         "title": "Grilles de tuilage (tile matrix sets)",
         "href": links.url("/ogc/tileMatrixSets")},
    ]


@lru_cache(maxsize=1)
def openapi_part() -> OpenApiPart:
    """The tiles paths of ``/ogc/api``, from the declarations of the tiles routes."""
    from geoportal.tiles.routes import router

    return router_part(router.routes, ({"name": "tiles",
                                        "description": "OGC API Tiles: vector tiles (MVT)"},))


def tiles_extension() -> OgcExtension:
    """The tiles capability, as an extension of the OGC API."""
    return OgcExtension(conformance=CONFORMANCE, collection_links=collection_links,
                        landing_links=landing_links, openapi=openapi_part)
