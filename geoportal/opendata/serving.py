"""A file sent as a download: validators, content coding, byte ranges, ``HEAD`` without body."""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import formatdate
from typing import IO

from starlette.requests import Request
from starlette.responses import Response

from geoportal.core.caching import not_modified, strong_etag
from geoportal.core.ranges import OpenFile, RangedResponse, requested_spans


def accepts_gzip(request: Request) -> bool:
    """Whether ``Accept-Encoding`` takes gzip (not refused with ``q=0``)."""
    for part in request.headers.get("accept-encoding", "").split(","):
        coding, *options = (p.strip().lower() for p in part.split(";"))
        if coding in ("gzip", "x-gzip", "*"):
            return not any(o.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000")
                           for o in options)
    return False


def file_response(request: Request, handle: IO[bytes], size: int, mtime_ns: int, name: str,
                  media_type: str, headers: Mapping[str, str], *, gzipped: bool = False,
                  varies: bool = False) -> Response:
    """The file with its length, ETag and Last-Modified; ``304`` when the client has it,
    ``206`` for byte ranges (of the plain file: a gzip twin is only sent whole)."""
    etag = strong_etag(name, size, mtime_ns, "gzip" if gzipped else "identity")
    sent = {**headers, "ETag": etag,
            "Last-Modified": formatdate(mtime_ns / 1e9, usegmt=True)}
    if varies:
        sent["Vary"] = "Accept-Encoding"
    if gzipped:
        sent["Content-Encoding"] = "gzip"
    if not_modified(request, etag):
        handle.close()
        return Response(status_code=304, headers=sent)
    try:
        spans = None if gzipped else requested_spans(request.headers, size, etag,
                                                     sent["Last-Modified"])
    except BaseException:
        handle.close()
        raise
    return RangedResponse(OpenFile(handle, size), spans, media_type, sent)
