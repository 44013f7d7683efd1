"""The download formats and CRSs of the open data, and the file names that ask for them."""

from __future__ import annotations

from dataclasses import dataclass

from geoportal.errors import InvalidParameter, NotFound
from geoportal.ogc.crs import STORAGE, WGS84_LON_LAT, Crs, parse_crs


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
DOWNLOADS: tuple[Download, ...] = (GEOJSON, GPKG, CSV, SHAPEFILE)
COMPRESSIBLE: tuple[Download, ...] = (GEOJSON, GPKG, CSV)  # kept with a gzip twin
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


def download_for(ext: str) -> Download:
    """The vector format of an extension; 404 with the choices otherwise."""
    for download in DOWNLOADS:
        if download.ext == ext:
            return download
    names = ", ".join(f".{d.ext}" for d in DOWNLOADS)
    raise NotFound(f"no download in .{ext}; layers come as {names}")
