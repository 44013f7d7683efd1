"""The download formats and CRSs of the open data, and the file names that ask for them."""

from __future__ import annotations

from dataclasses import dataclass

from geoportal.core.crs import STORAGE, WGS84_LON_LAT, Crs, parse_crs
from geoportal.errors import InvalidParameter, NotFound


@dataclass(frozen=True)
class Download:
    """One file format: its extension, media type, and the GDAL driver that writes it."""

    ext: str
    media_type: str
    title: str
    driver: str | None = None


GEOJSON = Download("geojson", "application/geo+json", "GeoJSON")
CSV = Download("csv", "text/csv; charset=utf-8", "CSV (géométrie WKT)")
GPKG = Download("gpkg", "application/geopackage+sqlite3", "GeoPackage", "GPKG")
SHAPEFILE = Download("shp.zip", "application/zip", "Shapefile (zip)", "ESRI Shapefile")
GEOTIFF = Download("tif", "image/tiff; application=geotiff", "GeoTIFF")
TABLE_CSV = Download("csv", "text/csv; charset=utf-8", "CSV")
DOWNLOADS: tuple[Download, ...] = (GEOJSON, GPKG, CSV, SHAPEFILE)
# A layer without geometry (a table of attributes): GeoJSON with null geometries and CSV.
TABLE_DOWNLOADS: tuple[Download, ...] = (GEOJSON, TABLE_CSV)
COMPRESSIBLE: tuple[Download, ...] = (GEOJSON, GPKG, CSV, TABLE_CSV)  # kept gzipped too
TEXT_DOWNLOADS: tuple[Download, ...] = (GEOJSON, CSV, TABLE_CSV)  # written as they stream
LICENSE_EXT = "license.txt"

# The two CRSs downloads come in: lon/lat for everyone, the legal CRS for surveyors.
CRS_CHOICES: dict[str, Crs] = {"CRS84": WGS84_LON_LAT, "EPSG:26191": STORAGE}


def download_crs(value: str | None) -> Crs:
    """CRS84 (default) or EPSG:26191, named by CURIE, URI or URN; 400 for any other."""
    if value is None:
        return WGS84_LON_LAT
    choices = " or ".join(CRS_CHOICES)
    try:
        crs = parse_crs(value, "crs")
    except InvalidParameter as exc:
        raise InvalidParameter(f"crs: {value!r} is not offered for downloads; use {choices}") \
            from exc
    if crs not in CRS_CHOICES.values():
        raise InvalidParameter(f"crs: {value!r} is not offered for downloads; use {choices}")
    return crs


def crs_label(crs: Crs) -> str:
    """``CRS84`` or ``EPSG:26191``."""
    return crs.label


def split_name(name: str) -> tuple[str, str]:
    """``parcels.shp.zip`` → (``parcels``, ``shp.zip``); 404 when there is no extension."""
    dataset, dot, ext = name.partition(".")
    if not dot or not dataset or not ext:
        raise NotFound(f"{name!r} is not a download: ask for a file such as parcels.geojson")
    return dataset, ext.lower()


STORAGE_SUFFIX = "-26191"


def storage_alias(dataset_id: str, crs: str | None) -> tuple[str, str | None]:
    """``parcels-26191`` (the name a download in EPSG:26191 is saved under) is ``parcels``
    with ``crs=EPSG:26191``: a URL whose file name GDAL recognises (``.csv`` last)."""
    if crs is None and dataset_id.endswith(STORAGE_SUFFIX):
        return dataset_id.removesuffix(STORAGE_SUFFIX), STORAGE.label
    return dataset_id, crs


def download_for(ext: str, geometry: bool = True) -> Download:
    """The vector format of an extension; 404 with the choices otherwise (fewer for a
    layer without geometry: no GeoPackage or Shapefile of a bare table)."""
    offered = DOWNLOADS if geometry else TABLE_DOWNLOADS
    for download in offered:
        if download.ext == ext:
            return download
    names = ", ".join(f".{d.ext}" for d in offered)
    if not geometry:
        raise NotFound(f"pas de .{ext} pour une couche sans géométrie ; proposés : {names}",
                       en=f"no .{ext} for a layer without geometry; it comes as {names}")
    raise NotFound(f"no download in .{ext}; layers come as {names}")
