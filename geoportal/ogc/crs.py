"""Coordinate reference systems the API offers (OGC API Features Part 2)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from geoportal.errors import InvalidParameter
from geoportal.settings import STORAGE_SRID

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{code}"


@dataclass(frozen=True)
class Crs:
    """One offered CRS: its URI, PostGIS SRID, axis order, output precision and domain.

    ``domain`` is (min, min, max, max) in the CRS's own axis order: coordinates outside it
    cannot be transformed (PROJ fails) or mean nothing, so they are a client mistake.
    """

    uri: str
    srid: int
    lat_lon: bool
    decimals: int
    domain: tuple[float, float, float, float]

    def contains(self, bounds: tuple[float, float, float, float]) -> bool:
        """Whether (minx, miny, maxx, maxy), in this CRS's axis order, lies in its domain."""
        x1, y1, x2, y2 = self.domain
        return x1 <= bounds[0] <= bounds[2] <= x2 and y1 <= bounds[1] <= bounds[3] <= y2

    @property
    def is_storage(self) -> bool:
        """True when coordinates are served exactly as stored (no transformation)."""
        return self.srid == STORAGE_SRID

    @property
    def label(self) -> str:
        """A short name such as ``EPSG:26191`` or ``CRS84``."""
        return "CRS84" if self.uri == CRS84 else f"EPSG:{self.srid}"


# 7 decimals of a degree is about a centimetre; storage coordinates keep full precision.
WGS84_LON_LAT = Crs(CRS84, 4326, lat_lon=False, decimals=7, domain=(-180, -90, 180, 90))
WGS84_LAT_LON = Crs(EPSG_URI.format(code=4326), 4326, lat_lon=True, decimals=7,
                    domain=(-90, -180, 90, 180))
# Lambert Nord Maroc: metres; ten thousand kilometres either way is far beyond any use.
STORAGE = Crs(EPSG_URI.format(code=STORAGE_SRID), STORAGE_SRID, lat_lon=False, decimals=15,
              domain=(-1e7, -1e7, 1e7, 1e7))
WEB_MERCATOR = Crs(EPSG_URI.format(code=3857), 3857, lat_lon=False, decimals=3,
                   domain=(-20037508.342789244, -20048966.1040146, 20037508.342789244,
                           20048966.1040146))

OFFERED: tuple[Crs, ...] = (WGS84_LON_LAT, WGS84_LAT_LON, STORAGE, WEB_MERCATOR)
_BY_URI = {crs.uri: crs for crs in OFFERED}
# EPSG codes have at most six digits; a longer number is not a code (and is never parsed).
_EPSG_FORMS = (
    re.compile(r"^\[?EPSG:(\d{1,9})\]?$", re.IGNORECASE),
    re.compile(r"^urn:ogc:def:crs:EPSG:[\d.]{0,20}:(\d{1,9})$", re.IGNORECASE),
    re.compile(r"^https?://www\.opengis\.net/def/crs/EPSG/0/(\d{1,9})$", re.IGNORECASE),
)
MAX_CRS_CHARS = 200
_CRS84_FORMS = {
    "crs84", "ogc:crs84", "[ogc:crs84]", "urn:ogc:def:crs:ogc:1.3:crs84",
    "http://www.opengis.net/def/crs/ogc/1.3/crs84", "https://www.opengis.net/def/crs/ogc/1.3/crs84",
}


def offered_uris() -> list[str]:
    """The URIs listed in every collection's ``crs``."""
    return [crs.uri for crs in OFFERED]


def parse_crs(value: str, parameter: str) -> Crs:
    """The offered CRS named by a URI, a URN or a CURIE; 400 otherwise."""
    offered = ", ".join(offered_uris())
    if len(value) > MAX_CRS_CHARS:
        raise InvalidParameter(
            f"{parameter} : plus de {MAX_CRS_CHARS} caractères ; CRS proposés : {offered}",
            en=f"{parameter}: longer than {MAX_CRS_CHARS} characters; offered: {offered}")
    text = value.strip()
    if text.lower() in _CRS84_FORMS:
        return WGS84_LON_LAT
    for form in _EPSG_FORMS:
        match = form.match(text)
        if match:
            crs = _BY_URI.get(EPSG_URI.format(code=int(match.group(1))))
            if crs is not None:
                return crs
            break
    raise InvalidParameter(f"{parameter} : {value!r} n'est pas proposé ; CRS proposés : {offered}",
                           en=f"{parameter}: {value!r} is not offered; use one of {offered}")


def to_storage_sql(srid_param: str, lat_lon: bool, geometry_sql: str) -> str:
    """SQL turning a geometry given in another CRS into the storage CRS."""
    flipped = f"ST_FlipCoordinates({geometry_sql})" if lat_lon else geometry_sql
    return f"ST_Transform(ST_SetSRID({flipped}, {srid_param}), {STORAGE_SRID})"


def output_geometry_sql(column_sql: str, crs: Crs) -> str:
    """SQL for a stored geometry in the output CRS, in that CRS's axis order."""
    if crs.is_storage:
        return column_sql
    transformed = f"ST_Transform({column_sql}, {crs.srid})"
    return f"ST_FlipCoordinates({transformed})" if crs.lat_lon else transformed
