"""HTTP caching and optimistic locking: ETags, 304 on ``If-None-Match``, ``If-Match``.

Pages and metadata carry weak ETags of the layer's data version (or of the body).

One feature carries a **strong** ETag made of its ``version`` column (1, 2, … bumped by the
history trigger on every change): ``"v7"`` for its canonical representation (GeoJSON in
CRS84 with every property: ``GET /items/{id}``, also the body answered by POST, PUT and
PATCH), and ``"v7-<8 hex>"`` for another representation of the same version (``f=jsonfg``,
``crs=``, ``properties=``, HTML), the suffix hashing the representation's parameters.
``If-Match`` compares the version part only (strong comparison: a ``W/`` tag never
matches), so any ETag a client got from any representation of the current version lets it
write, and none of an older version does.

A read of the past (``at=``) has a strong ETag (the bytes are the same for the same data
version and URL) and, once its moment is settled, never changes: cached for a year.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

from fastapi import Request

from geoportal.core.caching import not_modified, strong_etag, weak_etag
from geoportal.core.formats import GEOJSON, Format
from geoportal.core.history import IMMUTABLE, settled
from geoportal.ogc.sql import ENCODING

__all__ = ["ANY", "cache_headers", "content_etag", "feature_etag", "if_match_versions",
           "make_etag", "not_modified", "past_etag", "representation_etag"]

CACHE_CONTROL = "public, max-age=60, must-revalidate"
_OUR_TAG = re.compile(r'^"v(\d{1,18})(?:-[0-9a-f]{1,16})?"$')
_TAG = re.compile(r'\s*(W/)?("[^"]*")\s*(?:,|$)')
ANY = "*"


def make_etag(request: Request, base: str, version: int, fmt: Format) -> str:
    """A weak ETag: same data version, same URL, same format → same representation."""
    params = "&".join(f"{k}={v}" for k, v in sorted(request.query_params.multi_items()))
    key = f"{ENCODING}|{version}|{base}|{request.url.path}|{params}|{fmt.media_type}"
    return 'W/"' + hashlib.sha256(key.encode()).hexdigest()[:24] + '"'


def past_etag(request: Request, base: str, data_version: str, fmt: Format) -> str:
    """A strong ETag of a read of the past: the data version then, the URL, the format."""
    params = "&".join(f"{k}={v}" for k, v in sorted(request.query_params.multi_items()))
    return strong_etag("at", data_version, base, request.url.path, params, fmt.media_type)


content_etag = weak_etag  # metadata documents: a weak ETag of the body


def cache_headers(etag: str, at: dt.datetime | None = None) -> dict[str, str]:
    """ETag and Cache-Control (a year, immutable, for a settled moment of the past)."""
    immutable = at is not None and settled(at)
    return {"ETag": etag, "Cache-Control": IMMUTABLE if immutable else CACHE_CONTROL}


def feature_etag(version: int, variant: str = "") -> str:
    """The strong ETag of one feature's version (``variant``: of another representation)."""
    return f'"v{version}-{variant}"' if variant else f'"v{version}"'


def representation_etag(request: Request, version: int, fmt: Format) -> str:
    """The ETag of the feature representation this request asks for."""
    params = sorted((k, v) for k, v in request.query_params.multi_items() if k != "f")
    if fmt is GEOJSON and not params:
        return feature_etag(version)
    key = "&".join(f"{k}={v}" for k, v in params) + "|" + fmt.media_type
    return feature_etag(version, hashlib.sha256(key.encode()).hexdigest()[:8])


def if_match_versions(header: str) -> frozenset[int] | str:
    """The versions an ``If-Match`` header accepts, or ``ANY`` for ``*``.

    Tags that are weak or not of this service's shape match nothing (an empty set when none
    is left): the write is then refused as stale.
    """
    text = header.strip()
    if text == ANY:
        return ANY
    versions: set[int] = set()
    for weak, tag in _TAG.findall(text[:2000]):
        match = _OUR_TAG.match(tag)
        if match and not weak:
            versions.add(int(match.group(1)))
    return frozenset(versions)
