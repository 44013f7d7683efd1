"""OGC API Tiles routes (mounted under ``/ogc``): per-collection and combined vector tiles."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from geoportal.core.caching import not_modified
from geoportal.core.history import HISTORY_TABLES, IMMUTABLE, parse_at, settled
from geoportal.core.ranges import MemoryBytes, RangedResponse, requested_spans
from geoportal.core.services import services_of
from geoportal.core.urls import public_base
from geoportal.deps import PoolDep, RegistryDep, SettingsDep, get_pool
from geoportal.errors import InvalidParameter, NotFound
from geoportal.registry import Layer, LayerRegistry
from geoportal.settings import Settings
from geoportal.tiles import metadata
from geoportal.tiles.grid import TMS_ID, tile_address
from geoportal.tiles.service import TileRequest, TileService, get_tile_service, layers_at_zoom

PREFIX = "/ogc"  # the router is included under the OGC API
# The tiles themselves (not their metadata), z/x/y with or without a file extension.
TILE_PATHS = PREFIX + r"/(?:collections/[^/]+/)?tiles/[^/]+/[^/]+/[^/]+/[^/]+$"
router = APIRouter(tags=["tiles"])
ServiceDep = Annotated[TileService, Depends(get_tile_service)]
DATASET_TITLE = "Géoportail AUC : toutes les couches"
MAX_COLLECTIONS = 20
CollectionsParam = Annotated[str | None, Query(max_length=1000,
                                               description="Comma-separated ids")]
AtParam = Annotated[str | None, Query(
    description="The data as it stood at this moment (RFC 3339 date-time, or a date: its end "
                "in Casablanca); now when absent.")]


def _state(request: Request) -> tuple[Settings, LayerRegistry]:
    # The tiles are the most frequent request: read from app state directly rather than
    # through FastAPI dependencies, whose solving cost more than a cached tile's own work.
    return request.app.state.settings, request.app.state.registry


def base_url(request: Request, settings: Settings) -> str:
    """Where the service is reached: the configured public URL, else the request's own."""
    return public_base(request.scope, settings.public_url)


def api_url(request: Request, settings: Settings, path: str) -> str:
    """An absolute URL under this API."""
    return base_url(request, settings) + PREFIX + path


def collection_layer(registry: LayerRegistry, collection_id: str) -> Layer:
    """The layer behind a collection id, or 404."""
    layer = registry.get(collection_id)
    if layer is None:
        raise NotFound(f"collection {collection_id!r} does not exist.")
    if not layer.has_geometry:
        raise NotFound(f"la collection {collection_id!r} n'a pas de géométrie : pas de tuiles",
                       en=f"collection {collection_id!r} has no geometry: no tiles")
    return layer


def check_tms(tms: str) -> None:
    """Only WebMercatorQuad is offered."""
    if tms != TMS_ID:
        raise NotFound(f"tile matrix set {tms!r} is not offered; use {TMS_ID}.")


def selected_layers(registry: LayerRegistry, collections: str | None) -> tuple[Layer, ...]:
    """The layers of the dataset tile: all with geometry, or those named in ``collections``."""
    if not collections:
        return tuple(registry.with_geometry())
    names = [name.strip() for name in collections.split(",") if name.strip()]
    if len(names) > MAX_COLLECTIONS:
        raise InvalidParameter(f"collections: at most {MAX_COLLECTIONS} names.")
    unknown = [name for name in names if name not in registry]
    if unknown:
        raise InvalidParameter(f"collections: unknown collection(s) {', '.join(unknown)}.")
    tables = [layer.id for layer in registry if layer.id in names and not layer.has_geometry]
    if tables:
        listed = ", ".join(tables)
        raise InvalidParameter(f"collections : sans géométrie, pas de tuiles : {listed}",
                               en=f"collections: no geometry, so no tiles: {listed}")
    return tuple(layer for layer in registry if layer.id in names)


def tile_moment(at: str | None, layers: tuple[Layer, ...]) -> dt.datetime | None:
    """The moment of a tile of the past (None: now); 400 when malformed or in the future."""
    if at is None:
        return None
    without = [layer.id for layer in layers if layer.table not in HISTORY_TABLES]
    if without:
        raise InvalidParameter(f"at : sans historique : {', '.join(without)}",
                               en=f"at: no history for {', '.join(without)}")
    return parse_at(at)


async def tile_response(request: Request, settings: Settings,
                        tile_request: TileRequest) -> Response:
    """The tile with its validators: 304 when unchanged, 204 when empty, else MVT bytes
    (gzipped when accepted; byte ranges of the plain bytes when asked)."""
    service = services_of(request).get(TileService)
    pool = get_pool(request)
    etag = await service.etag(pool, tile_request)
    past = tile_request.at is not None and settled(tile_request.at)
    headers = {"ETag": f'"{etag}"', "Vary": "Accept-Encoding",
               "Cache-Control": IMMUTABLE if past
               else f"public, max-age={settings.tiles_max_age_s}"}
    if not_modified(request, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    tile = await service.render(pool, tile_request, etag)
    if not tile.body:
        return Response(status_code=204, headers=headers)
    if "range" in request.headers:  # byte ranges of the plain tile: GDAL's MVT:/vsicurl/
        spans = requested_spans(request.headers, len(tile.body), headers["ETag"])
        return RangedResponse(MemoryBytes(tile.body), spans, metadata.MVT, headers)
    headers["Accept-Ranges"] = "bytes"
    body = tile.body
    if len(body) >= 1024 and "gzip" in request.headers.get("accept-encoding", ""):
        body = service.gzipped(tile)
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=metadata.MVT, headers=headers)


@router.get("/collections/{collection_id}/tiles", summary="Tilesets of a collection")
async def collection_tilesets(collection_id: str, request: Request, registry: RegistryDep,
                              settings: SettingsDep) -> dict[str, Any]:
    """The vector tilesets of a collection (one, in WebMercatorQuad)."""
    layer = collection_layer(registry, collection_id)
    url = api_url(request, settings, f"/collections/{collection_id}/tiles")
    return metadata.tileset_list(
        layer.title, f"{url}/{TMS_ID}", api_url(request, settings, f"/tileMatrixSets/{TMS_ID}"),
        url, api_url(request, settings, f"/collections/{collection_id}"))


@router.get("/collections/{collection_id}/tiles/{tms}", summary="Tileset metadata")
async def collection_tileset(
    collection_id: str, tms: str, request: Request, registry: RegistryDep,
    settings: SettingsDep, service: ServiceDep, pool: PoolDep,
    f: Annotated[Literal["json", "tilejson"], Query(description="json or tilejson")] = "json",
) -> JSONResponse:
    """The tileset's metadata (OGC API Tiles), or TileJSON with ``f=tilejson``."""
    layer = collection_layer(registry, collection_id)
    check_tms(tms)
    bounds = await service.bounds(pool, [layer])
    url = api_url(request, settings, f"/collections/{collection_id}/tiles/{TMS_ID}")
    if f == "tilejson":
        return JSONResponse(metadata.tilejson(layer.id, layer.title, [layer], bounds, url,
                                              layer.attribution))
    return JSONResponse(metadata.tileset(
        layer.title, layer.description, [layer], bounds, url,
        api_url(request, settings, f"/tileMatrixSets/{TMS_ID}"),
        api_url(request, settings, f"/collections/{collection_id}")))


# GDAL opens "MVT:/vsicurl/<url>" as a directory of tiles when the URL ends with a number:
# the same tile as ".../{y}.mvt" (or ".pbf") opens as one tile, georeferenced from z/x/y.
# Declared before the plain routes, which would take "{y}.mvt" as their {y}.
TileFileExt = Literal["mvt", "pbf"]


@router.get("/collections/{collection_id}/tiles/{tms}/{z}/{x}/{y}.{ext}",
            include_in_schema=False, response_class=Response)
async def collection_tile_file(collection_id: str, tms: str, z: int, x: int, y: int,
                               ext: TileFileExt, request: Request,
                               at: AtParam = None) -> Response:
    """A collection's tile named as a file (``.mvt``, ``.pbf``)."""
    return await collection_tile(collection_id, tms, z, x, y, request, at)


@router.get("/collections/{collection_id}/tiles/{tms}/{z}/{x}/{y}",
            summary="A vector tile of a collection", response_class=Response,
            responses={200: {"content": {metadata.MVT: {}}}, 204: {"description": "empty"}})
async def collection_tile(collection_id: str, tms: str, z: int, x: int, y: int,
                          request: Request, at: AtParam = None) -> Response:
    """Mapbox Vector Tile of one collection (as it stood at ``at``); 204 when empty or below
    the layer's minimum zoom."""
    settings, registry = _state(request)
    layer = collection_layer(registry, collection_id)
    check_tms(tms)
    address = tile_address(z, x, y)
    moment = tile_moment(at, (layer,))
    tile_request = TileRequest(layers_at_zoom([layer], z), address, at=moment)
    return await tile_response(request, settings, tile_request)


@router.get("/tiles", summary="Tilesets of the whole dataset")
async def dataset_tilesets(request: Request, settings: SettingsDep) -> dict[str, Any]:
    """The vector tileset holding every layer (the viewer's base map and overlays)."""
    url = api_url(request, settings, "/tiles")
    return metadata.tileset_list(DATASET_TITLE, f"{url}/{TMS_ID}",
                                 api_url(request, settings, f"/tileMatrixSets/{TMS_ID}"), url)


@router.get("/tiles/{tms}", summary="Metadata of the dataset tileset")
async def dataset_tileset(
    tms: str, request: Request, registry: RegistryDep, settings: SettingsDep,
    service: ServiceDep, pool: PoolDep,
    f: Annotated[Literal["json", "tilejson"], Query(description="json or tilejson")] = "json",
) -> JSONResponse:
    """Metadata of the tileset of every layer, or TileJSON with ``f=tilejson``."""
    check_tms(tms)
    layers = registry.with_geometry()
    bounds = await service.bounds(pool, layers)
    url = api_url(request, settings, f"/tiles/{TMS_ID}")
    description = "Toutes les couches du géoportail en une tuile : " + ", ".join(
        layer.id for layer in layers)
    if f == "tilejson":
        return JSONResponse(metadata.tilejson("geoportail-auc", description, layers, bounds, url,
                                              layers[0].attribution if layers else ""))
    return JSONResponse(metadata.tileset(DATASET_TITLE, description, layers, bounds, url,
                                         api_url(request, settings, f"/tileMatrixSets/{TMS_ID}")))


@router.get("/tiles/{tms}/{z}/{x}/{y}.{ext}", include_in_schema=False, response_class=Response)
async def dataset_tile_file(
    tms: str, z: int, x: int, y: int, ext: TileFileExt, request: Request,
    collections: CollectionsParam = None, at: AtParam = None,
) -> Response:
    """The dataset tile named as a file (``.mvt``, ``.pbf``)."""
    return await dataset_tile(tms, z, x, y, request, collections, at)


@router.get("/tiles/{tms}/{z}/{x}/{y}", summary="A vector tile of several collections",
            response_class=Response,
            responses={200: {"content": {metadata.MVT: {}}}, 204: {"description": "empty"}})
async def dataset_tile(
    tms: str, z: int, x: int, y: int, request: Request,
    collections: CollectionsParam = None, at: AtParam = None,
) -> Response:
    """One tile of every layer legible at that zoom (or of ``collections``), with label points,
    as they stood at ``at`` when given."""
    settings, registry = _state(request)
    check_tms(tms)
    address = tile_address(z, x, y)
    chosen = selected_layers(registry, collections)
    tile_request = TileRequest(layers_at_zoom(chosen, z), address, labels=True,
                               at=tile_moment(at, chosen))
    return await tile_response(request, settings, tile_request)


@router.get("/tileMatrixSets", summary="Tile matrix sets")
async def tile_matrix_sets(request: Request, settings: SettingsDep) -> dict[str, Any]:
    """The tile matrix sets offered: WebMercatorQuad."""
    tms = metadata.tile_matrix_set_document()
    return {"tileMatrixSets": [{
        "id": TMS_ID, "title": tms.get("title", TMS_ID), "uri": tms.get("uri"),
        "links": [{"rel": "self", "type": "application/json",
                   "href": api_url(request, settings, f"/tileMatrixSets/{TMS_ID}")}],
    }]}


@router.get("/tileMatrixSets/{tms}", summary="A tile matrix set")
async def tile_matrix_set_definition(tms: str) -> dict[str, Any]:
    """The definition of WebMercatorQuad (OGC 2D Tile Matrix Set 2.0)."""
    check_tms(tms)
    return metadata.tile_matrix_set_document()
