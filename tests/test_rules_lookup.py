"""``/rules`` answers what applies to a plot, exactly, on a hand-made world with known answers.

Expected areas are computed independently with shapely from the fixture's own geometries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer
from rules_fixture import OUTSIDE_POINT, ROAD_POINT, RulesWorld, geometry_of, shared_world
from shapely.geometry import mapping

from geoportal.app import create_app
from geoportal.rules.models import RulesAnswer
from geoportal.settings import Settings

TO_LONLAT = Transformer.from_crs("EPSG:26191", "EPSG:4326", always_xy=True)
APPLICABLE = {"PA-T-A", "PA-T-B", "PA-T-C"}
ENGLISH = {"Accept-Language": "en"}


@pytest.fixture(scope="session")
def rules_world(fresh_database: Callable[[str], str],
                tmp_path_factory: pytest.TempPathFactory) -> RulesWorld:
    return shared_world(fresh_database, tmp_path_factory.getbasetemp() / "rules-rasters")


@pytest.fixture(scope="session")
def client(rules_world: RulesWorld) -> Iterator[TestClient]:
    settings = Settings(database_url=rules_world.url, data_dir=rules_world.raster_dir)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def rules(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/rules", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    RulesAnswer.model_validate(body)
    return body


def codes(answer: dict[str, Any], key: str = "warnings") -> list[str]:
    return [w["code"] for w in answer[key]]


def expected_zone_areas(world: RulesWorld, ref: str, plans: set[str]) -> dict[str, float]:
    plot = world.plots[ref]
    areas = {f"{plan}/{code}": plot.intersection(zone).area
             for (plan, code), zone in world.zones.items() if plan in plans}
    return {key: area for key, area in areas.items() if area >= 0.01}


def test_a_plot_split_70_30_gets_both_zones_with_their_areas_and_shares(
        client: TestClient) -> None:
    answer = rules(client, parcel="TF 1001/C")
    zones = {z["code"]: z for z in answer["zones"]}
    assert answer["plot"] == {"ref": "TF 1001/C", "source": "cadastre", "area_m2": 2000.0,
                              "geometry": None}
    assert (zones["C"]["area_m2"], zones["C"]["pct"]) == (1400.0, 70.0)
    assert (zones["D"]["area_m2"], zones["D"]["pct"]) == (600.0, 30.0)
    by_zone = {f["zone"]: f for f in answer["figures"]["by_zone"]}
    assert by_zone["C"]["max_footprint_m2"] == pytest.approx(0.6 * 1400)
    assert by_zone["C"]["max_floor_area_m2"] == pytest.approx(3.0 * 1400)
    assert by_zone["D"]["max_footprint_m2"] == pytest.approx(0.7 * 600)
    assert answer["figures"]["max_floor_area_m2"] == pytest.approx(3.0 * 1400 + 2.1 * 600)
    assert "several_zones" in codes(answer)
    assert answer["admin"]["prefecture"]["name_ar"] == "عمالة الدار البيضاء"


@pytest.mark.parametrize("ref", ["TF 1001/C", "TF 1002/C", "TF 1003/C", "TF 1004/C",
                                 "TF 1005/C", "TF 1006/C", "TF 1008/C"])
def test_zone_areas_match_shapely_to_the_square_metre_and_shares_sum_to_100(
        client: TestClient, rules_world: RulesWorld, ref: str) -> None:
    answer = rules(client, parcel=ref)
    got = {f"{z['plan_ref']}/{z['code']}": z["area_m2"] for z in answer["zones"]}
    expected = expected_zone_areas(rules_world, ref, APPLICABLE)
    assert got.keys() == expected.keys()
    for key, area in expected.items():
        assert got[key] == pytest.approx(area, abs=0.01)
    assert sum(z["pct"] for z in answer["zones"]) == pytest.approx(100.0, abs=1e-9)
    assert sum(z["area_m2"] for z in answer["zones"]) == pytest.approx(
        answer["plot"]["area_m2"], abs=1e-6)
    assert answer["plot"]["area_m2"] == pytest.approx(rules_world.plots[ref].area, abs=0.005)


def test_a_plot_under_a_reservation_gets_the_reservation_with_its_area(
        client: TestClient, rules_world: RulesWorld) -> None:
    answer = rules(client, parcel="TF 1002/C")
    plot = rules_world.plots["TF 1002/C"]
    expected = plot.intersection(rules_world.reservations["École primaire"]).area
    [reservation] = answer["reservations"]
    assert reservation["label"] == "École primaire"
    assert reservation["area_m2"] == pytest.approx(expected, abs=0.01)
    assert reservation["pct"] == pytest.approx(expected / plot.area * 100, abs=0.01)
    assert answer["planned_roads"] == []
    assert "reservation" in codes(answer)


def test_a_plot_cut_by_a_planned_road_gets_its_width_and_the_area_taken(
        client: TestClient, rules_world: RulesWorld) -> None:
    answer = rules(client, parcel="TF 1003/C")
    plot = rules_world.plots["TF 1003/C"]
    expected = plot.intersection(rules_world.reservations["Voie projetée n° 12"]).area
    [road] = answer["planned_roads"]
    assert road["width_m"] == 20
    assert road["area_m2"] == pytest.approx(expected, abs=0.01)
    assert road["pct"] == pytest.approx(expected / plot.area * 100, abs=0.01)
    assert answer["reservations"] == []
    warning = next(w for w in answer["warnings"] if w["code"] == "planned_road")
    assert "20 m" in warning["message"]


def test_a_plot_in_the_coastal_band_gets_the_servitude_and_its_share(
        client: TestClient) -> None:
    answer = rules(client, parcel="tf 1004/c")
    [servitude] = answer["servitudes"]
    assert servitude["kind"] == "littoral"
    assert (servitude["area_m2"], servitude["pct"]) == (600.0, 66.67)
    assert servitude["legal_ref"] == "Loi 81-12 relative au littoral"
    assert "non aedificandi" in next(
        w["message"] for w in answer["warnings"] if w["code"] == "servitude_littoral")
    assert "below_min_area" not in codes(answer)  # 900 m² ≥ 500 m²


def test_a_plot_below_the_zone_minimum_area_is_warned(client: TestClient) -> None:
    answer = rules(client, parcel="TF 1005/C")
    assert answer["zones"][0]["rules"]["min_plot_area_m2"] == 500
    warning = next(w for w in answer["warnings"] if w["code"] == "below_min_area")
    assert "300,00" in warning["message"] and "500,00" in warning["message"]


def test_a_point_on_a_road_gets_the_zone_and_admin_areas_without_a_plot(
        client: TestClient) -> None:
    answer = rules(client, x=ROAD_POINT[0], y=ROAD_POINT[1], crs="EPSG:26191")
    assert answer["plot"] is None
    assert [(z["code"], z["area_m2"], z["pct"]) for z in answer["zones"]] == [("C", None, None)]
    assert answer["zones"][0]["rules"]["cos"] == 0.6
    assert answer["admin"]["commune"]["code"] == "CAS-ANFA"
    assert (answer["location"]["x"], answer["location"]["y"]) == ROAD_POINT
    assert codes(answer)[0] == "no_plot"
    assert answer["figures"]["max_footprint_m2"] is None


@pytest.mark.parametrize("params", [
    {"x": OUTSIDE_POINT[0], "y": OUTSIDE_POINT[1], "crs": "EPSG:26191"},
    {"lon": 0.0, "lat": 0.0},
])
def test_a_point_outside_the_agency_area_is_a_404_that_says_so(
        client: TestClient, params: dict[str, Any]) -> None:
    response = client.get("/rules", params=params)
    assert response.status_code == 404
    assert response.json()["code"] == "OutsideArea"
    assert "hors du territoire" in response.json()["description"]
    english = client.get("/rules", params=params, headers=ENGLISH)
    assert "outside the area" in english.json()["description"]


def test_a_plot_under_a_plan_under_revision_names_it_so_and_keeps_its_rules(
        client: TestClient) -> None:
    answer = rules(client, parcel="TF 1006/C")
    [plan] = answer["plans"]
    assert (plan["ref"], plan["situation"], plan["applies"]) == ("PA-T-B", "en révision", True)
    assert [z["code"] for z in answer["zones"]] == ["B"]
    assert "plan_under_revision" in codes(answer)


def test_a_date_before_the_plan_approval_gives_no_rules_and_says_why(
        client: TestClient) -> None:
    answer = rules(client, parcel="TF 1006/C", at="2015-06-01")
    assert answer["at"] == "2015-06-01"
    assert answer["zones"] == [] and answer["figures"]["by_zone"] == []
    assert answer["plans"][0]["situation"] == "non encore approuvé"
    assert codes(answer) == ["no_plan"]
    earlier = rules(client, parcel="TF 1001/C", at="2018-05-16")
    later = rules(client, parcel="TF 1001/C", at="2018-05-17")
    assert earlier["zones"] == [] and len(later["zones"]) == 2


def test_a_plan_past_its_validity_is_expired_now_but_was_in_force_then(
        client: TestClient) -> None:
    now = rules(client, parcel="TF 1007/C")
    assert now["plans"][0]["situation"] == "expiré"
    assert "plan_expired" in codes(now)
    assert [z["code"] for z in now["zones"]] == ["I"]
    then = rules(client, parcel="TF 1007/C", at="2015-01-01")
    assert then["plans"][0]["situation"] == "en vigueur"
    assert "plan_expired" not in codes(then)


def test_a_plan_under_study_is_mentioned_but_its_zones_do_not_apply(
        client: TestClient) -> None:
    answer = rules(client, parcel="TF 1008/C")
    assert [(z["plan_ref"], z["code"]) for z in answer["zones"]] == [("PA-T-A", "C")]
    assert [(z["plan_ref"], z["code"], z["pct"]) for z in answer["study_zones"]] == [
        ("PA-T-S", "B", 100.0)]
    study = next(p for p in answer["plans"] if p["ref"] == "PA-T-S")
    assert (study["situation"], study["applies"]) == ("à l'étude", False)
    assert "plan_under_study" in codes(answer)
    assert [f["zone"] for f in answer["figures"]["by_zone"]] == ["C"]


def test_the_flood_hazard_class_is_read_from_the_raster(client: TestClient) -> None:
    flooded = rules(client, parcel="TF 1007/C")
    [value] = flooded["rasters"]
    assert (value["layer"], value["max"], value["at_point"], value["label"]) == (
        "flood_hazard", 3.0, 3.0, "fort")
    assert "flood_hazard" in codes(flooded)
    dry = rules(client, parcel="TF 1001/C")
    assert dry["rasters"][0]["max"] == 0.0 and "flood_hazard" not in codes(dry)


def _comparable(answer: dict[str, Any]) -> dict[str, Any]:
    return {key: answer[key] for key in ("zones", "servitudes", "reservations",
                                         "planned_roads", "figures", "plans", "admin",
                                         "rasters", "study_zones", "location")}


@pytest.mark.parametrize("ref", ["TF 1001/C", "TF 1002/C", "TF 1003/C", "TF 1004/C"])
def test_point_reference_and_geometry_give_the_same_answer(
        client: TestClient, rules_world: RulesWorld, ref: str) -> None:
    stored = geometry_of(rules_world, ref)
    inside = stored.representative_point()
    lon, lat = TO_LONLAT.transform(inside.x, inside.y)
    by_ref = rules(client, parcel=ref)
    by_point = rules(client, lon=lon, lat=lat)
    by_xy = rules(client, x=inside.x, y=inside.y, crs="EPSG:26191")
    posted = client.post("/rules", params={"crs": "EPSG:26191"}, json=mapping(stored))
    assert posted.status_code == 200, posted.text
    by_geometry = posted.json()
    assert _comparable(by_point) == _comparable(by_ref) == _comparable(by_xy)
    assert _comparable(by_geometry) == _comparable(by_ref)
    assert by_geometry["plot"]["source"] == "geometry"
    assert by_geometry["plot"]["area_m2"] == by_ref["plot"]["area_m2"]
    assert by_point["plot"]["ref"] == ref


def test_a_geometry_in_crs84_from_the_answer_gives_the_same_zones_within_the_datum_shift(
        client: TestClient) -> None:
    # Merchich -> WGS 84 -> Merchich (EPSG:1166 both ways, PROJ) moves points by about 2 mm,
    # which moves an overlap edge of tens of metres by a few hundredths of a m².
    by_ref = rules(client, parcel="TF 1002/C", geometry="true")
    geometry = by_ref["plot"]["geometry"]
    assert geometry["type"] == "MultiPolygon"
    posted = client.post("/rules", json={"type": "Feature", "properties": {},
                                         "geometry": geometry})
    assert posted.status_code == 200, posted.text
    by_geometry = posted.json()
    pairs = zip(by_ref["zones"], by_geometry["zones"], strict=True)
    for mine, theirs in pairs:
        assert mine["code"] == theirs["code"]
        assert mine["area_m2"] == pytest.approx(theirs["area_m2"], abs=0.1)
    assert by_geometry["reservations"][0]["area_m2"] == pytest.approx(
        by_ref["reservations"][0]["area_m2"], abs=0.1)
    assert by_geometry["plot"]["area_m2"] == pytest.approx(by_ref["plot"]["area_m2"], abs=0.1)


def test_the_reference_is_normalised_for_spacing_and_case(client: TestClient) -> None:
    for spelling in ("tf1001/c", "  TF   1001 /C ", "Tf 1001/C"):
        assert rules(client, parcel=spelling)["plot"]["ref"] == "TF 1001/C"


def test_a_posted_point_is_answered_like_a_point_lookup(client: TestClient) -> None:
    posted = client.post("/rules", params={"crs": "EPSG:26191"},
                         json={"type": "Point", "coordinates": [299950.0, 330510.0]})
    assert posted.status_code == 200
    assert posted.json()["plot"]["ref"] == "TF 1001/C"


def test_the_data_version_is_the_one_the_service_reports(client: TestClient) -> None:
    answer = rules(client, parcel="TF 1001/C")
    assert answer["data_version"] == client.get("/version").json()["data_version"]
    response = client.get("/rules", params={"parcel": "TF 1001/C"})
    assert response.headers["x-data-version"] == answer["data_version"]


BAD_QUERIES = [
    ({"lon": -7.6, "lat": 95}, 400, "latitude"),
    ({"lon": "nan", "lat": 33.5}, 400, "finite"),
    ({"lon": "abc", "lat": 33.5}, 400, "lon"),
    ({"lon": -7.6}, 400, "lon and lat"),
    ({"lon": -7.6, "lat": 33.5, "parcel": "TF 1/C"}, 400, "either"),
    ({}, 400, "either"),
    ({"x": 1, "y": 2, "crs": "EPSG:99999"}, 400, "EPSG:99999"),
    ({"x": 1, "y": 2, "crs": "nonsense"}, 400, "crs"),
    ({"x": 1e300, "y": 1e300, "crs": "EPSG:3857"}, 404, "outside the area"),
    ({"x": -1e10, "y": 5, "crs": "EPSG:26191"}, 404, "outside the area"),
    ({"parcel": "TF 1001/C", "at": "2020-13-01"}, 400, "at"),
    ({"parcel": "TF 99999/Z"}, 404, "TF 99999/Z"),
    ({"parcel": "x" * 80}, 400, "parcel"),
]


@pytest.mark.parametrize(("params", "status", "said"), BAD_QUERIES)
def test_bad_queries_get_a_clear_4xx_never_a_500(
        client: TestClient, params: dict[str, Any], status: int, said: str) -> None:
    response = client.get("/rules", params=params, headers=ENGLISH)
    assert response.status_code == status, response.text
    assert said in response.json()["description"]


BOWTIE = {"type": "Polygon", "coordinates": [[[299600, 330600], [299650, 330650],
                                              [299650, 330600], [299600, 330650],
                                              [299600, 330600]]]}
BAD_BODIES = [
    (b"{not json", {}, 422, "JSON"),
    (b"[1, 2]", {}, 422, "dictionary"),
    (b'{"type": "LineString", "coordinates": [[0, 0], [1, 1]]}', {}, 422, "LineString"),
    (b'{"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}', {}, 422, "valid GeoJSON"),
    (b'{"type": "Polygon", "coordinates": "x"}', {}, 422, "valid GeoJSON"),
    (b'{"type": "Polygon", "coordinates": [[[-7.6, 95], [-7.5, 95], [-7.5, 96], [-7.6, 95]]]}',
     {}, 422, "longitude/latitude"),
    (None, {"crs": "EPSG:26191"}, 422, "Self-intersection"),
    (b'{"type": "Point", "coordinates": [0.5, 0.5]}', {}, 404, "outside the area"),
]


@pytest.mark.parametrize(("body", "params", "status", "said"), BAD_BODIES)
def test_bad_geometries_get_a_clear_4xx_never_a_500(
        client: TestClient, body: bytes | None, params: dict[str, str], status: int,
        said: str) -> None:
    if body is None:
        response = client.post("/rules", params=params, json=BOWTIE, headers=ENGLISH)
    else:
        response = client.post("/rules", params=params, content=body,
                               headers={"content-type": "application/json", **ENGLISH})
    assert response.status_code == status, response.text
    assert said in response.json()["description"]


def test_a_batch_answers_each_item_in_order_with_its_own_errors(client: TestClient) -> None:
    inside = (299950.0, 330510.0)
    lon, lat = TO_LONLAT.transform(*inside)
    items = [{"parcel": "tf 1001/c"}, {"lon": lon, "lat": lat},
             {"x": ROAD_POINT[0], "y": ROAD_POINT[1], "crs": "EPSG:26191"},
             {"parcel": "TF 404/X"}, {"x": OUTSIDE_POINT[0], "y": OUTSIDE_POINT[1]},
             {"lon": 1.0}, {"parcel": "TF 1006/C"}]
    response = client.post("/rules/batch", json={"items": items})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["index"] for r in results] == list(range(len(items)))
    statuses = [r["error"]["status"] if r["error"] else 200 for r in results]
    assert statuses == [200, 200, 200, 404, 404, 400, 200]
    single = rules(client, parcel="TF 1001/C")
    assert _comparable(results[0]["answer"]) == _comparable(single)
    assert results[1]["answer"]["plot"]["ref"] == "TF 1001/C"
    assert results[2]["answer"]["plot"] is None
    assert results[4]["error"]["code"] == "OutsideArea"
    assert results[6]["answer"]["zones"][0]["code"] == "B"


def test_a_batch_of_1000_is_answered_and_one_more_is_refused(client: TestClient) -> None:
    refs = ["TF 1001/C", "TF 1002/C", "TF 1003/C", "TF 1004/C", "TF 1005/C"]
    items = [{"parcel": refs[i % len(refs)]} for i in range(1000)]
    response = client.post("/rules/batch", json={"items": items, "at": "2026-01-01"})
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 1000 and all(r["answer"] for r in results)
    assert {r["answer"]["at"] for r in results} == {"2026-01-01"}
    too_many = client.post("/rules/batch", json={"items": [*items, {"parcel": "TF 1/C"}]})
    assert too_many.status_code == 413
    assert "au plus 1000" in too_many.json()["description"]


def test_the_openapi_documents_the_rules_answer(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schema = spec["paths"]["/rules"]["get"]["responses"]["200"]["content"]["application/json"]
    assert schema["schema"]["$ref"].endswith("/RulesAnswer")
    documented = {p["name"] for p in spec["paths"]["/rules"]["get"]["parameters"]}
    assert {"lon", "lat", "x", "y", "crs", "parcel", "at", "geometry"} <= documented
    assert "ZoneShare" in spec["components"]["schemas"]
    assert {"post"} <= set(spec["paths"]["/rules/batch"])



def test_a_geometry_with_heights_is_read_in_two_dimensions(client: TestClient) -> None:
    ring = [[299930, 330500, 12.5], [300030, 330500, 12.5], [300030, 330520, 13.0],
            [299930, 330520, 13.0], [299930, 330500, 12.5]]
    posted = client.post("/rules", params={"crs": "EPSG:26191"},
                         json={"type": "Polygon", "coordinates": [ring]})
    assert posted.status_code == 200, posted.text
    assert [(z["code"], z["pct"]) for z in posted.json()["zones"]] == [("C", 70.0), ("D", 30.0)]


def test_an_area_too_large_for_one_lookup_is_refused_clearly(client: TestClient) -> None:
    ring = [[280000, 320000], [300000, 320000], [300000, 340000], [280000, 340000],
            [280000, 320000]]
    posted = client.post("/rules", params={"crs": "EPSG:26191"},
                         json={"type": "Polygon", "coordinates": [ring]})
    assert posted.status_code == 422
    assert "découpez la zone" in posted.json()["description"]


def test_an_unreadable_raster_does_not_break_the_lookup(
        rules_world: RulesWorld, tmp_path: Path) -> None:
    (tmp_path / "flood_hazard.tif").write_bytes(b"not a GeoTIFF")
    settings = Settings(database_url=rules_world.url, data_dir=tmp_path)
    with TestClient(create_app(settings)) as other:
        answer = rules(other, parcel="TF 1007/C")
    assert answer["rasters"] == [] and [z["code"] for z in answer["zones"]] == ["I"]


def test_a_point_on_a_planned_road_without_a_plot_is_told_so(client: TestClient) -> None:
    answer = rules(client, x=299580, y=330180, crs="EPSG:26191")
    assert answer["plot"] is None
    [road] = answer["planned_roads"]
    assert (road["width_m"], road["area_m2"], road["pct"]) == (20, None, None)
    message = next(w["message"] for w in answer["warnings"] if w["code"] == "planned_road")
    assert message.startswith("Le point demandé est sur l'emprise d'une voie projetée de 20 m")


def test_a_batch_of_only_unusable_items_still_reports_the_data_version(
        client: TestClient) -> None:
    response = client.post("/rules/batch", json={"items": [{"lon": 1.0}, {}]})
    assert response.status_code == 200
    body = response.json()
    assert [r["error"]["status"] for r in body["results"]] == [400, 400]
    assert body["data_version"] == client.get("/version").json()["data_version"]
