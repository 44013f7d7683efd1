"""Geometry and noise helpers shared by the demo generators (all in EPSG:26191 metres)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geoportal.core.area import STORAGE_CRS, STORAGE_SRID

LonLat = tuple[float, float]
FloatArray = npt.NDArray[np.float64]
UIntArray = npt.NDArray[np.uint64]

_MASK64 = (1 << 64) - 1


@lru_cache(maxsize=1)
def _to_storage() -> Transformer:
    return Transformer.from_crs("EPSG:4326", STORAGE_CRS, always_xy=True)


def project(points: Sequence[LonLat]) -> FloatArray:
    """Longitude/latitude pairs as an (n, 2) array of storage coordinates."""
    lonlat = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    x, y = _to_storage().transform(lonlat[:, 0], lonlat[:, 1])
    return np.column_stack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])


def project_point(lon: float, lat: float) -> tuple[float, float]:
    """One longitude/latitude pair in storage coordinates."""
    xy = project([(lon, lat)])[0]
    return float(xy[0]), float(xy[1])


def lonlat_line(points: Sequence[LonLat]) -> LineString:
    """A line through longitude/latitude points, in storage coordinates."""
    return LineString(project(points))


def wiggle(line: LineString, amplitude: float, wavelength: float, phase: float = 0.0) -> LineString:
    """The line densified and displaced sideways by a smooth deterministic meander."""
    dense = np.asarray(shapely.get_coordinates(shapely.segmentize(line, wavelength / 8.0)))
    steps = np.hypot(*np.diff(dense, axis=0).T)
    along = np.concatenate([[0.0], np.cumsum(steps)])
    tangent = np.gradient(dense, along, axis=0)
    tangent /= np.hypot(tangent[:, 0], tangent[:, 1])[:, None]
    normal = np.column_stack([-tangent[:, 1], tangent[:, 0]])
    angle = 2.0 * np.pi * along / wavelength + phase
    offset = amplitude * (np.sin(angle) + 0.45 * np.sin(2.7 * angle + 1.3))
    # Pin the ends so that lines keep their hand-placed start and end points.
    taper = np.minimum(1.0, np.minimum(along, along[-1] - along) / wavelength)
    return LineString(dense + normal * (offset * taper)[:, None])


def _flat_parts(geom: BaseGeometry) -> list[BaseGeometry]:
    """The single-part members of a geometry, collections opened recursively."""
    parts: list[BaseGeometry] = []
    for part in shapely.get_parts(geom):
        if part.geom_type.startswith(("Multi", "Geometry")):
            parts.extend(_flat_parts(part))
        else:
            parts.append(part)
    return parts


def polygonal(geom: BaseGeometry | None) -> MultiPolygon | None:
    """The valid polygonal part of a geometry as a MultiPolygon, or None when empty."""
    if geom is None or geom.is_empty:
        return None
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    parts = [p for p in _flat_parts(geom) if isinstance(p, Polygon) and p.area > 0.0]
    if not parts:
        return None
    result = MultiPolygon(parts)
    if result.is_valid:
        return result
    merged = shapely.union_all(parts)
    return MultiPolygon([p for p in _flat_parts(merged) if isinstance(p, Polygon)])


def lineal(geom: BaseGeometry | None) -> MultiLineString | None:
    """The linear part of a geometry as a MultiLineString, or None when empty."""
    if geom is None or geom.is_empty:
        return None
    parts = [p for p in _flat_parts(geom) if isinstance(p, LineString) and p.length > 0.0]
    return MultiLineString(parts) if parts else None


def ewkb_hex(geom: BaseGeometry) -> str:
    """Hex EWKB with the storage SRID, the text form COPY accepts for a geometry column."""
    text: str = shapely.to_wkb(
        shapely.set_srid(geom, STORAGE_SRID), hex=True, include_srid=True, byte_order=1
    )
    return text


def _splitmix64(values: UIntArray) -> UIntArray:
    z = values + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    result: UIntArray = z ^ (z >> np.uint64(31))
    return result


def hash_uniform(seed: int, stream: int, keys: npt.ArrayLike) -> FloatArray:
    """Uniform numbers in [0, 1) fixed by (seed, stream, key): the same key gives the same draw."""
    base = _splitmix64(np.array([(seed * 1_000_003 + stream) & _MASK64], dtype=np.uint64))
    with np.errstate(over="ignore"):
        mixed = _splitmix64(np.asarray(keys, dtype=np.int64).astype(np.uint64) ^ base)
        mixed = _splitmix64(mixed)
    result: FloatArray = (mixed >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
    return result


def rng_for(seed: int, stream: int) -> np.random.Generator:
    """An independent random generator per (seed, purpose), so parts do not shift each other."""
    return np.random.default_rng([seed, stream])
