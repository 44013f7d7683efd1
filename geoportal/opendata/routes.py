"""``/opendata``: the catalogue page and whole-layer downloads.

A download is built once per version of its layer into the download cache and served from
there with its length, validators and byte ranges (GDAL's ``/vsicurl/`` and QGIS read it
in place); with the cache turned off, GeoJSON and CSV are streamed as they are read.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from functools import lru_cache, partial
from pathlib import Path
from typing import Annotated

import asyncpg
import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.background import BackgroundTask
from starlette.responses import StreamingResponse

from geoportal.core import formats as ogc_formats
from geoportal.core.caching import not_modified
from geoportal.core.crs import WGS84_LON_LAT, Crs
from geoportal.core.links import Links
from geoportal.core.ranges import OpenFile, RangedResponse
from geoportal.core.services import services_of
from geoportal.core.versions import layer_version_row
from geoportal.deps import PoolDep, RegistryDep, SettingsDep
from geoportal.errors import NotFound, outage_log
from geoportal.ogc.query import csvt_line
from geoportal.opendata import files
from geoportal.opendata.builds import (
    LayerStamp,
    layer_stamp,
    snapshot,
    text_chunks,
    write_download,
)
from geoportal.opendata.cache import DownloadCache, Family
from geoportal.opendata.catalogue import catalogue_document, download_name
from geoportal.opendata.datasets import StatsCache
from geoportal.opendata.formats import (
    COMPRESSIBLE,
    GEOTIFF,
    LICENSE_EXT,
    TEXT_DOWNLOADS,
    Download,
    download_crs,
    download_for,
    split_name,
    storage_alias,
)
from geoportal.opendata.licenses import license_file, license_of
from geoportal.opendata.rasters import raster
from geoportal.opendata.serving import accepts_gzip, file_response
from geoportal.opendata.slots import DownloadSlots, Slot
from geoportal.registry import Layer, LayerRegistry
from geoportal.settings import Settings

CSVT_EXT = "csvt"


router = APIRouter(tags=["open data"])
CrsParam = Annotated[str | None, Query(
    description="CRS84 (longitude, latitude; default) or EPSG:26191 (Merchich / Nord Maroc).",
    max_length=100)]


@lru_cache(maxsize=1)
def _templates() -> Environment:
    return Environment(loader=PackageLoader("geoportal.opendata", "templates"),
                       autoescape=select_autoescape(["html"]), auto_reload=False)


async def _take_slot(request: Request) -> Slot:
    return await services_of(request).get(DownloadSlots).take()


@router.get("/opendata", summary="Open data: every dataset with its license and downloads")
async def opendata_page(request: Request, pool: PoolDep, registry: RegistryDep,
                        settings: SettingsDep,
                        f: Annotated[str | None, Query(description="html or json")] = None
                        ) -> Response:
    """The open data catalogue (HTML for people, ``f=json`` for programs)."""
    links = Links.for_request(request, settings)
    version, stats = await services_of(request).get(StatsCache).get(pool, registry)
    document = catalogue_document(registry, stats, settings.raster_dir, links)
    document["dataVersion"] = version
    # f= first, then Accept; a page for people unless JSON is asked for.
    fmt = ogc_formats.negotiate(request, (ogc_formats.HTML, ogc_formats.JSON))
    headers = {"Cache-Control": "no-cache", "X-Data-Version": version}
    if fmt is ogc_formats.JSON:
        return Response(orjson.dumps(document), media_type="application/json",
                        headers=headers)
    page = _templates().get_template("opendata.html").render(doc=document, base=links.base)
    return HTMLResponse(page, headers=headers)


def _layer(registry: LayerRegistry, dataset_id: str) -> Layer:
    layer = registry.get(dataset_id)
    if layer is None:
        raise NotFound(f"no dataset {dataset_id!r}; see /opendata for the list")
    return layer


def _headers(links: Links, dataset_id: str, license_id: str, filename: str,
             etag: str | None) -> dict[str, str]:
    terms = license_of(license_id)
    link = [f'<{links.url(f"/opendata/{dataset_id}.{LICENSE_EXT}")}>; rel="license"; '
            'type="text/plain"',
            f'<{links.url("/opendata")}>; rel="collection"; type="text/html"']
    if terms.url:
        link.insert(1, f'<{terms.url}>; rel="license"; title="{terms.id}"')
    headers = {"Content-Disposition": f'attachment; filename="{filename}"',
               "Link": ", ".join(link), "Cache-Control": "no-cache"}
    if etag:
        headers["ETag"] = etag
    return headers


def _license_text(layer: Layer, links: Links) -> Callable[[LayerStamp], str]:
    def text(stamp: LayerStamp) -> str:
        return license_file(layer.title, layer.license, layer.attribution, stamp.updated,
                            str(stamp.version), links.url("/opendata"))
    return text


async def _build(request: Request, pool: asyncpg.Pool, layer: Layer, crs: Crs,
                 download: Download, links: Links, folder: Path) -> tuple[str, Path]:
    """Write a download into ``folder`` while holding one of the worker's download slots."""
    slot = await _take_slot(request)
    try:
        stamp, path = await write_download(pool, layer, crs, download, folder,
                                           _license_text(layer, links))
    finally:
        slot.release()
    return stamp.key, path


async def _cached(request: Request, pool: asyncpg.Pool, cache: DownloadCache, layer: Layer,
                  crs: Crs, download: Download, links: Links,
                  headers: dict[str, str]) -> Response:
    """The download from the cache (built first when needed), with a length and ranges."""
    family = Family(layer.id, download.ext, crs.srid, compressible=download in COMPRESSIBLE)
    async with pool.acquire() as conn:
        stamp = await layer_stamp(conn, layer)
    gzipped = "range" not in request.headers and accepts_gzip(request)
    try:
        opened = await cache.get(family, stamp.key,
                                 partial(_build, request, pool, layer, crs, download, links),
                                 gzipped)
    except OSError as exc:  # the cache folder cannot be written: serve as without a cache
        outage_log.warning("download-cache", "download cache %s unusable (%s): streaming",
                           cache.folder, type(exc).__name__)
        return await _streamed(request, pool, layer, crs, download, links, headers)
    return file_response(request, opened.handle, opened.size, opened.mtime_ns,
                         opened.path.name, download.media_type, headers,
                         gzipped=opened.gzipped, varies=family.compressible)


async def _stream(pool: asyncpg.Pool, layer: Layer, crs: Crs, download: Download,
                  slot: Slot) -> AsyncIterator[bytes]:
    """The layer as GeoJSON or CSV, from one snapshot, read by a server-side cursor."""
    try:
        async with snapshot(pool, layer) as (conn, stamp):
            async for chunk in text_chunks(conn, layer, crs, download, stamp):
                yield chunk
    finally:
        slot.release()


async def _streamed(request: Request, pool: asyncpg.Pool, layer: Layer, crs: Crs,
                    download: Download, links: Links, headers: dict[str, str]) -> Response:
    """Without the cache: GeoJSON and CSV streamed (no length), files written per request."""
    async with pool.acquire() as conn:
        version, _ = await layer_version_row(conn, layer.table)
    headers["ETag"] = f'W/"{layer.id}-{version}-{download.ext}-{crs.srid}"'
    if not_modified(request, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    slot = await _take_slot(request)
    if download in TEXT_DOWNLOADS:
        return StreamingResponse(_stream(pool, layer, crs, download, slot),
                                 media_type=download.media_type, headers=headers,
                                 background=BackgroundTask(slot.release))
    folder = files.scratch_folder()
    try:
        _, path = await write_download(pool, layer, crs, download, folder,
                                       _license_text(layer, links))
        handle = path.open("rb")
    except BaseException:
        files.remove(folder)
        slot.release()
        raise
    files.remove(folder)  # the open file stays readable
    return RangedResponse(OpenFile(handle, os.fstat(handle.fileno()).st_size), None,
                          download.media_type, headers,
                          background=BackgroundTask(slot.release))


async def _license_response(pool: asyncpg.Pool, registry: LayerRegistry, dataset_id: str,
                            links: Links) -> PlainTextResponse:
    source = links.url("/opendata")
    layer = registry.get(dataset_id)
    if layer is not None:
        async with pool.acquire() as conn:
            version, updated = await layer_version_row(conn, layer.table)
        text = license_file(layer.title, layer.license, layer.attribution, updated,
                            str(version), source)
    else:
        dataset = raster(registry, dataset_id)
        if dataset is None:
            raise NotFound(f"no dataset {dataset_id!r}; see /opendata for the list")
        text = license_file(dataset.title, dataset.license,
                            "Agence urbaine de Casablanca (données de démonstration "
                            "synthétiques)", None, "file", source)
    return PlainTextResponse(text, headers={"Cache-Control": "no-cache"})


def _raster_response(request: Request, settings: Settings, registry: LayerRegistry,
                     dataset_id: str, links: Links) -> Response:
    dataset = raster(registry, dataset_id)
    if dataset is None:
        raise NotFound(f"no raster dataset {dataset_id!r}; see /opendata for the list")
    path = dataset.path(settings.raster_dir)
    try:
        handle = path.open("rb")
    except OSError:
        raise NotFound(f"the {dataset.title} raster is not loaded on this server") from None
    status = os.fstat(handle.fileno())
    headers = _headers(links, dataset.id, dataset.license, path.name, None)
    return file_response(request, handle, status.st_size, status.st_mtime_ns, path.name,
                         GEOTIFF.media_type, headers)


@router.get("/opendata/{name}", summary="Download a whole dataset",
            responses={200: {"content": {"application/geo+json": {}, "text/csv": {},
                                         "application/geopackage+sqlite3": {},
                                         "application/zip": {}, "image/tiff": {}}}})
async def download(request: Request, name: str, pool: PoolDep, registry: RegistryDep,
                   settings: SettingsDep, crs: CrsParam = None) -> Response:
    """``{layer}.geojson``, ``.gpkg``, ``.csv`` or ``.shp.zip`` (with ``crs``), a raster's
    ``.tif``, or any dataset's ``.license.txt``."""
    links = Links.for_request(request, settings)
    dataset_id, ext = split_name(name)
    if ext == LICENSE_EXT:
        return await _license_response(pool, registry, dataset_id, links)
    if ext == GEOTIFF.ext:
        return _raster_response(request, settings, registry, dataset_id, links)
    if dataset_id not in registry:
        dataset_id, crs = storage_alias(dataset_id, crs)
    layer = _layer(registry, dataset_id)
    if ext == CSVT_EXT:  # GDAL's sidecar of the .csv: its column types
        return Response(csvt_line(layer.properties, layer.has_geometry), media_type="text/plain",
                        headers={"Cache-Control": "public, max-age=3600"})
    chosen = download_for(ext, layer.has_geometry)
    # a table without geometry has no coordinates to transform: one file, whatever ``crs``
    output_crs = download_crs(crs) if layer.has_geometry else WGS84_LON_LAT
    filename = download_name(layer.id, ext, output_crs.label)
    headers = _headers(links, layer.id, layer.license, filename, None)
    cache = services_of(request).get(DownloadCache)
    if cache.enabled:
        return await _cached(request, pool, cache, layer, output_crs, chosen, links, headers)
    return await _streamed(request, pool, layer, output_crs, chosen, links, headers)
