"""What a coverage request asks for (OGC API Coverages): an extent, a number of samples per
axis, bands and an encoding; every mistake a 400 in French with its English twin.

* the extent: ``bbox`` (``bbox-crs``: CRS84 by default, or any CRS the OGC API offers,
  EPSG:26191 included), clipped to the raster; or ``subset=X(low:high),Y(low:high)`` in the
  raster's CRS (axis labels as in the domain set), which may reach past the raster (nodata
  there); by default the whole raster;
* the samples: as many cells as the extent holds at the raster's resolution, or
  ``scale-size=X(n),Y(n)``, ``scale-factor=f``, ``scale-axes=X(f),Y(f)`` (also spelt
  ``scaleSize``, ``scaleFactor``, ``scaleAxes``, as GDAL 3.6 sends them);
* ``properties``: bands by name or number; ``f``: ``GTiff`` or ``json`` (CoverageJSON), else
  the ``Accept`` header, else GeoTIFF.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from pyproj import Transformer

from geoportal.catalogue.coverage_grid import RasterGrid
from geoportal.core.crs import parse_crs
from geoportal.errors import InvalidParameter, NotAcceptable

LONLAT_SRID = 4326
MAX_PARAMETER = 2048
MAX_CELLS = 25_000_000  # per response: a 5000 × 5000 GeoTIFF
MAX_JSON_CELLS = 4_000_000  # CoverageJSON spells every value out
GTIFF = "GTiff"
COVJSON = "CoverageJSON"
ENCODINGS = {"gtiff": GTIFF, "tif": GTIFF, "tiff": GTIFF, "geotiff": GTIFF,
             "json": COVJSON, "covjson": COVJSON, "coveragejson": COVJSON}
MEDIA_TYPES = {GTIFF: "image/tiff; application=geotiff", COVJSON: "application/prs.coverage+json"}
SCALING = (("scale-size", "scaleSize"), ("scale-factor", "scaleFactor"),
           ("scale-axes", "scaleAxes"))
_AXIS_VALUE = re.compile(r"^\s*([A-Za-z_][\w-]{0,31})\(([^()]*)\)\s*$")


def refuse(french: str, english: str) -> InvalidParameter:
    """A 400 with its two messages."""
    return InvalidParameter(french, en=english)


@dataclass(frozen=True)
class CoverageQuery:
    """A coverage request, checked: the extent in the raster's CRS and the samples asked."""

    extent: tuple[float, float, float, float]  # left, bottom, right, top
    width: int
    height: int
    bands: tuple[int, ...]
    encoding: str

    @property
    def media_type(self) -> str:
        """The media type of the encoding."""
        return MEDIA_TYPES[self.encoding]


def _number(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise refuse(f"{name} : nombre fini attendu, pas {text[:40]!r}",
                     f"{name}: a finite number is expected, not {text[:40]!r}")
    return value


def _axis_values(name: str, text: str, grid: RasterGrid,
                 aliases: tuple[set[str], set[str]]) -> dict[int, str]:
    """``X(a),Y(b)`` → {0: "a", 1: "b"}: axis index → what is between the brackets."""
    found: dict[int, str] = {}
    labels = ", ".join(grid.axis_labels)
    for part in _split_axes(text):
        match = _AXIS_VALUE.match(part)
        axis = _axis_index(match[1], grid, aliases) if match else None
        if match is None or axis is None or axis in found:
            raise refuse(f"{name} : axe(valeur) attendu, axes {labels}, chacun une fois",
                         f"{name}: axis(value) expected, axes {labels}, each once")
        found[axis] = match[2]
    return found


def _split_axes(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


# Other names of the two axes: easting/northing, and for scaling only, GDAL's Long and Lat.
SUBSET_ALIASES = ({"x", "e", "easting"}, {"y", "n", "northing"})
SCALE_ALIASES = ({"x", "e", "easting", "long", "lon"}, {"y", "n", "northing", "lat"})


def _axis_index(label: str, grid: RasterGrid, aliases: tuple[set[str], set[str]]
                ) -> int | None:
    lowered = label.lower()
    for index, own in enumerate(grid.axis_labels):
        if lowered == own.lower() or lowered in aliases[index]:
            return index
    return None


def _clip(box: tuple[float, float, float, float], grid: RasterGrid,
          what: str) -> tuple[float, float, float, float]:
    w, s, e, n = box
    left, bottom, right, top = grid.bounds
    if e <= left or w >= right or n <= bottom or s >= top:
        raise refuse(f"{what} : ne recoupe pas l'emprise de la couverture",
                     f"{what}: does not overlap the coverage's extent")
    return max(w, left), max(s, bottom), min(e, right), min(n, top)


def _bbox_extent(params: Mapping[str, str], grid: RasterGrid
                 ) -> tuple[float, float, float, float]:
    parts = params["bbox"].split(",")
    if len(parts) != 4:
        raise refuse("bbox : 4 nombres attendus (minx,miny,maxx,maxy)",
                     "bbox: 4 numbers expected (minx,miny,maxx,maxy)")
    a, b, c, d = (_number("bbox", p) for p in parts)
    crs = parse_crs(params.get("bbox-crs", "OGC:CRS84"), "bbox-crs")
    if not (a < c and b < d) or not crs.contains((a, b, c, d)):
        raise refuse("bbox : min < max attendu sur chaque axe, dans le domaine du CRS",
                     "bbox: min < max expected on each axis, within the CRS's domain")
    if crs.srid == grid.epsg:
        return _clip((a, b, c, d), grid, "bbox")
    x1, y1, x2, y2 = (b, a, d, c) if crs.lat_lon else (a, b, c, d)
    if crs.srid != LONLAT_SRID:
        to_lonlat = Transformer.from_crs(f"EPSG:{crs.srid}", "OGC:CRS84", always_xy=True)
        x1, y1, x2, y2 = to_lonlat.transform_bounds(x1, y1, x2, y2, densify_pts=21)
    w, s, e, n = grid.lonlat  # first cut to the raster in lon/lat: the world has no Merchich
    if x2 <= w or x1 >= e or y2 <= s or y1 >= n:
        raise refuse("bbox : ne recoupe pas l'emprise de la couverture",
                     "bbox: does not overlap the coverage's extent")
    to_grid = Transformer.from_crs("OGC:CRS84", f"EPSG:{grid.epsg}", always_xy=True)
    box = to_grid.transform_bounds(max(x1, w), max(y1, s), min(x2, e), min(y2, n),
                                   densify_pts=21)
    return _clip(box, grid, "bbox")


def _subset_extent(text: str, grid: RasterGrid) -> tuple[float, float, float, float]:
    left, bottom, right, top = grid.bounds
    ranges = [(left, right), (bottom, top)]
    for axis, value in _axis_values("subset", text, grid, SUBSET_ALIASES).items():
        low, colon, high = value.partition(":")
        if not colon:
            raise refuse("subset : intervalle bas:haut attendu (pas de découpe à une valeur)",
                         "subset: a low:high interval is expected (no slicing)")
        lo, hi = _number("subset", low.strip().strip('"')), _number("subset", high.strip())
        if lo >= hi:
            raise refuse("subset : bas < haut attendu", "subset: low < high expected")
        ranges[axis] = (lo, hi)
    box = (ranges[0][0], ranges[1][0], ranges[0][1], ranges[1][1])
    _clip(box, grid, "subset")  # must overlap; what lies outside is nodata
    return box


def _snapped(extent: tuple[float, float, float, float], grid: RasterGrid
             ) -> tuple[float, float, float, float]:
    """The extent grown to whole cells of the raster's grid (so the cells are the stored
    ones, not resampled)."""
    left, _, _, top = grid.bounds
    xres, yres = grid.resolution

    def cells(value: float, origin: float, size: float, up: bool) -> float:
        position = (value - origin) / size
        nearest = round(position)
        whole = nearest if abs(position - nearest) < 1e-6 else (
            math.ceil(position) if up else math.floor(position))
        return origin + whole * size

    return (cells(extent[0], left, xres, False), top - cells(top - extent[1], 0, yres, True),
            cells(extent[2], left, xres, True), top - cells(top - extent[3], 0, yres, False))


def _natural(extent: tuple[float, float, float, float], grid: RasterGrid) -> tuple[int, int]:
    """How many cells of the raster the extent spans along each axis."""
    width = (extent[2] - extent[0]) / grid.resolution[0]
    height = (extent[3] - extent[1]) / grid.resolution[1]
    return max(1, round(width)), max(1, round(height))


def _scaled(params: Mapping[str, str], natural: tuple[int, int],
            grid: RasterGrid) -> tuple[int, int]:
    given = {names[0]: params.get(names[0], params.get(names[1])) for names in SCALING}
    asked = {name: value for name, value in given.items() if value is not None}
    if len(asked) > 1:
        raise refuse("scale-size, scale-factor et scale-axes s'excluent",
                     "scale-size, scale-factor and scale-axes are exclusive")
    size = list(natural)
    if "scale-factor" in asked:
        factor = _number("scale-factor", asked["scale-factor"])
        if factor <= 0:
            raise refuse("scale-factor : un nombre > 0 est attendu",
                         "scale-factor: a number > 0 is expected")
        size = [max(1, round(n / factor)) for n in natural]
    if "scale-size" in asked:
        for axis, text in _axis_values("scale-size", asked["scale-size"], grid,
                                       SCALE_ALIASES).items():
            count = _number("scale-size", text)
            if count < 1 or count != int(count):
                raise refuse("scale-size : un entier ≥ 1 est attendu par axe",
                             "scale-size: an integer ≥ 1 is expected per axis")
            size[axis] = int(count)
    if "scale-axes" in asked:
        for axis, text in _axis_values("scale-axes", asked["scale-axes"], grid,
                                       SCALE_ALIASES).items():
            factor = _number("scale-axes", text)
            if factor <= 0:
                raise refuse("scale-axes : un nombre > 0 est attendu par axe",
                             "scale-axes: a number > 0 is expected per axis")
            size[axis] = max(1, round(natural[axis] / factor))
    return size[0], size[1]


def _bands(params: Mapping[str, str], grid: RasterGrid) -> tuple[int, ...]:
    if "properties" not in params:
        return tuple(range(1, len(grid.band_names) + 1))
    names = params["properties"].split(",")
    bands = [grid.band_index(name.strip()) for name in names]
    if not names or None in bands or len(set(bands)) != len(bands):
        listed = ", ".join(grid.band_names)
        raise refuse(f"properties : bandes {listed} (ou leur numéro), chacune une fois",
                     f"properties: bands {listed} (or their number), each once")
    return tuple(b for b in bands if b is not None)


def _encoding(params: Mapping[str, str], accept: str) -> str:
    asked = params.get("f")
    if asked is not None:
        encoding = ENCODINGS.get(asked.lower())
        if encoding is None:
            raise refuse(f"f : {asked[:40]!r} non proposé ; GTiff ou json (CoverageJSON)",
                         f"f: {asked[:40]!r} is not offered; GTiff or json (CoverageJSON)")
        return encoding
    accepted = accept.lower()
    if "application/prs.coverage+json" in accepted or (
            "json" in accepted and "tiff" not in accepted):
        return COVJSON
    if accepted and "tiff" not in accepted and "*/*" not in accepted:
        raise NotAcceptable("Encodages proposés : image/tiff; application=geotiff, "
                            "application/prs.coverage+json",
                            en="Encodings offered: image/tiff; application=geotiff, "
                               "application/prs.coverage+json")
    return GTIFF


def parse_query(params: Mapping[str, str], accept: str, grid: RasterGrid) -> CoverageQuery:
    """The checked request; 400 (or 406 for ``Accept``) otherwise."""
    for key, value in params.items():
        if len(value) > MAX_PARAMETER or len(key) > 64:
            raise refuse(f"{key[:32]} : valeur trop longue (au plus {MAX_PARAMETER} caractères)",
                         f"{key[:32]}: value too long (at most {MAX_PARAMETER} characters)")
    if "datetime" in params:
        raise refuse("datetime : cette couverture n'a pas de dimension temporelle",
                     "datetime: this coverage has no time dimension")
    if "bbox" in params and "subset" in params:
        raise refuse("bbox et subset s'excluent", "bbox and subset are exclusive")
    if "bbox" in params:
        extent = _bbox_extent(params, grid)
    elif "subset" in params:
        extent = _subset_extent(params["subset"], grid)
    else:
        extent = grid.bounds
    if not any(name in params for names in SCALING for name in names):
        extent = _snapped(extent, grid)
    width, height = _scaled(params, _natural(extent, grid), grid)
    bands = _bands(params, grid)
    encoding = _encoding(params, accept)
    limit = MAX_JSON_CELLS if encoding == COVJSON else MAX_CELLS
    if width * height * len(bands) > limit:
        raise refuse(f"trop de valeurs demandées ({width} × {height}) : au plus {limit:,} ; "
                     "réduisez l'emprise ou utilisez scale-size".replace(",", " "),
                     f"too many values asked ({width} × {height}): at most {limit:,}; "
                     "ask for a smaller extent or use scale-size")
    return CoverageQuery(extent, width, height, bands, encoding)
