"""Checks of a request before pygeoapi sees it: what pygeoapi would answer with a 500.

Each guard takes pygeoapi's ``API`` and ``APIRequest`` (and the route's path parameters) and
raises :class:`InvalidParameter` (French, English twin) for a request pygeoapi would crash
on, refuse with Python text, or turn into unbounded work. They run in pygeoapi's thread.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from pygeoapi.plugin import load_plugin
from pygeoapi.util import get_provider_by_type
from pyproj import Transformer

from geoportal.catalogue.jobs import Callbacks
from geoportal.errors import InvalidParameter, NotAcceptable

MAX_JSON_DEPTH = 24  # a GeoJSON MultiPolygon in inputs is 7 deep
MAX_PARAMETER = 2048  # characters of one query parameter
MAX_OFFSET = 1_000_000
CRS84 = ("http://www.opengis.net/def/crs/OGC/1.3/CRS84", "OGC:CRS84", "CRS84",
         "http://www.opengis.net/def/crs/EPSG/0/4326", "EPSG:4326", "4326")
SUBSET = re.compile(r"^\s*(?P<axis>[A-Za-z_][\w-]{0,31})\((?P<low>[^:()]+)(?::(?P<high>[^:()]+))?\)"
                    r"\s*$")
SORT_KEY = re.compile(r"^[+-]?[A-Za-z_][\w.:-]{0,63}$")
SCALING = ("scale-factor", "scale-axes", "scale-size")
Guard = Callable[..., None]


def _refuse(french: str, english: str) -> InvalidParameter:
    return InvalidParameter(french, en=english)


def _params(request: Any) -> dict[str, str]:
    """The query parameters, each once; 400 when one is absurdly long."""
    params = {key: value for key, value in request.params.items()}
    for key, value in params.items():
        if len(value) > MAX_PARAMETER or len(key) > 64:
            name = key[:32]
            raise _refuse(f"{name} : valeur trop longue (au plus {MAX_PARAMETER} caractères)",
                          f"{name}: value too long (at most {MAX_PARAMETER} characters)")
    return params


def _replace_params(request: Any, params: dict[str, str]) -> None:
    request._args = params  # pygeoapi reads request.params (its ``_args``) with get / [] / in


def _numbers(name: str, text: str, count: int) -> list[float]:
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(parts) != count or len(values) != count or not all(map(math.isfinite, values)):
        raise _refuse(f"{name} : {count} nombres finis attendus, séparés par des virgules",
                      f"{name}: {count} finite numbers expected, separated by commas")
    return values


def lonlat_bbox(text: str) -> tuple[float, float, float, float]:
    """``minlon,minlat,maxlon,maxlat`` in CRS84: finite, ordered, on the Earth."""
    w, s, e, n = _numbers("bbox", text, 4)
    if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
        raise _refuse("bbox : minlon < maxlon entre -180 et 180, minlat < maxlat entre -90 et 90",
                      "bbox: minlon < maxlon within -180..180, minlat < maxlat within -90..90")
    return w, s, e, n


def _offset_limit(params: dict[str, str]) -> None:
    for name, top in (("offset", MAX_OFFSET), ("limit", MAX_OFFSET)):
        if name in params:
            value = params[name]
            if not value.isdigit() or int(value) > top:
                raise _refuse(f"{name} : un entier de 0 à {top} est attendu",
                              f"{name}: an integer from 0 to {top} is expected")


def items(api: Any, request: Any, collection: str) -> None:
    """``/collections/{id}/items``: paging, bbox, bbox-crs, sortby; csv only for features."""
    params = _params(request)
    _offset_limit(params)
    if "sortby" in params and not all(SORT_KEY.match(k) for k in params["sortby"].split(",")):
        raise _refuse("sortby : propriétés séparées par des virgules, chacune précédée ou non "
                      "de + ou -", "sortby: comma-separated properties, each optionally "
                      "prefixed by + or -")
    if request.format == "csv" and not _has_provider(api, collection, "feature"):
        raise NotAcceptable("f=csv : non proposé pour cette collection",
                            en="f=csv: not offered for this collection")
    if params.get("bbox"):
        if params.get("bbox-crs", CRS84[0]) not in CRS84:
            raise _refuse("bbox-crs : seul CRS84 est pris en charge",
                          "bbox-crs: only CRS84 is supported")
        lonlat_bbox(params["bbox"])


def item(api: Any, request: Any, collection: str, identifier: str) -> None:
    """``/collections/{id}/items/{fid}``: an identifier of reasonable length."""
    _params(request)
    if len(identifier) > 256:
        raise _refuse("identifiant trop long", "identifier too long")


def jobs(api: Any, request: Any, *identifier: str) -> None:
    """``/jobs``: paging within reason."""
    _offset_limit(_params(request))


class Coverage:
    """What a coverage request may ask of one raster: its axes, bands and extent."""

    def __init__(self, provider: Any) -> None:
        data = provider._data
        self.axes = tuple(provider.axes)
        self.bands = tuple(str(band) for band in provider.get_fields())
        self.bounds = tuple(data.bounds)  # in the raster's CRS
        to_lonlat = Transformer.from_crs(data.crs, "OGC:CRS84", always_xy=True)
        self.lonlat = to_lonlat.transform_bounds(*self.bounds)



COVERAGES: dict[str, Coverage] = {}  # by raster file: each opened once per process
_opening = threading.Lock()


def _has_provider(api: Any, collection: str, kind: str) -> bool:
    resource = api.config["resources"].get(collection) or {}
    return any(p.get("type") == kind for p in resource.get("providers", []))


def _coverage_of(api: Any, collection: str) -> Coverage | None:
    try:
        provider = get_provider_by_type(api.config["resources"][collection]["providers"],
                                        "coverage")
    except Exception:  # not a coverage: pygeoapi answers its own 404 or 400
        return None
    key = str(provider["data"])
    with _opening:
        if key not in COVERAGES:
            COVERAGES[key] = Coverage(load_plugin("provider", provider))
        return COVERAGES[key]


def _clip(box: Iterable[float], extent: tuple[float, ...], what: str) -> list[float]:
    w, s, e, n = box
    cw, cs, ce, cn = extent
    if e <= cw or w >= ce or n <= cs or s >= cn:
        raise _refuse(f"{what} : ne recoupe pas l'emprise de la couverture",
                      f"{what}: does not overlap the coverage's extent")
    return [max(w, cw), max(s, cs), min(e, ce), min(n, cn)]


def _subsets(text: str, coverage: Coverage) -> dict[str, tuple[float, float]]:
    found: dict[str, tuple[float, float]] = {}
    for part in text.split(","):
        match = SUBSET.match(part)
        if match is None or match["axis"] not in coverage.axes or match["axis"] in found:
            axes = ", ".join(coverage.axes)
            raise _refuse(f"subset : axe(min:max) attendu, axes {axes}, chacun une fois",
                          f"subset: axis(low:high) expected, axes {axes}, each once")
        low, high = match["low"], match["high"] or match["low"]
        values = _numbers("subset", f"{low},{high}", 2)
        if values[0] >= values[1]:
            raise _refuse("subset : min < max attendu", "subset: low < high expected")
        found[match["axis"]] = (values[0], values[1])
    if len(found) != len(coverage.axes):
        axes = ", ".join(coverage.axes)
        raise _refuse(f"subset : donnez les deux axes ({axes})",
                      f"subset: give both axes ({axes})")
    return found


def coverage(api: Any, request: Any, collection: str) -> None:
    """``/collections/{id}/coverage``: bbox, subset and properties the raster can answer."""
    raster = _coverage_of(api, collection)
    if raster is None:
        return
    params = _params(request)
    if any(name in params for name in SCALING):
        raise _refuse("scale-factor, scale-axes, scale-size : non pris en charge",
                      "scale-factor, scale-axes, scale-size: not supported")
    if params.get("bbox-crs", CRS84[0]) not in CRS84:
        raise _refuse("bbox-crs : seul CRS84 est pris en charge",
                      "bbox-crs: only CRS84 is supported")
    params.pop("bbox-crs", None)  # pygeoapi would hand the URI to rasterio as an EPSG code
    if "datetime" in params:
        raise _refuse("datetime : cette couverture n'a pas de dimension temporelle",
                      "datetime: this coverage has no time dimension")
    if "bbox" in params and "subset" in params:
        raise _refuse("bbox et subset s'excluent", "bbox and subset are exclusive")
    if "bbox" in params:
        clipped = _clip(lonlat_bbox(params["bbox"]), raster.lonlat, "bbox")
        params["bbox"] = ",".join(repr(v) for v in clipped)
    if "subset" in params:
        subsets = _subsets(params["subset"], raster)
        x, y = raster.axes[0], raster.axes[1]
        w, s, e, n = _clip((subsets[x][0], subsets[y][0], subsets[x][1], subsets[y][1]),
                           raster.bounds, "subset")
        params["subset"] = f"{x}({w!r}:{e!r}),{y}({s!r}:{n!r})"
    if "properties" in params:
        asked = params["properties"].split(",")
        if not all(asked) or not set(asked) <= set(raster.bands) or len(asked) > len(set(asked)):
            bands = ", ".join(raster.bands)
            raise _refuse(f"properties : bandes {bands}, chacune une fois",
                          f"properties: bands {bands}, each once")
    _replace_params(request, params)


def _depth_over(document: Any, limit: int) -> bool:
    stack = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((value, depth + 1) for value in node.values())
        elif isinstance(node, list):
            stack.extend((value, depth + 1) for value in node)
    return False


def execution_body(data: bytes) -> dict[str, Any]:
    """The execute request: a JSON object, at most :data:`MAX_JSON_DEPTH` deep."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: nested past the parser's limit
        raise _refuse(f"corps : un objet JSON valide est attendu (au plus {MAX_JSON_DEPTH} "
                      "niveaux)", f"body: a valid JSON object is expected (at most "
                      f"{MAX_JSON_DEPTH} levels deep)") from None
    if not isinstance(document, dict) or _depth_over(document, MAX_JSON_DEPTH):
        raise _refuse(f"corps : un objet JSON valide est attendu (au plus {MAX_JSON_DEPTH} "
                      "niveaux)", f"body: a valid JSON object is expected (at most "
                      f"{MAX_JSON_DEPTH} levels deep)")
    for name in ("inputs", "outputs", "subscriber"):
        if document.get(name) is not None and not isinstance(document[name], dict):
            raise _refuse(f"{name} : un objet JSON est attendu",
                          f"{name}: a JSON object is expected")
    if document.get("response", "raw") not in ("raw", "document"):
        raise _refuse("response : raw ou document", "response: raw or document")
    return document


def execution(callbacks: Callbacks) -> Guard:
    """``/processes/{id}/execution``: a sound body; a subscriber only on configured hosts."""

    def check(api: Any, request: Any, process: str) -> None:
        if not request.data:
            return  # pygeoapi answers its own 400 (missing request data)
        document = execution_body(request.data)
        subscriber = document.get("subscriber")
        if subscriber is None:
            return
        uris = [subscriber.get(name) for name in ("successUri", "inProgressUri", "failedUri")
                if subscriber.get(name) is not None]
        if not callbacks.hosts:
            raise _refuse("subscriber : ce service n'envoie pas de notifications (aucun hôte "
                          "de rappel configuré)", "subscriber: this service sends no "
                          "notifications (no callback host is configured)")
        if "successUri" not in subscriber or not all(map(callbacks.allows, uris)):
            raise _refuse("subscriber : successUri requis ; chaque URI doit être http(s) sur un "
                          "hôte de rappel configuré", "subscriber: successUri is required; "
                          "every URI must be http(s) on a configured callback host")

    return check
