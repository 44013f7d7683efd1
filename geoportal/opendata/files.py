"""GeoPackage and zipped Shapefile downloads: written with pyogrio to a temporary folder.

Rows come from a server-side cursor in chunks and are appended to the file in a worker
thread, so memory stays flat whatever the size of the layer; the folder is removed once
the file has been sent.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio.to_thread
import asyncpg
import numpy as np
import numpy.typing as npt
import pyogrio.raw

from geoportal.ogc.crs import Crs, output_geometry_sql
from geoportal.ogc.sql import geometry_column, id_column, ident, table
from geoportal.opendata.formats import GPKG, SHAPEFILE, Download
from geoportal.registry import Layer, LayerProperty

EXPORT_CHUNK = 20_000
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


def export_sql(layer: Layer, crs: Crs) -> str:
    """Id, every property and the geometry (WKB in ``crs``), in id order."""
    columns = [id_column(layer), *(f"t.{ident(p.column_name)}" for p in layer.properties)]
    geometry = f"ST_AsBinary({output_geometry_sql(geometry_column(layer), crs)})"
    return (f"SELECT {', '.join(columns)}, {geometry} FROM {table(layer)} t "  # noqa: S608
            f"ORDER BY {id_column(layer)}")


def _file_crs(crs: Crs) -> str:
    # GeoPackage and Shapefile store longitude first whatever the CRS says, and every reader
    # knows EPSG:4326 there (an OGC:CRS84 .prj is not understood by all).
    return f"EPSG:{crs.srid}"


def _column(values: Sequence[Any], prop: LayerProperty | None, shapefile: bool
            ) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_] | None]:
    """A field's values for pyogrio and its null mask."""
    mask = np.array([v is None for v in values], dtype=bool)
    kind = "integer" if prop is None else prop.type
    if kind == "integer":
        return np.array([0 if v is None else v for v in values], dtype=np.int64), mask
    if kind == "number":
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64), None
    if kind == "boolean":
        return np.array([bool(v) for v in values], dtype=bool), mask
    if kind == "date":
        return np.array([np.datetime64("NaT") if v is None else np.datetime64(v, "D")
                         for v in values], dtype="datetime64[D]"), None
    if kind == "datetime":
        return _timestamps(values, shapefile), None
    return np.array([None if v is None else str(v) for v in values], dtype=object), None


def _timestamps(values: Sequence[Any], shapefile: bool) -> npt.NDArray[Any]:
    utc = [None if v is None else v.astimezone(dt.UTC).replace(tzinfo=None) for v in values]
    if shapefile:  # dBase has no date-time type: ISO 8601 text in UTC
        return np.array([None if v is None else v.isoformat(timespec="seconds") + "Z"
                         for v in utc], dtype=object)
    return np.array([np.datetime64("NaT") if v is None else np.datetime64(v, "ms")
                     for v in utc], dtype="datetime64[ms]")


def _write_chunk(path: Path, layer: Layer, crs: Crs, download: Download,
                 rows: Sequence[Sequence[Any]], append: bool,
                 metadata: dict[str, str]) -> None:
    shapefile = download is SHAPEFILE
    width = len(layer.properties) + 2
    columns: list[Sequence[Any]] = list(zip(*rows, strict=True)) if rows else [()] * width
    props: list[LayerProperty | None] = [None, *layer.properties]
    data, masks = [], []
    for values, prop in zip(columns[:-1], props, strict=True):
        array, mask = _column(values, prop, shapefile)
        data.append(array)
        masks.append(mask)
    geometry = np.array(columns[-1], dtype=object)
    options = {} if shapefile else {"DESCRIPTION": layer.description, "IDENTIFIER": layer.title}
    pyogrio.raw.write(
        path, geometry, data, ["id", *(p.name for p in layer.properties)], field_mask=masks,
        layer=layer.id, driver=download.driver, geometry_type=layer.geometry_type,
        crs=_file_crs(crs), encoding="UTF-8" if shapefile else None, append=append,
        layer_options=None if append else options,
        dataset_options=None if append or shapefile else {"VERSION": "1.2"},
        layer_metadata=None if append or shapefile else metadata,
    )


async def write_layer(pool: asyncpg.Pool, layer: Layer, crs: Crs, download: Download,
                      folder: Path, metadata: dict[str, str]) -> Path:
    """The whole layer as a GeoPackage or Shapefile in ``folder``; returns its path."""
    suffix = ".gpkg" if download is GPKG else ".shp"
    path = folder / f"{layer.id}{suffix}"
    written = False
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read",
                                                        readonly=True):
        cursor = await conn.cursor(export_sql(layer, crs))
        while rows := await cursor.fetch(EXPORT_CHUNK):
            await anyio.to_thread.run_sync(_write_chunk, path, layer, crs, download, rows,
                                           written, metadata)
            written = True
    if not written:
        await anyio.to_thread.run_sync(_write_chunk, path, layer, crs, download, [], False,
                                       metadata)
    return path


def zip_shapefile(shp: Path, license_text: str) -> Path:
    """The Shapefile's parts and LICENSE.txt in one zip beside them."""
    archive = shp.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for suffix in SHAPEFILE_PARTS:
            part = shp.with_suffix(suffix)
            if part.exists():
                z.write(part, part.name)
        z.writestr("LICENSE.txt", license_text)
    return archive


def scratch_folder() -> Path:
    """A new private folder for one download."""
    return Path(tempfile.mkdtemp(prefix="geoportal-opendata-"))


def remove(folder: Path) -> None:
    """Remove a download's folder (twice is harmless)."""
    shutil.rmtree(folder, ignore_errors=True)
