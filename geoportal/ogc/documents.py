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
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
TITLE = "Géoportail de l'Agence urbaine de Casablanca — OGC API"
DESCRIPTION = ("Urban-planning layers of the Agence urbaine de Casablanca (synthetic demonstration "
               "data) as OGC API Features: plans, zones, servitudes, reservations, plots.")


def landing(request: Request, links: Links, fmt: formats.Format) -> dict[str, Any]:
    """The landing page: what the API offers, as links."""
    return {
        "title": TITLE,
        "description": DESCRIPTION,
        "links": [
            *links.alternates("/ogc", fmt, formats.METADATA),
            links.link("/ogc/api", "service-desc", formats.OPENAPI, "The API definition"),
            links.link("/ogc/api", "service-doc", formats.HTML, "The API documentation"),
            links.link("/ogc/conformance", "conformance", formats.JSON, "Conformance classes"),
            links.link("/ogc/collections", "data", formats.JSON, "The collections"),
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
        *(links.link(f"{path}/items", "items", f, f"Features as {f.title}")
          for f in formats.FEATURES),
        links.link(f"{path}/queryables", QUERYABLES_REL, formats.SCHEMA, "Queryables"),
        links.link(f"{path}/schema", "describedby", formats.SCHEMA, "Schema of the features"),
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


def json_schema(layer: Layer, links: Links, props: list[LayerProperty], kind: str
                ) -> dict[str, Any]:
    """A JSON Schema of the layer's properties (``queryables`` or ``schema``)."""
    properties: dict[str, Any] = {}
    if layer.geometry_type is not None:
        properties["geometry"] = {"x-ogc-role": "primary-geometry",
                                  "format": f"geometry-{layer.geometry_type.lower()}",
                                  "title": "Géométrie"}
    if kind == "schema":
        properties["id"] = {"x-ogc-role": "id", "type": "integer", "title": "Identifiant"}
    properties.update({p.name: _schema_type(p) for p in props})
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": links.url(f"/ogc/collections/{layer.id}/{kind}"),
        "type": "object",
        "title": layer.title,
        "properties": properties,
        "additionalProperties": False,
    }
    if kind == "schema":
        schema["required"] = [p.name for p in props if p.required]
    return schema
