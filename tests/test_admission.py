"""Admission control: heavy work has its own bounded lane; light requests never wait for it."""

from __future__ import annotations

import asyncio
import gc
import math
import random
from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from bench.resilience import SEED, heavy_filter
from geoportal.app import create_app
from geoportal.core.admission import (
    Admission,
    AdmissionLimits,
    literal_vertices,
    vertices_per_literal,
)
from geoportal.errors import ServiceUnavailable, TooManyRequests
from geoportal.settings import Settings

EPSG_26191 = "http://www.opengis.net/def/crs/EPSG/0/26191"


def _circle(cx: float, cy: float, radius: float, vertices: int) -> str:
    points = [(cx + radius * math.cos(2 * math.pi * i / vertices),
               cy + radius * math.sin(2 * math.pi * i / vertices)) for i in range(vertices)]
    points.append(points[0])
    return "POLYGON((" + ",".join(f"{x:.0f} {y:.0f}" for x, y in points) + "))"


# The attacker's filter: twelve OR-ed S_OVERLAPS with 110-vertex polygons (~19 KB).
HEAVY_FILTER = " OR ".join(
    f"S_OVERLAPS(geometry, {_circle(300_000 + 1000 * i, 330_000, 3000, 110)})"
    for i in range(12))


async def test_heavy_slots_queue_a_bounded_number_and_refuse_the_rest_at_once() -> None:
    admission = Admission(AdmissionLimits(heavy_slots=1, heavy_queue=1, heavy_wait_s=5,
                                          heavy_per_client=10))
    first = await admission.acquire("a")
    waiting = asyncio.create_task(admission.acquire("b"))
    await asyncio.sleep(0)
    assert admission.waiting == 1
    with pytest.raises(ServiceUnavailable) as refused:
        await admission.acquire("c")
    assert refused.value.retry_after
    first.release()
    second = await waiting
    second.release()
    second.release()  # idempotent: the semaphore is not over-released
    third = await admission.acquire("c")
    third.release()


async def test_a_heavy_request_that_waits_too_long_is_a_503() -> None:
    admission = Admission(AdmissionLimits(heavy_slots=1, heavy_queue=4, heavy_wait_s=0.05))
    held = await admission.acquire("a")
    with pytest.raises(ServiceUnavailable):
        await admission.acquire("b")
    held.release()
    (await admission.acquire("b")).release()


async def test_one_client_may_hold_only_so_many_heavy_requests() -> None:
    admission = Admission(AdmissionLimits(heavy_slots=4, heavy_per_client=2))
    slots = [await admission.acquire("greedy"), await admission.acquire("greedy")]
    with pytest.raises(TooManyRequests):
        await admission.acquire("greedy")
    other = await admission.acquire("someone else")
    for slot in [*slots, other]:
        slot.release()
    (await admission.acquire("greedy")).release()


async def test_a_slot_dropped_without_release_is_given_back() -> None:
    admission = Admission(AdmissionLimits(heavy_slots=1, heavy_queue=0, heavy_wait_s=0.05))
    slot = await admission.acquire("a")
    del slot
    gc.collect()
    (await admission.acquire("b")).release()


def test_vertices_of_geometry_literals_are_counted_in_any_nesting() -> None:
    tree = {"op": "or", "args": [
        {"op": "s_intersects", "args": [{"property": "geometry"}, {
            "type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}]},
        {"op": "s_within", "args": [{"property": "geometry"}, {"bbox": [0, 0, 1, 1]}]},
        {"op": "s_crosses", "args": [{"property": "geometry"}, {
            "type": "MultiPoint", "coordinates": [[0, 0], [2, 2]]}]}]}
    assert literal_vertices(tree) == 4 + 4 + 2
    assert vertices_per_literal(tree) == (4 + 4 + 2) / 3
    assert vertices_per_literal({"op": "=", "args": [{"property": "ref"}, "x"]}) == 0


# The bench's limits were set for its 1,000,000 plots (issue 9's load test).
BENCH_PLOTS = 1_000_000


async def test_the_issues_heavy_filter_is_admitted_into_the_heavy_lane_not_refused(
        demo_settings: Settings) -> None:
    """Issue 9 item 3's filter (twelve OR-ed S_OVERLAPS of ~110-vertex rings, the bench's
    own) is heavy, not abusive: it waits for the heavy lane and then runs.

    It was refused (400) on the bench's 1,000,000 plots: the plan counts each of the twelve
    predicates per row, and the estimate was then scaled by the vertices of all twelve
    literals (×27) instead of one on average (×3). The planner's row estimate for a bound
    literal is a fixed share of the table, so the limits are scaled here by the demo's size
    to judge the filter as it is judged on the bench's data."""
    with psycopg.connect(demo_settings.database_url) as conn:
        row = conn.execute(
            "SELECT n, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT count(*) "
            "AS n, ST_Extent(ST_Transform(geom, 4326)) AS e FROM parcels) s").fetchone()
    assert row is not None
    share = row[0] / BENCH_PLOTS
    defaults = Settings()
    settings = demo_settings.model_copy(update={
        "max_query_cost": defaults.max_query_cost * share,
        "heavy_cost": defaults.heavy_cost * share,
        "heavy_slots": 1, "heavy_queue": 0, "heavy_wait_s": 0.2})
    text = heavy_filter(random.Random(SEED), tuple(float(v) for v in row[1:]))
    params = {"filter": text, "filter-lang": "cql2-text", "limit": "1000"}
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        held = await app.state.services.admission.acquire("someone else")
        try:
            waiting = await client.get("/ogc/collections/parcels/items", params=params)
            assert waiting.status_code == 503  # judged heavy: it waits for the lane
            assert int(waiting.headers["retry-after"]) > 0
        finally:
            held.release()
        done = await client.get("/ogc/collections/parcels/items", params=params)
        assert done.status_code == 200, done.text[:300]
        assert done.json()["numberReturned"] > 0


@pytest.fixture
async def small_lane(demo_settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The demo app with one heavy slot and no queue, served in this event loop."""
    settings = demo_settings.model_copy(update={"heavy_slots": 1, "heavy_queue": 0,
                                                "heavy_wait_s": 0.2})
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        yield app, client


async def test_when_the_heavy_lane_is_full_streams_get_503_and_lookups_still_answer(
        small_lane: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = small_lane
    held = await app.state.services.admission.acquire("someone else")
    try:
        stream = await client.get("/ogc/collections/parcels/items?f=jsonseq")
        assert stream.status_code == 503
        assert int(stream.headers["retry-after"]) > 0
        assert "lourdes" in stream.json()["description"]
        assert (await client.get("/ogc/collections/parcels/items/1")).status_code == 200
        assert (await client.get("/ogc/collections/parcels/items?limit=5")).status_code == 200
        assert (await client.get("/health")).status_code == 200
    finally:
        held.release()
    stream = await client.get("/ogc/collections/parcels/items?f=jsonseq")
    assert stream.status_code == 200
    assert stream.text.count("\x1e") > 1000
    again = await client.get("/ogc/collections/parcels/items?f=jsonseq")
    assert again.status_code == 200  # the first stream gave its slot back


async def test_heavy_requests_wait_in_the_heavy_lane_not_in_front_of_pages_and_tiles(
        demo_settings: Settings) -> None:
    """A stream waiting for a heavy slot has left the bulk lane: with one bulk slot and no
    bulk queue, a page and a tile are still served meanwhile."""
    settings = demo_settings.model_copy(update={
        "heavy_slots": 1, "heavy_queue": 4, "heavy_wait_s": 30, "bulk_slots": 1,
        "bulk_queue": 0})
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver",
            timeout=60) as client:
        admission = app.state.services.admission
        held = await admission.acquire("someone else")
        streams = []
        try:
            for waiting in (1, 2):  # one after the other: the bulk lane has no queue
                streams.append(asyncio.create_task(
                    client.get("/ogc/collections/parcels/items?f=jsonseq")))
                async with asyncio.timeout(30):
                    while admission.waiting < waiting:
                        await asyncio.sleep(0.01)
            page = await client.get("/ogc/collections/parcels/items?limit=5")
            assert page.status_code == 200
            tile = await client.get("/ogc/collections/parcels/tiles/WebMercatorQuad/12/1953/1652")
            assert tile.status_code in (200, 204)
        finally:
            held.release()
        for stream in await asyncio.gather(*streams):
            assert stream.status_code == 200
            assert stream.text.count("\x1e") > 1000


async def test_a_costly_filter_waits_for_the_heavy_lane(
        small_lane: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = small_lane
    params = {"filter": HEAVY_FILTER, "filter-crs": EPSG_26191, "limit": "10"}
    held = await app.state.services.admission.acquire("someone else")
    try:
        busy = await client.get("/ogc/collections/parcels/items", params=params)
        assert busy.status_code == 503
        cheap = await client.get("/ogc/collections/parcels/items",
                                 params={"filter": "area_m2 > 500", "limit": "10"})
        assert cheap.status_code == 200
    finally:
        held.release()
    done = await client.get("/ogc/collections/parcels/items", params=params)
    assert done.status_code == 200
    assert done.json()["type"] == "FeatureCollection"


def test_a_filter_over_the_cost_ceiling_is_refused_before_it_runs(
        demo_settings: Settings) -> None:
    from fastapi.testclient import TestClient

    # HEAVY_FILTER's page is estimated at ~23,000 on the demo data (its plan's ~7,200 for
    # twelve predicates per candidate, × 3.2 for 110-vertex rings): a ceiling below it.
    settings = demo_settings.model_copy(update={"max_query_cost": 10_000.0})
    with TestClient(create_app(settings)) as client:
        params = {"filter": HEAVY_FILTER, "filter-crs": EPSG_26191}
        for extra in ({}, {"f": "jsonseq"}):
            refused = client.get("/ogc/collections/parcels/items", params={**params, **extra})
            assert refused.status_code == 400
            assert "trop coûteuse" in refused.json()["description"]
        english = client.get("/ogc/collections/parcels/items", params=params,
                             headers={"Accept-Language": "en"})
        assert "too costly" in english.json()["description"]
        assert client.get("/ogc/collections/parcels/items",
                          params={"filter": "area_m2 > 500"}).status_code == 200


# Every plot tested against twelve rings, with no index to narrow them down.
ABUSIVE_FILTER = " AND ".join(
    f"S_DISJOINT(geometry, {_circle(300_000 + 1000 * i, 330_000, 3000, 110)})"
    for i in range(12))


def test_a_filter_that_tests_every_feature_against_many_rings_is_refused_at_the_default_ceiling(
        demo_settings: Settings) -> None:
    from fastapi.testclient import TestClient

    with TestClient(create_app(demo_settings)) as client:
        params = {"filter": ABUSIVE_FILTER, "filter-crs": EPSG_26191}
        for extra in ({}, {"f": "jsonseq"}, {"sortby": "-area_m2"}):
            refused = client.get("/ogc/collections/parcels/items", params={**params, **extra})
            assert refused.status_code == 400, refused.text[:300]
            assert "trop coûteuse" in refused.json()["description"]
        heavy = client.get("/ogc/collections/parcels/items",
                           params={"filter": HEAVY_FILTER, "filter-crs": EPSG_26191})
        assert heavy.status_code == 200


async def test_a_large_batch_waits_for_the_heavy_lane_and_a_small_one_does_not(
        small_lane: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = small_lane
    points = [{"lon": -7.6189 + i * 1e-4, "lat": 33.5883} for i in range(50)]
    held = await app.state.services.admission.acquire("someone else")
    try:
        large = await client.post("/rules/batch", json={"items": points})
        assert large.status_code == 503
        small = await client.post("/rules/batch", json={"items": points[:3]})
        assert small.status_code == 200
    finally:
        held.release()
    large = await client.post("/rules/batch", json={"items": points})
    assert large.status_code == 200
    assert len(large.json()["results"]) == 50
