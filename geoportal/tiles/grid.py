"""The WebMercatorQuad tile matrix set (morecantile) and a tile's footprint in storage CRS."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import morecantile
import numpy as np
from pyproj import Transformer

from geoportal.core.area import STORAGE_CRS
from geoportal.errors import InvalidParameter, NotFound

TMS_ID = "WebMercatorQuad"
EXTENT = 4096
BUFFER = 64
# Where EPSG:26191 is defined (Morocco north of 31°30'N), widened: tiles wholly outside it
# hold no data and must never be transformed into a Lambert projection made for Morocco.
AREA_LONLAT = (-12.0, 29.5, 1.0, 38.0)


@lru_cache(maxsize=1)
def tile_matrix_set() -> morecantile.TileMatrixSet:
    """The OGC WebMercatorQuad tile matrix set."""
    return morecantile.tms.get(TMS_ID)


@lru_cache(maxsize=1)
def _to_storage() -> Transformer:
    return Transformer.from_crs("EPSG:3857", STORAGE_CRS, always_xy=True)


@lru_cache(maxsize=1)
def _area_mercator() -> tuple[float, float, float, float]:
    to_merc = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    xmin, ymin = to_merc.transform(AREA_LONLAT[0], AREA_LONLAT[1])
    xmax, ymax = to_merc.transform(AREA_LONLAT[2], AREA_LONLAT[3])
    return xmin, ymin, xmax, ymax


@dataclass(frozen=True)
class TileAddress:
    """One tile of WebMercatorQuad: zoom (tile matrix), column and row."""

    z: int
    x: int
    y: int

    def __str__(self) -> str:
        return f"{self.z}/{self.x}/{self.y}"


def tile_address(z: int, x: int, y: int) -> TileAddress:
    """A validated tile address: 400 for an unknown zoom, 404 for a tile outside the matrix."""
    tms = tile_matrix_set()
    if not tms.minzoom <= z <= tms.maxzoom:
        raise InvalidParameter(
            f"tileMatrix {z} does not exist in {TMS_ID} ({tms.minzoom} to {tms.maxzoom})."
        )
    size = 2**z
    if not (0 <= x < size and 0 <= y < size):
        raise NotFound(f"tile {z}/{x}/{y} is outside tile matrix {z} (0 to {size - 1}).")
    return TileAddress(z, x, y)


def mercator_bounds(tile: TileAddress) -> tuple[float, float, float, float]:
    """The tile's bounds in EPSG:3857."""
    b = tile_matrix_set().xy_bounds(morecantile.Tile(tile.x, tile.y, tile.z))
    return b.left, b.bottom, b.right, b.top


Affine = tuple[float, float, float, float, float, float]
# An affine stand-in for the projection is used when it is off by less than this many tile
# units anywhere on the tile (z14 and deeper here): well under the ±0.5 unit of the grid.
AFFINE_TOLERANCE_UNITS = 0.25


@dataclass(frozen=True)
class Footprint:
    """What a tile covers in the storage CRS: the index filter box and a simplification step.

    ``to_mercator`` is an affine map (a, b, d, e, xoff, yoff) from EPSG:26191 to EPSG:3857
    that matches the real projection over the tile, when one does (small tiles), and
    ``to_tile`` the same map straight into tile units (y pointing down).
    """

    xmin: float
    ymin: float
    xmax: float
    ymax: float
    unit_m: float  # ground size of one tile unit (1/EXTENT of the tile), in metres
    to_mercator: Affine | None = None
    to_tile: Affine | None = None


def fit_affine(tile: TileAddress) -> Affine | None:
    """The affine map from storage CRS to 3857 over the tile, if it is accurate enough there."""
    left, bottom, right, top = mercator_bounds(tile)
    pad = (right - left) * BUFFER / EXTENT
    steps = np.linspace(0.0, 1.0, 6)
    mx = np.repeat(left - pad + (right - left + 2 * pad) * steps, len(steps))
    my = np.tile(bottom - pad + (top - bottom + 2 * pad) * steps, len(steps))
    sx, sy = _to_storage().transform(mx, my)
    design = np.column_stack([sx, sy, np.ones_like(sx)])
    (a, b, xoff), *_ = np.linalg.lstsq(design, mx, rcond=None)
    (d, e, yoff), *_ = np.linalg.lstsq(design, my, rcond=None)
    error = np.hypot(design @ np.array([a, b, xoff]) - mx, design @ np.array([d, e, yoff]) - my)
    tolerance = (right - left) / EXTENT * AFFINE_TOLERANCE_UNITS
    if not np.all(np.isfinite(error)) or error.max() > tolerance:
        return None
    return (float(a), float(b), float(d), float(e), float(xoff), float(yoff))


def storage_footprint(tile: TileAddress) -> Footprint | None:
    """The tile's box in EPSG:26191 with a buffer margin, or None when it holds no data."""
    left, bottom, right, top = mercator_bounds(tile)
    axmin, aymin, axmax, aymax = _area_mercator()
    cl, cb, cr, ct = max(left, axmin), max(bottom, aymin), min(right, axmax), min(top, aymax)
    if cl >= cr or cb >= ct:
        return None
    # A mercator edge is curved in the Lambert projection: densify it before taking the box.
    steps = 8
    xs: list[float] = []
    ys: list[float] = []
    for i in range(steps + 1):
        t = i / steps
        for px, py in ((cl + (cr - cl) * t, cb), (cl + (cr - cl) * t, ct),
                       (cl, cb + (ct - cb) * t), (cr, cb + (ct - cb) * t)):
            xs.append(px)
            ys.append(py)
    ex, ey = _to_storage().transform(xs, ys)
    latitude = math.degrees(math.atan(math.sinh((cb + ct) / 2 / 6378137.0)))
    unit_m = (right - left) / EXTENT * math.cos(math.radians(latitude))
    margin = unit_m * BUFFER * 2
    to_mercator = fit_affine(tile)
    return Footprint(min(ex) - margin, min(ey) - margin, max(ex) + margin, max(ey) + margin,
                     unit_m, to_mercator, tile_units(tile, to_mercator))


def tile_units(tile: TileAddress, to_mercator: Affine | None) -> Affine | None:
    """The affine map to 3857 followed by 3857 to tile units (origin top left, y down)."""
    if to_mercator is None:
        return None
    left, _, right, top = mercator_bounds(tile)
    k = EXTENT / (right - left)
    a, b, d, e, xoff, yoff = to_mercator
    return (a * k, b * k, -d * k, -e * k, (xoff - left) * k, (top - yoff) * k)
