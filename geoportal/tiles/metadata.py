"""Documents of OGC API Tiles: tileset lists, tileset metadata, TileJSON, tile matrix sets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from geoportal.core.extent import Bounds
from geoportal.registry import Layer
from geoportal.tiles.grid import TMS_ID, tile_matrix_set
from geoportal.tiles.sql import tile_properties

MVT = "application/vnd.mapbox-vector-tile"
TILEJSON = "application/vnd.mapbox.tile+json"
REL_TILING_SCHEME = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"
REL_GEODATA = "http://www.opengis.net/def/rel/ogc/1.0/geodata"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
ITEM_TEMPLATE = "/{tileMatrix}/{tileCol}/{tileRow}"  # the contract's path order: z/x/y


# JSON Schema types of the properties that tiles carry.
SCHEMA_TYPES = {"string": "string", "integer": "integer", "number": "number",
                "boolean": "boolean", "date": "string", "datetime": "string", "array": "string"}
TILEJSON_TYPES = {"string": "String", "integer": "Number", "number": "Number",
                  "boolean": "Boolean", "date": "String", "datetime": "String", "array": "String"}

def tile_matrix_limits(bounds: Bounds, minzoom: int, maxzoom: int) -> list[dict[str, Any]]:
    """The tile rows and columns holding data, per tile matrix."""
    tms = tile_matrix_set()
    limits = []
    for z in range(minzoom, maxzoom + 1):
        upper_left = tms.tile(bounds[0], bounds[3], z)
        lower_right = tms.tile(bounds[2], bounds[1], z)
        limits.append({"tileMatrix": str(z), "minTileRow": upper_left.y,
                       "maxTileRow": lower_right.y, "minTileCol": upper_left.x,
                       "maxTileCol": lower_right.x})
    return limits


def vector_layer(layer: Layer) -> dict[str, Any]:
    """A layer of a tileset, with the schema of the properties it carries."""
    schema = {p.name: {"type": SCHEMA_TYPES[p.type], "title": p.title}
              for p in tile_properties(layer)}
    return {
        "id": layer.id, "title": layer.title, "description": layer.description,
        "dataType": "vector",
        "geometryDimension": 1 if "Line" in (layer.geometry_type or "") else 2,
        "featureType": layer.geometry_type,
        "minTileMatrix": str(layer.min_zoom), "maxTileMatrix": str(layer.max_zoom),
        "propertiesSchema": {"type": "object", "properties": schema},
    }


def tileset_summary(title: str, tileset_url: str, tms_url: str) -> dict[str, Any]:
    """One entry of a tileset list."""
    tms = tile_matrix_set()
    return {
        "title": title, "dataType": "vector", "crs": str(tms.crs.root),
        "tileMatrixSetURI": tms.uri,
        "links": [
            {"rel": "self", "type": "application/json", "title": f"{title} ({TMS_ID})",
             "href": tileset_url},
            {"rel": REL_TILING_SCHEME, "type": "application/json", "title": TMS_ID,
             "href": tms_url},
            {"rel": "item", "type": MVT, "templated": True, "title": "Tuile vectorielle (MVT)",
             "href": tileset_url + ITEM_TEMPLATE},
        ],
    }


def tileset_list(title: str, tileset_url: str, tms_url: str, self_url: str,
                 geodata_url: str | None = None) -> dict[str, Any]:
    """The tilesets of a collection or of the dataset: one, in WebMercatorQuad."""
    links: list[dict[str, Any]] = [{"rel": "self", "type": "application/json", "href": self_url}]
    if geodata_url:
        links.append({"rel": REL_GEODATA, "type": "application/json", "href": geodata_url})
    return {"tilesets": [tileset_summary(title, tileset_url, tms_url)], "links": links}


def tileset(title: str, description: str, layers: Sequence[Layer], bounds: Bounds,
            tileset_url: str, tms_url: str, geodata_url: str | None = None) -> dict[str, Any]:
    """The metadata of a vector tileset (OGC API Tiles, tileset conformance class)."""
    minzoom = min((layer.min_zoom for layer in layers), default=0)
    maxzoom = max((layer.max_zoom for layer in layers), default=22)
    document = tileset_summary(title, tileset_url, tms_url)
    document["links"].insert(2, {"rel": "alternate", "type": TILEJSON, "title": "TileJSON",
                                 "href": tileset_url + "?f=tilejson"})
    if geodata_url:
        document["links"].append({"rel": REL_GEODATA, "type": "application/json",
                                  "href": geodata_url})
    document.update({
        "description": description,
        "tileMatrixSetLimits": tile_matrix_limits(bounds, minzoom, maxzoom),
        "layers": [vector_layer(layer) for layer in layers],
        "boundingBox": {"lowerLeft": [bounds[0], bounds[1]],
                        "upperRight": [bounds[2], bounds[3]], "crs": CRS84},
        "centerPoint": {"coordinates": [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2],
                        "tileMatrix": str(max(minzoom, 12)), "crs": CRS84},
    })
    return document


def tilejson(name: str, description: str, layers: Sequence[Layer], bounds: Bounds,
             tileset_url: str, attribution: str) -> dict[str, Any]:
    """The same tileset as TileJSON 3.0.0, for MapLibre, QGIS and the like."""
    minzoom = min((layer.min_zoom for layer in layers), default=0)
    maxzoom = max((layer.max_zoom for layer in layers), default=22)
    return {
        "tilejson": "3.0.0", "name": name, "description": description,
        "attribution": attribution, "scheme": "xyz",
        "tiles": [tileset_url + "/{z}/{x}/{y}"],
        "minzoom": minzoom, "maxzoom": maxzoom, "bounds": list(bounds),
        "center": [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, max(minzoom, 12)],
        "vector_layers": [
            {"id": layer.id, "description": layer.title, "minzoom": layer.min_zoom,
             "maxzoom": layer.max_zoom,
             "fields": {p.name: TILEJSON_TYPES[p.type] for p in tile_properties(layer)}}
            for layer in layers
        ],
    }


def tile_matrix_set_document() -> dict[str, Any]:
    """The WebMercatorQuad definition (OGC Two Dimensional Tile Matrix Set 2.0 JSON)."""
    document: dict[str, Any] = tile_matrix_set().model_dump(mode="json", exclude_none=True)
    return document
