"""Links from the OGC API to the open data: the landing page, and a download per collection."""

from __future__ import annotations

from geoportal.core.extensions import OgcExtension
from geoportal.core.links import Link, Links
from geoportal.opendata.formats import GPKG, TABLE_CSV
from geoportal.registry import Layer


def _landing_links(links: Links) -> list[Link]:
    return [
        {"rel": "related", "type": "text/html", "href": links.url("/opendata"),
         "title": "Données ouvertes : chaque couche en GeoJSON, GeoPackage, CSV ou Shapefile"},
        {"rel": "related", "type": "application/json", "href": links.url("/pygeoapi"),
         "title": "pygeoapi : catalogue (OGC API Records), traitements et couvertures"},
    ]


def _collection_links(layer: Layer, links: Links) -> list[Link]:
    whole = GPKG if layer.has_geometry else TABLE_CSV  # no GeoPackage of a bare table
    return [{"rel": "enclosure", "type": whole.media_type,
             "href": links.url(f"/opendata/{layer.id}.{whole.ext}"),
             "title": f"{layer.title} : la couche entière ({whole.title})"}]


def opendata_extension() -> OgcExtension:
    """The open data's contribution to the OGC API's landing page and collections."""
    return OgcExtension(landing_links=_landing_links, collection_links=_collection_links)
