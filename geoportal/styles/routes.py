"""OGC API Styles (mounted under ``/ogc``): the registry's symbology for every collection, and
one map style of every layer, each in the encodings clients read.

``/ogc/styles`` and ``/ogc/styles/{styleId}`` (the map, in MapLibre and SLD 1.1),
``/ogc/collections/{id}/styles`` and ``/ogc/collections/{id}/styles/{styleId}`` (MapLibre,
SLD 1.1, QGIS QML), each with ``/metadata``. The encoding is chosen with ``f=`` (``mapbox``,
``sld11``, ``qml``), else ``Accept``, else MapLibre.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from geoportal.core import formats
from geoportal.core.caching import not_modified, strong_etag
from geoportal.core.links import Links
from geoportal.deps import RegistryDep, SettingsDep
from geoportal.errors import NotFound
from geoportal.registry import Layer, LayerRegistry
from geoportal.styles.mapbox import collection_style, map_style
from geoportal.styles.qml import collection_qml, geometry_of
from geoportal.styles.sld import sld_document

PREFIX = "/ogc"  # the router is included under the OGC API
STYLE_ID = "default"
MAP_TITLE = "Géoportail AUC : toutes les couches"
MAPBOX = formats.Format("mapbox", "application/vnd.mapbox.style+json", "MapLibre / Mapbox style")
SLD11 = formats.Format("sld11", "application/vnd.ogc.sld+xml;version=1.1",
                       "OGC SLD 1.1 / Symbology Encoding 1.1")
QML = formats.Format("qml", "application/vnd.qgis.qml", "QGIS QML")
COLLECTION_ENCODINGS = (MAPBOX, SLD11, QML)
MAP_ENCODINGS = (MAPBOX, SLD11)
SPECIFICATIONS = {
    MAPBOX: ("8", "https://maplibre.org/maplibre-style-spec/"),
    SLD11: ("1.1", "https://www.ogc.org/standards/sld"),
    QML: ("3.22", "https://docs.qgis.org/latest/en/docs/user_manual/appendices/"
                  "qgis_file_formats.html"),
}
EXTENSIONS = {MAPBOX: "json", SLD11: "sld", QML: "qml"}
router = APIRouter(tags=["styles"])


def _layer(registry: LayerRegistry, collection_id: str) -> Layer:
    layer = registry.get(collection_id)
    if layer is None:
        raise NotFound(f"La collection {collection_id!r} n'existe pas.",
                       en=f"Collection {collection_id!r} does not exist.")
    if not layer.has_geometry:
        raise NotFound(f"La collection {collection_id!r} n'a pas de géométrie : pas de style.",
                       en=f"Collection {collection_id!r} has no geometry: no style.")
    return layer


def _check_style(style_id: str) -> None:
    if style_id != STYLE_ID:
        raise NotFound(f"Le style {style_id!r} n'existe pas ; styles : {STYLE_ID}.",
                       en=f"Style {style_id!r} does not exist; styles: {STYLE_ID}.")


def _style_entry(links: Links, path: str, title: str,
                 encodings: tuple[formats.Format, ...]) -> dict[str, Any]:
    return {"id": STYLE_ID, "title": title, "links": [
        *(links.link(path, "stylesheet", fmt, fmt.title) for fmt in encodings),
        links.link(f"{path}/metadata", "describedby", formats.JSON, "Style metadata")]}


def _stylesheet(request: Request, name: str, body: bytes, fmt: formats.Format) -> Response:
    etag = strong_etag(fmt.name, body)
    headers = {"ETag": etag, "Cache-Control": "no-cache",
               "Content-Disposition": f'inline; filename="{name}.{EXTENSIONS[fmt]}"'}
    if not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=fmt.media_type, headers=headers)


def _metadata(links: Links, path: str, title: str, description: str,
              encodings: tuple[formats.Format, ...], layers: list[Layer]) -> dict[str, Any]:
    def described(layer: Layer) -> dict[str, Any]:
        used = [p for p in (layer.style.by, layer.style.label) if p]
        return {"id": layer.id, "type": geometry_of(layer),
                "attributes": [{"id": name, "type": _attribute_type(layer, name)}
                               for name in dict.fromkeys(used)],
                "sampleData": links.link(f"/ogc/collections/{layer.id}/items", "start",
                                         formats.GEOJSON, layer.title)}

    return {
        "id": STYLE_ID, "title": title, "description": description, "scope": "style",
        "keywords": ["urbanisme", "Casablanca"], "license": "ODbL-1.0",
        "pointOfContact": "Agence urbaine de Casablanca",
        "stylesheets": [{"title": fmt.title, "version": SPECIFICATIONS[fmt][0],
                         "specification": SPECIFICATIONS[fmt][1], "native": True,
                         "link": links.link(path, "stylesheet", fmt, fmt.title)}
                        for fmt in encodings],
        "layers": [described(layer) for layer in layers],
        "links": [links.link(f"{path}/metadata", "self", formats.JSON, "This document"),
                  links.link(path, "style", MAPBOX, title)],
    }


def _attribute_type(layer: Layer, name: str) -> str:
    prop = layer.find_property(name)
    kind = prop.type if prop else "string"
    return {"integer": "integer", "number": "number", "boolean": "boolean"}.get(kind, "string")


def _json(document: dict[str, Any]) -> Response:
    return Response(orjson.dumps(document), media_type="application/json",
                    headers={"Cache-Control": "no-cache"})


@router.get("/styles", summary="Styles of the whole map")
async def styles(request: Request, settings: SettingsDep) -> Response:
    """The map styles (one: every layer, as the viewer draws them)."""
    links = Links.for_request(request, settings)
    return _json({"default": STYLE_ID,
                  "styles": [_style_entry(links, f"/ogc/styles/{STYLE_ID}", MAP_TITLE,
                                          MAP_ENCODINGS)],
                  "links": [links.link("/ogc/styles", "self", formats.JSON, "Styles")]})


@router.get("/styles/{style_id}", summary="A map style (f=mapbox or sld11)",
            response_class=Response,
            responses={200: {"content": {MAPBOX.media_type: {}, SLD11.media_type: {}}}})
async def style(style_id: str, request: Request, registry: RegistryDep,
                settings: SettingsDep) -> Response:
    """Every layer's symbology in one stylesheet."""
    _check_style(style_id)
    fmt = formats.negotiate(request, MAP_ENCODINGS)
    links = Links.for_request(request, settings)
    body = orjson.dumps(map_style(registry, links, MAP_TITLE)) if fmt is MAPBOX else \
        sld_document(registry.with_geometry())
    return _stylesheet(request, "geoportail-auc", body, fmt)


@router.get("/styles/{style_id}/metadata", summary="Metadata of a map style")
async def style_metadata(style_id: str, request: Request, registry: RegistryDep,
                         settings: SettingsDep) -> Response:
    """What the map style is, its encodings and the layers and attributes it uses."""
    _check_style(style_id)
    links = Links.for_request(request, settings)
    return _json(_metadata(links, f"/ogc/styles/{STYLE_ID}", MAP_TITLE,
                           "La symbologie de l'agence pour toutes les couches.",
                           MAP_ENCODINGS, registry.with_geometry()))


@router.get("/collections/{collection_id}/styles", summary="Styles of a collection")
async def collection_styles(collection_id: str, request: Request, registry: RegistryDep,
                            settings: SettingsDep) -> Response:
    """The collection's styles (one: the agency's symbology from the layer registry)."""
    layer = _layer(registry, collection_id)
    links = Links.for_request(request, settings)
    path = f"/ogc/collections/{layer.id}/styles"
    return _json({"default": STYLE_ID,
                  "styles": [_style_entry(links, f"{path}/{STYLE_ID}", layer.title,
                                          COLLECTION_ENCODINGS)],
                  "links": [links.link(path, "self", formats.JSON, "Styles"),
                            links.link(f"/ogc/collections/{layer.id}", "collection",
                                       formats.JSON, layer.title)]})


ENCODERS: dict[str, Callable[[Layer, Links], bytes]] = {
    MAPBOX.name: lambda layer, links: orjson.dumps(collection_style(layer, links)),
    SLD11.name: lambda layer, links: sld_document([layer]),
    QML.name: lambda layer, links: collection_qml(layer),
}


@router.get("/collections/{collection_id}/styles/{style_id}",
            summary="A collection's style (f=mapbox, sld11 or qml)", response_class=Response,
            responses={200: {"content": {f.media_type: {} for f in COLLECTION_ENCODINGS}}})
async def collection_style_sheet(collection_id: str, style_id: str, request: Request,
                                 registry: RegistryDep, settings: SettingsDep) -> Response:
    """The collection's symbology as a MapLibre style, an SLD 1.1 or a QGIS QML."""
    layer = _layer(registry, collection_id)
    _check_style(style_id)
    fmt = formats.negotiate(request, COLLECTION_ENCODINGS)
    body = ENCODERS[fmt.name](layer, Links.for_request(request, settings))
    return _stylesheet(request, layer.id, body, fmt)


@router.get("/collections/{collection_id}/styles/{style_id}/metadata",
            summary="Metadata of a collection's style")
async def collection_style_metadata(collection_id: str, style_id: str, request: Request,
                                    registry: RegistryDep, settings: SettingsDep) -> Response:
    """What the collection's style is, its encodings and the attributes it uses."""
    layer = _layer(registry, collection_id)
    _check_style(style_id)
    links = Links.for_request(request, settings)
    return _json(_metadata(links, f"/ogc/collections/{layer.id}/styles/{STYLE_ID}",
                           layer.title, f"La symbologie de l'agence : {layer.title}.",
                           COLLECTION_ENCODINGS, [layer]))
