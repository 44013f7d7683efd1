"""Byte ranges (RFC 9110 §14) of a representation whose bytes are known: a file or a body.

``Range: bytes=…`` is answered ``206 Partial Content`` with ``Content-Range`` (one range) or
``multipart/byteranges`` (several), ``416`` with ``Content-Range: bytes */size`` when no range
can be satisfied, and the whole body (``200``) when there is no ``Range``, when ``If-Range`` no
longer names this representation, or when the field is not understood (a server may ignore
it). Every answer says ``Accept-Ranges: bytes`` and carries a ``Content-Length``. GDAL's
``/vsicurl/`` (QGIS's HTTP sources) reads files this way.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import IO, Protocol

import anyio.to_thread
from starlette.background import BackgroundTask
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from geoportal.core.methods import is_head
from geoportal.errors import RangeNotSatisfiable

MAX_RANGES = 64  # more (after merging) and the Range field is ignored: the whole body is sent
CHUNK = 1 << 20
_SPEC = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


@dataclass(frozen=True)
class Span:
    """Bytes ``start`` to ``stop - 1`` of a representation."""

    start: int
    stop: int

    def content_range(self, size: int) -> str:
        """The ``Content-Range`` value of this span."""
        return f"bytes {self.start}-{self.stop - 1}/{size}"


def parse_ranges(value: str, size: int) -> list[Span] | None:
    """The satisfiable spans of a ``Range`` value, sorted and merged; ``[]`` when none is
    satisfiable; ``None`` when the field is to be ignored (another unit, bad syntax)."""
    unit, equals, specs = value.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None
    spans: list[Span] = []
    for spec in specs.split(","):
        match = _SPEC.match(spec)
        if match is None or match[1] == match[2] == "":
            return None
        first, last = match[1], match[2]
        if first == "":  # a suffix: the last N bytes
            length = int(last)
            if length > 0 and size > 0:
                spans.append(Span(max(size - length, 0), size))
            continue
        start = int(first)
        if last and int(last) < start:
            return None  # invalid: the whole field is ignored (RFC 9110 §14.1.1)
        if start < size:
            spans.append(Span(start, min(int(last) + 1, size) if last else size))
    return _merged(spans)


def _merged(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: s.start):
        if merged and span.start <= merged[-1].stop:
            merged[-1] = Span(merged[-1].start, max(merged[-1].stop, span.stop))
        else:
            merged.append(span)
    return merged


def if_range_holds(value: str | None, etag: str | None, last_modified: str | None) -> bool:
    """Whether ``If-Range`` (absent, an entity tag or a date) still names this representation;
    only a strong tag or the exact ``Last-Modified`` date can (RFC 9110 §13.1.5)."""
    if value is None:
        return True
    value = value.strip()
    if value.startswith(("W/", '"')):
        return etag is not None and not etag.startswith("W/") and value == etag
    return last_modified is not None and value == last_modified


def requested_spans(headers: Headers, size: int, etag: str | None,
                    last_modified: str | None = None) -> list[Span] | None:
    """The spans a GET asks for, or ``None`` for the whole body; 416 when none is satisfiable."""
    value = headers.get("range")
    if value is None or not if_range_holds(headers.get("if-range"), etag, last_modified):
        return None
    spans = parse_ranges(value, size)
    if spans is None or len(spans) > MAX_RANGES:
        return None
    if not spans:
        raise RangeNotSatisfiable(size)
    return spans


class ByteSource(Protocol):
    """Bytes that can be read by span: an open file or a body in memory."""

    size: int

    def chunks(self, span: Span) -> AsyncIterator[bytes]:
        """The bytes of ``span``, in chunks."""

    def close(self) -> None:
        """Release what the source holds (a file handle)."""


class MemoryBytes:
    """A body already in memory (a vector tile)."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.size = len(body)

    async def chunks(self, span: Span) -> AsyncIterator[bytes]:
        """The slice, at once."""
        yield self.body[span.start:span.stop]

    def close(self) -> None:
        """Nothing to release."""


class OpenFile:
    """A file opened once: it may be replaced or removed meanwhile, its bytes stay readable."""

    def __init__(self, handle: IO[bytes], size: int) -> None:
        self.handle = handle
        self.size = size

    async def chunks(self, span: Span) -> AsyncIterator[bytes]:
        """Positional reads in a worker thread, a megabyte at a time."""
        offset = span.start
        while offset < span.stop:
            length = min(CHUNK, span.stop - offset)
            block = await anyio.to_thread.run_sync(os.pread, self.handle.fileno(), length,
                                                   offset)
            if not block:
                raise OSError(f"{self.handle.name} is shorter than {self.size} bytes")
            offset += len(block)
            yield block

    def close(self) -> None:
        """Close the file."""
        self.handle.close()


class RangedResponse(Response):
    """The whole body (200) or the spans asked for (206), with their lengths.

    The source is closed once the response is sent, or was not needed (``HEAD``).
    """

    def __init__(self, source: ByteSource, spans: list[Span] | None, media_type: str,
                 headers: Mapping[str, str] | None = None,
                 background: BackgroundTask | None = None) -> None:
        self.source = source
        self.spans = spans
        self.status_code = 200 if spans is None else 206
        self.media_type = media_type
        self.background = background
        self.body = b""
        self.boundary = secrets.token_hex(12)
        self.init_headers(headers)
        self.headers["accept-ranges"] = "bytes"
        self._parts: list[tuple[bytes, Span]] = []
        if spans is None:
            self.headers["content-length"] = str(source.size)
        elif len(spans) == 1:
            self.headers["content-range"] = spans[0].content_range(source.size)
            self.headers["content-length"] = str(spans[0].stop - spans[0].start)
        else:
            self._multipart(media_type, spans)

    def _multipart(self, media_type: str, spans: list[Span]) -> None:
        size = self.source.size
        self._parts = [((f"--{self.boundary}\r\nContent-Type: {media_type}\r\n"
                         f"Content-Range: {span.content_range(size)}\r\n\r\n").encode("latin-1"),
                        span) for span in spans]
        length = sum(len(head) + span.stop - span.start + 2 for head, span in self._parts)
        self.headers["content-type"] = f"multipart/byteranges; boundary={self.boundary}"
        self.headers["content-length"] = str(length + len(self._closing))

    @property
    def _closing(self) -> bytes:
        return f"--{self.boundary}--\r\n".encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status_code,
                        "headers": self.raw_headers})
            if is_head(scope):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            else:
                await self._send_body(send)
        finally:
            self.source.close()
        if self.background is not None:
            await self.background()

    async def _send_body(self, send: Send) -> None:
        if self.spans is None or len(self.spans) == 1:
            # one block ahead, so that the last (or only) block ends the body
            span = self.spans[0] if self.spans else Span(0, self.source.size)
            pending = b""
            async for block in self.source.chunks(span):
                if pending:
                    await send({"type": "http.response.body", "body": pending,
                                "more_body": True})
                pending = block
            await send({"type": "http.response.body", "body": pending, "more_body": False})
            return
        for head, span in self._parts:
            await send({"type": "http.response.body", "body": head, "more_body": True})
            async for block in self.source.chunks(span):
                await send({"type": "http.response.body", "body": block, "more_body": True})
            await send({"type": "http.response.body", "body": b"\r\n", "more_body": True})
        await send({"type": "http.response.body", "body": self._closing, "more_body": False})
