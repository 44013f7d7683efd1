"""The raster coverages under pygeoapi's paths, answered by the service's own code.

pygeoapi 0.21's rasterio provider cannot be configured into what GIS clients need (its CRS
URI is invalid, its band is ``null`` of type ``float``, its axes are pixel edges, it ignores
scaling, has no domain set or range type, and a ``bbox-crs`` other than CRS84 crashes it), so
``/collections/{raster}``, ``.../coverage``, ``.../coverage/domainset``,
``.../coverage/rangetype`` and ``.../schema`` are served here; pygeoapi keeps the HTML page,
the collection list, Records and Processes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import astuple
from functools import partial
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from geoportal.catalogue.coverage_documents import collection, domainset, rangetype, schema
from geoportal.catalogue.coverage_encode import encode
from geoportal.catalogue.coverage_grid import Grids, RasterGrid
from geoportal.catalogue.coverage_query import GTIFF, parse_query
from geoportal.core.caching import not_modified, strong_etag
from geoportal.core.ranges import MemoryBytes, RangedResponse, requested_spans
from geoportal.errors import NotFound
from geoportal.opendata.rasters import raster
from geoportal.registry import LayerRegistry

log = logging.getLogger("geoportal")
Offload = Callable[..., Awaitable[Any]]
"""Runs a blocking call on pygeoapi's bounded threads (503 when they are all taken)."""


def _json(document: dict[str, Any], media_type: str = "application/json") -> Response:
    return Response(orjson.dumps(document), media_type=media_type,
                    headers={"Cache-Control": "no-cache"})


def wants_html(request: Request) -> bool:
    """``f=html``, or a browser's ``Accept`` without ``f``: pygeoapi's page."""
    asked = request.query_params.get("f")
    if asked is not None:
        return asked.lower() == "html"
    return "text/html" in request.headers.get("accept", "")


class Coverages:
    """The rasters of the data folder as coverages (built in ``create_app``)."""

    def __init__(self, grids: Grids, offload: Offload, registry: LayerRegistry) -> None:
        self.grids = grids
        self.offload = offload
        self.registry = registry

    def serves(self, collection_id: str) -> bool:
        """Whether the collection is one of the rasters (loaded or not)."""
        return raster(self.registry, collection_id) is not None

    async def grid(self, collection_id: str) -> RasterGrid:
        """The raster's grid; 404 when its file is not on this server."""
        dataset = raster(self.registry, collection_id)
        if dataset is None:
            raise NotFound(f"Collection {collection_id!r} inconnue.",
                           en=f"Unknown collection {collection_id!r}.")
        try:
            return await asyncio.to_thread(self.grids.get, dataset)
        except (OSError, ValueError) as exc:  # missing, or not a raster this can serve
            log.warning("coverage %s: %s", dataset.id, exc)
            raise NotFound(f"Le raster {dataset.title} n'est pas chargé sur ce serveur.",
                           en=f"The {dataset.title} raster is not loaded on this server.") \
                from None

    async def collection(self, request: Request, base: str) -> Response:
        """The collection document, with its domain set and range type."""
        grid = await self.grid(request.path_params["cid"])
        return _json(collection(grid, base))

    async def domainset(self, request: Request, base: str) -> Response:
        """``.../coverage/domainset``."""
        return _json(domainset(await self.grid(request.path_params["cid"])))

    async def rangetype(self, request: Request, base: str) -> Response:
        """``.../coverage/rangetype``."""
        return _json(rangetype(await self.grid(request.path_params["cid"])))

    async def schema(self, request: Request, base: str) -> Response:
        """``.../schema``: the bands as a JSON Schema."""
        grid = await self.grid(request.path_params["cid"])
        url = f"{base}/pygeoapi/collections/{grid.dataset.id}/schema"
        return _json(schema(grid, url), "application/schema+json")

    async def coverage(self, request: Request, base: str) -> Response:
        """The cells asked for, as GeoTIFF or CoverageJSON, with validators and byte ranges."""
        grid = await self.grid(request.path_params["cid"])
        query = parse_query(dict(request.query_params), request.headers.get("accept", ""),
                            grid)
        etag = strong_etag(grid.dataset.id, grid.version, *astuple(query))
        suffix = "tif" if query.encoding == GTIFF else "covjson"
        headers = {"ETag": etag, "Cache-Control": "no-cache",
                   "Content-Crs": f"<{grid.crs_uri}>",
                   "Content-Disposition": f'inline; filename="{grid.dataset.id}.{suffix}"'}
        if not_modified(request, etag):
            return Response(status_code=304, headers=headers)
        body: bytes = await self.offload(partial(encode, grid, query))
        spans = requested_spans(request.headers, len(body), etag)
        return RangedResponse(MemoryBytes(body), spans, query.media_type, headers)
