"""HTTP validators, once for every room: entity tags and ``If-None-Match`` (RFC 9110)."""

from __future__ import annotations

import hashlib

from starlette.requests import Request


def strong_etag(*parts: object) -> str:
    """A strong entity tag from the parts that determine a representation."""
    key = "|".join(str(p) for p in parts)
    return '"' + hashlib.sha256(key.encode()).hexdigest()[:24] + '"'


def body_etag(body: bytes) -> str:
    """A strong entity tag of a body computed in Python (its exact bytes)."""
    return '"' + hashlib.sha256(body).hexdigest()[:24] + '"'


def weak_etag(body: bytes) -> str:
    """A weak entity tag of a body computed in Python."""
    return 'W/"' + hashlib.sha256(body).hexdigest()[:24] + '"'


def _opaque(tag: str) -> str:
    return tag.strip().removeprefix("W/")


def etag_matches(header: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` value names ``etag`` (weak comparison, lists, ``*``)."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    wanted = _opaque(etag)
    return any(_opaque(tag) == wanted for tag in header.split(","))


def not_modified(request: Request, etag: str) -> bool:
    """True when the client's ``If-None-Match`` already names this representation."""
    return etag_matches(request.headers.get("if-none-match"), etag)
