"""Interactive requests first: a bound on the bulk reads a worker serves at once.

Point questions — a rules lookup, one feature by id, a search, ``/health`` — are what people
wait on; pages of features and vector tiles are bulk reads that maps and GIS clients send by
the dozen. On a saturated machine every request queues for the same CPU and connections, so
point questions wait behind bulk ones. This lane lets at most ``slots`` bulk requests per
worker do their work at once (the others wait, bounded in number and time, then 503 with
``Retry-After``); point questions are never held, so they find the database and the CPU
free. A bulk request holds its slot until its response starts: a page or a tile is computed
by then, and a long stream is in the heavy lane (``core.admission``) anyway. A request that
turns out heavy (a costly filter, a stream) gives its bulk slot back as it goes to the heavy
lane (``leave_bulk_lane``): it waits and runs there, not in front of pages and tiles.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geoportal.core.i18n import preferred_language
from geoportal.errors import RETRY_AFTER_S, error_body

BULK_PATH = re.compile(r"^/ogc/(?:collections/[^/]+/(?:items|tiles/.+)|tiles/.+)$")
RELEASE_KEY = "geoportal.bulk_release"  # in the scope of a request holding a bulk slot


@dataclass(frozen=True)
class LaneLimits:
    """How many bulk requests run at once, how many may wait, and how long."""

    slots: int = 4  # 0: no lane
    queue: int = 256
    wait_s: float = 10.0


def leave_bulk_lane(scope: Scope) -> None:
    """Give back the bulk slot this request holds, if any (idempotent)."""
    release = scope.get(RELEASE_KEY)
    if release is not None:
        release()


def is_bulk(scope: Scope) -> bool:
    """A page of features or a tile (read methods only)."""
    return scope["method"] in ("GET", "HEAD") and BULK_PATH.match(scope["path"]) is not None


class BulkLane:
    """ASGI middleware: bulk reads through a bounded lane, everything else straight on."""

    def __init__(self, app: ASGIApp, limits: LaneLimits) -> None:
        self.app = app
        self.limits = limits
        self._slots = asyncio.Semaphore(max(limits.slots, 1))
        self._waiting = 0

    @property
    def waiting(self) -> int:
        """Bulk requests waiting for a slot now."""
        return self._waiting

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.limits.slots == 0 or not is_bulk(scope):
            await self.app(scope, receive, send)
            return
        if not self._slots.locked():
            await self._slots.acquire()  # a slot is free: taken at once, no timer armed
        elif not await self._wait_for_slot():
            await _busy(scope, send)
            return
        held = True

        def release() -> None:
            nonlocal held
            if held:
                held = False
                self._slots.release()

        async def send_then_release(message: Message) -> None:
            if message["type"] == "http.response.start":
                release()
            await send(message)

        scope[RELEASE_KEY] = release
        try:
            await self.app(scope, receive, send_then_release)
        finally:
            release()

    async def _wait_for_slot(self) -> bool:
        """Wait in the bounded queue for a slot; False when the queue is full or the wait
        is over."""
        if self._waiting >= self.limits.queue:
            return False
        self._waiting += 1
        try:
            async with asyncio.timeout(self.limits.wait_s):
                await self._slots.acquire()
            return True
        except TimeoutError:
            return False
        finally:
            self._waiting -= 1


async def _busy(scope: Scope, send: Send) -> None:
    accept_language = next((v.decode("latin-1") for k, v in scope.get("headers", ())
                            if k == b"accept-language"), None)
    english = preferred_language(accept_language) == "en"
    message = ("Too many map and feature requests are waiting; try again shortly."
               if english else
               "Trop de demandes de cartes et d'objets sont en attente ; réessayez dans un "
               "instant.")
    body = orjson.dumps(error_body(503, "ServiceUnavailable", message))
    await send({"type": "http.response.start", "status": 503, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(RETRY_AFTER_S).encode()), (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": body})
