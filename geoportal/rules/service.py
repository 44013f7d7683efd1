"""What rules apply here, independent of the web framework: ``lookup`` and ``lookup_batch``.

Other parts of the service (the pygeoapi process, the web viewer, the note) call these with
a pool or a connection. Errors are the service's exceptions (400, 404, 413, 422).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, TypeAlias
from zoneinfo import ZoneInfo

import asyncpg
import shapely
from shapely.geometry import Point

from geoportal.db.versions import data_version
from geoportal.errors import (
    GeoportalError,
    InvalidParameter,
    NotFound,
    OutsideArea,
    PayloadTooLarge,
)
from geoportal.rules import sql
from geoportal.rules.assess import build_answer
from geoportal.rules.geometry import OUTSIDE, geometry_to_storage, point_to_storage
from geoportal.rules.models import (
    BatchAnswer,
    BatchError,
    BatchItem,
    BatchResult,
    RasterValue,
    RulesAnswer,
    RulesQuery,
)
from geoportal.rules.rasters import RasterSampler

Database: TypeAlias = asyncpg.Pool | asyncpg.Connection
AGENCY_TZ = ZoneInfo("Africa/Casablanca")
BATCH_LIMIT = 1_000
BATCH_CHUNK = 250

def agency_today() -> dt.date:
    """Today's date in Casablanca."""
    return dt.datetime.now(AGENCY_TZ).date()


def _statement(query: RulesQuery) -> tuple[str, tuple[Any, ...]]:
    """The SQL and its arguments for one query; 400/422 when the query is unusable."""
    if query.kind == "parcel":
        ref = (query.parcel or "").strip()
        if not ref or len(ref) > 64:
            raise InvalidParameter("parcel: give a land-title reference such as 'TF 12345/C'")
        return sql.BY_REF, (ref, query.with_geometry)
    if query.kind == "point":
        if query.x is None or query.y is None:
            raise InvalidParameter("point: both coordinates are required")
        x, y = point_to_storage(query.x, query.y, query.crs or "OGC:CRS84")
        return sql.BY_POINT, (x, y, query.with_geometry)
    if query.geometry is None:
        raise InvalidParameter("geometry: a GeoJSON geometry is required")
    geom = geometry_to_storage(query.geometry, query.crs or "OGC:CRS84")
    if isinstance(geom, Point):
        return sql.BY_POINT, (geom.x, geom.y, query.with_geometry)
    return sql.BY_GEOMETRY, (shapely.to_wkb(geom), query.with_geometry)


def _decoded(facts: Any) -> dict[str, Any]:
    """The facts document, whether or not the connection decodes json itself."""
    document: dict[str, Any] = json.loads(facts) if isinstance(facts, str) else facts
    return document


async def _raster_values(rasters: RasterSampler | None, facts: dict[str, Any],
                         wkb: bytes) -> list[RasterValue]:
    if rasters is None or not rasters.available():
        return []
    location = Point(facts["location"]["x"], facts["location"]["y"])
    subject = shapely.from_wkb(wkb)
    return await rasters.sample_async(subject, location)


async def _answer(query: RulesQuery, facts: dict[str, Any], wkb: bytes,
                  rasters: RasterSampler | None, today: dt.date) -> RulesAnswer:
    if facts.get("prefecture") is None:
        raise OutsideArea(OUTSIDE)
    values = await _raster_values(rasters, facts, wkb)
    return build_answer(query, facts, today=today, rasters=values)


async def lookup(db: Database, query: RulesQuery, *, rasters: RasterSampler | None = None,
                 today: dt.date | None = None) -> RulesAnswer:
    """The rules that apply to one plot, point or geometry, in one database round trip.

    Raises ``NotFound`` for an unknown reference, ``OutsideArea`` (404) outside the AUC
    area, ``InvalidParameter`` (400) or ``InvalidBody`` (422) for unusable input.
    """
    statement, args = _statement(query)
    row = await db.fetchrow(statement, *args)
    if row is None:
        raise NotFound(f"No registered plot has the land-title reference {query.parcel!r}.")
    return await _answer(query, _decoded(row["facts"]), row["wkb"], rasters,
                         today or agency_today())


def batch_query(item: BatchItem, at: dt.date | None) -> RulesQuery:
    """The query one batch item asks (400 when it names neither a plot nor a point)."""
    if item.parcel is not None:
        return RulesQuery.for_parcel(item.parcel, at=at)
    if item.lon is not None and item.lat is not None:
        return RulesQuery.at_lonlat(item.lon, item.lat, at=at)
    if item.x is not None and item.y is not None:
        return RulesQuery.at_xy(item.x, item.y, item.crs or "EPSG:26191", at=at)
    raise InvalidParameter("give 'parcel', or 'lon' and 'lat', or 'x', 'y' and 'crs'")


def _error(index: int, exc: GeoportalError) -> BatchResult:
    return BatchResult(index=index, error=BatchError(status=exc.status_code, code=exc.code,
                                                     description=exc.message))


async def _fetch_chunk(db: Database, chunk: list[tuple[int, str | None, float, float]]
                       ) -> list[asyncpg.Record]:
    ords, refs, xs, ys = (list(column) for column in zip(*chunk, strict=True))
    rows: list[asyncpg.Record] = await db.fetch(sql.BATCH, ords, refs, xs, ys)
    return rows


async def lookup_batch(db: Database, items: Sequence[BatchItem], *, at: dt.date | None = None,
                       rasters: RasterSampler | None = None,
                       today: dt.date | None = None) -> BatchAnswer:
    """Answers for up to ``BATCH_LIMIT`` plots or points, in set-based statements.

    With a pool, the items are split into chunks answered on several connections at once.
    Each item gets its answer or its own error; the batch fails only when it is too large.
    """
    if len(items) > BATCH_LIMIT:
        raise PayloadTooLarge(f"A batch holds at most {BATCH_LIMIT} plots or points; this one "
                              f"has {len(items)}. Split it.")
    today = today or agency_today()
    results: dict[int, BatchResult] = {}
    queries: dict[int, RulesQuery] = {}
    wanted: list[tuple[int, str | None, float, float]] = []
    for index, item in enumerate(items):
        try:
            query = batch_query(item, at)
            statement, args = _statement(query)
        except GeoportalError as exc:
            results[index] = _error(index, exc)
            continue
        queries[index] = query
        if statement == sql.BY_REF:
            wanted.append((index, args[0], 0.0, 0.0))
        else:
            wanted.append((index, None, args[0], args[1]))
    chunks = [wanted[i:i + BATCH_CHUNK] for i in range(0, len(wanted), BATCH_CHUNK)]
    if isinstance(db, asyncpg.Pool):
        fetched = await asyncio.gather(*(_fetch_chunk(db, c) for c in chunks))
    else:
        fetched = [await _fetch_chunk(db, c) for c in chunks]
    version = ""
    for rows in fetched:
        for row in rows:
            index = row["ord"]
            facts = _decoded(row["facts"])
            version = facts["data_version"]
            try:
                answer = await _answer(queries[index], facts, row["wkb"], rasters, today)
            except GeoportalError as exc:
                results[index] = _error(index, exc)
                continue
            results[index] = BatchResult(index=index, answer=answer)
    for index, query in queries.items():
        if index not in results:
            results[index] = _error(index, NotFound(
                f"No registered plot has the land-title reference {query.parcel!r}."))
    if not version:  # no item reached the database
        version = await data_version(db)
    return BatchAnswer(data_version=version, results=[results[i] for i in range(len(items))])
