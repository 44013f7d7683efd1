"""Outlines the viewer asks rules for: an uploaded GeoJSON or zipped Shapefile, or a drawn line.

``POST /rules`` takes a Point, Polygon or MultiPolygon in CRS84. These endpoints turn what a
user brings into one: the features of a file merged (read with pyogrio, size-limited), a line
widened into a corridor of a given width measured in EPSG:26191 metres, as the rules are.
"""

from __future__ import annotations

import io
import zipfile
from functools import lru_cache
from typing import Annotated, Any, Literal

import anyio
import numpy as np
import shapely
from fastapi import APIRouter, Body, File, Query, UploadFile
from pydantic import BaseModel
from pyogrio.errors import DataSourceError
from pyogrio.raw import read as read_raw
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from geoportal.core.area import STORAGE_CRS
from geoportal.errors import InvalidBody

router = APIRouter(tags=["web"])

MAX_UPLOAD_BYTES = 4 * 1024 * 1024  # under the service's request limit (5 MB, 413)
MAX_FEATURES = 2_000
MAX_VERTICES = 50_000
DEFAULT_CORRIDOR_M = 2.0
OutlineKind = Literal["polygon", "line", "point"]


class Outline(BaseModel):
    """A geometry to send to ``POST /rules`` (CRS84), with its measures in EPSG:26191."""

    geometry: dict[str, Any]
    kind: OutlineKind
    features: int
    area_m2: float
    length_m: float
    source_crs: str | None = None


@lru_cache(maxsize=32)
def _transformer(source: str, target: str) -> Transformer:
    return Transformer.from_crs(source, target, always_xy=True)


def _project(geometry: shapely.Geometry, source: str, target: str) -> shapely.Geometry:
    transformer = _transformer(source, target)
    return shapely.transform(
        geometry, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))


def refused(message: str, en: str) -> InvalidBody:
    """A 422 naming what is wrong with the file or the line."""
    return InvalidBody(message, en=en)


def merged_outline(local: list[shapely.Geometry], corridor_m: float, features: int,
                   source_crs: str | None) -> Outline:
    """One geometry from features in EPSG:26191: polygons merged, lines widened, a point."""
    polygons = [g for g in local if g.geom_type in ("Polygon", "MultiPolygon")]
    lines = [g for g in local if g.geom_type in ("LineString", "MultiLineString")]
    points = [g for g in local if g.geom_type in ("Point", "MultiPoint")]
    kind: OutlineKind
    if polygons or lines:
        shapes = polygons + [line.buffer(corridor_m / 2, cap_style="flat") for line in lines]
        merged = shapely.make_valid(shapely.union_all(shapes))
        merged = shapely.union_all([g for g in shapely.get_parts(merged)
                                    if g.geom_type in ("Polygon", "MultiPolygon")])
        kind = "polygon" if polygons else "line"
        length = sum(line.length for line in lines) if lines else merged.boundary.length
    elif len(points) == 1 and points[0].geom_type == "Point":
        merged, kind, length = points[0], "point", 0.0
    else:
        raise refused("Le fichier ne contient ni polygone, ni ligne, ni un point unique.",
                      en="The file holds no polygon, no line, nor a single point.")
    if merged.is_empty:
        raise refused("La géométrie est vide une fois corrigée.",
                      en="The geometry is empty once repaired.")
    lonlat = _project(merged, STORAGE_CRS, "EPSG:4326")
    geometry: dict[str, Any] = shapely.geometry.mapping(shapely.set_precision(lonlat, 1e-8))
    return Outline(geometry=_plain(geometry), kind=kind, features=features,
                   area_m2=round(merged.area, 1), length_m=round(length, 1),
                   source_crs=source_crs)


def _plain(value: Any) -> Any:
    """Tuples to lists, for JSON."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _source_crs(crs: str | None, is_zip: bool) -> str:
    if crs:
        try:
            return CRS.from_user_input(crs).to_string()
        except CRSError:
            pass
        raise refused("Le système de coordonnées du fichier est inconnu.",
                      en="The file's coordinate reference system is unknown.")
    if is_zip:
        raise refused("Le Shapefile n'a pas de fichier .prj : son système de coordonnées est "
                      "inconnu.", en="The Shapefile has no .prj file: its CRS is unknown.")
    return "OGC:CRS84"  # GeoJSON (RFC 7946) without a crs member


def read_outline(data: bytes, corridor_m: float) -> Outline:
    """The outline of an uploaded file (GeoJSON, or a zip holding a Shapefile)."""
    is_zip = data[:4] == b"PK\x03\x04"
    if is_zip:
        try:
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        except zipfile.BadZipFile:
            names = []
        if not any(name.lower().endswith(".shp") for name in names):
            raise refused("L'archive ne contient pas de Shapefile (.shp).",
                          en="The archive holds no Shapefile (.shp).")
    try:
        meta, _, wkb, _ = read_raw(io.BytesIO(data), max_features=MAX_FEATURES + 1,
                                   read_geometry=True, columns=[])
    except (DataSourceError, ValueError, RuntimeError):
        raise refused("Le fichier n'est ni un GeoJSON ni un Shapefile zippé lisible.",
                      en="The file is neither a readable GeoJSON nor a zipped Shapefile.") \
            from None
    if wkb is None or len(wkb) == 0:
        raise refused("Le fichier ne contient aucune entité.", en="The file holds no feature.")
    if len(wkb) > MAX_FEATURES:
        raise refused(f"Le fichier contient plus de {MAX_FEATURES} entités.",
                      en=f"The file holds more than {MAX_FEATURES} features.")
    source = _source_crs(meta.get("crs"), is_zip)
    geometries = [g for g in shapely.from_wkb(wkb) if g is not None and not g.is_empty]
    if sum(shapely.get_num_coordinates(g) for g in geometries) > MAX_VERTICES:
        raise refused(f"Le fichier a plus de {MAX_VERTICES} sommets.",
                      en=f"The file has more than {MAX_VERTICES} vertices.")
    local = [_project(shapely.force_2d(g), source, STORAGE_CRS) for g in geometries]
    return merged_outline(local, corridor_m, len(geometries), source)


Corridor = Annotated[float, Query(ge=0.2, le=200, description=(
    "Width in metres of the corridor a line becomes (EPSG:26191)."))]


@router.post("/web/outline", response_model=Outline,
             summary="The outline of an uploaded GeoJSON or zipped Shapefile",
             responses={422: {"description": "Unreadable, too large or empty file"}})
async def upload_outline(
    file: Annotated[UploadFile, File(description="GeoJSON, or a .zip with a Shapefile")],
    width: Corridor = DEFAULT_CORRIDOR_M,
) -> Outline:
    """Merge the file's features into one geometry to ask ``POST /rules`` about."""
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise refused(f"Le fichier dépasse {MAX_UPLOAD_BYTES // 1024 // 1024} Mo.",
                      en=f"The file is over {MAX_UPLOAD_BYTES // 1024 // 1024} MB.")
    return await anyio.to_thread.run_sync(read_outline, data, width)


@router.post("/web/corridor", response_model=Outline,
             summary="A drawn line widened into a corridor",
             responses={422: {"description": "Not a line, or too many vertices"}})
async def line_corridor(
    line: Annotated[dict[str, Any], Body(description="A GeoJSON LineString in CRS84.")],
    width: Corridor = DEFAULT_CORRIDOR_M,
) -> Outline:
    """The corridor of ``width`` metres along a line, to ask ``POST /rules`` about."""
    if line.get("type") != "LineString":
        raise refused("Envoyez une LineString GeoJSON.", en="Send a GeoJSON LineString.")
    try:
        geometry = shapely.geometry.shape(line)
    except (ValueError, TypeError, AttributeError, shapely.errors.GEOSException):
        raise refused("La ligne est mal formée.", en="The line is malformed.") from None
    count = shapely.get_num_coordinates(geometry)
    if count < 2 or count > MAX_VERTICES:
        raise refused(f"Une ligne a de 2 à {MAX_VERTICES} sommets.",
                      en=f"A line has 2 to {MAX_VERTICES} vertices.")
    local = _project(shapely.force_2d(geometry), "EPSG:4326", STORAGE_CRS)
    return merged_outline([local], width, 1, "OGC:CRS84")
