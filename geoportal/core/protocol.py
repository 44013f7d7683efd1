"""uvicorn's HTTP protocol with a response's writes sent together.

uvicorn writes a response's status line and headers as soon as the application starts the
response, then its body: two ``send`` system calls, two TCP segments, and two wake-ups of the
client, for every response. On a busy machine each wake-up is also a chance for the kernel
to hand the CPU to the client in the middle of the worker's turn. Here the writes made in
one turn of the event loop are held and sent as one, at the end of that turn (a large body
goes at once, so a stream's memory stays bounded): the same bytes, in the same order.

Every server of the service runs with it: ``ops.serving`` gives it to uvicorn.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

PROTOCOL = "geoportal.core.protocol:HttpProtocol"  # uvicorn's --http / http=
FLUSH_AT = 64 * 1024  # bytes held at most: a larger write goes out at once


class CoalescingTransport:
    """A transport whose writes of one event-loop turn reach the socket as one write."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._size = 0
        self._scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Hold ``data`` until the end of this turn of the loop (a copy: the caller may
        reuse its buffer, as with any transport)."""
        if not data:
            return
        self._held.append(data if isinstance(data, bytes) else bytes(data))
        self._size += len(data)
        if self._size >= FLUSH_AT:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._end_of_turn)

    def writelines(self, chunks: Any) -> None:
        """Hold each chunk, as ``write``."""
        for chunk in chunks:
            self.write(chunk)

    def _end_of_turn(self) -> None:
        self._scheduled = False
        self.flush()

    def flush(self) -> None:
        """Send what is held now, as one write."""
        if not self._held:
            return
        data = self._held[0] if len(self._held) == 1 else b"".join(self._held)
        self._held = []
        self._size = 0
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        """Send what is held, then close (as a transport sends its buffer before closing)."""
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        """Send what is held, then the end of the stream."""
        self.flush()
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        """Bytes not yet sent: the transport's buffer and what is held."""
        return self._transport.get_write_buffer_size() + self._size

    def __getattr__(self, name: str) -> Any:  # the rest of the transport, as it is
        return getattr(self._transport, name)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a :class:`CoalescingTransport`."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; they write as one
        coalescing: Any = CoalescingTransport(cast(asyncio.Transport, transport), self.loop)
        super().connection_made(coalescing)
