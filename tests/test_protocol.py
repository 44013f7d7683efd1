"""The HTTP protocol every server of the service runs: a response's writes of one event-loop
turn go out as one write, the same bytes in the same order, on a real uvicorn server."""

from __future__ import annotations

import asyncio
import gzip
import socket
from typing import Any

import httpx

from geoportal.core.protocol import FLUSH_AT, CoalescingTransport


class Socket:
    """What reaches the socket: each write the coalescing transport makes."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.eof = False

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def write_eof(self) -> None:
        self.eof = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 8000) if name == "sockname" else None


async def test_a_head_and_a_body_written_in_one_turn_reach_the_socket_as_one_write() -> None:
    sink = Socket()
    transport = CoalescingTransport(sink, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    transport.write(b"")
    transport.write(b"{}")
    assert sink.writes == []
    assert transport.get_write_buffer_size() == 40
    await asyncio.sleep(0)  # the end of the turn
    assert sink.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    assert transport.get_write_buffer_size() == 0
    transport.write(b"next")
    await asyncio.sleep(0)
    assert sink.writes[1:] == [b"next"]
    assert transport.get_extra_info("sockname") == ("127.0.0.1", 8000)  # the rest as it is


async def test_a_large_body_goes_at_once_and_a_reused_buffer_is_copied() -> None:
    sink = Socket()
    transport = CoalescingTransport(sink, asyncio.get_running_loop())  # type: ignore[arg-type]
    buffer = bytearray(b"head")
    transport.write(buffer)
    buffer[:] = b"XXXX"  # the caller reuses its buffer once write returns
    transport.write(b"b" * FLUSH_AT)
    assert sink.writes == [b"head" + b"b" * FLUSH_AT]  # no more than FLUSH_AT held
    await asyncio.sleep(0)
    assert len(sink.writes) == 1


async def test_what_is_held_is_sent_before_closing_and_dropped_after_an_abort() -> None:
    sink = Socket()
    transport = CoalescingTransport(sink, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.writelines([b"a", memoryview(b"b")])
    transport.close()
    assert sink.writes == [b"ab"] and sink.closed
    await asyncio.sleep(0)
    assert sink.writes == [b"ab"]
    other = Socket()
    transport = CoalescingTransport(other, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"x")
    other.closed = True  # the peer went away (aborted): nothing is written to a closed one
    await asyncio.sleep(0)
    assert other.writes == []
    eof = Socket()
    transport = CoalescingTransport(eof, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"last")
    transport.write_eof()
    assert eof.writes == [b"last"] and eof.eof


def _read_response(sock: socket.socket, pending: bytes) -> tuple[bytes, bytes, bytes]:
    """One HTTP/1.1 response with a content-length: (head, body, what follows it)."""
    while b"\r\n\r\n" not in pending:
        pending += sock.recv(65536)
    head, _, rest = pending.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(rest) < length:
        rest += sock.recv(65536)
    return head, rest[:length], rest[length:]


def test_pipelined_requests_on_one_connection_get_their_answers_in_order(
        live_server: str) -> None:
    host, port = live_server.removeprefix("http://").split(":")
    paths = ["/health", "/ogc/collections/parcels/items/1", "/ogc/collections", "/health"]
    expected = [httpx.get(live_server + p).content for p in paths]
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"".join(f"GET {p} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
                              for p in paths))
        pending = b""
        for body_expected in expected:
            head, body, pending = _read_response(sock, pending)
            assert head.startswith(b"HTTP/1.1 200 OK")
            if b'"timeStamp"' not in body:
                assert body == body_expected
        # HEAD: the head alone, then the connection still serves the next request
        sock.sendall(f"HEAD /health HTTP/1.1\r\nHost: {host}\r\n\r\n"
                     f"GET /health HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        while pending.count(b"\r\n\r\n") < 2 or not pending.endswith(b"}"):
            pending += sock.recv(65536)
        assert pending.count(b"HTTP/1.1 200 OK") == 2


def test_a_long_streamed_response_arrives_whole(live_server: str) -> None:
    with httpx.stream("GET", live_server + "/ogc/collections/parcels/items",
                      params={"f": "jsonseq"}, headers={"Accept-Encoding": "gzip"},
                      timeout=60) as response:
        raw = b"".join(response.iter_raw())
    assert response.status_code == 200
    records = gzip.decompress(raw).split(b"\x1e")[1:]
    assert len(records) > 1000  # every plot of the demo, past many coalesced chunks
    assert all(r.rstrip().endswith(b"}") for r in records)
