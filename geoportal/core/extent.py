"""Spatial and temporal extents of layers, computed in SQL and cached per data version."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from functools import partial

import asyncpg

from geoportal.core.area import AUC_LONLAT
from geoportal.core.sql import ident, literal
from geoportal.core.versions import layer_version, layer_version_sql
from geoportal.registry import Layer


@dataclass(frozen=True)
class Extent:
    """A layer's bounding box in CRS84 and in storage, and its time interval."""

    crs84: tuple[float, float, float, float] | None
    storage: tuple[float, float, float, float] | None
    start: dt.datetime | dt.date | None
    end: dt.datetime | dt.date | None

    @property
    def lonlat_bounds(self) -> tuple[float, float, float, float] | None:
        """The CRS84 box rounded to 6 decimals (10 cm), for maps and tile metadata."""
        if self.crs84 is None:
            return None
        west, south, east, north = self.crs84
        return (round(west, 6), round(south, 6), round(east, 6), round(north, 6))

    @property
    def storage_area(self) -> float:
        """Area of the storage bounding box in m² (0 when the layer is empty)."""
        if self.storage is None:
            return 0.0
        x1, y1, x2, y2 = self.storage
        return max(x2 - x1, 1.0) * max(y2 - y1, 1.0)


Bounds = tuple[float, float, float, float]


def union_bounds(bounds: list[Bounds]) -> Bounds:
    """The smallest bounds holding all of them (the agency's area when there are none)."""
    if not bounds:
        return AUC_LONLAT
    return (min(b[0] for b in bounds), min(b[1] for b in bounds),
            max(b[2] for b in bounds), max(b[3] for b in bounds))


def extent_sql(layer: Layer) -> str:
    """One statement: version, storage box, CRS84 box, time bounds (no box without geometry).

    The CRS84 box is that of the data, not of the storage box's corners (up to 800 m wider
    here: EPSG:26191's grid turns against the meridians). Transforming every geometry would
    cost a PROJ call per row, so each row is first placed by an affine fit of the projection
    through the box's corners (arithmetic on its bounding box); only the rows that can hold
    an extreme — within a margin over the fit's error and the tilt of a row's own box — are
    transformed.
    """
    if not layer.has_geometry:
        return _time_only_sql(layer)
    geom, storage_srid = ident(layer.spatial_column), 26191
    time_bounds = "NULL AS t_min, NULL AS t_max"
    if layer.temporal is not None:
        col = ident(layer.temporal.column)
        time_bounds = f"min({col}) AS t_min, max({col}) AS t_max"
    table = ident(layer.table)

    def corner(x: str, y: str) -> str:
        return (f"ST_Transform(ST_SetSRID(ST_MakePoint(ST_{x}(b), ST_{y}(b)), "
                f"{storage_srid}), 4326)")

    # lon ≈ ax·x + ay·y + c, lat ≈ bx·x + by·y + d: the row's least (or greatest) value
    # over the corners of its box
    def low(x_lo: str, x_hi: str, y_lo: str, y_hi: str, kx: str, ky: str) -> str:
        return (f"{kx} * CASE WHEN {kx} >= 0 THEN {x_lo} ELSE {x_hi} END + "
                f"{ky} * CASE WHEN {ky} >= 0 THEN {y_lo} ELSE {y_hi} END")

    x1, y1, x2, y2 = (f"ST_{f}(t.{geom})" for f in ("XMin", "YMin", "XMax", "YMax"))
    lon_lo = low(x1, x2, y1, y2, "f.ax", "f.ay")
    lon_hi = low(x2, x1, y2, y1, "f.ax", "f.ay")
    lat_lo = low(x1, x2, y1, y2, "f.bx", "f.by")
    lat_hi = low(x2, x1, y2, y1, "f.bx", "f.by")
    return f"""
        WITH box AS (SELECT ST_Extent({geom}) AS b, max(ST_XMax({geom}) - ST_XMin({geom})) AS row_w,
                            max(ST_YMax({geom}) - ST_YMin({geom})) AS row_h, {time_bounds}
                     FROM {table}),
        c AS (SELECT {corner("XMin", "YMin")} AS p00, {corner("XMax", "YMin")} AS p10,
                     {corner("XMin", "YMax")} AS p01, box.* FROM box),
        f AS (SELECT coalesce((ST_X(p10) - ST_X(p00)) / nullif(ST_XMax(b) - ST_XMin(b), 0), 0)
                       AS ax,
                     coalesce((ST_X(p01) - ST_X(p00)) / nullif(ST_YMax(b) - ST_YMin(b), 0), 0)
                       AS ay,
                     coalesce((ST_Y(p10) - ST_Y(p00)) / nullif(ST_XMax(b) - ST_XMin(b), 0), 0)
                       AS bx,
                     coalesce((ST_Y(p01) - ST_Y(p00)) / nullif(ST_YMax(b) - ST_YMin(b), 0), 0)
                       AS by,
                     row_w, row_h FROM c),
        placed AS NOT MATERIALIZED (SELECT t.{geom} AS g, {lon_lo} AS lon_lo, {lon_hi} AS lon_hi,
                          {lat_lo} AS lat_lo, {lat_hi} AS lat_hi FROM {table} t, f
                   WHERE t.{geom} IS NOT NULL),
        ends AS (SELECT min(lon_lo) AS lon_lo, max(lon_hi) AS lon_hi, min(lat_lo) AS lat_lo,
                        max(lat_hi) AS lat_hi FROM placed),
        -- margin: the tilt over a row's own box, plus 0.002° (200 m) for the fit's error
        margin AS (SELECT abs(ay) * coalesce(row_h, 0) + 0.002 AS lon,
                          abs(bx) * coalesce(row_w, 0) + 0.002 AS lat FROM f),
        exact AS (SELECT ST_Extent(ST_Transform(p.g, 4326)) AS w FROM placed p, ends e, margin m
                  WHERE p.lon_lo <= e.lon_lo + m.lon OR p.lon_hi >= e.lon_hi - m.lon
                     OR p.lat_lo <= e.lat_lo + m.lat OR p.lat_hi >= e.lat_hi - m.lat)
        SELECT {layer_version_sql(literal(layer.table))},
               ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b),
               ST_XMin(w), ST_YMin(w), ST_XMax(w), ST_YMax(w), box.t_min, box.t_max
        FROM box, exact
    """


def _time_only_sql(layer: Layer) -> str:
    """The extent statement of a table without geometry: its time bounds alone."""
    time_bounds = "NULL AS t_min, NULL AS t_max"
    source = ""
    if layer.temporal is not None:
        col = ident(layer.temporal.column)
        time_bounds = f"min({col}) AS t_min, max({col}) AS t_max"
        source = f"FROM {ident(layer.table)}"
    return f"""
        WITH box AS (SELECT {time_bounds} {source})
        SELECT {layer_version_sql(literal(layer.table))},
               NULL::float8, NULL::float8, NULL::float8, NULL::float8,
               NULL::float8, NULL::float8, NULL::float8, NULL::float8, box.t_min, box.t_max
        FROM box
    """


class ExtentCache:
    """Extents per layer, recomputed only when the layer's data version changes."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[int, Extent]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._filling: dict[str, asyncio.Task[Extent]] = {}

    async def planning_area(self, pool: asyncpg.Pool, layer: Layer) -> float:
        """The area of the layer's storage box for planning heuristics, without a scan in
        the request's path: the cached extent's (whatever its version), else the planner's
        estimate from the table's statistics while the extent is computed in the background.

        The extent of 1,000,000 plots takes 7 s to compute under load: a page in a bbox that
        waited for it held a bulk slot all that time (pages and tiles got 503 behind it).
        """
        cached = self._cache.get(layer.id)
        if cached is not None:
            return cached[1].storage_area
        if layer.id not in self._filling:
            task = asyncio.create_task(self.get(pool, layer))
            self._filling[layer.id] = task
            task.add_done_callback(partial(self._filled, layer.id))
        row = await pool.fetchrow(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            "(SELECT ST_EstimatedExtent($1::text, $2::text) AS e) s",
            layer.table, layer.spatial_column)
        if row is None or row[0] is None:  # no statistics yet (a table never analysed)
            return (await self._filling[layer.id]).storage_area
        return Extent(None, (row[0], row[1], row[2], row[3]), None, None).storage_area

    def _filled(self, layer_id: str, task: asyncio.Task[Extent]) -> None:
        self._filling.pop(layer_id, None)
        if not task.cancelled():
            task.exception()  # retrieved: a failure is retried by the next request

    async def lonlat_bounds(self, pool: asyncpg.Pool, layers: list[Layer]) -> Bounds:
        """Longitude/latitude bounds holding the data of all the layers."""
        found = [(await self.get(pool, layer)).lonlat_bounds for layer in layers]
        return union_bounds([b for b in found if b is not None])

    async def get(self, pool: asyncpg.Pool, layer: Layer) -> Extent:
        """The layer's extent, from the cache when its data version has not moved."""
        version = await layer_version(pool, layer.table)
        cached = self._cache.get(layer.id)
        if cached is not None and cached[0] == version:
            return cached[1]
        async with self._locks.setdefault(layer.id, asyncio.Lock()):  # one scan at a time
            cached = self._cache.get(layer.id)
            if cached is not None and cached[0] == version:
                return cached[1]
            return await self._compute(pool, layer)

    async def _compute(self, pool: asyncpg.Pool, layer: Layer) -> Extent:
        row = await pool.fetchrow(extent_sql(layer))
        if row is None:  # an aggregate always answers one row
            raise RuntimeError("the extent statement returned no row")
        values = list(row.values())
        storage = tuple(values[1:5]) if values[1] is not None else None
        crs84 = tuple(round(v, 7) for v in values[5:9]) if values[5] is not None else None
        extent = Extent(crs84, storage, values[9], values[10])
        self._cache[layer.id] = (int(values[0] or 0), extent)
        return extent
