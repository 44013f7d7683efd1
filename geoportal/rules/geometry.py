"""Turn a point or a GeoJSON geometry in any CRS into the storage CRS, or say what is wrong.

Coordinates are always read easting (or longitude) first, as in GeoJSON, whatever the CRS's
official axis order; ``x``/``y`` of ``EPSG:4326`` are therefore longitude/latitude.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from pyproj.exceptions import ProjError
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from geoportal.core.area import STORAGE_SRID
from geoportal.core.crs import CrsName, InputCrs, crs_name, input_crs
from geoportal.errors import GeoportalError, InvalidBody, InvalidParameter, OutsideArea
from geoportal.rules import french

MAX_VERTICES = 20_000
MAX_AREA_M2 = 25e6
"""A lookup is about a plot or a project; larger areas are refused (split them)."""
ACCEPTED_TYPES = ("Point", "Polygon", "MultiPolygon")
PLAUSIBLE_STORAGE = (-1e6, -1e6, 2e6, 2e6)
"""Storage coordinates beyond these are a thousand kilometres off: certainly not in the area."""
OUTSIDE = ("Ce lieu est hors du territoire de l'Agence urbaine de Casablanca (préfectures de "
           "Casablanca et de Mohammedia, provinces de Nouaceur et de Médiouna, commune de "
           "Mansouria) ; aucune règle n'y est connue.")
OUTSIDE_EN = ("This place is outside the area of the Agence urbaine de Casablanca (préfectures "
              "of Casablanca and Mohammedia, provinces of Nouaceur and Médiouna, commune of "
              "Mansouria); no rules are known here.")


def outside_area() -> OutsideArea:
    """The 404 of a place outside the agency's area."""
    return OutsideArea(OUTSIDE, en=OUTSIDE_EN)


def _within_reason(xy: np.ndarray) -> None:
    xmin, ymin, xmax, ymax = PLAUSIBLE_STORAGE
    if not ((xy[:, 0] >= xmin).all() and (xy[:, 0] <= xmax).all()
            and (xy[:, 1] >= ymin).all() and (xy[:, 1] <= ymax).all()):
        raise outside_area()


def _check_coordinate(x: float, y: float, crs: InputCrs, where: str) -> None:
    if not (math.isfinite(x) and math.isfinite(y)):
        raise InvalidParameter(f"{where} : les coordonnées doivent être des nombres finis",
                               en=f"{where}: coordinates must be finite numbers")
    if crs.geographic and not (-180 <= x <= 180 and -90 <= y <= 90):
        raise InvalidParameter(
            f"{where} : ({x}, {y}) n'est pas une longitude/latitude "
            "(longitude entre -180 et 180, latitude entre -90 et 90)",
            en=f"{where}: ({x}, {y}) is not a longitude/latitude "
               "(longitude within ±180, latitude within ±90)")


def _not_expressible(x: float, y: float) -> InvalidParameter:
    return InvalidParameter(
        f"point : ({x}, {y}) ne peut pas être exprimé en EPSG:{STORAGE_SRID}",
        en=f"point: ({x}, {y}) cannot be expressed in EPSG:{STORAGE_SRID}")


def points_to_storage(points: Sequence[tuple[float, float]], name: CrsName
                      ) -> list[tuple[float, float] | GeoportalError]:
    """Each point's storage coordinates (EPSG:26191), or why it has none; one vectorised
    transform for all of them."""
    try:
        crs = input_crs(name)
    except InvalidParameter as exc:
        return [exc] * len(points)
    results: list[tuple[float, float] | GeoportalError] = []
    usable: list[int] = []
    for index, (x, y) in enumerate(points):
        try:
            _check_coordinate(x, y, crs, "point")
        except InvalidParameter as exc:
            results.append(exc)
            continue
        results.append((x, y))
        usable.append(index)
    if crs.transformer is not None and usable:
        xs = np.array([points[i][0] for i in usable], dtype=float)
        ys = np.array([points[i][1] for i in usable], dtype=float)
        try:
            sx, sy = crs.transformer.transform(xs, ys, errcheck=False)
        except ProjError:
            sx = sy = np.full(len(usable), np.nan)
        for i, tx, ty in zip(usable, np.atleast_1d(sx), np.atleast_1d(sy), strict=True):
            results[i] = (float(tx), float(ty))
    xmin, ymin, xmax, ymax = PLAUSIBLE_STORAGE
    for i in usable:
        x, y = points[i]
        tx, ty = results[i]  # type: ignore[misc]
        if not (math.isfinite(tx) and math.isfinite(ty)):
            results[i] = _not_expressible(x, y)
        elif not (xmin <= tx <= xmax and ymin <= ty <= ymax):
            results[i] = outside_area()
    return results


def point_to_storage(x: float, y: float, name: CrsName) -> tuple[float, float]:
    """A point's storage coordinates (EPSG:26191); 400 or 404 when it has none.

    The scalar twin of ``points_to_storage``, for the single lookup's hot path.
    """
    crs = input_crs(name)
    _check_coordinate(x, y, crs, "point")
    sx, sy = x, y
    if crs.transformer is not None:
        try:
            sx, sy = crs.transformer.transform(x, y, errcheck=False)
        except ProjError:
            raise _not_expressible(x, y) from None
        if not (math.isfinite(sx) and math.isfinite(sy)):
            raise _not_expressible(x, y)
    xmin, ymin, xmax, ymax = PLAUSIBLE_STORAGE
    if not (xmin <= sx <= xmax and ymin <= sy <= ymax):
        raise outside_area()
    return float(sx), float(sy)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"


def _parse_geojson(document: dict[str, Any]) -> BaseGeometry:
    if document.get("type") == "Feature":
        inner = document.get("geometry")
        if not isinstance(inner, dict):
            raise InvalidBody("geometry : l'objet Feature n'a pas de géométrie",
                              en="geometry: the Feature has no geometry")
        document = inner
    kind = document.get("type")
    if not isinstance(kind, str) or kind not in ACCEPTED_TYPES:
        raise InvalidBody(
            f"geometry : le type {_shown(kind)} n'est pas accepté ; envoyez un Point, un "
            "Polygon ou un MultiPolygon",
            en=f"geometry: type {_shown(kind)} is not accepted; send a Point, Polygon or "
               "MultiPolygon")
    try:
        geom = shape(document)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError,
            shapely.errors.GEOSException):
        raise InvalidBody(
            f"geometry : ce n'est pas un {kind} GeoJSON valide (coordonnées : des listes de "
            "positions [x, y] numériques, anneaux fermés d'au moins 4 positions)",
            en=f"geometry: not a valid GeoJSON {kind} (coordinates: lists of numeric [x, y] "
               "positions, closed rings of at least 4 positions)") from None
    if geom.is_empty:
        raise InvalidBody("geometry : la géométrie est vide", en="geometry: the geometry is empty")
    if shapely.get_num_coordinates(geom) > MAX_VERTICES:
        raise InvalidBody(f"geometry : plus de {MAX_VERTICES} sommets ; simplifiez-la",
                          en=f"geometry: more than {MAX_VERTICES} vertices; simplify it")
    return shapely.force_2d(geom)


def geometry_to_storage(document: dict[str, Any], crs_value: str) -> BaseGeometry:
    """A GeoJSON Point/Polygon/MultiPolygon in the storage CRS, checked valid (else 422).

    CPU work (validity of up to ``MAX_VERTICES``): run it through ``in_crs_worker``.
    """
    crs = input_crs(crs_name(crs_value))
    geom = _parse_geojson(document)
    coords = shapely.get_coordinates(geom)
    if not np.isfinite(coords).all():
        raise InvalidBody("geometry : les coordonnées doivent être des nombres finis",
                          en="geometry: coordinates must be finite numbers")
    if crs.geographic and not (
        (abs(coords[:, 0]) <= 180).all() and (abs(coords[:, 1]) <= 90).all()
    ):
        raise InvalidBody(
            "geometry : les coordonnées ne sont pas des longitudes/latitudes ; précisez le crs",
            en="geometry: coordinates are not longitude/latitude; say the crs")
    if crs.transformer is not None:
        transformer = crs.transformer
        try:
            geom = shapely.transform(geom, lambda xy: _transform_array(transformer, xy))
        except ProjError:
            geom = shapely.transform(geom, lambda xy: np.full_like(xy, np.nan))
        if not np.isfinite(shapely.get_coordinates(geom)).all():
            raise InvalidBody(
                f"geometry : ne peut pas être exprimée en EPSG:{STORAGE_SRID}",
                en=f"geometry: cannot be expressed in EPSG:{STORAGE_SRID}")
    _within_reason(shapely.get_coordinates(geom))
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        raise InvalidBody(
            f"geometry : {geom.geom_type} non valide ({reason}) ; une parcelle ne doit pas se "
            "recouper — corrigez le levé et renvoyez-le",
            en=f"geometry: not a valid {geom.geom_type} ({reason}); a plot must not "
               "cross itself — correct the survey and send it again")
    if geom.geom_type != "Point" and geom.area <= 0:
        raise InvalidBody("geometry : le polygone n'a pas de surface",
                          en="geometry: the polygon has no area")
    if geom.area > MAX_AREA_M2:
        raise InvalidBody(
            f"geometry : {french.number(geom.area / 1e6, 1)} km² dépassent les "
            f"{french.number(MAX_AREA_M2 / 1e6, 0)} km² qu'une recherche couvre ; découpez la "
            "zone",
            en=f"geometry: {geom.area / 1e6:,.1f} km² is more than the "
               f"{MAX_AREA_M2 / 1e6:,.0f} km² a lookup covers; split the area")
    return geom


def _transform_array(transformer: Transformer, xy: np.ndarray) -> np.ndarray:
    x, y = transformer.transform(xy[:, 0], xy[:, 1], errcheck=False)
    return np.column_stack([x, y])
