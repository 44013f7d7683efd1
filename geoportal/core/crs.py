"""Coordinate reference systems, read and built once for every room.

One parser of CRS names (EPSG CURIE, ``[EPSG:n]``, OGC URI and URN, CRS84 in its forms),
the CRS the OGC API offers for output (Part 2), and the cached transformers that bring a
client's coordinates into the storage CRS. Names are recognised by their shape without
pyproj (cheap, bounded, on the event loop); the pyproj CRS is built from the EPSG code,
once per process, and only in the CRS worker thread unless it is one of ``RESIDENT_CODES``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any, TypeVar

from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError, ProjError

from geoportal.core.area import STORAGE_SRID
from geoportal.errors import InvalidParameter

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{code}"
MAX_CRS_CHARS = 200
"""The longest CRS name read (the longest accepted form, an http URI, is about 50)."""
_CRS84_FORMS = frozenset({
    "crs84", "ogc:crs84", "[ogc:crs84]", "urn:ogc:def:crs:ogc:1.3:crs84",
    "http://www.opengis.net/def/crs/ogc/1.3/crs84", "https://www.opengis.net/def/crs/ogc/1.3/crs84",
})
# EPSG codes have at most six digits; a longer number is not a code (and is never parsed).
_EPSG_FORMS = (
    re.compile(r"^\[?EPSG:(\d{1,6})\]?$", re.IGNORECASE),
    re.compile(r"^urn:ogc:def:crs:EPSG:[\d.]{0,20}:(\d{1,6})$", re.IGNORECASE),
    re.compile(r"^https?://www\.opengis\.net/def/crs/EPSG/0/(\d{1,6})$", re.IGNORECASE),
)
T = TypeVar("T")


@dataclass(frozen=True)
class CrsName:
    """A CRS as a client named it: its EPSG code and the label answers use."""

    code: int
    label: str


@lru_cache(maxsize=256)
def read_crs_name(value: str) -> CrsName | None:
    """The CRS named by an EPSG CURIE, URI, URN or CRS84, read without pyproj; None when the
    text has none of those shapes (or is longer than ``MAX_CRS_CHARS``)."""
    if len(value) > MAX_CRS_CHARS:
        return None
    text = value.strip()
    if text.lower() in _CRS84_FORMS:
        return CrsName(4326, "CRS84")
    for form in _EPSG_FORMS:
        match = form.match(text)
        if match:
            code = int(match.group(1))
            return CrsName(code, f"EPSG:{code}")
    return None


# --- The CRS offered for output (OGC API Features Part 2), transformed by PostGIS ---------

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
    name = read_crs_name(value)
    if name is not None:
        if name.label == "CRS84":
            return WGS84_LON_LAT
        crs = _BY_URI.get(EPSG_URI.format(code=name.code))
        if crs is not None:
            return crs
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


# --- Any EPSG CRS a client gives coordinates in, transformed here by pyproj ---------------

RESIDENT_CODES = frozenset({STORAGE_SRID, 4326, 3857})
"""CRS common enough to be transformed on the event loop (built once per process); any
other CRS is built and used only in the CRS worker thread."""

# pyproj keeps a transformer per thread and rebuilds it on first use in another thread, so
# a CRS built in this thread is also used only here: one thread, one copy of each.
_CRS_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="geoportal-crs")


@dataclass(frozen=True)
class InputCrs:
    """A CRS a client may give coordinates in, with its transformer to the storage CRS."""

    name: CrsName
    geographic: bool
    transformer: Transformer | None  # None: already the storage CRS


def crs_not_understood(value: str, parameter: str = "crs") -> InvalidParameter:
    """The 400 of a CRS name that is none of the accepted shapes."""
    shown = value if len(value) <= 40 else value[:40] + "…"
    return InvalidParameter(
        f"{parameter} : {shown!r} n'est pas compris ; donnez par exemple EPSG:26191, EPSG:4326 "
        "ou CRS84 (ou leur URI http://www.opengis.net/def/crs/EPSG/0/… ou URN)",
        en=f"{parameter}: {shown!r} is not understood; use e.g. EPSG:26191, EPSG:4326 or CRS84 "
           "(or their http://www.opengis.net/def/crs/EPSG/0/… URI or URN)")


def crs_name(value: str) -> CrsName:
    """The CRS a client named (any EPSG code, or CRS84); 400 when the text is not a name."""
    name = read_crs_name(value)
    if name is None:
        raise crs_not_understood(value)
    return name


@lru_cache(maxsize=128)
def _build(code: int) -> InputCrs | InvalidParameter:
    name = CrsName(code, f"EPSG:{code}")
    if code == STORAGE_SRID:
        return InputCrs(name, geographic=False, transformer=None)
    try:
        crs = CRS.from_user_input(name.label)
    except CRSError:
        return InvalidParameter(f"crs : EPSG:{code} n'est pas un système de coordonnées connu",
                                en=f"crs: EPSG:{code} is not a known CRS")
    if not (crs.is_geographic or crs.is_projected) or crs.is_vertical:
        return InvalidParameter(
            f"crs : EPSG:{code} n'est pas un système de coordonnées horizontal à 2 dimensions",
            en=f"crs: EPSG:{code} is not a horizontal 2D CRS")
    try:
        transformer = Transformer.from_crs(crs, CRS.from_epsg(STORAGE_SRID), always_xy=True)
    except ProjError:
        return InvalidParameter(
            f"crs : aucune transformation connue de EPSG:{code} vers EPSG:{STORAGE_SRID}",
            en=f"crs: no known transformation from EPSG:{code} to EPSG:{STORAGE_SRID}")
    return InputCrs(name, geographic=crs.is_geographic, transformer=transformer)


def input_crs(name: CrsName) -> InputCrs:
    """The CRS with its transformer (cached, refusals too); 400 when unknown or unusable.

    Call it on the event loop only for ``RESIDENT_CODES``, elsewhere through ``in_crs_worker``.
    """
    built = _build(name.code)
    if isinstance(built, InvalidParameter):
        raise InvalidParameter(built.message, en=built.en)
    return built if built.name == name else InputCrs(name, built.geographic, built.transformer)


async def in_crs_worker(crs: CrsName | None, work: Callable[..., T], *args: Any) -> T:
    """Run CRS work off the event loop, in the CRS worker thread; in place for a resident CRS
    (``crs``), always in the worker when ``crs`` is None (CPU-heavy geometry work)."""
    if crs is not None and crs.code in RESIDENT_CODES:
        return work(*args)
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_CRS_WORKER, partial(work, *args))
