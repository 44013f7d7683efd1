"""Query parameters of the OGC API, validated into typed objects (400 on anything wrong)."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from geoportal.core.crs import CRS84, WGS84_LON_LAT, Crs, parse_crs
from geoportal.core.history import HISTORY_TABLES, parse_at
from geoportal.errors import InvalidParameter
from geoportal.ogc.filters import ParsedFilter, parse_filter
from geoportal.registry import Layer, LayerProperty
from geoportal.settings import Settings

BBox = tuple[float, float, float, float]
ITEMS_PARAMETERS = frozenset({
    "f", "limit", "offset", "cursor", "bbox", "bbox-crs", "crs", "datetime", "filter",
    "filter-lang", "filter-crs", "sortby", "properties", "at",
})
FILTER_LANGS = ("cql2-text", "cql2-json")
MAX_OFFSET = 10_000_000


@dataclass(frozen=True)
class ItemsQuery:
    """Everything a request for items asks, validated against the layer."""

    limit: int | None
    offset: int = 0
    after: int | None = None
    bbox: BBox | None = None
    bbox_crs: Crs = WGS84_LON_LAT
    crs: Crs = WGS84_LON_LAT
    crs_given: bool = False
    interval: tuple[dt.datetime | None, dt.datetime | None] | None = None
    filter: ParsedFilter | None = None
    sortby: list[tuple[LayerProperty | None, bool]] = field(default_factory=list)
    properties: list[LayerProperty] = field(default_factory=list)
    equals: list[tuple[LayerProperty, str | float | bool]] = field(default_factory=list)
    limit_given: bool = False
    at: dt.datetime | None = None

    @property
    def keyset(self) -> bool:
        """True when pages are ordered by id alone, so the next page can start after an id."""
        return not self.sortby


def shown(value: str, size: int = 60) -> str:
    """A client's value quoted in a message, cut short (it may be huge)."""
    return repr(value if len(value) <= size else value[:size] + "…")


def reject_nul(params: Mapping[str, str]) -> None:
    """400 when a parameter name or value holds a NUL character (PostgreSQL text cannot)."""
    pairs = params.multi_items() if hasattr(params, "multi_items") else params.items()
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            label = name.replace("\x00", "")[:40]
            raise InvalidParameter(f"{label} : caractère NUL interdit",
                                   en=f"{label}: NUL characters are not allowed")


def reject_unknown(params: Mapping[str, str], allowed: frozenset[str] | set[str]) -> None:
    """400 when the request has a parameter the API does not define (or a NUL character)."""
    reject_nul(params)
    unknown = sorted(shown(name, 40) for name in set(params) - set(allowed))
    if unknown:
        names, known = ", ".join(unknown[:10]), ", ".join(sorted(allowed))
        raise InvalidParameter(f"paramètre(s) inconnu(s) : {names} ; admis : {known}",
                               en=f"unknown parameter(s): {names}; allowed: {known}")


_INTEGER = re.compile(r"[+-]?\d{1,20}")


def parse_int(value: str, name: str, low: int, high: int) -> int:
    """An integer within [low, high] (never more than 20 digits are converted)."""
    text = value.strip()
    if _INTEGER.fullmatch(text) is None:
        if re.fullmatch(r"[+-]?\d+", text):
            raise InvalidParameter(f"{name} : hors de l'intervalle {low}..{high}",
                                   en=f"{name}: outside {low}..{high}")
        raise InvalidParameter(f"{name} : {shown(value)} n'est pas un entier",
                               en=f"{name}: {shown(value)} is not an integer")
    number = int(text)
    if not low <= number <= high:
        raise InvalidParameter(f"{name} : {number} est hors de l'intervalle {low}..{high}",
                               en=f"{name}: {number} is outside {low}..{high}")
    return number


def parse_bbox(value: str) -> BBox:
    """Four numbers (a 6-number 3D bbox is reduced to 2D); min must not exceed max."""
    try:
        numbers = [float(v) for v in value.split(",")[:7]]
    except ValueError:
        raise InvalidParameter(f"bbox : {shown(value)} n'est pas une liste de nombres",
                               en=f"bbox: {shown(value)} is not a list of numbers") from None
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    if len(numbers) != 4 or not all(math.isfinite(n) for n in numbers):
        raise InvalidParameter("bbox : 4 nombres finis attendus (minx,miny,maxx,maxy)",
                               en="bbox: expected 4 finite numbers: minx,miny,maxx,maxy")
    x1, y1, x2, y2 = numbers
    if x1 > x2 or y1 > y2:
        raise InvalidParameter("bbox : le coin inférieur doit précéder le coin supérieur",
                               en="bbox: the lower corner must come before the upper corner")
    return (x1, y1, x2, y2)


def check_in_domain(bbox: BBox, crs: Crs, name: str = "bbox") -> None:
    """400 when a bbox reaches outside the domain of its CRS (it cannot be transformed)."""
    if not crs.contains(bbox):
        domain = ",".join(f"{v:g}" for v in crs.domain)
        raise InvalidParameter(f"{name} : hors du domaine de {crs.label} ({domain})",
                               en=f"{name}: outside the domain of {crs.label} ({domain})")


def _instant(text: str, end: bool) -> dt.datetime | None:
    if text in ("", ".."):
        return None
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            moment = dt.datetime.combine(day, dt.time.max if end else dt.time.min)
        else:
            moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidParameter(f"datetime : {shown(text)} n'est pas une date RFC 3339",
                               en=f"datetime: {shown(text)} is not an RFC 3339 date-time"
                               ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def parse_datetime(value: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """An instant, a date (the whole day) or an interval with ``..`` for open ends."""
    if "/" in value:
        start_text, _, end_text = value.partition("/")
        start, end = _instant(start_text, end=False), _instant(end_text, end=True)
        if start is None and end is None:
            raise InvalidParameter("datetime : un intervalle a besoin d'au moins une borne",
                                   en="datetime: an interval needs at least one end")
        if start and end and start > end:
            raise InvalidParameter("datetime : l'intervalle finit avant de commencer",
                                   en="datetime: the interval ends before it starts")
        return start, end
    start = _instant(value, end=False)
    if start is None:
        raise InvalidParameter("datetime : vide", en="datetime: empty")
    return start, (_instant(value, end=True) if len(value) == 10 else start)


def parse_moment(params: Mapping[str, str], layer: Layer) -> dt.datetime | None:
    """``at``: the moment the data is read at (None: now); 400 when malformed, in the future,
    or on a layer without history."""
    if "at" not in params:
        return None
    if layer.table not in HISTORY_TABLES:
        raise InvalidParameter(f"at : la collection {layer.id!r} n'a pas d'historique",
                               en=f"at: collection {layer.id!r} has no history")
    return parse_at(params["at"])


def parse_sortby(value: str, layer: Layer) -> list[tuple[LayerProperty | None, bool]]:
    """``+name``/``-name`` keys over queryables or ``id``."""
    keys: list[tuple[LayerProperty | None, bool]] = []
    for raw in value.split(","):
        key = raw.strip()
        descending = key.startswith("-")
        name = key.lstrip("+-").strip()
        if name == "id":
            keys.append((None, descending))
            continue
        prop = layer.find_property(name)
        if prop is None or not prop.queryable:
            allowed = ", ".join(["id", *(p.name for p in layer.queryables)])
            raise InvalidParameter(
                f"sortby : propriété inconnue {shown(name)} ; triables : {allowed}",
                en=f"sortby: unknown property {shown(name)}; sortable: {allowed}")
        keys.append((prop, descending))
    return keys


def parse_properties(value: str, layer: Layer) -> list[LayerProperty]:
    """The properties to return, in the order asked; unknown names are a 400."""
    chosen: list[LayerProperty] = []
    for name in filter(None, (n.strip() for n in value.split(","))):
        prop = layer.find_property(name)
        if prop is None:
            allowed = ", ".join(p.name for p in layer.properties)
            raise InvalidParameter(
                f"properties : propriété inconnue {shown(name)} ; connues : {allowed}",
                en=f"properties: unknown property {shown(name)}; known: {allowed}")
        if prop not in chosen:
            chosen.append(prop)
    return chosen


def parse_equals(prop: LayerProperty, value: str) -> str | float | bool:
    """A ``name=value`` filter's value, typed after the property."""
    if prop.type in ("integer", "number"):
        try:
            number = float(value)
        except ValueError:
            raise InvalidParameter(f"{prop.name} : {shown(value)} n'est pas un nombre",
                                   en=f"{prop.name}: {shown(value)} is not a number") from None
        if not math.isfinite(number):
            raise InvalidParameter(f"{prop.name} : {shown(value)} n'est pas un nombre fini",
                                   en=f"{prop.name}: {shown(value)} is not a finite number")
        return number
    if prop.type == "boolean":
        if value.lower() not in ("true", "false"):
            raise InvalidParameter(f"{prop.name} : true ou false attendu",
                                   en=f"{prop.name}: expected true or false")
        return value.lower() == "true"
    if prop.type in ("date", "datetime", "array"):
        raise InvalidParameter(f"{prop.name} : utilisez datetime= ou filter= pour cette propriété",
                               en=f"{prop.name}: use datetime= or filter= for this property")
    return value


def refuse_coordinates(params: Mapping[str, str], layer: Layer) -> None:
    """400 for ``bbox`` on a collection without geometry, and for a ``crs`` other than
    CRS84, the only one its collection document lists."""
    if layer.has_geometry:
        return
    if "bbox" in params or "bbox-crs" in params:
        raise InvalidParameter(
            f"bbox : la collection {layer.id!r} n'a pas de géométrie ; "
            "filtrez-la par ses propriétés (filter= ou nom=valeur)",
            en=f"bbox: collection {layer.id!r} has no geometry; "
            "filter it by its properties (filter= or name=value)")
    if "crs" in params and parse_crs(params["crs"], "crs") != WGS84_LON_LAT:
        raise InvalidParameter(
            f"crs : la collection {layer.id!r} n'a pas de géométrie ; seul {CRS84} est proposé",
            en=f"crs: collection {layer.id!r} has no geometry; only {CRS84} is offered")


def parse_items_query(params: Mapping[str, str], layer: Layer, settings: Settings,
                      streaming: bool = False) -> ItemsQuery:
    """Validate every parameter of ``/items``; a streaming format has no default limit."""
    queryable_names = {p.name for p in layer.queryables}
    reject_unknown(params, ITEMS_PARAMETERS | queryable_names)
    refuse_coordinates(params, layer)
    limit_given = "limit" in params
    limit: int | None
    if limit_given:
        # Above the maximum the page is cut to it (OGC API Features permits either this or a
        # 400); clients such as QGIS then follow the next links.
        limit = parse_int(params["limit"], "limit", 1, 2**62)
        if not streaming:
            limit = min(limit, settings.items_max_limit)
    else:
        limit = None if streaming else settings.items_default_limit
    offset = parse_int(params["offset"], "offset", 0, MAX_OFFSET) if "offset" in params else 0
    after = None
    if "cursor" in params:
        after = parse_int(params["cursor"], "cursor", -(2**63), 2**63 - 1)
    crs = parse_crs(params["crs"], "crs") if "crs" in params else WGS84_LON_LAT
    bbox_crs = parse_crs(params["bbox-crs"], "bbox-crs") if "bbox-crs" in params \
        else WGS84_LON_LAT
    if "bbox-crs" in params and "bbox" not in params:
        raise InvalidParameter("bbox-crs : donné sans bbox", en="bbox-crs: given without bbox")
    bbox = None
    if "bbox" in params:
        bbox = parse_bbox(params["bbox"])
        check_in_domain(bbox, bbox_crs)
    interval = None
    if "datetime" in params:
        if layer.temporal is None:
            raise InvalidParameter(f"datetime : la collection {layer.id!r} n'a pas de temps",
                                   en=f"datetime: collection {layer.id!r} has no time")
        interval = parse_datetime(params["datetime"])
    sortby = parse_sortby(params["sortby"], layer) if params.get("sortby") else []
    if after is not None and sortby:
        raise InvalidParameter(
            "cursor : seulement avec l'ordre par défaut (sans sortby) ; utilisez offset",
            en="cursor: only with the default order (no sortby); use offset")
    return ItemsQuery(
        limit=limit,
        offset=offset,
        after=after,
        bbox=bbox,
        bbox_crs=bbox_crs,
        crs=crs,
        crs_given="crs" in params,
        interval=interval,
        filter=_filter(params, layer),
        sortby=sortby,
        properties=parse_properties(params["properties"], layer)
        if "properties" in params else list(layer.properties),
        equals=[(p, parse_equals(p, params[p.name])) for p in layer.queryables
                if p.name in params],
        limit_given=limit_given,
        at=parse_moment(params, layer),
    )


def _filter(params: Mapping[str, str], layer: Layer) -> ParsedFilter | None:
    lang = params.get("filter-lang", "cql2-text")
    if lang not in FILTER_LANGS:
        langs = ", ".join(FILTER_LANGS)
        raise InvalidParameter(f"filter-lang : {shown(lang)} ; langages : {langs}",
                               en=f"filter-lang: {shown(lang)}; use one of {langs}")
    crs = parse_crs(params["filter-crs"], "filter-crs") if "filter-crs" in params \
        else WGS84_LON_LAT
    if "filter" not in params:
        if "filter-lang" in params or "filter-crs" in params:
            raise InvalidParameter("filter-lang/filter-crs : donnés sans filter",
                                   en="filter-lang/filter-crs: given without filter")
        return None
    return parse_filter(params["filter"], lang, layer, crs)


def parse_feature_params(params: Mapping[str, str], layer: Layer) -> tuple[Crs, bool,
                                                                          list[LayerProperty]]:
    """``crs`` and ``properties`` of a single-feature request (``at``: ``parse_moment``)."""
    reject_unknown(params, {"f", "crs", "properties", "at"})
    refuse_coordinates(params, layer)
    crs = parse_crs(params["crs"], "crs") if "crs" in params else WGS84_LON_LAT
    props = parse_properties(params["properties"], layer) if "properties" in params \
        else list(layer.properties)
    return crs, "crs" in params, props

