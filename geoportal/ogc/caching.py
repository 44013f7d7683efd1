"""HTTP caching: ETags from the layer's data version and the request, 304 on a match."""

from __future__ import annotations

import hashlib

from fastapi import Request

from geoportal.core.caching import not_modified, weak_etag
from geoportal.core.formats import Format

__all__ = ["cache_headers", "content_etag", "make_etag", "not_modified"]

CACHE_CONTROL = "public, max-age=60, must-revalidate"


def make_etag(request: Request, base: str, version: int, fmt: Format) -> str:
    """A weak ETag: same data version, same URL, same format → same representation."""
    params = "&".join(f"{k}={v}" for k, v in sorted(request.query_params.multi_items()))
    key = f"{version}|{base}|{request.url.path}|{params}|{fmt.media_type}"
    return 'W/"' + hashlib.sha256(key.encode()).hexdigest()[:24] + '"'


content_etag = weak_etag  # metadata documents: a weak ETag of the body


def cache_headers(etag: str) -> dict[str, str]:
    """ETag and Cache-Control."""
    return {"ETag": etag, "Cache-Control": CACHE_CONTROL}
