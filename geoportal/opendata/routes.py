"""``/opendata``: the catalogue page and whole-layer downloads streamed from the database."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.background import BackgroundTask
from starlette.responses import StreamingResponse

from geoportal.core import formats as ogc_formats
from geoportal.core.caching import not_modified
from geoportal.core.crs import STORAGE, WGS84_LON_LAT, Crs
from geoportal.core.links import Links
from geoportal.core.services import services_of
from geoportal.core.versions import layer_version_row
from geoportal.deps import PoolDep, RegistryDep, SettingsDep
from geoportal.errors import NotFound
from geoportal.ogc.query import csv_header, feature_sql
from geoportal.ogc.sql import ident
from geoportal.opendata import files
from geoportal.opendata.catalogue import catalogue_document, download_name
from geoportal.opendata.datasets import StatsCache
from geoportal.opendata.formats import (
    CSV,
    GEOJSON,
    GEOTIFF,
    LICENSE_EXT,
    TABLE_CSV,
    Download,
    download_crs,
    download_for,
    split_name,
)
from geoportal.opendata.licenses import license_file, license_of
from geoportal.opendata.rasters import raster
from geoportal.opendata.slots import DownloadSlots, Slot
from geoportal.registry import Layer, LayerRegistry
from geoportal.settings import Settings

router = APIRouter(tags=["open data"])
STREAM_BATCH = 5_000
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


def _geojson_head(layer: Layer, crs: Crs, version: int, updated: dt.datetime | None) -> bytes:
    head: dict[str, Any] = {
        "type": "FeatureCollection", "name": layer.id, "title": layer.title,
        "description": layer.description, "license": layer.license,
        "attribution": layer.attribution, "dataVersion": version,
        "updated": updated.isoformat() if updated else None,
    }
    if crs is STORAGE:  # RFC 7946 says CRS84; the legal CRS is named the GDAL way
        head["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::26191"}}
    return orjson.dumps(head)[:-1] + b',"features":[\n'


def _rows_statement(layer: Layer, fmt: ogc_formats.Format, crs: Crs) -> str:
    feature = feature_sql(layer, fmt, crs, layer.properties)
    return (f"SELECT convert_to({feature}, 'UTF8') FROM {ident(layer.table)} t "  # noqa: S608
            f"ORDER BY t.{ident(layer.id_column)}")


async def _stream(pool: asyncpg.Pool, layer: Layer, crs: Crs, download: Download,
                  slot: Slot) -> AsyncIterator[bytes]:
    """The layer as GeoJSON or CSV, from one snapshot, read by a server-side cursor."""
    geojson = download is GEOJSON
    fmt = ogc_formats.GEOJSON if geojson else ogc_formats.CSV
    try:
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read",
                                                            readonly=True):
            version, updated = await layer_version_row(conn, layer.table)
            cursor = await conn.cursor(_rows_statement(layer, fmt, crs))
            yield _geojson_head(layer, crs, version, updated) if geojson else \
                csv_header(layer.properties, layer.has_geometry)
            first = True
            while rows := await cursor.fetch(STREAM_BATCH):
                if geojson:
                    body = b",\n".join(r[0] for r in rows)
                    yield body if first else b",\n" + body
                else:
                    yield b"".join(r[0] for r in rows)
                first = False
            if geojson:
                yield b"\n]}\n"
    finally:
        slot.release()


async def _file_download(pool: asyncpg.Pool, layer: Layer, crs: Crs, download: Download,
                         license_text: str, version: str) -> tuple[Path, Path]:
    folder = files.scratch_folder()
    try:
        metadata = {"TITLE": layer.title, "DESCRIPTION": layer.description,
                    "LICENSE": layer.license, "ATTRIBUTION": layer.attribution,
                    "DATA_VERSION": version}
        path = await files.write_layer(pool, layer, crs, download, folder, metadata)
        if download.driver == "ESRI Shapefile":
            path = await asyncio.to_thread(files.zip_shapefile, path, license_text)
    except BaseException:
        files.remove(folder)
        raise
    return folder, path


async def _send_file(path: Path, folder: Path, slot: Slot) -> AsyncIterator[bytes]:
    try:
        with path.open("rb") as handle:
            while block := await asyncio.to_thread(handle.read, 1 << 20):
                yield block
    finally:
        files.remove(folder)
        slot.release()


def _etag(layer: Layer, version: int, ext: str, crs: Crs) -> str:
    return f'W/"{layer.id}-{version}-{ext}-{crs.srid}"'


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


def _raster_response(settings: Settings, registry: LayerRegistry, dataset_id: str,
                     links: Links) -> FileResponse:
    dataset = raster(registry, dataset_id)
    if dataset is None:
        raise NotFound(f"no raster dataset {dataset_id!r}; see /opendata for the list")
    path = dataset.path(settings.raster_dir)
    if not path.is_file():
        raise NotFound(f"the {dataset.title} raster is not loaded on this server")
    headers = _headers(links, dataset.id, dataset.license, path.name, None)
    return FileResponse(path, media_type=GEOTIFF.media_type, headers=headers)


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
        return _raster_response(settings, registry, dataset_id, links)
    layer = _layer(registry, dataset_id)
    chosen = download_for(ext, layer.has_geometry)
    output_crs = download_crs(crs)
    if not layer.has_geometry:  # no coordinates to transform: one file, named without a CRS
        output_crs = WGS84_LON_LAT
    async with pool.acquire() as conn:
        version, updated = await layer_version_row(conn, layer.table)
    etag = _etag(layer, version, ext, output_crs)
    filename = download_name(layer.id, ext, output_crs.label)
    headers = _headers(links, layer.id, layer.license, filename, etag)
    if not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    slot = await _take_slot(request)
    if chosen in (GEOJSON, CSV, TABLE_CSV):
        return StreamingResponse(_stream(pool, layer, output_crs, chosen, slot),
                                 media_type=chosen.media_type, headers=headers,
                                 background=BackgroundTask(slot.release))
    text = license_file(layer.title, layer.license, layer.attribution, updated, str(version),
                        links.url("/opendata"))
    try:
        folder, path = await _file_download(pool, layer, output_crs, chosen, text, str(version))
    except BaseException:
        slot.release()
        raise
    headers["Content-Length"] = str(path.stat().st_size)
    return StreamingResponse(_send_file(path, folder, slot), media_type=chosen.media_type,
                             headers=headers,
                             background=BackgroundTask(_cleanup, folder, slot))


def _cleanup(folder: Path, slot: Slot) -> None:
    files.remove(folder)
    slot.release()

