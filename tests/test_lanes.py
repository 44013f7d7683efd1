"""Point questions are never held behind bulk reads: the bulk lane bounds pages and tiles.

The lane is a plain ASGI middleware; an app whose bulk routes wait on an event makes the
saturation happen on demand."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from geoportal.core.lanes import BulkLane, LaneLimits, is_bulk


class Blocking:
    """An app whose bulk routes start their answer only when ``opened`` is set."""

    def __init__(self, stream: bool = False) -> None:
        self.opened = asyncio.Event()
        self.stream = stream
        self.started = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        bulk = is_bulk(scope)
        if bulk and not self.stream:
            self.started += 1
            await self.opened.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        if bulk and self.stream:
            self.started += 1
            await send({"type": "http.response.body", "body": b"first", "more_body": True})
            await self.opened.wait()
        await send({"type": "http.response.body", "body": b"ok"})


def _client(app: BulkLane) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.mark.parametrize(("method", "path", "bulk"), [
    ("GET", "/ogc/collections/parcels/items", True),
    ("HEAD", "/ogc/collections/zoning/items", True),
    ("GET", "/ogc/collections/parcels/tiles/WebMercatorQuad/15/1/2", True),
    ("GET", "/ogc/tiles/WebMercatorQuad/15/1/2", True),
    ("GET", "/ogc/collections/parcels/items/12", False),
    ("POST", "/ogc/collections/parcels/items", False),
    ("GET", "/rules", False),
    ("GET", "/health", False),
    ("GET", "/search", False),
])
def test_pages_and_tiles_are_bulk_and_point_questions_are_not(
        method: str, path: str, bulk: bool) -> None:
    assert is_bulk({"type": "http", "method": method, "path": path}) is bulk


async def test_a_full_lane_refuses_bulk_with_503_while_point_questions_go_straight_on(
) -> None:
    inner = Blocking()
    lane = BulkLane(inner, LaneLimits(slots=1, queue=0, wait_s=5))
    async with _client(lane) as client:
        first = asyncio.create_task(client.get("/ogc/collections/parcels/items"))
        while inner.started == 0:
            await asyncio.sleep(0.01)
        refused = await client.get("/ogc/collections/zoning/items")
        assert refused.status_code == 503
        assert refused.headers["retry-after"]
        assert "réessayez" in refused.json()["description"]
        english = await client.get("/ogc/tiles/WebMercatorQuad/1/1/1",
                                   headers={"Accept-Language": "en"})
        assert "try again" in english.json()["description"]
        lookup = await client.get("/rules")
        assert lookup.status_code == 200
        inner.opened.set()
        assert (await first).status_code == 200
        assert (await client.get("/ogc/collections/zoning/items")).status_code == 200


async def test_a_bulk_request_waits_its_turn_within_the_bound_then_gets_503() -> None:
    inner = Blocking()
    lane = BulkLane(inner, LaneLimits(slots=1, queue=4, wait_s=0.2))
    async with _client(lane) as client:
        first = asyncio.create_task(client.get("/ogc/collections/parcels/items"))
        while inner.started == 0:
            await asyncio.sleep(0.01)
        waited = await client.get("/ogc/collections/parcels/items")
        assert waited.status_code == 503
        assert lane.waiting == 0
        inner.opened.set()
        await first


async def test_the_slot_is_given_back_when_the_answer_starts_not_when_a_stream_ends() -> None:
    inner = Blocking(stream=True)
    lane = BulkLane(inner, LaneLimits(slots=1, queue=0, wait_s=5))
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/ogc/collections/parcels/items",
             "headers": []}
    streaming = asyncio.create_task(lane(scope, receive, send))  # type: ignore[arg-type]
    while inner.started == 0:
        await asyncio.sleep(0.01)
    async with _client(lane) as client:  # the stream still runs: its slot is free already
        other = asyncio.create_task(client.get("/ogc/collections/zoning/items"))
        while inner.started < 2:
            await asyncio.sleep(0.01)
        inner.opened.set()
        assert (await other).status_code == 200
    await streaming
    assert [m["type"] for m in sent][:2] == ["http.response.start", "http.response.body"]


async def test_no_lane_when_its_slots_are_zero() -> None:
    inner = Blocking()
    lane = BulkLane(inner, LaneLimits(slots=0))
    async with _client(lane) as client:
        tasks = [asyncio.create_task(client.get("/ogc/collections/parcels/items"))
                 for _ in range(5)]
        while inner.started < 5:
            await asyncio.sleep(0.01)
        inner.opened.set()
        assert [r.status_code for r in await asyncio.gather(*tasks)] == [200] * 5
