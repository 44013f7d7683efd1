"""HTTP caching: ETags from the layer's data version and the request, 304 on a match."""

from __future__ import annotations

import hashlib

from fastapi import Request

from geoportal.ogc.formats import Format

CACHE_CONTROL = "public, max-age=60, must-revalidate"


def make_etag(request: Request, base: str, version: int, fmt: Format) -> str:
    """A weak ETag: same data version, same URL, same format → same representation."""
    params = "&".join(f"{k}={v}" for k, v in sorted(request.query_params.multi_items()))
    key = f"{version}|{base}|{request.url.path}|{params}|{fmt.media_type}"
    return 'W/"' + hashlib.sha256(key.encode()).hexdigest()[:24] + '"'


def content_etag(body: bytes) -> str:
    """A weak ETag of a body computed in Python (metadata documents)."""
    return 'W/"' + hashlib.sha256(body).hexdigest()[:24] + '"'


def not_modified(request: Request, etag: str) -> bool:
    """True when the client's If-None-Match already names this representation."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or etag.removeprefix("W/") in tags


def cache_headers(etag: str) -> dict[str, str]:
    """ETag and Cache-Control."""
    return {"ETag": etag, "Cache-Control": CACHE_CONTROL}
