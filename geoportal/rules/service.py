"""What rules apply here, independent of the web framework: ``lookup`` and ``lookup_batch``.

Other parts of the service (the pygeoapi process, the web viewer, the note) call these with
a pool or a connection. Errors are the service's exceptions (400, 404, 413, 422).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Sequence
from typing import Any, TypeAlias
from zoneinfo import ZoneInfo

import asyncpg
import shapely
from shapely.geometry import Point

from geoportal.core.crs import CrsName, crs_name, in_crs_worker
from geoportal.core.i18n import Language
from geoportal.core.versions import data_version
from geoportal.errors import (
    GeoportalError,
    InvalidParameter,
    NotFound,
    PayloadTooLarge,
)
from geoportal.rules import sql
from geoportal.rules.assess import build_answer
from geoportal.rules.envelope import add_envelopes
from geoportal.rules.geometry import (
    geometry_to_storage,
    outside_area,
    point_to_storage,
    points_to_storage,
)
from geoportal.rules.models import (
    BatchAnswer,
    BatchError,
    BatchItem,
    BatchResult,
    RasterValue,
    RulesAnswer,
    RulesQuery,
)
from geoportal.rules.params import clean_parcel, question
from geoportal.rules.rasters import RasterSampler

Database: TypeAlias = asyncpg.Pool | asyncpg.Connection
AGENCY_TZ = ZoneInfo("Africa/Casablanca")
BATCH_LIMIT = 1_000
BATCH_CHUNK = 250
MAX_BATCH_CRS = 8
"""Distinct CRS one batch may use: each new one is built (milliseconds of CPU) before use."""
YIELD_AFTER_S = 0.005
"""Longest the assembly of a batch's answers holds the event loop before giving it back."""

def agency_today() -> dt.date:
    """Today's date in Casablanca."""
    return dt.datetime.now(AGENCY_TZ).date()


def answer_day(data_at: dt.datetime | None) -> dt.date:
    """The day an answer is given on: today, or the day of the data read (so that an answer
    about the past is the one given then, whenever it is asked)."""
    return data_at.astimezone(AGENCY_TZ).date() if data_at is not None else agency_today()


async def _statement(query: RulesQuery) -> tuple[str, tuple[Any, ...]]:
    """The SQL and its arguments for one query (the moment last, when the data is read as
    it stood then); 400/404/422 when the query is unusable."""
    statement, args = await _subject_statement(query,
                                               sql.THEN if query.data_at else sql.NOW)
    return statement, (*args, query.data_at) if query.data_at else args


async def _subject_statement(query: RulesQuery, lookups: sql.Lookups
                             ) -> tuple[str, tuple[Any, ...]]:
    """The statement for the kind of subject, and its own arguments.

    CRS and geometry work runs in the CRS worker thread, never on the event loop (except
    the cheap transform of a resident CRS such as CRS84).
    """
    if query.kind == "parcel":
        return lookups.by_ref, (clean_parcel(query.parcel or ""), query.with_geometry)
    if query.kind == "point":
        if query.x is None or query.y is None:
            raise InvalidParameter("point : les deux coordonnées sont nécessaires",
                                   en="point: both coordinates are required")
        name = crs_name(query.crs or "OGC:CRS84")
        x, y = await in_crs_worker(name, point_to_storage, query.x, query.y, name)
        return lookups.by_point, (x, y, query.with_geometry)
    if query.geometry is None:
        raise InvalidParameter("geometry : une géométrie GeoJSON est nécessaire",
                               en="geometry: a GeoJSON geometry is required")
    crs_name(query.crs or "OGC:CRS84")  # a malformed name is refused before the hop
    geom = await in_crs_worker(None, geometry_to_storage, query.geometry,
                               query.crs or "OGC:CRS84")
    if isinstance(geom, Point):
        return lookups.by_point, (geom.x, geom.y, query.with_geometry)
    return lookups.by_geometry, (shapely.to_wkb(geom), query.with_geometry)


def _unknown_ref(ref: str | None) -> NotFound:
    return NotFound(f"Aucune parcelle immatriculée n'a la référence foncière {ref!r}.",
                    en=f"No registered plot has the land-title reference {ref!r}.")


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
        raise outside_area()
    values = await _raster_values(rasters, facts, wkb)
    return build_answer(query, facts, today=today, rasters=values,
                        raster_layers=rasters.layers if rasters is not None else ())


async def lookup(db: Database, query: RulesQuery, *, rasters: RasterSampler | None = None,
                 today: dt.date | None = None) -> RulesAnswer:
    """The rules that apply to one plot, point or geometry, in one database round trip;
    from the data as it stood at ``query.data_at`` when given.

    Raises ``NotFound`` for an unknown reference, ``OutsideArea`` (404) outside the AUC
    area, ``InvalidParameter`` (400) or ``InvalidBody`` (422) for unusable input.
    """
    statement, args = await _statement(query)
    row = await db.fetchrow(statement, *args)
    if row is None:
        raise _unknown_ref(query.parcel)
    answer = await _answer(query, _decoded(row["facts"]), row["wkb"], rasters,
                           today or answer_day(query.data_at))
    if query.envelope:
        await add_envelopes(db, [(0, row["wkb"], answer)], crs84=query.envelope_crs84,
                            data_at=query.data_at)
    return answer


def batch_query(item: BatchItem, at: dt.date | None,
                data_at: dt.datetime | None = None) -> RulesQuery:
    """The query one batch item asks, read by the parser of ``GET /rules`` (400 otherwise)."""
    return question(lon=item.lon, lat=item.lat, x=item.x, y=item.y, crs=item.crs,
                    parcel=item.parcel, at=at, data_at=data_at)


def _error(index: int, exc: GeoportalError, language: Language) -> BatchResult:
    return BatchResult(index=index, error=BatchError(status=exc.status_code, code=exc.code,
                                                     description=exc.text(language)))


Wanted: TypeAlias = list[tuple[int, str | None, float, float]]


async def _fetch_chunk(db: Database, chunk: Wanted,
                       data_at: dt.datetime | None) -> list[asyncpg.Record]:
    ords, refs, xs, ys = (list(column) for column in zip(*chunk, strict=True))
    if data_at is None:
        rows: list[asyncpg.Record] = await db.fetch(sql.NOW.batch, ords, refs, xs, ys)
    else:
        rows = await db.fetch(sql.THEN.batch, ords, refs, xs, ys, data_at)
    return rows


async def _add_envelopes(db: Database, plots: list[tuple[int, bytes, RulesAnswer]],
                         data_at: dt.datetime | None) -> None:
    """The envelopes of a batch's plots, by chunks (at once on several connections)."""
    chunks = [plots[i:i + BATCH_CHUNK] for i in range(0, len(plots), BATCH_CHUNK)]
    if isinstance(db, asyncpg.Pool):
        await asyncio.gather(*(add_envelopes(db, c, data_at=data_at) for c in chunks))
    else:
        for chunk in chunks:
            await add_envelopes(db, chunk, data_at=data_at)


def _points_by_crs(queries: dict[int, RulesQuery]) -> dict[int, tuple[CrsName, list[int]]]:
    """The point items grouped by CRS (EPSG code); 400 for more CRS than a batch may use."""
    groups: dict[int, tuple[CrsName, list[int]]] = {}
    for index, query in queries.items():
        if query.kind == "point":
            name = crs_name(query.crs or "OGC:CRS84")
            groups.setdefault(name.code, (name, []))[1].append(index)
    if len(groups) > MAX_BATCH_CRS:
        raise InvalidParameter(
            f"Un lot utilise au plus {MAX_BATCH_CRS} systèmes de coordonnées (crs) "
            f"différents ; celui-ci en utilise {len(groups)}. Regroupez les points par crs "
            "ou convertissez-les.",
            en=f"A batch uses at most {MAX_BATCH_CRS} different coordinate systems (crs); "
               f"this one uses {len(groups)}. Group the points by crs or convert them.")
    return groups


async def _wanted(queries: dict[int, RulesQuery], results: dict[int, BatchResult],
                  language: Language) -> Wanted:
    """What to ask the database for: (ordinal, reference or null, x, y) per usable item;
    the items that cannot be asked get their error in ``results``."""
    wanted: Wanted = [(index, query.parcel, 0.0, 0.0) for index, query in queries.items()
                      if query.kind == "parcel"]
    for name, indices in _points_by_crs(queries).values():
        points = [(queries[i].x or 0.0, queries[i].y or 0.0) for i in indices]
        converted = await in_crs_worker(name, points_to_storage, points, name)
        for index, storage in zip(indices, converted, strict=True):
            if isinstance(storage, GeoportalError):
                results[index] = _error(index, storage, language)
            else:
                wanted.append((index, None, *storage))
    for index in results:
        queries.pop(index, None)
    return sorted(wanted)


async def lookup_batch(db: Database, items: Sequence[BatchItem], *, at: dt.date | None = None,
                       data_at: dt.datetime | None = None,
                       rasters: RasterSampler | None = None, today: dt.date | None = None,
                       language: Language = "fr", envelope: bool = False) -> BatchAnswer:
    """Answers for up to ``BATCH_LIMIT`` plots or points, in set-based statements (on the
    data as it stood at ``data_at`` when given).

    With a pool, the items are split into chunks answered on several connections at once.
    Each item gets its answer or its own error (in ``language``); the batch fails only when
    it is too large or uses too many CRS. With ``envelope``, each plot's answer gets its
    buildable envelope (in set-based statements too). The event loop is given back every
    ``YIELD_AFTER_S``, so other requests are served while a large batch is assembled.
    """
    if len(items) > BATCH_LIMIT:
        raise PayloadTooLarge(
            f"Un lot contient au plus {BATCH_LIMIT} parcelles ou points ; celui-ci en contient "
            f"{len(items)}. Découpez-le.",
            en=f"A batch holds at most {BATCH_LIMIT} plots or points; this one has "
               f"{len(items)}. Split it.")
    today = today or answer_day(data_at)
    results: dict[int, BatchResult] = {}
    queries: dict[int, RulesQuery] = {}
    for index, item in enumerate(items):
        try:
            queries[index] = batch_query(item, at, data_at)
        except GeoportalError as exc:
            results[index] = _error(index, exc, language)
    wanted = await _wanted(queries, results, language)
    chunks = [wanted[i:i + BATCH_CHUNK] for i in range(0, len(wanted), BATCH_CHUNK)]
    if isinstance(db, asyncpg.Pool):
        fetched = await asyncio.gather(*(_fetch_chunk(db, c, data_at) for c in chunks))
    else:
        fetched = [await _fetch_chunk(db, c, data_at) for c in chunks]
    version = ""
    plots: list[tuple[int, bytes, RulesAnswer]] = []
    held_since = time.perf_counter()
    for rows in fetched:
        for row in rows:
            if time.perf_counter() - held_since > YIELD_AFTER_S:
                await asyncio.sleep(0)
                held_since = time.perf_counter()
            index = row["ord"]
            facts = _decoded(row["facts"])
            version = facts["data_version"]
            try:
                answer = await _answer(queries[index], facts, row["wkb"], rasters, today)
            except GeoportalError as exc:
                results[index] = _error(index, exc, language)
                continue
            results[index] = BatchResult(index=index, answer=answer)
            if envelope:
                plots.append((index, row["wkb"], answer))
    if plots:
        await _add_envelopes(db, plots, data_at)
    for index, query in queries.items():
        if index not in results:
            results[index] = _error(index, _unknown_ref(query.parcel), language)
    if not version:  # no item reached the database
        version = await data_version(db, data_at)
    return BatchAnswer(data_version=version, data_at=data_at,
                       results=[results[i] for i in range(len(items))])
