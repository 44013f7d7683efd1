"""A surveyed outline uploaded with a request: GeoJSON, zipped Shapefile or DXF, in any
declared CRS (EPSG:26191 by default), read with GDAL (pyogrio) into one valid polygon in
EPSG:26191 inside the agency's area — or a 422 in French saying what is wrong.

The format is told by the content, never by the name. Reading runs in a worker thread, on a
private temporary folder removed afterwards; zip members are checked before extraction.
"""

from __future__ import annotations

import io
import re
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np
import orjson
import pyogrio.errors
import shapely
from pyogrio.raw import read as ogr_read
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError, ProjError
from pyproj.transformer import AreaOfInterest
from shapely.errors import ShapelyError
from shapely.geometry import LinearRing, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from geoportal.core.area import AUC_AREA, STORAGE_SRID
from geoportal.errors import InvalidBody

MAX_VERTICES = 20_000
MAX_FEATURES = 5_000
MAX_ZIP_MEMBERS = 20
MAX_ZIP_BYTES = 20_000_000
SHAPEFILE_PARTS = frozenset({".shp", ".shx", ".dbf", ".prj", ".cpg"})
AUC_LONLAT = AreaOfInterest(west_lon_degree=-7.95, south_lat_degree=33.2,
                            east_lon_degree=-7.1, north_lat_degree=33.8)
_DXF_START = re.compile(rb"^\s*0\s*\r?\n\s*(SECTION|\$ACADVER)", re.ASCII)
_STORAGE = CRS.from_epsg(STORAGE_SRID)
GDAL_ERRORS = (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError,
               pyogrio.errors.CRSError, pyogrio.errors.FeatureError,
               pyogrio.errors.FieldError, pyogrio.errors.GeometryError)


def refused(french: str, english: str) -> InvalidBody:
    """The 422 of an unusable outline."""
    return InvalidBody(f"Contour : {french}", en=f"Outline: {english}")


def sniff(data: bytes) -> str:
    """``zip``, ``geojson`` or ``dxf``, from the first bytes; 422 otherwise."""
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n")
    if data.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"{"):
        return "geojson"
    if _DXF_START.match(data[:2048].lstrip(b"\xef\xbb\xbf")):
        return "dxf"
    raise refused("le fichier n'est ni du GeoJSON, ni un Shapefile zippé, ni un DXF.",
                  "the file is neither GeoJSON, a zipped Shapefile nor DXF.")


def _extract_shapefile(data: bytes, folder: Path) -> Path:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise refused("l'archive zip est illisible.", "the zip archive is unreadable.") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if len(members) > MAX_ZIP_MEMBERS or sum(m.file_size for m in members) > MAX_ZIP_BYTES:
            raise refused("l'archive zip contient trop de fichiers ou trop de données.",
                          "the zip archive holds too many files or too much data.")
        wanted = [m for m in members if PurePosixPath(m.filename).suffix.lower() in
                  SHAPEFILE_PARTS and not PurePosixPath(m.filename).name.startswith(".")]
        shps = [m for m in wanted if m.filename.lower().endswith(".shp")]
        if len(shps) != 1:
            raise refused("l'archive doit contenir un et un seul fichier .shp.",
                          "the archive must hold exactly one .shp file.")
        stem = PurePosixPath(shps[0].filename).stem
        for member in wanted:
            name = PurePosixPath(member.filename)
            if name.stem != stem:
                continue
            # Only the base name is kept: no path from the archive reaches the disk.
            (folder / f"outline{name.suffix.lower()}").write_bytes(archive.read(member))
    return folder / "outline.shp"


def _geojson_declares_crs(data: bytes) -> bool:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise refused("le GeoJSON n'est pas du JSON valide.",
                      "the GeoJSON is not valid JSON.") from None
    return isinstance(document, dict) and "crs" in document


def _source_crs(kind: str, declared: str | None, data: bytes, given: str | None,
                lonlat_range: bool) -> CRS:
    if given:
        text = given
    elif kind == "geojson" and not _geojson_declares_crs(data):
        # RFC 7946 says longitude/latitude; surveyors' files often hold Merchich metres.
        text = "OGC:CRS84" if lonlat_range else f"EPSG:{STORAGE_SRID}"
    else:
        text = declared or f"EPSG:{STORAGE_SRID}"
    try:
        return CRS.from_user_input(text)
    except CRSError:
        raise refused(f"le système de coordonnées {text[:60]!r} est inconnu.",
                      f"the coordinate system {text[:60]!r} is unknown.") from None


def _areal(geometries: list[BaseGeometry]) -> BaseGeometry:
    """The union of the polygons, closed polylines counting as polygons (CAD drawings)."""
    parts: list[BaseGeometry] = []
    for geometry in geometries:
        for part in getattr(geometry, "geoms", [geometry]):
            if isinstance(part, Polygon | MultiPolygon):
                parts.append(part)
            elif part.geom_type in ("LineString", "LinearRing") and part.is_closed \
                    and len(part.coords) >= 4:
                parts.append(Polygon(LinearRing(part.coords)))
    if not parts:
        raise refused("le fichier ne contient aucun polygone (ni polyligne fermée).",
                      "the file holds no polygon (nor closed polyline).")
    for part in parts:
        if not part.is_valid:
            reason = shapely.is_valid_reason(part)
            raise refused(f"le polygone n'est pas valide ({reason}) ; corrigez le levé.",
                          f"the polygon is not valid ({reason}); fix the survey.")
    return shapely.union_all(parts)


def _to_storage(geometry: BaseGeometry, crs: CRS) -> BaseGeometry:
    if crs.equals(_STORAGE, ignore_axis_order=True):
        return geometry
    try:
        transformer = Transformer.from_crs(crs, _STORAGE, always_xy=True,
                                           area_of_interest=AUC_LONLAT)
    except ProjError:
        raise refused("aucune transformation connue vers EPSG:26191.",
                      "no known transformation to EPSG:26191.") from None
    if "ballpark" in transformer.description.lower():
        raise refused("aucune transformation précise vers EPSG:26191 pour ce système.",
                      "no accurate transformation to EPSG:26191 for this system.")
    moved = shapely.transform(geometry, lambda xy: np.column_stack(
        transformer.transform(xy[:, 0], xy[:, 1], errcheck=False)))
    if not np.isfinite(shapely.get_coordinates(moved)).all():
        raise refused("des coordonnées ne peuvent pas être exprimées en EPSG:26191.",
                      "some coordinates cannot be expressed in EPSG:26191.")
    return moved


def read_outline(data: bytes, crs: str | None = None) -> MultiPolygon:
    """The outline in EPSG:26191 (blocking: call it in a thread); 422 when unusable."""
    try:
        return _read(data, crs)
    except (ShapelyError, ProjError):  # degenerate coordinates GEOS or PROJ cannot use
        raise refused("les coordonnées du fichier sont inutilisables.",
                      "the file's coordinates are unusable.") from None


def _read(data: bytes, crs: str | None) -> MultiPolygon:
    kind = sniff(data)
    with tempfile.TemporaryDirectory(prefix="geoportal-outline-") as tmp:
        folder = Path(tmp)
        if kind == "zip":
            path = _extract_shapefile(data, folder)
        else:
            path = folder / f"outline.{'geojson' if kind == 'geojson' else 'dxf'}"
            path.write_bytes(data)
        try:
            meta, _fids, wkbs, _fields = ogr_read(path, max_features=MAX_FEATURES + 1,
                                                  columns=[])
        except (*GDAL_ERRORS, RuntimeError, ValueError, OSError):
            raise refused("GDAL ne peut pas lire ce fichier.",
                          "GDAL cannot read this file.") from None
    if len(wkbs) > MAX_FEATURES:
        raise refused(f"plus de {MAX_FEATURES} objets.", f"more than {MAX_FEATURES} features.")
    geometries = [g for g in shapely.from_wkb([w for w in wkbs if w is not None]) if
                  g is not None and not g.is_empty]
    if sum(shapely.get_num_coordinates(g) for g in geometries) > MAX_VERTICES:
        raise refused(f"plus de {MAX_VERTICES} sommets ; simplifiez le levé.",
                      f"more than {MAX_VERTICES} vertices; simplify the survey.")
    area = _areal(geometries)
    xy = shapely.get_coordinates(area)
    lonlat_range = bool((np.abs(xy[:, 0]) <= 180).all() and (np.abs(xy[:, 1]) <= 90).all())
    source = _source_crs(kind, meta.get("crs"), data, crs, lonlat_range)
    stored = _to_storage(area, source)
    return _inside_area(stored)


def _inside_area(geometry: BaseGeometry) -> MultiPolygon:
    xmin, ymin, xmax, ymax = AUC_AREA
    west, south, east, north = geometry.bounds
    if not (xmin <= west and east <= xmax and ymin <= south and north <= ymax):
        raise refused(
            "il est hors du territoire de l'Agence urbaine de Casablanca (vérifiez le système "
            "de coordonnées : EPSG:26191, Merchich / Nord Maroc, par défaut).",
            "it is outside the area of the Agence urbaine de Casablanca (check the coordinate "
            "system: EPSG:26191, Merchich / Nord Maroc, by default).")
    if not geometry.is_valid or geometry.is_empty:
        raise refused("le polygone n'est pas valide après reprojection.",
                      "the polygon is not valid once reprojected.")
    if isinstance(geometry, Polygon):
        return MultiPolygon([geometry])
    if isinstance(geometry, MultiPolygon):
        return geometry
    raise refused("le contour n'est pas un polygone.", "the outline is not a polygon.")
