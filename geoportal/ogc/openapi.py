"""The OpenAPI 3.0 definition of the OGC API (``/ogc/api``), generated from the registry."""

from __future__ import annotations

from typing import Any

from geoportal import __version__
from geoportal.core import formats
from geoportal.core.crs import CRS84, offered_uris
from geoportal.core.links import Links
from geoportal.core.openapi import OpenApiPart
from geoportal.ogc.documents import DESCRIPTION, TITLE
from geoportal.registry import Layer, LayerRegistry
from geoportal.settings import Settings

JSON_OBJECT = {"schema": {"type": "object"}}


def _param(name: str, description: str, schema: dict[str, Any], style: str | None = None,
           explode: bool | None = None) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": "query", "required": False,
                             "description": description, "schema": schema}
    if style:
        param["style"] = style
    if explode is not None:
        param["explode"] = explode
    return param


ITEMS_PARAMETERS = ("f", "limit", "offset", "cursor", "bbox", "bbox-crs", "crs", "filter",
                    "filter-lang", "filter-crs", "sortby", "properties", "at")
"""The items' query parameters (``datetime`` too on a layer with time; no bbox on a table)."""
FEATURE_PARAMETERS = ("f", "crs", "properties", "at")
HISTORY_PARAMETERS = ("f", "crs")
METADATA_PARAMETERS = ("f",)


def _parameters(settings: Settings) -> dict[str, Any]:
    crs = {"type": "string", "format": "uri", "enum": offered_uris()}
    return {
        "f": _param("f", "Encoding of the response.", {"type": "string"}),
        "limit": _param("limit", "Number of features per page.",
                        {"type": "integer", "minimum": 1, "maximum": settings.items_max_limit,
                         "default": settings.items_default_limit}, "form", False),
        "offset": _param("offset", "Features to skip (prefer the `next` link).",
                         {"type": "integer", "minimum": 0, "default": 0}),
        "cursor": _param("cursor", "Keyset paging: return features after this id (from `next`).",
                         {"type": "integer"}),
        "bbox": _param("bbox", "minx,miny,maxx,maxy in `bbox-crs` (CRS84 by default).",
                       {"type": "array", "minItems": 4, "maxItems": 6,
                        "items": {"type": "number"}}, "form", False),
        "bbox-crs": _param("bbox-crs", "CRS of `bbox`.", {**crs, "default": CRS84}),
        "crs": _param("crs", "CRS of the returned geometries.", {**crs, "default": CRS84}),
        "datetime": _param("datetime", "Instant or interval (`..` for open ends).",
                           {"type": "string"}),
        "filter": _param("filter", "CQL2 filter over the queryables.", {"type": "string"}),
        "filter-lang": _param("filter-lang", "Language of `filter`.",
                              {"type": "string", "enum": ["cql2-text", "cql2-json"],
                               "default": "cql2-text"}),
        "filter-crs": _param("filter-crs", "CRS of geometries in `filter`.",
                             {**crs, "default": CRS84}),
        "sortby": _param("sortby", "Comma-separated keys, `-` for descending.",
                         {"type": "array", "items": {"type": "string"}}, "form", False),
        "properties": _param("properties", "Only these properties.",
                             {"type": "array", "items": {"type": "string"}}, "form", False),
        "at": _param("at", "The data as it stood at this moment (transaction time): an RFC "
                           "3339 date-time, or a date (its end, Casablanca time); not in the "
                           "future. `datetime` filters on the features' own time instead.",
                     {"type": "string"}),
    }


HISTORY_PAGING = (
    _param("limit", "Changes per page.", {"type": "integer", "minimum": 1, "maximum": 1000,
                                          "default": 100}),
    _param("offset", "Changes to skip (prefer the `next` link).",
           {"type": "integer", "minimum": 0, "default": 0}))


def route_parameters(names: tuple[str, ...], settings: Settings) -> list[dict[str, Any]]:
    """The query parameters ``names`` as inline OpenAPI objects, for the FastAPI routes'
    ``openapi_extra``: ``/openapi.json`` and ``/ogc/api`` read the same table."""
    table = _parameters(settings)
    return [table[name] for name in names]


def _content(*fmts: formats.Format) -> dict[str, Any]:
    return {fmt.media_type: JSON_OBJECT if "json" in fmt.media_type
            else {"schema": {"type": "string"}} for fmt in fmts}


def _ok(description: str, *fmts: formats.Format) -> dict[str, Any]:
    return {"200": {"description": description, "content": _content(*fmts)},
            "400": {"$ref": "#/components/responses/InvalidParameter"}}


def _get(op_id: str, summary: str, tag: str, params: list[str], responses: dict[str, Any]
         ) -> dict[str, Any]:
    return {"get": {"operationId": op_id, "summary": summary, "tags": [tag],
                    "parameters": [{"$ref": f"#/components/parameters/{p}"} for p in params],
                    "responses": responses}}


def _collection_paths(layer: Layer) -> dict[str, Any]:
    base = f"/collections/{layer.id}"
    item_params = list(ITEMS_PARAMETERS)
    if not layer.has_geometry:  # no bbox on a table (400); crs stays: CRS84 is accepted
        item_params = [p for p in item_params if p not in ("bbox", "bbox-crs")]
    if layer.temporal is not None:
        item_params.append("datetime")
    not_found = {"404": {"$ref": "#/components/responses/NotFound"}}
    fid = {"name": "featureId", "in": "path", "required": True, "schema": {"type": "integer"}}
    feature = _get(f"get_{layer.id}_feature", f"One feature of {layer.title}", layer.id,
                   list(FEATURE_PARAMETERS),
                   {**_ok("The feature", *formats.FEATURE), **not_found})
    feature["get"]["parameters"].insert(0, fid)
    history = _get(f"get_{layer.id}_feature_history", f"Versions of one feature of {layer.title}",
                   layer.id, list(HISTORY_PARAMETERS),
                   {**_ok("Every change to the feature, newest first (who, when, change-set, "
                          "the feature as it was); a deletion is an entry of its own",
                          formats.JSON, formats.HTML),
                    "404": {"$ref": "#/components/responses/NotFound"}})
    history["get"]["parameters"][:0] = [fid, *HISTORY_PAGING]
    items = _get(f"get_{layer.id}_items", f"Features of {layer.title}", layer.id, item_params,
                 _ok("A page of features", *formats.FEATURES))
    if layer.editable:
        create, change = _edit_operations(layer, fid)
        items.update(create)
        feature.update(change)
    return {
        base: _get(f"describe_{layer.id}", f"Describe {layer.title}", layer.id, ["f"],
                   _ok("The collection", *formats.METADATA)),
        f"{base}/items": items,
        f"{base}/items/{{featureId}}": feature,
        f"{base}/items/{{featureId}}/history": history,
        f"{base}/queryables": _get(f"get_{layer.id}_queryables", "Queryable properties",
                                   layer.id, ["f"], _ok("JSON Schema", formats.SCHEMA,
                                                        formats.HTML)),
        f"{base}/schema": _get(f"get_{layer.id}_schema", "Schema of the features", layer.id,
                               ["f"], _ok("JSON Schema", formats.SCHEMA, formats.HTML)),
        f"{base}/schema/geojson": _get(f"get_{layer.id}_feature_schema",
                                       "Schema of a GeoJSON feature", layer.id, ["f"],
                                       _ok("JSON Schema", formats.SCHEMA)),
    }


FEATURE_MEDIA = ("application/geo+json", "application/json", "application/fg+json")
MERGE_PATCH = "application/merge-patch+json"
EDIT_ERRORS = {str(status): {"$ref": "#/components/responses/Error"}
               for status in (400, 401, 403, 404, 409, 415, 422)}
ETAG_HEADER = {"ETag": {"description": "Strong ETag of the feature's new version (\"v<n>\"), "
                        "for the next If-Match.", "schema": {"type": "string"}}}


def _header(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": False, "description": description,
            "schema": {"type": "string"}}


IF_MATCH = _header("If-Match", "The ETag of the version being changed (`*`: any version); "
                   "required (428 without), 412 when it is not the current one.")
CONTENT_CRS = _header("Content-Crs", "CRS of the body's geometry (JSON-FG: of `place`), e.g. "
                      "`<http://www.opengis.net/def/crs/EPSG/0/26191>`; default CRS84.")


def _write(op_id: str, summary: str, tag: str, media: tuple[str, ...],
           responses: dict[str, Any], params: list[dict[str, Any]]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": op_id, "summary": summary, "tags": [tag], "parameters": params,
        "security": [{"bearer": []}], "responses": {**responses, **EDIT_ERRORS}}
    if media:
        operation["requestBody"] = {"required": True, "content": {
            m: {"schema": {"type": "object"}} for m in media}}
    return operation


def _edit_operations(layer: Layer, fid: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Part 4: POST on the items, PUT/PATCH/DELETE on one item (editors of the layer)."""
    changed = {"200": {"description": "The feature as written (GeoJSON, CRS84).",
                       "headers": ETAG_HEADER,
                       "content": {"application/geo+json": JSON_OBJECT}},
               "412": {"$ref": "#/components/responses/Error"},
               "428": {"$ref": "#/components/responses/Error"}}
    created = {"201": {"description": "Created; the feature as written.", "headers": {
        **ETAG_HEADER, "Location": {"description": "The new feature's URL.",
                                    "schema": {"type": "string", "format": "uri"}}},
        "content": {"application/geo+json": JSON_OBJECT}}}
    deleted = {"204": {"description": "Deleted (kept in the history)."},
               "412": {"$ref": "#/components/responses/Error"},
               "428": {"$ref": "#/components/responses/Error"}}
    items = {"post": _write(f"create_{layer.id}_feature", f"Add a feature to {layer.title}",
                            layer.id, FEATURE_MEDIA, created, [CONTENT_CRS])}
    item = {
        "put": _write(f"replace_{layer.id}_feature", "Replace a feature", layer.id,
                      FEATURE_MEDIA, changed, [fid, IF_MATCH, CONTENT_CRS]),
        "patch": _write(f"update_{layer.id}_feature", "Update a feature (JSON merge patch)",
                        layer.id, (MERGE_PATCH, *FEATURE_MEDIA), changed,
                        [fid, IF_MATCH, CONTENT_CRS]),
        "delete": _write(f"delete_{layer.id}_feature", "Delete a feature", layer.id, (),
                         deleted, [fid, IF_MATCH]),
    }
    return items, item


def openapi_document(registry: LayerRegistry, settings: Settings, links: Links,
                     parts: list[OpenApiPart] | None = None) -> dict[str, Any]:
    """The whole API definition, one set of paths per collection, and the paths that other
    capabilities (tiles, styles) declare as ``parts``."""
    error = {"description": "An OGC exception", "content": {"application/json": {"schema": {
        "type": "object", "required": ["code"], "properties": {
            "code": {"type": "string"}, "description": {"type": "string"},
            "status": {"type": "integer"},
            "field": {"type": "string", "description": "What is wrong in a request body, "
                      "e.g. properties.code"}}}}}}
    paths: dict[str, Any] = {
        "/": _get("landing", "Landing page", "Capabilities", ["f"],
                  _ok("Landing page", *formats.METADATA)),
        "/conformance": _get("conformance", "Conformance classes", "Capabilities", ["f"],
                             _ok("Conformance", *formats.METADATA)),
        "/api": _get("api", "This API definition", "Capabilities", ["f"],
                     _ok("OpenAPI 3.0", formats.OPENAPI, formats.HTML)),
        "/collections": _get("collections", "The collections", "Capabilities", ["f"],
                             _ok("Collections", *formats.METADATA)),
    }
    for layer in registry:
        paths.update(_collection_paths(layer))
    parts = parts or []
    for part in parts:
        paths.update(part.paths)
    return {
        "openapi": "3.0.3",
        "info": {"title": TITLE, "description": DESCRIPTION, "version": __version__,
                 "license": {"name": "Apache-2.0"}},
        "servers": [{"url": links.url("/ogc")}],
        "tags": [{"name": "Capabilities"}, *({"name": layer.id, "description": layer.title}
                                             for layer in registry),
                 *(tag for part in parts for tag in part.tags)],
        "paths": paths,
        "components": {
            "parameters": _parameters(settings),
            "responses": {"InvalidParameter": error, "NotFound": error, "Error": error},
            "schemas": {name: schema for part in parts
                        for name, schema in part.schemas.items()},
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "An API key (gp_…) or a JWT; editors of the layer may write."}},
        },
    }
