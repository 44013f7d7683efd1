"""Checks of a request before pygeoapi sees it: what pygeoapi would answer with a 500.

Each guard takes pygeoapi's ``API`` and ``APIRequest`` (and the route's path parameters) and
raises :class:`InvalidParameter` (French, English twin) for a request pygeoapi would crash
on, refuse with Python text, or turn into unbounded work. They run in pygeoapi's thread.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

from geoportal.catalogue.jobs import Callbacks
from geoportal.errors import InvalidParameter, NotAcceptable

MAX_JSON_DEPTH = 24  # a GeoJSON MultiPolygon in inputs is 7 deep
MAX_PARAMETER = 2048  # characters of one query parameter
MAX_OFFSET = 1_000_000
CRS84 = ("http://www.opengis.net/def/crs/OGC/1.3/CRS84", "OGC:CRS84", "CRS84",
         "http://www.opengis.net/def/crs/EPSG/0/4326", "EPSG:4326", "4326")
SORT_KEY = re.compile(r"^[+-]?[A-Za-z_][\w.:-]{0,63}$")
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


def _has_provider(api: Any, collection: str, kind: str) -> bool:
    resource = api.config["resources"].get(collection) or {}
    return any(p.get("type") == kind for p in resource.get("providers", []))


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
