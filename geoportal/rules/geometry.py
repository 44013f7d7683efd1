"""Turn a point or a GeoJSON geometry in any CRS into the storage CRS, or say what is wrong.

Coordinates are always read easting (or longitude) first, as in GeoJSON, whatever the CRS's
official axis order; ``x``/``y`` of ``EPSG:4326`` are therefore longitude/latitude.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from geoportal.errors import InvalidBody, InvalidParameter, OutsideArea
from geoportal.settings import STORAGE_SRID

MAX_VERTICES = 20_000
MAX_AREA_M2 = 25e6
"""A lookup is about a plot or a project; larger areas are refused (split them)."""
_CRS84_FORMS = {
    "crs84", "ogc:crs84", "[ogc:crs84]", "urn:ogc:def:crs:ogc:1.3:crs84",
    "http://www.opengis.net/def/crs/ogc/1.3/crs84", "https://www.opengis.net/def/crs/ogc/1.3/crs84",
}
_EPSG_FORMS = (
    re.compile(r"^\[?EPSG:(\d{4,6})\]?$", re.IGNORECASE),
    re.compile(r"^urn:ogc:def:crs:EPSG:[\d.]*:(\d{4,6})$", re.IGNORECASE),
    re.compile(r"^https?://www\.opengis\.net/def/crs/EPSG/0/(\d{4,6})$", re.IGNORECASE),
)
ACCEPTED_TYPES = ("Point", "Polygon", "MultiPolygon")
PLAUSIBLE_STORAGE = (-1e6, -1e6, 2e6, 2e6)
"""Storage coordinates beyond these are a thousand kilometres off: certainly not in the area."""
OUTSIDE = ("This place is outside the area of the Agence urbaine de Casablanca (préfectures "
           "of Casablanca and Mohammedia, provinces of Nouaceur and Médiouna, commune of "
           "Mansouria); no rules are known here.")


def _within_reason(xy: np.ndarray) -> None:
    xmin, ymin, xmax, ymax = PLAUSIBLE_STORAGE
    if not ((xy[:, 0] >= xmin).all() and (xy[:, 0] <= xmax).all()
            and (xy[:, 1] >= ymin).all() and (xy[:, 1] <= ymax).all()):
        raise OutsideArea(OUTSIDE)


@dataclass(frozen=True)
class InputCrs:
    """A CRS a client may give coordinates in, with its transformer to the storage CRS."""

    label: str
    geographic: bool
    transformer: Transformer | None  # None: already the storage CRS


def _epsg_code(text: str) -> int | None:
    if text.lower() in _CRS84_FORMS:
        return 4326
    for form in _EPSG_FORMS:
        match = form.match(text)
        if match:
            return int(match.group(1))
    return None


@lru_cache(maxsize=64)
def input_crs(value: str) -> InputCrs:
    """The CRS named by an EPSG code, URI, URN or CRS84; 400 when unknown or unusable."""
    text = value.strip()
    code = _epsg_code(text)
    if code is None:
        raise InvalidParameter(
            f"crs: {value!r} is not understood; use e.g. EPSG:26191, EPSG:4326 or CRS84"
        )
    label = "CRS84" if text.lower() in _CRS84_FORMS else f"EPSG:{code}"
    if code == STORAGE_SRID:
        return InputCrs(label, geographic=False, transformer=None)
    try:
        crs = CRS.from_epsg(code)
    except CRSError:
        raise InvalidParameter(f"crs: EPSG:{code} is not a known CRS") from None
    if not (crs.is_geographic or crs.is_projected) or crs.is_vertical:
        raise InvalidParameter(f"crs: EPSG:{code} is not a horizontal 2D CRS")
    transformer = Transformer.from_crs(crs, CRS.from_epsg(STORAGE_SRID), always_xy=True)
    return InputCrs(label, geographic=crs.is_geographic, transformer=transformer)


def _check_coordinate(x: float, y: float, crs: InputCrs, where: str) -> None:
    if not (math.isfinite(x) and math.isfinite(y)):
        raise InvalidParameter(f"{where}: coordinates must be finite numbers")
    if crs.geographic and not (-180 <= x <= 180 and -90 <= y <= 90):
        raise InvalidParameter(
            f"{where}: ({x}, {y}) is not a longitude/latitude "
            "(longitude within ±180, latitude within ±90)"
        )


def point_to_storage(x: float, y: float, crs_name: str) -> tuple[float, float]:
    """A point's storage coordinates (EPSG:26191)."""
    crs = input_crs(crs_name)
    _check_coordinate(x, y, crs, "point")
    if crs.transformer is None:
        _within_reason(np.array([[x, y]]))
        return x, y
    sx, sy = crs.transformer.transform(x, y, errcheck=False)
    if not (math.isfinite(sx) and math.isfinite(sy)):
        raise InvalidParameter(f"point: ({x}, {y}) cannot be expressed in EPSG:{STORAGE_SRID}")
    _within_reason(np.array([[sx, sy]]))
    return float(sx), float(sy)


def _parse_geojson(document: dict[str, Any]) -> BaseGeometry:
    if document.get("type") == "Feature":
        inner = document.get("geometry")
        if not isinstance(inner, dict):
            raise InvalidBody("geometry: the Feature has no geometry")
        document = inner
    kind = document.get("type")
    if kind not in ACCEPTED_TYPES:
        raise InvalidBody(
            f"geometry: type {kind!r} is not accepted; send a Point, Polygon or MultiPolygon"
        )
    try:
        geom = shape(document)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError,
            shapely.errors.GEOSException) as exc:
        raise InvalidBody(f"geometry: not a valid GeoJSON {kind} ({exc})") from None
    if geom.is_empty:
        raise InvalidBody("geometry: the geometry is empty")
    geom = shapely.force_2d(geom)
    if shapely.get_num_coordinates(geom) > MAX_VERTICES:
        raise InvalidBody(f"geometry: more than {MAX_VERTICES} vertices; simplify it")
    return geom


def geometry_to_storage(document: dict[str, Any], crs_name: str) -> BaseGeometry:
    """A GeoJSON Point/Polygon/MultiPolygon in the storage CRS, checked valid (else 422)."""
    crs = input_crs(crs_name)
    geom = _parse_geojson(document)
    coords = shapely.get_coordinates(geom)
    if not np.isfinite(coords).all():
        raise InvalidBody("geometry: coordinates must be finite numbers")
    if crs.geographic and not (
        (abs(coords[:, 0]) <= 180).all() and (abs(coords[:, 1]) <= 90).all()
    ):
        raise InvalidBody("geometry: coordinates are not longitude/latitude; say the crs")
    if crs.transformer is not None:
        transformer = crs.transformer
        geom = shapely.transform(
            geom, lambda xy: _transform_array(transformer, xy)
        )
        if not np.isfinite(shapely.get_coordinates(geom)).all():
            raise InvalidBody(f"geometry: cannot be expressed in EPSG:{STORAGE_SRID}")
    _within_reason(shapely.get_coordinates(geom))
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        raise InvalidBody(
            f"geometry: not a valid {geom.geom_type} ({reason}); a plot must not "
            "cross itself — correct the survey and send it again"
        )
    if geom.geom_type != "Point" and geom.area <= 0:
        raise InvalidBody("geometry: the polygon has no area")
    if geom.area > MAX_AREA_M2:
        raise InvalidBody(f"geometry: {geom.area / 1e6:,.1f} km² is more than the "
                          f"{MAX_AREA_M2 / 1e6:,.0f} km² a lookup covers; split the area")
    return geom


def _transform_array(transformer: Transformer, xy: np.ndarray) -> np.ndarray:
    x, y = transformer.transform(xy[:, 0], xy[:, 1], errcheck=False)
    return np.column_stack([x, y])
