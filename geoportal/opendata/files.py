"""GeoPackage and zipped Shapefile downloads: written with pyogrio to a folder of their own.

Rows come from a server-side cursor in chunks, turned into Arrow record batches and written
by GDAL in one pass (``write_arrow``) in a worker thread, which asks the event loop for the
next chunk: memory stays flat whatever the size of the layer.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio.to_thread
import asyncpg
import pyarrow as pa
import pyogrio.raw

from geoportal.core.crs import Crs, output_geometry_sql
from geoportal.ogc.sql import geometry_column, id_column, ident, table
from geoportal.opendata.formats import GPKG, SHAPEFILE, Download
from geoportal.registry import Layer, LayerProperty

EXPORT_CHUNK = 20_000
FETCH_TIMEOUT_S = 120.0
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
GEOMETRY = "geometry"
ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(), "integer": pa.int64(), "number": pa.float64(),
    "boolean": pa.bool_(), "date": pa.date32(), "datetime": pa.timestamp("ms", tz="UTC"),
    "array": pa.string(),
}


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


def _arrow_type(prop: LayerProperty, shapefile: bool) -> pa.DataType:
    if shapefile and prop.type == "datetime":  # dBase has no date-time: ISO 8601 text
        return pa.string()
    return ARROW_TYPES[prop.type]


def arrow_schema(layer: Layer, shapefile: bool) -> pa.Schema:
    """The columns of the file: id, every property, the geometry as WKB."""
    fields = [pa.field("id", pa.int64())]
    fields += [pa.field(p.name, _arrow_type(p, shapefile)) for p in layer.properties]
    return pa.schema([*fields, pa.field(GEOMETRY, pa.binary())])


def _values(values: tuple[Any, ...], prop: LayerProperty, kind: pa.DataType) -> list[Any]:
    if prop.type == "array":
        return [None if v is None else json.dumps(v, ensure_ascii=False) for v in values]
    if prop.type == "datetime" and kind == pa.string():
        return [None if v is None else v.isoformat() for v in values]
    return list(values)


def record_batch(layer: Layer, schema: pa.Schema, rows: list[Any]) -> pa.RecordBatch:
    """Rows of :func:`export_sql` as one Arrow record batch of ``schema``."""
    columns = list(zip(*rows, strict=True))
    arrays = [pa.array(columns[0], pa.int64())]
    for index, prop in enumerate(layer.properties, start=1):
        kind = schema.field(index).type
        arrays.append(pa.array(_values(columns[index], prop, kind), kind))
    arrays.append(pa.array(columns[-1], pa.binary()))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _batches(layer: Layer, schema: pa.Schema, cursor: asyncpg.cursor.Cursor,
             loop: asyncio.AbstractEventLoop) -> Iterator[pa.RecordBatch]:
    """Record batches, each fetched by the event loop for this (worker) thread."""
    while True:
        rows = asyncio.run_coroutine_threadsafe(cursor.fetch(EXPORT_CHUNK), loop).result(
            timeout=FETCH_TIMEOUT_S)
        if not rows:
            return
        yield record_batch(layer, schema, rows)


def _write(path: Path, layer: Layer, crs: Crs, download: Download, schema: pa.Schema,
           batches: Iterator[pa.RecordBatch], metadata: dict[str, str]) -> None:
    shapefile = download is SHAPEFILE
    pyogrio.raw.write_arrow(
        pa.RecordBatchReader.from_batches(schema, batches), path, layer=layer.id,
        driver=download.driver, geometry_name=GEOMETRY, geometry_type=layer.geometry_type,
        crs=_file_crs(crs), encoding="UTF-8" if shapefile else None,
        layer_options=None if shapefile else {"DESCRIPTION": layer.description,
                                              "IDENTIFIER": layer.title},
        dataset_options=None if shapefile else {"VERSION": "1.2"},
        layer_metadata=None if shapefile else metadata,
    )


async def write_layer(conn: asyncpg.Connection, layer: Layer, crs: Crs, download: Download,
                      folder: Path, metadata: dict[str, str]) -> Path:
    """The whole layer as a GeoPackage or Shapefile in ``folder``, read in the transaction
    ``conn`` is in; returns its path."""
    path = folder / f"{layer.id}{'.gpkg' if download is GPKG else '.shp'}"
    schema = arrow_schema(layer, download is SHAPEFILE)
    loop = asyncio.get_running_loop()
    cursor = await conn.cursor(export_sql(layer, crs))
    await anyio.to_thread.run_sync(_write, path, layer, crs, download, schema,
                                   _batches(layer, schema, cursor, loop), metadata)
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
