"""The metadata documents of the API: landing page, collections, queryables, schemas."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from geoportal.core import formats
from geoportal.core.crs import CRS84, STORAGE, offered_uris
from geoportal.core.extent import Extent
from geoportal.core.links import Links
from geoportal.ogc.extensions import extra_collection_links, extra_landing_links
from geoportal.registry import Layer, LayerProperty

QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
SCHEMA_REL = "http://www.opengis.net/def/rel/ogc/1.0/schema"  # Part 5: QGIS reads types there
JSON_SCHEMA = "https://json-schema.org/draft/2020-12/schema"
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
TITLE = "Géoportail de l'Agence urbaine de Casablanca — OGC API"
DESCRIPTION = ("Les couches d'urbanisme de l'Agence urbaine de Casablanca (données de "
               "démonstration synthétiques) en OGC API Features : plans, zones, servitudes, "
               "réservations, parcelles.")


def landing(request: Request, links: Links, fmt: formats.Format) -> dict[str, Any]:
    """The landing page: what the API offers, as links."""
    return {
        "title": TITLE,
        "description": DESCRIPTION,
        "links": [
            *links.alternates("/ogc", fmt, formats.METADATA),
            links.link("/ogc/api", "service-desc", formats.OPENAPI, "La définition de l'API"),
            links.link("/ogc/api", "service-doc", formats.HTML, "La documentation de l'API"),
            links.link("/ogc/conformance", "conformance", formats.JSON, "Classes de conformité"),
            links.link("/ogc/collections", "data", formats.JSON, "Les collections"),
            *extra_landing_links(request, links),
        ],
    }


def _interval(extent: Extent) -> list[list[str | None]]:
    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return [[iso(extent.start), iso(extent.end)]]


def collection(request: Request, layer: Layer, extent: Extent, links: Links,
               fmt: formats.Format, nested: bool = False) -> dict[str, Any]:
    """One collection's description: extent in CRS84, CRSs, links to items and queryables."""
    path = f"/ogc/collections/{layer.id}"
    doc: dict[str, Any] = {
        "id": layer.id,
        "title": layer.title,
        "description": layer.description,
        "keywords": layer.keywords,
        "attribution": layer.attribution,
        "license": layer.license,
        "itemType": "feature",
        "extent": {"spatial": {"bbox": [list(extent.crs84)], "crs": CRS84}}
        if extent.crs84 else {},
        **_crs_members(layer),
    }
    if layer.temporal is not None:
        doc["extent"]["temporal"] = {"interval": _interval(extent), "trs": GREGORIAN}
    if layer.title_ar:
        doc["title_ar"] = layer.title_ar
    own = [] if nested else links.alternates(path, fmt, formats.METADATA)
    doc["links"] = [
        *own,
        *(links.link(f"{path}/items", "items", f, f"Objets en {f.title}")
          for f in formats.FEATURES),
        links.link(f"{path}/queryables", QUERYABLES_REL, formats.SCHEMA,
                   "Propriétés interrogeables"),
        links.link(f"{path}/schema", SCHEMA_REL, formats.SCHEMA, "Schéma des objets"),
        # GDAL's OAPIF driver types its fields from a schema of a whole GeoJSON feature; up
        # to 3.6 at least it matches the rel case-sensitively as "describedBy" (RFC 8288
        # rels are case-insensitive: both spellings name the same relation).
        *(links.link(f"{path}/schema/geojson", rel, formats.SCHEMA,
                     "Schéma d'un objet GeoJSON") for rel in ("describedby", "describedBy")),
        {"rel": "license", "href": f"https://spdx.org/licenses/{layer.license}.html",
         "title": layer.license, "type": "text/html"},
        *extra_collection_links(request, layer, links),
    ]
    if nested:
        doc["links"].insert(0, links.link(path, "self", formats.JSON, layer.title))
    return doc


def _crs_members(layer: Layer) -> dict[str, Any]:
    """``crs`` and ``storageCrs``. A collection without geometry has no coordinates to
    transform: it lists CRS84 alone (Part 1's default) and has no storage CRS."""
    if not layer.has_geometry:
        return {"crs": [CRS84]}
    return {"crs": offered_uris(), "storageCrs": STORAGE.uri}


def collections(request: Request, layers: list[tuple[Layer, Extent]], links: Links,
                fmt: formats.Format) -> dict[str, Any]:
    """Every collection, each with its links."""
    return {
        "links": links.alternates("/ogc/collections", fmt, formats.METADATA),
        "collections": [collection(request, layer, extent, links, fmt, nested=True)
                        for layer, extent in layers],
    }


def _schema_type(prop: LayerProperty) -> dict[str, Any]:
    schema: dict[str, Any] = {"title": prop.title}
    if prop.description:
        schema["description"] = prop.description
    if prop.type in ("date", "datetime"):
        schema.update(type="string", format="date" if prop.type == "date" else "date-time")
    elif prop.type == "array":  # text[] columns
        schema.update(type="array", items={"type": "string"})
    else:
        schema["type"] = prop.type
    if prop.values is not None:
        schema["enum"] = list(prop.values)
    if prop.read_only:
        schema["readOnly"] = True  # kept by the database: edits ignore it
    return schema


def _roles(layer: Layer, schemas: dict[str, Any]) -> dict[str, Any]:
    """Part 5 roles: the feature's time is its ``primary-instant``."""
    if layer.temporal is not None:
        for prop in layer.properties:
            if prop.column_name == layer.temporal.column and prop.name in schemas:
                schemas[prop.name]["x-ogc-role"] = "primary-instant"
    return schemas


def json_schema(layer: Layer, links: Links, props: list[LayerProperty], kind: str
                ) -> dict[str, Any]:
    """A JSON Schema of the layer's properties (``queryables`` or ``schema``, Part 5)."""
    properties: dict[str, Any] = {}
    if layer.geometry_type is not None:
        properties["geometry"] = {"x-ogc-role": "primary-geometry",
                                  "format": f"geometry-{layer.geometry_type.lower()}",
                                  "title": "Géométrie"}
    if kind == "schema":
        properties["id"] = {"x-ogc-role": "id", "type": "integer", "title": "Identifiant"}
    described = {p.name: _schema_type(p) for p in props}
    properties.update(_roles(layer, described) if kind == "schema" else described)
    schema: dict[str, Any] = {
        "$schema": JSON_SCHEMA,
        "$id": links.url(f"/ogc/collections/{layer.id}/{kind}"),
        "type": "object",
        "title": layer.title,
        "properties": properties,
        "additionalProperties": False,
    }
    if kind == "schema":
        schema["required"] = [p.name for p in props if p.required]
    return schema


def feature_schema(layer: Layer, links: Links) -> dict[str, Any]:
    """A JSON Schema of one GeoJSON feature of the layer (``rel=describedby``): what GDAL's
    OAPIF driver reads its field types from (``properties.properties``), nulls or not."""
    geometry: dict[str, Any] = {"type": "null"}
    if layer.geometry_type is not None:
        geometry = {"title": "Géométrie", "oneOf": [
            {"type": "null"},
            {"$ref": f"https://geojson.org/schema/{layer.geometry_type}.json"}]}
    return {
        "$schema": JSON_SCHEMA,
        "$id": links.url(f"/ogc/collections/{layer.id}/schema/geojson"),
        "title": layer.title,
        "type": "object",
        "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]},
            "id": {"type": "integer", "title": "Identifiant"},
            "geometry": geometry,
            "properties": {
                "type": "object",
                "properties": _roles(layer, {p.name: _schema_type(p)
                                             for p in layer.properties}),
            },
        },
    }
