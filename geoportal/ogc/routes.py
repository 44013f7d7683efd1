"""The routes of OGC API Features under ``/ogc``: short handlers over the modules beside."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson
from fastapi import APIRouter, Request, Response

from geoportal.core import formats
from geoportal.core.extent import Extent, ExtentCache
from geoportal.core.links import Links
from geoportal.core.services import services_of
from geoportal.deps import get_pool
from geoportal.errors import NotFound
from geoportal.ogc import documents, features, html
from geoportal.ogc.caching import cache_headers, content_etag, not_modified
from geoportal.ogc.docs import add_docs_routes, swagger_page
from geoportal.ogc.edit_routes import add_edit_routes
from geoportal.ogc.extensions import conformance_classes, extra_openapi
from geoportal.ogc.history import history_router
from geoportal.ogc.openapi import (
    FEATURE_PARAMETERS,
    HISTORY_PAGING,
    HISTORY_PARAMETERS,
    ITEMS_PARAMETERS,
    METADATA_PARAMETERS,
    openapi_document,
    route_parameters,
)
from geoportal.ogc.params import (
    parse_feature_params,
    parse_items_query,
    parse_moment,
    reject_unknown,
)
from geoportal.registry import Layer, LayerRegistry
from geoportal.settings import Settings

ONLY_F = frozenset({"f"})


def _state(request: Request) -> tuple[Settings, LayerRegistry]:
    # Read from app state directly: FastAPI runs the sync dependencies of geoportal.deps in
    # a thread pool, a hop that costs more than the whole hot path of a small request.
    return request.app.state.settings, request.app.state.registry


def _layer(registry: LayerRegistry, collection_id: str) -> Layer:
    layer = registry.get(collection_id)
    if layer is None:
        raise NotFound(f"no collection {collection_id!r}; see /ogc/collections")
    return layer


async def _extent(request: Request, pool: asyncpg.Pool, layer: Layer) -> Extent:
    return await services_of(request).get(ExtentCache).get(pool, layer)


def _metadata_request(request: Request, settings: Settings,
                      offered: tuple[formats.Format, ...] = formats.METADATA
                      ) -> tuple[Links, formats.Format]:
    """A metadata page's request: only ``f`` allowed; its links and the format chosen."""
    reject_unknown(request.query_params, ONLY_F)
    return Links.for_request(request, settings), formats.negotiate(request, offered)


def _document(request: Request, doc: dict[str, Any], fmt: formats.Format, page: str,
              title: str, crumbs: html.Crumbs, links: Links, **context: Any) -> Response:
    """A metadata document as JSON or HTML, with an ETag of its content."""
    body = orjson.dumps(doc)
    etag = content_etag(body + fmt.name.encode())
    if not_modified(request, etag):
        return Response(status_code=304, headers=cache_headers(etag))
    if fmt is formats.HTML:
        return html.render(page, links.base, title, crumbs, doc, cache_headers(etag), **context)
    return Response(body, media_type=fmt.media_type, headers=cache_headers(etag))


# The paths of one feature (GET by id, and the edits): tried before the other routes.
ITEM_PATHS = r"/ogc/collections/[^/]+/items/[^/]+$"


def ogc_router(settings: Settings) -> APIRouter:
    """The OGC API Features router (and ``/docs``), built when the app is created.

    Each route's query parameters in ``/openapi.json`` come from the table that writes
    ``/ogc/api`` (``ogc.openapi``): one declaration for both documents.
    """
    router = APIRouter(tags=["OGC API Features"])
    add_docs_routes(router)

    def query(names: tuple[str, ...]) -> dict[str, Any]:
        return {"parameters": route_parameters(names, settings)}

    metadata = query(METADATA_PARAMETERS)

    @router.get("/ogc", summary="Landing page",
                openapi_extra=metadata)
    async def landing(request: Request) -> Response:
        """What the API offers, as links."""
        settings, _ = _state(request)
        links, fmt = _metadata_request(request, settings)
        doc = documents.landing(request, links, fmt)
        return _document(request, doc, fmt, "landing.html", "OGC API",
                         html.crumbs(links.base), links)

    @router.get("/ogc/conformance", summary="Conformance classes",
                openapi_extra=metadata)
    async def conformance(request: Request) -> Response:
        """The conformance classes this API implements."""
        settings, _ = _state(request)
        links, fmt = _metadata_request(request, settings)
        doc = {"conformsTo": conformance_classes(request),
               "links": links.alternates("/ogc/conformance", fmt, formats.METADATA)}
        return _document(request, doc, fmt, "conformance.html", "Conformance",
                         html.crumbs(links.base, ("Conformance", None)), links)

    @router.get("/ogc/api", summary="OpenAPI 3.0 definition (f=html: documentation)",
                openapi_extra=metadata)
    async def api(request: Request) -> Response:
        """The API definition as OpenAPI 3.0 JSON, or its Swagger UI page."""
        settings, registry = _state(request)
        reject_unknown(request.query_params, ONLY_F)
        fmt = formats.negotiate(request, (formats.OPENAPI, formats.HTML))
        if fmt is formats.HTML:
            return swagger_page(request, "/ogc/api?f=json", documents.TITLE)
        doc = openapi_document(registry, settings, Links.for_request(request, settings),
                               extra_openapi(request))
        return Response(orjson.dumps(doc), media_type=formats.OPENAPI.media_type)

    @router.get("/ogc/collections", summary="The collections",
                openapi_extra=metadata)
    async def collections(request: Request) -> Response:
        """Every published layer as a collection."""
        settings, registry = _state(request)
        links, fmt = _metadata_request(request, settings)
        pool = get_pool(request)
        layers = [(layer, await _extent(request, pool, layer)) for layer in registry]
        doc = documents.collections(request, layers, links, fmt)
        return _document(request, doc, fmt, "collections.html", "Collections",
                         html.crumbs(links.base, ("Collections", None)), links)

    @router.get("/ogc/collections/{collection_id}", summary="One collection",
                openapi_extra=metadata)
    async def collection(collection_id: str, request: Request) -> Response:
        """A collection: extent, CRSs and links to its items and queryables."""
        settings, registry = _state(request)
        layer = _layer(registry, collection_id)
        links, fmt = _metadata_request(request, settings)
        extent = await _extent(request, get_pool(request), layer)
        doc = documents.collection(request, layer, extent, links, fmt)
        return _document(request, doc, fmt, "collection.html", layer.title, html.crumbs(
            links.base, ("Collections", f"{links.base}/ogc/collections?f=html"),
            (layer.title, None)), links)

    @router.get("/ogc/collections/{collection_id}/queryables", summary="Queryables",
                openapi_extra=metadata)
    async def queryables(collection_id: str, request: Request) -> Response:
        """The properties usable in filter, sortby and name=value, as JSON Schema."""
        settings, registry = _state(request)
        return _schema(request, settings, _layer(registry, collection_id), "queryables")

    @router.get("/ogc/collections/{collection_id}/schema", summary="Schema of the features",
                openapi_extra=metadata)
    async def schema(collection_id: str, request: Request) -> Response:
        """Every property of the features, as JSON Schema."""
        settings, registry = _state(request)
        return _schema(request, settings, _layer(registry, collection_id), "schema")

    @router.get("/ogc/collections/{collection_id}/schema/geojson",
                summary="Schema of a GeoJSON feature")
    async def feature_schema(collection_id: str, request: Request) -> Response:
        """One GeoJSON feature of the collection, as JSON Schema (what GDAL types fields by)."""
        settings, registry = _state(request)
        layer = _layer(registry, collection_id)
        reject_unknown(request.query_params, ONLY_F)
        fmt = formats.negotiate(request, (formats.SCHEMA,))
        doc = documents.feature_schema(layer, Links.for_request(request, settings))
        body = orjson.dumps(doc)
        etag = content_etag(body)
        if not_modified(request, etag):
            return Response(status_code=304, headers=cache_headers(etag))
        return Response(body, media_type=fmt.media_type, headers=cache_headers(etag))

    @router.get("/ogc/collections/{collection_id}/items", summary="Features",
                openapi_extra=query((*ITEMS_PARAMETERS, "datetime")))
    async def items(collection_id: str, request: Request) -> Response:
        """A page of features (GeoJSON, JSON-FG, HTML) or the whole set streamed (jsonseq, CSV)."""
        settings, registry = _state(request)
        layer = _layer(registry, collection_id)
        fmt = formats.negotiate(request, formats.FEATURES)
        streaming = fmt in formats.STREAMING
        query = parse_items_query(request.query_params, layer, settings, streaming)
        links = Links.for_request(request, settings)
        pool = get_pool(request)
        if streaming:
            return await features.stream_response(request, pool, links, layer, query, fmt)
        area = await services_of(request).get(ExtentCache).planning_area(pool, layer) \
            if query.bbox else 0.0
        return await features.items_response(request, pool, links, layer, query, fmt, area)

    @router.get("/ogc/collections/{collection_id}/items/{feature_id}", summary="One feature",
                openapi_extra=query(FEATURE_PARAMETERS))
    async def item(collection_id: str, feature_id: str, request: Request) -> Response:
        """One feature by its id."""
        settings, registry = _state(request)
        layer = _layer(registry, collection_id)
        fmt = formats.negotiate(request, formats.FEATURE)
        crs, crs_given, props = parse_feature_params(request.query_params, layer)
        at = parse_moment(request.query_params, layer)
        links = Links.for_request(request, settings)
        return await features.feature_response(request, get_pool(request), links, layer,
                                               feature_id, fmt, crs, props, crs_given, at)

    router.include_router(history_router({"parameters": [
        *HISTORY_PAGING, *route_parameters(HISTORY_PARAMETERS, settings)]}))
    add_edit_routes(router)
    return router


def _schema(request: Request, settings: Settings, layer: Layer, kind: str) -> Response:
    links, fmt = _metadata_request(request, settings, (formats.SCHEMA, formats.HTML))
    props = layer.queryables if kind == "queryables" else list(layer.properties)
    doc = documents.json_schema(layer, links, props, kind)
    title = f"{'Queryables' if kind == 'queryables' else 'Schema'} of {layer.title}"
    return _document(request, doc, fmt, "schema.html", title, html.crumbs(
        links.base, ("Collections", f"{links.base}/ogc/collections?f=html"),
        (layer.title, f"{links.base}/ogc/collections/{layer.id}?f=html"), (kind, None)), links)
