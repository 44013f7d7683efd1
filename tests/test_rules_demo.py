"""``/rules`` on the demo data set: real-shaped plots straddling zones, checked with shapely."""

from __future__ import annotations

import html
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer
from shapely import wkb

from geoportal.rules.models import RulesAnswer

TO_LONLAT = Transformer.from_crs("EPSG:26191", "EPSG:4326", always_xy=True)


@pytest.fixture(scope="module")
def straddling(demo_database_url: str) -> list[dict[str, Any]]:
    """Plots touching two zones or more of plans in force, with their overlaps in shapely."""
    with psycopg.connect(demo_database_url) as conn:
        rows = conn.execute("""
            SELECT p.ref, ST_AsBinary(p.geom),
                   array_agg(pl.ref || '/' || z.code), array_agg(ST_AsBinary(z.geom))
            FROM parcels p
            JOIN zoning z ON ST_Intersects(z.geom, p.geom)
            JOIN plans pl ON pl.id = z.plan_id AND pl.status IN ('en vigueur', 'en révision')
                         AND pl.valid_until >= current_date
            GROUP BY p.id, p.ref, p.geom HAVING count(DISTINCT z.code) > 1
            ORDER BY p.id LIMIT 12""").fetchall()
    plots = []
    for ref, plot_wkb, keys, zone_wkbs in rows:
        plot = wkb.loads(plot_wkb)
        areas: dict[str, float] = {}
        for key, zone_wkb in zip(keys, zone_wkbs, strict=True):
            areas[key] = areas.get(key, 0.0) + plot.intersection(wkb.loads(zone_wkb)).area
        plots.append({"ref": ref, "geom": plot,
                      "areas": {k: a for k, a in areas.items() if a >= 0.01}})
    assert len(plots) >= 5, "the demo data should hold plots straddling zones"
    return plots


def test_demo_plots_in_several_zones_get_each_share_to_the_square_metre(
        demo_client: TestClient, straddling: list[dict[str, Any]]) -> None:
    for plot in straddling:
        response = demo_client.get("/rules", params={"parcel": plot["ref"]})
        assert response.status_code == 200, response.text
        answer = RulesAnswer.model_validate(response.json())
        got = {f"{z.plan_ref}/{z.code}": z.area_m2 for z in answer.zones}
        assert got.keys() == plot["areas"].keys(), plot["ref"]
        for key, area in plot["areas"].items():
            assert got[key] == pytest.approx(area, abs=0.01), (plot["ref"], key)
        if len(plot["areas"]) > 1:
            assert "several_zones" in [w.code for w in answer.warnings]
        assert sum(z.pct or 0 for z in answer.zones) == pytest.approx(100.0)


def test_demo_plots_answer_the_same_by_point_and_by_reference(
        demo_client: TestClient, straddling: list[dict[str, Any]]) -> None:
    for plot in straddling[:5]:
        inside = plot["geom"].representative_point()
        lon, lat = TO_LONLAT.transform(inside.x, inside.y)
        by_point = demo_client.get("/rules", params={"lon": lon, "lat": lat}).json()
        by_ref = demo_client.get("/rules", params={"parcel": plot["ref"]}).json()
        assert by_point["plot"]["ref"] == plot["ref"]
        for key in ("zones", "servitudes", "reservations", "planned_roads", "figures"):
            assert by_point[key] == by_ref[key], key


def test_a_demo_note_renders_with_arabic_names(
        demo_client: TestClient, straddling: list[dict[str, Any]]) -> None:
    response = demo_client.get("/rules/note", params={"parcel": straddling[0]["ref"]})
    assert response.status_code == 200
    answer = demo_client.get("/rules", params={"parcel": straddling[0]["ref"]}).json()
    text = html.unescape(response.text)
    assert answer["admin"]["prefecture"]["name_ar"] in text
    assert answer["zones"][0]["label"] in text
