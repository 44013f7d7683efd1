"""Rendering tiles: choose the layers for a zoom, run one statement, cache by data version."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
from fastapi import Request

from geoportal.core.extent import Bounds, ExtentCache
from geoportal.core.history import at_text, settled
from geoportal.core.services import services_of
from geoportal.core.versions import data_version
from geoportal.registry import Layer, LayerRegistry
from geoportal.settings import Settings
from geoportal.tiles.cache import CachedTile, DataVersions, TileCache
from geoportal.tiles.grid import TileAddress, storage_footprint
from geoportal.tiles.sql import (
    POLYGONAL,
    at_placeholder,
    combined_tile_sql,
    label_tile_sql,
    layer_tile_sql,
)

# Bump when the tile SQL changes, so that ETags held by clients are not reused across it.
TILE_FORMAT = "2"  # 2: label points carry the Arabic name too
# Simplification tolerance, in tile units (1/4096 of a tile): below what a screen shows.
SIMPLIFY_UNITS = 1.0


@dataclass(frozen=True)
class TileRequest:
    """What to render: a set of layers (with or without label points) at one tile, now or
    as they stood at ``at``."""

    layers: tuple[Layer, ...]
    tile: TileAddress
    labels: bool = False
    at: dt.datetime | None = None

    @property
    def tables(self) -> list[str]:
        """The tables the tile reads, whose versions key it."""
        return sorted({layer.table for layer in self.layers})


def layers_at_zoom(layers: Sequence[Layer], z: int) -> tuple[Layer, ...]:
    """The layers legible at that zoom: at or above their minimum zoom."""
    return tuple(layer for layer in layers if layer.min_zoom <= z)


def tile_statement(layers: tuple[Layer, ...], labels: bool, affine: bool,
                   past: bool = False) -> str:
    """The one statement that renders these layers (label points for labelled polygons);
    ``past``: as they stood at a moment bound after the tile's parameters."""
    at_sql = at_placeholder(affine) if past else None
    parts = [layer_tile_sql(layer, affine, at_sql) for layer in layers]
    if labels:
        for layer in layers:
            label = layer.find_property(layer.style.label) if layer.style.label else None
            if label is not None and layer.geometry_type in POLYGONAL:
                parts.append(label_tile_sql(layer, label, affine, at_sql))
    return combined_tile_sql(parts)


class TileService:
    """Renders and caches the tiles of one worker process."""

    def __init__(self, settings: Settings, registry: LayerRegistry,
                 extents: ExtentCache) -> None:
        self.registry = registry
        self.extents = extents
        self.cache = TileCache(settings.tiles_cache_mb * 1024 * 1024)
        self.enabled = settings.tiles_cache_mb > 0
        self.versions = DataVersions(settings.tiles_version_check_s)
        self._rendering: dict[str, asyncio.Future[CachedTile]] = {}
        self._statements: dict[tuple[tuple[str, ...], bool, bool, bool], str] = {}

    async def bounds(self, pool: asyncpg.Pool, layers: Sequence[Layer]) -> Bounds:
        """Longitude/latitude bounds of the layers' data (the app's one extent cache)."""
        return await self.extents.lonlat_bounds(pool, list(layers))

    def statement(self, request: TileRequest, affine: bool) -> str:
        """The tile statement for a combination of layers, built once."""
        past = request.at is not None
        key = (tuple(layer.id for layer in request.layers), request.labels, affine, past)
        sql = self._statements.get(key)
        if sql is None:
            sql = self._statements[key] = tile_statement(request.layers, request.labels, affine,
                                                         past)
        return sql

    async def etag(self, pool: asyncpg.Pool, request: TileRequest) -> str:
        """A strong validator: the layers, their data versions (or the moment of a tile of
        the past, with the data version then until it is settled) and the tile."""
        names = ",".join(layer.id for layer in request.layers)
        if request.at is not None:
            stamp = f"at={at_text(request.at)}"
            if not settled(request.at):
                stamp += f":{await data_version(pool, request.at)}"
        else:
            versions = await self.versions.current(pool)
            stamp = ",".join(f"{t}:{versions.get(t, 0)}" for t in request.tables)
        key = f"{TILE_FORMAT}|{names}|{request.labels}|{stamp}|{request.tile}"
        return hashlib.sha256(key.encode()).hexdigest()[:20]

    async def render(self, pool: asyncpg.Pool, request: TileRequest, etag: str) -> CachedTile:
        """The tile's MVT bytes (empty when it holds nothing), from the cache when it can."""
        if not self.enabled:
            return CachedTile(etag, await self._draw(pool, request))
        cached = self.cache.get(etag)
        if cached is not None:
            return cached
        pending = self._rendering.get(etag)
        if pending is not None:  # the same tile is being drawn for another client: share it
            return await asyncio.shield(pending)
        future: asyncio.Future[CachedTile] = asyncio.get_running_loop().create_future()
        self._rendering[etag] = future
        try:
            tile = CachedTile(etag, await self._draw(pool, request))
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # marked as retrieved: nobody else may be waiting
            raise
        finally:
            self._rendering.pop(etag, None)
        future.set_result(tile)
        self.cache.put(etag, tile)
        return tile

    def gzipped(self, tile: CachedTile) -> bytes:
        """The compressed body, kept in the cache once made."""
        before = tile.size
        body = tile.gzipped()
        if self.enabled:
            self.cache.resize(tile.etag, before)
        return body

    async def _draw(self, pool: asyncpg.Pool, request: TileRequest) -> bytes:
        footprint = storage_footprint(request.tile)
        if footprint is None or not request.layers:
            return b""
        t = request.tile
        mercator, tile_units = footprint.to_mercator, footprint.to_tile
        variant: tuple[float, ...] = (footprint.unit_m * SIMPLIFY_UNITS,)
        affine = mercator is not None and tile_units is not None
        if mercator is not None and tile_units is not None:
            variant = (*mercator, *tile_units)
        past = () if request.at is None else (request.at,)
        body = await pool.fetchval(
            self.statement(request, affine), t.z, t.x, t.y,
            footprint.xmin, footprint.ymin, footprint.xmax, footprint.ymax, *variant, *past,
        )
        return bytes(body or b"")


async def get_tile_service(request: Request) -> TileService:
    """The worker's tile service (provided in ``create_app``)."""
    return services_of(request).get(TileService)
