"""Every server of the service runs with the same uvicorn options (ops.serving): a client
told to come back after ``Retry-After`` finds its keep-alive connection still open."""

from __future__ import annotations

import socket
import time

from geoportal.errors import RETRY_AFTER_S
from geoportal.ops.proxy import instance_command
from geoportal.ops.serving import KEEP_ALIVE_S, uvicorn_command, uvicorn_options


def _get(sock: socket.socket, host: str, path: str) -> bytes:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data or not data.endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_a_connection_idle_for_the_retry_after_time_still_answers(live_server: str) -> None:
    host, port = live_server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        assert _get(sock, host, "/health").startswith(b"HTTP/1.1 200 OK")
        time.sleep(RETRY_AFTER_S + 0.5)  # as a refused client is told to wait
        assert _get(sock, host, "/health").startswith(b"HTTP/1.1 200 OK")


def test_the_servers_share_one_set_of_options() -> None:
    assert KEEP_ALIVE_S > RETRY_AFTER_S
    command = uvicorn_command("127.0.0.1", 8000, workers=2)
    proxied = instance_command(8001, 2)
    for args in (command, proxied):
        assert args[args.index("--http") + 1] == uvicorn_options()["http"]
        assert args[args.index("--timeout-keep-alive") + 1] == str(KEEP_ALIVE_S)
        assert "--no-server-header" in args and "--no-access-log" in args
    assert proxied[proxied.index("--forwarded-allow-ips") + 1] == "127.0.0.1"
    assert uvicorn_options()["timeout_keep_alive"] == KEEP_ALIVE_S
