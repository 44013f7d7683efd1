"""What the open data catalogue says of each layer: features, update date, estimated size.

One statement answers for every layer; its result is kept until the data version changes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import asyncpg

from geoportal.core import formats as ogc_formats
from geoportal.core.area import STORAGE_SRID
from geoportal.core.crs import WGS84_LON_LAT
from geoportal.core.versions import LAYER_VERSIONS_SQL, data_version
from geoportal.ogc.query import feature_sql
from geoportal.ogc.sql import ident, literal
from geoportal.registry import Layer, LayerRegistry

SAMPLE_FEATURES = 200


@dataclass(frozen=True)
class LayerStats:
    """A layer's feature count, change counter and date, and GeoJSON bytes per feature."""

    features: int
    version: int
    updated: dt.datetime | None
    bytes_per_feature: float | None
    bbox: tuple[float, float, float, float] | None = None

    @property
    def estimated_bytes(self) -> int | None:
        """About how large the whole layer is as GeoJSON (CRS84)."""
        if self.bytes_per_feature is None:
            return None
        return int(self.bytes_per_feature * self.features)


def _extent_sql(layer: Layer) -> str:
    """The layer's box in CRS84 (NULL for a table without geometry)."""
    if not layer.has_geometry:
        return "NULL::geometry"
    geom, table = layer.spatial_column, ident(layer.table)
    # The planner's estimate when the table has statistics, else the exact extent.
    return (f"ST_Transform(ST_SetSRID(coalesce("  # noqa: S608
            f"ST_EstimatedExtent({literal(layer.table)}, {literal(geom)}),"
            f" (SELECT ST_Extent({ident(geom)}) FROM {table}))::geometry,"
            f" {STORAGE_SRID}), 4326)")


def _layer_part(layer: Layer) -> str:
    feature = feature_sql(layer, ogc_formats.GEOJSON, WGS84_LON_LAT, layer.properties)
    table = ident(layer.table)
    order = f"t.{ident(layer.id_column)}"
    extent = _extent_sql(layer)
    # Identifiers from the registry, quoted; no request input reaches this statement.
    return (f"SELECT {literal(layer.id)} AS id, {literal(layer.table)} AS table_name, "  # noqa: S608
            f"(SELECT count(*) FROM {table}) AS features, "
            f"(SELECT avg(octet_length({feature})) FROM "
            f"(SELECT * FROM {table} t ORDER BY {order} LIMIT {SAMPLE_FEATURES}) t) AS sample, "
            f"{extent} AS extent")


def stats_sql(registry: LayerRegistry) -> str:
    """One statement: (id, features, sample, version, updated, bbox in CRS84) per layer."""
    parts = " UNION ALL ".join(_layer_part(layer) for layer in registry)
    return (f"WITH s AS ({parts}) SELECT s.id, s.features, s.sample, v.version, v.updated_at, "  # noqa: S608
            "ST_XMin(s.extent), ST_YMin(s.extent), ST_XMax(s.extent), ST_YMax(s.extent) "
            f"FROM s LEFT JOIN ({LAYER_VERSIONS_SQL}) v ON v.table_name = s.table_name")


def stats_from_rows(rows: list[Any]) -> dict[str, LayerStats]:
    """The statistics by layer id, from the rows of :func:`stats_sql`."""
    return {
        str(r[0]): LayerStats(
            features=int(r[1]),
            version=int(r[3] or 0),
            updated=r[4],
            bytes_per_feature=None if r[2] is None else float(r[2]),
            bbox=None if r[5] is None else (float(r[5]), float(r[6]), float(r[7]), float(r[8])),
        )
        for r in rows
    }


async def layer_stats(db: asyncpg.Pool | asyncpg.Connection,
                      registry: LayerRegistry) -> dict[str, LayerStats]:
    """The statistics of every layer, in one statement."""
    return stats_from_rows(await db.fetch(stats_sql(registry)))


class StatsCache:
    """Statistics of every layer, kept until the data version changes (a service of the app)."""

    def __init__(self) -> None:
        self._cached: tuple[str, dict[str, LayerStats]] | None = None

    async def get(self, pool: asyncpg.Pool,
                  registry: LayerRegistry) -> tuple[str, dict[str, LayerStats]]:
        """(data version, statistics by layer id)."""
        version = await data_version(pool)
        if self._cached is not None and self._cached[0] == version:
            return self._cached
        self._cached = (version, await layer_stats(pool, registry))
        return self._cached


def human_size(size: int | None) -> str:
    """``12.3 MB``-style size, ``–`` when unknown."""
    if size is None:
        return "–"
    value = float(size)
    for unit in ("octets", "ko", "Mo", "Go"):
        if value < 1000 or unit == "Go":
            return f"{value:,.0f} {unit}" if unit == "octets" else f"{value:,.1f} {unit}"
        value /= 1000
    return f"{value:,.1f} Go"


async def cached_stats(state: Any, pool: asyncpg.Pool,
                       registry: LayerRegistry) -> tuple[str, dict[str, LayerStats]]:
    """The app's cached statistics, for code that holds the app's state (pygeoapi's)."""
    cache: StatsCache = state.services.get(StatsCache)
    return await cache.get(pool, registry)
