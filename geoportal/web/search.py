"""``/search``: find a plot by land-title reference, a commune or préfecture by name, or a
place by its coordinates.

References are matched by prefix on ``parcels.ref_norm`` (spacing and case removed, ``T.F.``
and ``TF 1861325-C`` spellings accepted), served by its ``text_pattern_ops`` index; names by
substring, accents and case ignored; two numbers are read as WGS 84 latitude and longitude
(``33.57, -7.59``) or as Nord Maroc easting and northing in metres (``296630 332700``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from pyproj import Transformer

from geoportal.core.area import STORAGE_CRS
from geoportal.core.refs import ref_norm
from geoportal.core.sql import ident as quote
from geoportal.deps import PoolDep, RegistryDep
from geoportal.errors import InvalidParameter
from geoportal.registry import Layer

router = APIRouter(tags=["web"])

# Accented letters and the plain ones they match (same length), and punctuation as spaces.
ACCENTED = "àáâãäåā" "çćč" "èéêëēėę" "îïíīì" "ñń" "ôöòóõōø" "ùúûüū" "ÿ" "žźż" "’'-"
PLAIN = "aaaaaaa" "ccc" "eeeeeee" "iiiii" "nn" "ooooooo" "uuuuu" "y" "zzz" "   "
AreaKind = Literal["commune", "prefecture"]
AREAS: tuple[tuple[str, AreaKind], ...] = (("communes", "commune"), ("prefectures", "prefecture"))
# Two numbers, decimal point or comma, separated by a comma, a semicolon or spaces.
TWO_NUMBERS = re.compile(r"^\s*(-?\d+(?:[.,]\d+)?)\s*[,;\s]\s*(-?\d+(?:[.,]\d+)?)\s*$")
LOCAL_RANGE = (1_000.0, 2_000_000.0)  # Nord Maroc eastings and northings, in metres
POINT_BOX_DEG = 0.002  # the box a searched point is shown in (about 200 m)
BOX = ("ST_XMin(b) AS west, ST_YMin(b) AS south, ST_XMax(b) AS east, ST_YMax(b) AS north")


class SearchResult(BaseModel):
    """One suggestion: what it is, how to show it, where it is (longitude, latitude)."""

    kind: Literal["parcel", "commune", "prefecture", "point"]
    label: str
    detail: str
    ref: str | None = Field(default=None, description="Land-title reference of a plot.")
    center: tuple[float, float]
    bbox: tuple[float, float, float, float]


class SearchAnswer(BaseModel):
    """Suggestions for what was typed, plots first."""

    query: str
    results: list[SearchResult]


def normalised_ref(text: str) -> str:
    """A reference spelled as ``ref_norm`` is: upper case, no spaces, ``TF`` without dots
    or "n°", the index after a slash (``TF 1861325-C`` is ``TF1861325/C``)."""
    ref = ref_norm(text)
    ref = re.sub(r"^T\.?F\.?(?:N°|N\.|Nº)?", "TF", ref)
    return re.sub(r"(?<=\d)-(?=[A-Z])", "/", ref)


@lru_cache(maxsize=1)
def _local_to_wgs84() -> Transformer:
    return Transformer.from_crs(STORAGE_CRS, "EPSG:4326", always_xy=True)


def _number(text: str) -> float:
    return float(text.replace(",", "."))


def coordinates_of(text: str) -> tuple[float, float, str] | None:
    """Longitude, latitude and how it was read, when the text is a pair of coordinates."""
    match = TWO_NUMBERS.match(text)
    if match is None:
        return None
    a, b = _number(match[1]), _number(match[2])
    low, high = LOCAL_RANGE
    if low <= a <= high and low <= b <= high:
        lon, lat = _local_to_wgs84().transform(a, b)
        return lon, lat, f"Nord Maroc X {a:,.0f} · Y {b:,.0f} m".replace(",", "\u202f")
    if abs(a) <= 90 and abs(b) <= 180:
        lat, lon = a, b
        if abs(a) < 20 and 20 <= abs(b) <= 90:  # typed longitude first (-7.59, 33.57)
            lat, lon = b, a
        return lon, lat, f"WGS 84 {lat:.5f}, {lon:.5f}"
    return None


def point_result(text: str) -> SearchResult | None:
    """The searched coordinates as a suggestion, when they are some."""
    found = coordinates_of(text)
    if found is None:
        return None
    lon, lat, read_as = found
    d = POINT_BOX_DEG
    return SearchResult(kind="point", label=read_as, detail="Coordonnées",
                        center=(lon, lat), bbox=(lon - d, lat - d, lon + d, lat + d))


def like_prefix(text: str) -> str:
    """A LIKE pattern matching what starts with ``text`` (its wildcards escaped)."""
    return re.sub(r"([\\%_])", r"\\\1", text) + "%"


def plain(expression: str) -> str:
    """SQL that lower-cases a text and strips its accents, for name matching."""
    return f"translate(lower({expression}), $3, $4)"


async def find_parcels(pool: asyncpg.Pool, layer: Layer, q: str,
                       limit: int) -> list[SearchResult]:
    """Plots whose reference starts with what was typed (``TF`` assumed before digits)."""
    typed = ref_norm(q)
    patterns = [like_prefix(typed)]
    if typed[:1].isdigit():
        patterns.append(like_prefix("TF" + typed))
    table, geom = quote(layer.table), quote(layer.spatial_column)
    results: list[SearchResult] = []
    for pattern in patterns:
        sql = (  # identifiers from the registry, quoted; values bound
            f"SELECT ref, area_m2, ST_X(c) AS lon, ST_Y(c) AS lat, {BOX}"  # noqa: S608
            f" FROM (SELECT ref, area_m2,"
            f" ST_Transform(ST_PointOnSurface({geom}), 4326) AS c,"
            f" ST_Transform(ST_Envelope({geom}), 4326)::box2d AS b"
            f" FROM {table} WHERE ref_norm LIKE $1 ORDER BY ref_norm USING ~<~ LIMIT $2) s"
        )
        for row in await pool.fetch(sql, pattern, limit - len(results)):
            results.append(SearchResult(
                kind="parcel", label=row["ref"], ref=row["ref"],
                detail=f"Parcelle · {row['area_m2']:,.0f} m²".replace(",", " "),
                center=(row["lon"], row["lat"]),
                bbox=(row["west"], row["south"], row["east"], row["north"])))
        if len(results) >= limit:
            break
    return results


async def find_areas(pool: asyncpg.Pool, layer: Layer, kind: AreaKind,
                     q: str, limit: int) -> list[SearchResult]:
    """Communes or préfectures whose French or Arabic name contains what was typed."""
    table, geom = quote(layer.table), quote(layer.spatial_column)
    sql = (  # identifiers from the registry, quoted; values bound
        f"SELECT name_fr, name_ar, kind, ST_X(c) AS lon, ST_Y(c) AS lat, {BOX}"  # noqa: S608
        f" FROM (SELECT name_fr, name_ar, kind,"
        f" ST_Transform(ST_PointOnSurface({geom}), 4326) AS c,"
        f" ST_Transform(ST_Envelope({geom}), 4326)::box2d AS b,"
        f" strpos({plain('name_fr')}, {plain('$1')}) AS at"
        f" FROM {table}"
        f" WHERE strpos({plain('name_fr')}, {plain('$1')}) > 0 OR strpos(name_ar, $1) > 0"
        f" ) s ORDER BY (at = 1) DESC, length(name_fr), name_fr LIMIT $2"
    )
    rows = await pool.fetch(sql, q, limit, ACCENTED, PLAIN)
    return [
        SearchResult(kind=kind, label=row["name_fr"],
                     detail=" · ".join(filter(None, [row["kind"].capitalize(), row["name_ar"]])),
                     center=(row["lon"], row["lat"]),
                     bbox=(row["west"], row["south"], row["east"], row["north"]))
        for row in rows
    ]


@router.get("/search", summary="Find a plot, a commune or a préfecture",
            response_model=SearchAnswer)
async def search(
    pool: PoolDep, registry: RegistryDep,
    q: Annotated[str, Query(min_length=1, max_length=100,
                            description="A land-title reference (TF 12345/C) or a name")],
    limit: Annotated[int, Query(ge=1, le=20)] = 8,
) -> SearchAnswer:
    """Suggestions as you type: plots by reference prefix, then areas by name."""
    typed = q.strip()
    if not typed.isprintable():  # NUL and other control characters: never sent to SQL
        raise InvalidParameter(
            "q : le texte recherché contient des caractères non imprimables",
            en="q: the text searched for holds unprintable characters")
    results: list[SearchResult] = []
    if len(typed) < 2:
        return SearchAnswer(query=typed, results=results)
    point = point_result(typed)
    if point is not None:  # coordinates are not a reference nor a name
        return SearchAnswer(query=typed, results=[point])
    parcels = registry.get("parcels")
    if parcels is not None and any(ch.isdigit() for ch in typed):
        results += await find_parcels(pool, parcels, typed, limit)
    for layer_id, kind in AREAS:
        layer = registry.get(layer_id)
        if layer is not None and len(results) < limit:
            results += await find_areas(pool, layer, kind, typed, limit - len(results))
    return SearchAnswer(query=typed, results=results)
