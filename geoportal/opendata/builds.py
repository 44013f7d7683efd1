"""Whole-layer downloads written from one database snapshot, and what names that snapshot.

A download is read in one repeatable-read transaction; the layer's change counter and date
read in the same snapshot (its :class:`LayerStamp`) say exactly which data the file holds, so
the cache can name the file after it. GeoJSON and CSV come from a server-side cursor, encoded
by PostgreSQL; GeoPackage and zipped Shapefile are written by pyogrio (``files``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread
import asyncpg
import orjson

from geoportal.core import formats as ogc_formats
from geoportal.core.crs import STORAGE, Crs
from geoportal.ogc.query import csv_header, feature_sql
from geoportal.ogc.sql import ident
from geoportal.opendata import files
from geoportal.opendata.formats import GEOJSON, TEXT_DOWNLOADS, Download
from geoportal.registry import Layer

STREAM_BATCH = 5_000
# The layer's change counter and date, and which database this is (a database dropped and
# made again gets another oid): together they name the data a file was built from.
STAMP_SQL = """
SELECT v.version, v.updated_at, current_database() || '/' || d.oid AS database
FROM pg_database d LEFT JOIN layer_versions v ON v.table_name = $1
WHERE d.datname = current_database()
"""


@dataclass(frozen=True)
class LayerStamp:
    """Which data of a layer: its change counter and date, in which database."""

    version: int
    updated: dt.datetime | None
    database: str

    @property
    def key(self) -> str:
        """The stamp as text, for cache keys."""
        updated = self.updated.isoformat() if self.updated else "-"
        return f"{self.database}|{self.version}|{updated}"


async def layer_stamp(conn: asyncpg.Connection | asyncpg.Pool, layer: Layer) -> LayerStamp:
    """The layer's stamp now (or in the connection's snapshot)."""
    row = await conn.fetchrow(STAMP_SQL, layer.table)
    if row is None:  # pragma: no cover - the current database is always in pg_database
        return LayerStamp(0, None, "?")
    return LayerStamp(int(row["version"] or 0), row["updated_at"], str(row["database"]))


@asynccontextmanager
async def snapshot(pool: asyncpg.Pool, layer: Layer
                   ) -> AsyncIterator[tuple[asyncpg.Connection, LayerStamp]]:
    """A read-only repeatable-read transaction and the layer's stamp in it."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read",
                                                        readonly=True):
        yield conn, await layer_stamp(conn, layer)


def geojson_head(layer: Layer, crs: Crs, stamp: LayerStamp) -> bytes:
    """The members of the FeatureCollection before its features."""
    head: dict[str, Any] = {
        "type": "FeatureCollection", "name": layer.id, "title": layer.title,
        "description": layer.description, "license": layer.license,
        "attribution": layer.attribution, "dataVersion": stamp.version,
        "updated": stamp.updated.isoformat() if stamp.updated else None,
    }
    if crs is STORAGE:  # RFC 7946 says CRS84; the legal CRS is named the GDAL way
        head["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::26191"}}
    return orjson.dumps(head)[:-1] + b',"features":[\n'


def _rows_statement(layer: Layer, fmt: ogc_formats.Format, crs: Crs) -> str:
    feature = feature_sql(layer, fmt, crs, layer.properties)
    return (f"SELECT convert_to({feature}, 'UTF8') FROM {ident(layer.table)} t "  # noqa: S608
            f"ORDER BY t.{ident(layer.id_column)}")


async def text_chunks(conn: asyncpg.Connection, layer: Layer, crs: Crs, download: Download,
                      stamp: LayerStamp) -> AsyncIterator[bytes]:
    """The layer as GeoJSON or CSV, read by a server-side cursor of ``conn``'s transaction."""
    geojson = download is GEOJSON
    fmt = ogc_formats.GEOJSON if geojson else ogc_formats.CSV
    cursor = await conn.cursor(_rows_statement(layer, fmt, crs))
    yield geojson_head(layer, crs, stamp) if geojson else \
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


async def write_download(pool: asyncpg.Pool, layer: Layer, crs: Crs, download: Download,
                         folder: Path, license_text: Callable[[LayerStamp], str]
                         ) -> tuple[LayerStamp, Path]:
    """The whole layer as one file in ``folder``, and the stamp of the data it holds (a zipped
    Shapefile carries ``license_text(stamp)`` as LICENSE.txt)."""
    async with snapshot(pool, layer) as (conn, stamp):
        if download in TEXT_DOWNLOADS:
            path = folder / f"{layer.id}.{download.ext}"
            with path.open("wb") as out:
                async for chunk in text_chunks(conn, layer, crs, download, stamp):
                    await anyio.to_thread.run_sync(out.write, chunk)
            return stamp, path
        metadata = {"TITLE": layer.title, "DESCRIPTION": layer.description,
                    "LICENSE": layer.license, "ATTRIBUTION": layer.attribution,
                    "DATA_VERSION": str(stamp.version)}
        path = await files.write_layer(conn, layer, crs, download, folder, metadata)
    if download.driver == "ESRI Shapefile":
        path = await asyncio.to_thread(files.zip_shapefile, path, license_text(stamp))
    return stamp, path
