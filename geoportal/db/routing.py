"""Reads on the replicas, writes on the primary, and every editor reading their own writes.

Only built when replicas are configured (``db.urls.resolve_replica_urls``): without them the
service reads ``app.state.pool`` as before, with no routing step and no extra round trip.

With replicas, :class:`ReadRouting` (a pure ASGI middleware) picks the read pool of each
request once, before the handler runs, and leaves it in ``request.state.read_pool`` where
:func:`geoportal.deps.get_pool` finds it:

* a request that carries no commit position reads from the next healthy replica in turn
  (a replica whose connections fail is skipped; none healthy: the primary);
* after a successful write (POST, PUT, PATCH, DELETE answered 2xx), the answer carries the
  primary's WAL position (``pg_current_wal_lsn()``, read after the commit) in the header
  ``Geoportal-LSN`` and a cookie of the same name; a read that sends it back is served by a
  replica that has replayed that position, waiting for one at most
  ``read_your_writes_wait_s``, else by the primary.

Data versions and ETags are computed from replicated tables (``changesets``,
``layer_versions``), so the same data gives the same ETag whichever node answers.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

import asyncpg

from geoportal.db.pool import ConnectGate, close_pool, create_pool
from geoportal.settings import Settings

log = logging.getLogger("geoportal")

LSN_HEADER = "geoportal-lsn"
LSN_COOKIE = "geoportal_lsn"
LSN_COOKIE_MAX_AGE_S = 300  # far longer than any replica lag worth waiting for
POLL_S = 0.02
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# the position a node has made durable (primary) or replayed (standby)
REPLAYED_SQL = ("SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
                "ELSE pg_current_wal_lsn() END)::text")
COMMITTED_SQL = "SELECT pg_current_wal_lsn()::text"
_LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def parse_lsn(text: str | None) -> int | None:
    """A WAL position ``X/Y`` as a number; None for anything else (a client's cookie)."""
    if not text:
        return None
    match = _LSN.match(text.strip())
    if match is None:
        return None
    return (int(match[1], 16) << 32) | int(match[2], 16)


def format_lsn(position: int) -> str:
    """The number as PostgreSQL spells a WAL position."""
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


@dataclass
class ReadNode:
    """One replica: its read pool, the gate that knows whether it fails, what it replayed."""

    name: str
    pool: asyncpg.Pool
    gate: ConnectGate
    replayed: int = 0
    probe: asyncio.Task[int] | None = None

    async def refresh(self) -> int:
        """Ask the replica how far it has replayed (0 when it does not answer)."""
        try:
            self.replayed = parse_lsn(await self.pool.fetchval(REPLAYED_SQL)) or 0
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError, TimeoutError):
            return 0
        return self.replayed


class ReadRouter:
    """Chooses the pool of each read: replicas in turn, the primary for fresh reads."""

    def __init__(self, primary: asyncpg.Pool, replicas: list[ReadNode], wait_s: float) -> None:
        self.primary = primary
        self.replicas = replicas
        self.wait_s = wait_s
        self._turn = itertools.count()

    def _healthy(self) -> list[ReadNode]:
        """The answering replicas, starting with the next in turn. A failing one is probed
        in the background when its back-off is over (no client waits on it), and comes back
        in turn once it answers."""
        start = next(self._turn) % len(self.replicas)
        ordered = self.replicas[start:] + self.replicas[:start]
        for node in ordered:
            if node.gate.failing and node.gate.may_probe and (
                    node.probe is None or node.probe.done()):
                node.probe = asyncio.create_task(node.refresh())
        return [node for node in ordered if not node.gate.failing]

    async def pool_for(self, min_lsn: int | None) -> asyncpg.Pool:
        """A replica's pool (having replayed ``min_lsn`` when given), else the primary's."""
        nodes = self._healthy()
        if not nodes:
            return self.primary
        if min_lsn is None:
            return nodes[0].pool
        for node in nodes:  # known far enough from an earlier answer: no round trip
            if node.replayed >= min_lsn:
                return node.pool
        deadline = time.monotonic() + self.wait_s
        while True:
            for node in nodes:
                if await node.refresh() >= min_lsn:
                    return node.pool
            if time.monotonic() + POLL_S > deadline:
                return self.primary
            await asyncio.sleep(POLL_S)


async def open_router(settings: Settings, primary: asyncpg.Pool,
                      urls: list[str]) -> ReadRouter:
    """A read pool per replica URL (no connection opened yet), and the router over them."""
    nodes = []
    for index, url in enumerate(urls, start=1):
        gate = ConnectGate(functools.partial(str, url), backoff_max_s=settings.db_retry_max_s)
        nodes.append(ReadNode(f"replica-{index}", await create_pool(settings, gate=gate), gate))
    return ReadRouter(primary, nodes, settings.read_your_writes_wait_s)


async def close_router(router: ReadRouter) -> None:
    """Close the replicas' pools (the primary's belongs to the app)."""
    for node in router.replicas:
        await close_pool(node.pool)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def requested_lsn(scope: Scope) -> int | None:
    """The commit position a request asks to see: its header, else its cookie."""
    header = parse_lsn(_header(scope, LSN_HEADER.encode()))
    if header is not None:
        return header
    cookie = _header(scope, b"cookie")
    if not cookie:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie)
    except Exception:  # a malformed cookie header is the client's: read without it
        return None
    morsel = jar.get(LSN_COOKIE)
    return parse_lsn(morsel.value) if morsel is not None else None


class ReadRouting:
    """ASGI middleware: the read pool of each request, and the commit position of each write.

    The router and the write pool are looked up in ``app.state`` at each request (they are
    opened in the lifespan, after the middleware is built); while they are not there, the
    request goes on unrouted (``get_pool`` then answers 503 as before the lifespan).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        router: ReadRouter | None = getattr(state, "read_router", None)
        if router is None:
            await self.app(scope, receive, send)
            return
        unsafe = scope["method"] in UNSAFE_METHODS  # a write reads nothing it must wait for
        wanted = None if unsafe else requested_lsn(scope)
        scope.setdefault("state", {})["read_pool"] = await router.pool_for(wanted)
        if not unsafe:
            await self.app(scope, receive, send)
            return
        write_pool: asyncpg.Pool | None = getattr(state, "write_pool", None)

        async def send_with_position(message: Message) -> None:
            if (message["type"] == "http.response.start" and 200 <= message["status"] < 300
                    and write_pool is not None):
                position = await _committed(write_pool)
                if position:
                    message["headers"] = [*message.get("headers", ()),
                                          *_position_headers(position)]
            await send(message)

        await self.app(scope, receive, send_with_position)


async def _committed(write_pool: asyncpg.Pool) -> str | None:
    """The primary's WAL position now: at or after every commit already answered."""
    try:
        value = await write_pool.fetchval(COMMITTED_SQL)
    except Exception as exc:  # the write is committed: its answer must not fail
        log.warning("commit position unknown (%s): this client may read an older replica",
                    type(exc).__name__)
        return None
    return str(value)


def _position_headers(position: str) -> list[tuple[bytes, bytes]]:
    cookie = (f"{LSN_COOKIE}={position}; Max-Age={LSN_COOKIE_MAX_AGE_S}; Path=/; HttpOnly; "
              "SameSite=Lax")
    return [(LSN_HEADER.encode(), position.encode()), (b"set-cookie", cookie.encode())]
