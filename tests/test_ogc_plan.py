"""The hot path's SQL: a small bbox page is served by the GiST index, not a primary-key walk."""

from __future__ import annotations

import asyncio
import json

import asyncpg
from starlette.datastructures import QueryParams

from geoportal.core import formats
from geoportal.db.urls import libpq_url
from geoportal.ogc.params import parse_items_query
from geoportal.ogc.query import items_statement
from geoportal.registry import load_registry
from geoportal.settings import Settings


def _plan(database_url: str, query: str) -> str:
    settings = Settings()
    layer = load_registry(settings.layers_dir).get("parcels")
    assert layer is not None

    async def explain() -> str:
        conn = await asyncpg.connect(libpq_url(database_url))
        try:
            area = await conn.fetchval(
                "SELECT (ST_XMax(e) - ST_XMin(e)) * (ST_YMax(e) - ST_YMin(e)) "
                "FROM (SELECT ST_Extent(geom) AS e FROM parcels) s")
            parsed = parse_items_query(QueryParams(query), layer, settings)
            statement = items_statement(layer, parsed, formats.GEOJSON, float(area))
            await conn.execute("ANALYZE parcels")
            rows = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {statement.text}",
                                       *statement.values)
            return json.dumps(rows)
        finally:
            await conn.close()

    return asyncio.run(explain())


def _scans(node: object) -> list[dict[str, object]]:
    """Every index scan node of a JSON plan, depth first."""
    found: list[dict[str, object]] = []
    if isinstance(node, dict):
        if "Index Name" in node:
            found.append(node)
        for value in node.values():
            found += _scans(value)
    elif isinstance(node, list):
        for item in node:
            found += _scans(item)
    return found


def test_small_bbox_page_uses_the_spatial_index_not_a_primary_key_walk(demo_database_url):
    text = _plan(demo_database_url, "bbox=-7.60,33.57,-7.59,33.58&limit=100")
    plan = json.loads(json.loads(text))
    scans = _scans(plan)
    assert any(scan["Index Name"] == "idx_parcels_geom" for scan in scans)
    # The primary key may only fetch the chosen rows one by one, never be walked in order.
    for scan in scans:
        if scan["Index Name"] == "parcels_pkey":
            assert str(scan.get("Index Cond", "")).startswith("(id = ")


def test_deep_keyset_page_walks_the_primary_key_from_the_cursor(demo_database_url):
    plan = _plan(demo_database_url, "cursor=15000&limit=100")
    assert "parcels_pkey" in plan and '"Node Type": "Seq Scan"' not in plan


async def test_a_bbox_page_is_planned_without_waiting_for_the_layers_extent(
        demo_settings: Settings) -> None:
    """The first bbox page of a worker plans with the statistics' estimate of the layer's
    box while the exact extent (a scan of every row) is computed beside it."""
    import httpx

    from geoportal.app import create_app
    from geoportal.core.extent import ExtentCache

    app = create_app(demo_settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        extents = app.state.services.get(ExtentCache)
        scan = extents._locks.setdefault("parcels", asyncio.Lock())
        await scan.acquire()  # the extent's scan cannot finish while this is held
        try:
            async with asyncio.timeout(30):
                page = await client.get("/ogc/collections/parcels/items",
                                        params={"bbox": "-7.63,33.58,-7.61,33.60",
                                                "limit": "20"})
            assert page.status_code == 200
            assert page.json()["numberReturned"] > 0
            assert "parcels" in extents._filling  # still being computed
        finally:
            scan.release()
        async with asyncio.timeout(60):
            while "parcels" in extents._filling:
                await asyncio.sleep(0.05)
        pool, layer = app.state.pool, app.state.registry.get("parcels")
        extent = await extents.get(pool, layer)
        assert extent.storage is not None
        assert await extents.planning_area(pool, layer) == extent.storage_area
