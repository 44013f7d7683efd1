"""HTTP caching: ETags from the layer's data version and the request, 304 on a match.

A read of the past (``at=``) has a strong ETag (the bytes are the same for the same data
version and URL) and, once its moment is settled, never changes: cached for a year.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from fastapi import Request

from geoportal.core.caching import not_modified, strong_etag, weak_etag
from geoportal.core.formats import Format
from geoportal.core.history import IMMUTABLE, settled

__all__ = ["cache_headers", "content_etag", "make_etag", "not_modified", "past_etag"]

CACHE_CONTROL = "public, max-age=60, must-revalidate"


def make_etag(request: Request, base: str, version: int, fmt: Format) -> str:
    """A weak ETag: same data version, same URL, same format → same representation."""
    params = "&".join(f"{k}={v}" for k, v in sorted(request.query_params.multi_items()))
    key = f"{version}|{base}|{request.url.path}|{params}|{fmt.media_type}"
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
