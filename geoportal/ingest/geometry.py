"""Geometries to the storage shape: reprojected, promoted to multi, as EWKB with the SRID.

Most features only need their WKB header rewritten (bytes, no parsing); shapely is used for
reprojection and for the rare geometry collection.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from geoportal.ingest.source import ObjectArray

EWKB_SRID_FLAG = 0x20000000
SINGLE = {"Point": 1, "LineString": 2, "Polygon": 3}
MULTI = {1: 4, 2: 5, 3: 6}
NAMES = {1: "Point", 2: "LineString", 3: "Polygon", 4: "MultiPoint", 5: "MultiLineString",
         6: "MultiPolygon", 7: "GeometryCollection"}
PLURAL = {1: "points", 2: "lines", 3: "polygons"}


@dataclass(frozen=True)
class StorageShape:
    """The geometry column of the layer's table: its family (1, 2, 3), multi or not, SRID."""

    family: int
    multi: bool
    srid: int

    @classmethod
    def from_column(cls, pg_type: str, srid: int) -> StorageShape:
        """From ``geometry_columns.type`` (e.g. MULTIPOLYGON) and its SRID."""
        kind = pg_type.upper()
        for name, family in SINGLE.items():
            if kind in (name.upper(), f"MULTI{name.upper()}"):
                return cls(family=family, multi=kind.startswith("MULTI"), srid=srid)
        raise ValueError(f"geometry column type {pg_type} is not supported by the importer")


@dataclass(frozen=True)
class GeometryIssue:
    """A feature whose geometry was changed or refused before loading."""

    index: int
    status: Literal["repaired", "rejected"]
    reason: str


def _type_code(wkb: bytes) -> int:
    order = "<" if wkb[0] == 1 else ">"
    code: int = struct.unpack_from(f"{order}I", wkb, 1)[0]
    return (code & 0x0FFFFFFF) % 1000


def _flat(wkb: bytes) -> bool:
    order = "<" if wkb[0] == 1 else ">"
    code: int = struct.unpack_from(f"{order}I", wkb, 1)[0]
    return code & 0xC0000000 == 0 and (code & 0x0FFFFFFF) < 1000


def _with_srid(wkb: bytes, srid: int) -> bytes:
    order = "<" if wkb[0] == 1 else ">"
    code = struct.unpack_from(f"{order}I", wkb, 1)[0] & 0x0FFFFFFF
    return wkb[:1] + struct.pack(f"{order}II", code | EWKB_SRID_FLAG, srid) + wkb[5:]


def _as_multi(wkb: bytes, multi_code: int, srid: int) -> bytes:
    return struct.pack("<BIII", 1, multi_code | EWKB_SRID_FLAG, srid, 1) + wkb


def _from_collection(wkb: bytes, shape: StorageShape) -> tuple[bytes | None, str]:
    parts = shapely.get_parts(shapely.get_parts(shapely.from_wkb(wkb)))
    kept = [p for p in parts if shapely.get_type_id(p) == shape.family - 1 and not p.is_empty]
    if not kept:
        return None, f"a GeometryCollection without {PLURAL[shape.family]}"
    if not shape.multi and len(kept) > 1:
        return None, f"{len(kept)} parts where the layer holds single {PLURAL[shape.family]}"
    maker = {1: shapely.multipoints, 2: shapely.multilinestrings, 3: shapely.multipolygons}
    merged = maker[shape.family](kept) if shape.multi else kept[0]
    reason = f"kept {len(kept)} of {len(parts)} parts ({PLURAL[shape.family]})"
    return _with_srid(shapely.to_wkb(merged), shape.srid), reason


def reproject(wkb: ObjectArray, transformer: Transformer) -> tuple[ObjectArray, list[int]]:
    """WKB geometries transformed to storage; also the indexes that could not be."""
    geoms = shapely.from_wkb(wkb)

    def move(coords: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        x, y = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    moved = shapely.transform(geoms, move)
    coords = shapely.get_coordinates(moved)
    bad = ~np.isfinite(coords).all(axis=1)
    failed: list[int] = []
    if bad.any():
        owner = np.repeat(np.arange(len(moved)), shapely.get_num_coordinates(moved))
        failed = [int(i) for i in np.unique(owner[bad])]
    out: ObjectArray = shapely.to_wkb(moved, output_dimension=2)
    for i in failed:
        out[i] = None
    return out, failed


def _fast_headers(shape: StorageShape) -> dict[bytes, tuple[bytes, bool]]:
    """WKB headers that only need rewriting: header → (new header, wrap in a multi)."""
    single, multi = shape.family, MULTI[shape.family]
    stored = multi if shape.multi else single
    table: dict[bytes, tuple[bytes, bool]] = {}
    for flag, order in ((1, "<"), (0, ">")):
        table[bytes([flag]) + struct.pack(f"{order}I", stored)] = (
            bytes([flag]) + struct.pack(f"{order}II", stored | EWKB_SRID_FLAG, shape.srid), False)
        if shape.multi:
            table[bytes([flag]) + struct.pack(f"{order}I", single)] = (
                struct.pack("<BIII", 1, multi | EWKB_SRID_FLAG, shape.srid, 1), True)
    return table


def to_storage_ewkb(wkb: ObjectArray, shape: StorageShape
                    ) -> tuple[list[bytes | None], list[GeometryIssue]]:
    """EWKB in the storage shape for each feature (None when refused), and the issues."""
    fast = _fast_headers(shape)
    out: list[bytes | None] = []
    issues: list[GeometryIssue] = []
    for index, geometry in enumerate(wkb):
        known = None if geometry is None else fast.get(geometry[:5])
        if known is not None:
            header, wrap = known
            out.append(header + geometry if wrap else header + geometry[5:])
            continue
        ewkb, issue = _slow_path(geometry, shape)
        out.append(ewkb)
        if issue is not None:
            issues.append(GeometryIssue(index, issue[0], issue[1]))
    return out, issues


def _slow_path(geometry: bytes | None, shape: StorageShape
               ) -> tuple[bytes | None, tuple[Literal["repaired", "rejected"], str] | None]:
    if geometry is None:
        return None, ("rejected", "no geometry")
    if not _flat(geometry):  # Z or M: the storage columns are 2D
        geometry = shapely.to_wkb(shapely.force_2d(shapely.from_wkb(geometry)))
    single, multi = shape.family, MULTI[shape.family]
    code = _type_code(geometry)
    if code == (multi if shape.multi else single):
        return _with_srid(geometry, shape.srid), None
    if code == single and shape.multi:
        return _as_multi(geometry, multi, shape.srid), None
    if code == 7 or (code == multi and not shape.multi):
        ewkb, reason = _from_collection(geometry, shape)
        return ewkb, ("rejected" if ewkb is None else "repaired", reason)
    found = NAMES.get(code, f"geometry type {code}")
    return None, ("rejected", f"{found} where the layer holds {PLURAL[single]}")


# Where the first vertex's x and y sit in our multi EWKB (with SRID, parts little-endian),
# and the counts before it that must not be zero, by family.
_VERTEX_AT = {3: 26, 2: 22, 1: 18}
_COUNTS_AT = {3: (9, 18, 22), 2: (9, 18), 1: (9,)}


def first_vertices(ewkb: Sequence[bytes | None], family: int) -> npt.NDArray[np.float64]:
    """The first vertex of each storage EWKB, read from its bytes at once; NaN when unsure."""
    at = _VERTEX_AT[family]
    blobs = [b"" if g is None else g for g in ewkb]
    lengths = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs))
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    data = np.frombuffer(b"".join(blobs) + bytes(at + 16), dtype=np.uint8)
    usable = lengths >= at + 16
    little = (data[starts] == 1) & (data[starts + 13] == 1)
    counted = np.ones(len(blobs), dtype=bool)
    for offset in _COUNTS_AT[family]:
        counted &= data[starts[:, None] + np.arange(offset, offset + 4)].any(axis=1)
    good = usable & little & counted
    xy = np.full((len(blobs), 2), np.nan)
    if good.any():
        picked = data[starts[good][:, None] + np.arange(at, at + 16)]
        xy[good] = np.ascontiguousarray(picked).view("<f8").reshape(-1, 2)
    return xy


def outside(ewkb: Sequence[bytes | None], family: int, area: BaseGeometry) -> list[int]:
    """Indexes of the geometries that do not touch ``area`` (prepared).

    A vertex inside settles it; only the others get the exact test.
    """
    xy = first_vertices(ewkb, family)
    inside = shapely.contains_xy(area, xy[:, 0], xy[:, 1])
    doubtful = [i for i in np.flatnonzero(~inside).tolist() if ewkb[i] is not None]
    if not doubtful:
        return []
    touching = shapely.intersects(area, shapely.from_wkb([ewkb[i] for i in doubtful]))
    return [i for i, hit in zip(doubtful, touching.tolist(), strict=True) if not hit]
