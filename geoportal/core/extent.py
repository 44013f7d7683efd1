"""Spatial and temporal extents of layers, computed in SQL and cached per data version."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

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
    """One statement: version, storage box, CRS84 box, time bounds (no box without geometry)."""
    box = f"ST_Extent({ident(layer.spatial_column)})" if layer.has_geometry else "NULL::box2d"
    time_bounds = "NULL AS t_min, NULL AS t_max"
    if layer.temporal is not None:
        col = ident(layer.temporal.column)
        time_bounds = f"min({col}) AS t_min, max({col}) AS t_max"
    # Aggregates give one row; with none (a table without geometry or time), read nothing.
    source = f"FROM {ident(layer.table)}" if layer.has_geometry or layer.temporal else ""
    return f"""
        WITH box AS (SELECT {box} AS b, {time_bounds}
                     {source})
        SELECT {layer_version_sql(literal(layer.table))},
               ST_XMin(b), ST_YMin(b), ST_XMax(b), ST_YMax(b),
               ST_XMin(w), ST_YMin(w), ST_XMax(w), ST_YMax(w), box.t_min, box.t_max
        FROM box, LATERAL (SELECT ST_Transform(ST_SetSRID(b::geometry, 26191), 4326) AS w) t
    """


class ExtentCache:
    """Extents per layer, recomputed only when the layer's data version changes."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[int, Extent]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def lonlat_bounds(self, pool: asyncpg.Pool, layers: list[Layer]) -> Bounds:
        """Longitude/latitude bounds holding the data of all the layers."""
        found = [(await self.get(pool, layer)).lonlat_bounds for layer in layers]
        return union_bounds([b for b in found if b is not None])

    async def get(self, pool: asyncpg.Pool, layer: Layer, fresh: bool = True) -> Extent:
        """The layer's extent, from the cache when its data version has not moved.

        ``fresh=False`` accepts any cached extent (for planning heuristics: no round trip).
        """
        if not fresh and layer.id in self._cache:
            return self._cache[layer.id][1]
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
