"""The buildable envelope (``/rules?...&envelope=true``) on hand-made plots whose answers are
computed by hand, and whose geometry is compared with shapely's of the same construction."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from collections.abc import Callable, Iterator
from html import unescape
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from pyproj import Transformer
from rules_fixture import write_flood_raster
from shapely import union_all
from shapely.geometry import LineString, MultiLineString, box, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import transform

from geoportal.app import create_app
from geoportal.rules.models import RulesAnswer
from geoportal.settings import Settings

FIXTURE = Path(__file__).parent / "fixtures" / "envelope.sql"
STORAGE = {"envelope": "true", "envelope-crs": "EPSG:26191"}
ZONE_R = box(299000, 329000, 300000, 331000)
ZONE_S = box(300000, 329000, 301000, 331000)
TO_STORAGE = Transformer.from_crs("EPSG:4326", "EPSG:26191", always_xy=True)
SETBACKS = {"R": (5.0, 3.0, 4.0), "S": (2.0, 0.0, 3.0)}  # front, side, rear


@pytest.fixture(scope="module")
def envelope_url(sql_database: Callable[[str, Path], str]) -> str:
    return sql_database("envelope", FIXTURE)


@pytest.fixture(scope="module")
def client(envelope_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    rasters = tmp_path_factory.mktemp("envelope-rasters")
    write_flood_raster(rasters)
    settings = Settings(database_url=envelope_url, data_dir=rasters)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def envelope_of(client: TestClient, ref: str, **params: Any) -> dict[str, Any]:
    response = client.get("/rules", params={"parcel": ref, **STORAGE, **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    RulesAnswer.model_validate(body)
    envelope: dict[str, Any] = body["envelope"]
    return envelope


def edges(x0: float, y0: float, x1: float, y1: float) -> dict[str, LineString]:
    return {"south": LineString([(x0, y0), (x1, y0)]), "east": LineString([(x1, y0), (x1, y1)]),
            "north": LineString([(x1, y1), (x0, y1)]), "west": LineString([(x0, y1), (x0, y0)])}


def shapely_envelope(plot: BaseGeometry, zone: BaseGeometry, code: str,
                     front: list[LineString], side: list[LineString], rear: list[LineString],
                     cut: BaseGeometry | None = None) -> BaseGeometry:
    """The construction of the method, in shapely: the plot in the zone minus the round
    buffers of each boundary class by the zone's setback, minus what forbids building."""
    f, s, r = SETBACKS[code]
    bands = [MultiLineString(lines).buffer(d) for lines, d in ((front, f), (side, s), (rear, r))
             if lines]
    result = plot.intersection(zone).difference(union_all(bands))
    return result.difference(cut) if cut is not None else result


def assert_same_geometry(answer: dict[str, Any] | None, expected: BaseGeometry) -> None:
    assert answer is not None
    got = shape(answer)
    assert got.symmetric_difference(expected).area < 0.01


def test_a_rectangle_on_one_road_keeps_its_front_side_and_rear_setbacks(
        client: TestClient) -> None:
    envelope = envelope_of(client, "TF 2001/E")
    assert envelope["boundary"] == {"front_m": 30.0, "side_m": 40.0, "rear_m": 30.0}
    assert envelope["area_m2"] == pytest.approx((30 - 3 - 3) * (20 - 5 - 4), abs=0.01)  # 264
    e = edges(299100, 330000, 299130, 330020)
    expected = shapely_envelope(box(299100, 330000, 299130, 330020), ZONE_R, "R",
                                [e["south"]], [e["east"], e["west"]], [e["north"]])
    assert expected.area == pytest.approx(264, abs=0.01)
    assert_same_geometry(envelope["geometry"], expected)
    assert envelope["buildable"] is True
    assert envelope["max_footprint_m2"] == pytest.approx(min(264, 0.5 * 600), abs=0.01)
    assert envelope["max_floor_area_m2"] == pytest.approx(min(2.0 * 600, 264 * 5), abs=0.01)
    assert (envelope["max_height_m"], envelope["max_levels"]) == (15.0, 4)
    assert envelope["max_volume_m3"] == pytest.approx(264 * 15, abs=0.01)
    assert envelope["crs"].endswith("/EPSG/0/26191")
    assert "Façade" in envelope["method"]


def test_a_corner_plot_on_two_roads_has_two_fronts_and_two_sides(client: TestClient) -> None:
    envelope = envelope_of(client, "TF 2002/E")
    assert envelope["boundary"] == {"front_m": 65.0, "side_m": 65.0, "rear_m": 0.0}
    assert envelope["area_m2"] == pytest.approx((40 - 3 - 5) * (25 - 5 - 3), abs=0.01)  # 544
    e = edges(299300, 330000, 299340, 330025)
    expected = shapely_envelope(box(299300, 330000, 299340, 330025), ZONE_R, "R",
                                [e["south"], e["east"]], [e["north"], e["west"]], [])
    assert_same_geometry(envelope["geometry"], expected)


def test_a_plot_across_two_zones_has_a_part_in_each_with_its_own_setbacks_and_limits(
        client: TestClient) -> None:
    envelope = envelope_of(client, "TF 2003/E")
    parts = {p["zone"]: p for p in envelope["parts"]}
    assert parts["R"]["area_m2"] == pytest.approx((20 - 3) * (30 - 5 - 4), abs=0.01)  # 357
    assert parts["S"]["area_m2"] == pytest.approx((20 - 0) * (30 - 2 - 3), abs=0.01)  # 500
    assert envelope["area_m2"] == pytest.approx(857, abs=0.01)
    assert parts["R"]["max_footprint_m2"] == pytest.approx(0.5 * 600, abs=0.01)  # COS caps
    assert parts["S"]["max_footprint_m2"] == pytest.approx(0.8 * 600, abs=0.01)
    assert parts["R"]["max_floor_area_m2"] == pytest.approx(2.0 * 600, abs=0.01)
    assert parts["S"]["max_floor_area_m2"] == pytest.approx(1.5 * 600, abs=0.01)
    assert (parts["R"]["max_height_m"], parts["S"]["max_height_m"]) == (15.0, 9.0)
    assert envelope["max_volume_m3"] == pytest.approx(300 * 15 + 480 * 9, abs=0.01)
    assert envelope["max_footprint_m2"] == pytest.approx(780, abs=0.01)
    plot = box(299980, 330200, 300020, 330230)
    e = edges(299980, 330200, 300020, 330230)
    lines = ([e["south"]], [e["east"], e["west"]], [e["north"]])
    expected = shapely_envelope(plot, ZONE_R, "R", *lines).union(
        shapely_envelope(plot, ZONE_S, "S", *lines))
    assert_same_geometry(envelope["geometry"], expected)
    pieces = {p["zone"]: p for p in envelope["pieces"]}
    assert_same_geometry(pieces["S"]["geometry"], shapely_envelope(plot, ZONE_S, "S", *lines))


def test_a_planned_road_crossing_the_plot_is_removed_from_the_envelope_and_named(
        client: TestClient) -> None:
    envelope = envelope_of(client, "TF 2004/E")
    road = box(299515, 330380, 299525, 330470)
    assert envelope["area_m2"] == pytest.approx((34 - 10) * 21, abs=0.01)  # 504
    assert envelope["cuts"] == [{
        "source": "reservation", "kind": "voirie", "name": "Voie projetée n° 7",
        "plot_area_m2": 300.0, "removed_m2": 210.0}]
    e = edges(299500, 330400, 299540, 330430)
    expected = shapely_envelope(box(299500, 330400, 299540, 330430), ZONE_R, "R",
                                [e["south"]], [e["east"], e["west"]], [e["north"]], road)
    assert_same_geometry(envelope["geometry"], expected)
    assert "« Voie projetée n° 7 »" in envelope["summary"]


def test_an_airport_height_limit_lowers_the_height_of_the_part_under_it(
        client: TestClient) -> None:
    envelope = envelope_of(client, "TF 2005/E")
    assert envelope["area_m2"] == pytest.approx(714, abs=0.01)
    heights = {p["max_height_m"]: p for p in envelope["pieces"]}
    assert heights[10.0]["area_m2"] == pytest.approx(17 * 21, abs=0.01)
    assert heights[10.0]["limited_by"] == "Servitude aéronautique de l'aérodrome (test)"
    assert heights[15.0]["area_m2"] == pytest.approx(17 * 21, abs=0.01)
    assert heights[15.0]["limited_by"] is None
    assert_same_geometry(heights[10.0]["geometry"], box(299720, 330605, 299737, 330626))
    assert envelope["max_footprint_m2"] == pytest.approx(600, abs=0.01)
    # the footprint goes under the 15 m part first: 357 m² × 15 m + 243 m² × 10 m
    assert envelope["max_volume_m3"] == pytest.approx(357 * 15 + 243 * 10, abs=0.01)
    assert envelope["height_limits"] == [{
        "name": "Servitude aéronautique de l'aérodrome (test)", "max_height_m": 10.0,
        "plot_area_m2": 600.0}]


def test_a_plot_wholly_in_the_coastal_band_has_an_empty_envelope_said_in_words(
        client: TestClient) -> None:
    envelope = envelope_of(client, "TF 2006/E")
    assert envelope["buildable"] is False
    assert envelope["geometry"] is None
    assert (envelope["area_m2"], envelope["max_footprint_m2"]) == (0.0, 0.0)
    assert envelope["max_floor_area_m2"] == 0.0
    assert envelope["pieces"] == []
    assert envelope["cuts"][0]["name"] == "Bande littorale de 100 m"
    assert envelope["summary"].startswith("Aucune construction n'est possible")
    assert "« Bande littorale de 100 m »" in envelope["summary"]


def test_a_landlocked_plot_has_no_front_and_every_limit_is_a_side_said_in_words(
        client: TestClient) -> None:
    envelope = envelope_of(client, "TF 2008/E")
    assert envelope["boundary"] == {"front_m": 0.0, "side_m": 100.0, "rear_m": 0.0}
    assert envelope["area_m2"] == pytest.approx((30 - 6) * (20 - 6), abs=0.01)  # 336
    assert "Aucune limite de la parcelle ne donne sur une voie" in envelope["summary"]


def test_the_envelope_comes_in_crs84_unless_asked_in_epsg_26191(client: TestClient) -> None:
    response = client.get("/rules", params={"parcel": "TF 2001/E", "envelope": "true"})
    envelope = response.json()["envelope"]
    assert envelope["crs"] == "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
    projected = transform(TO_STORAGE.transform, shape(envelope["geometry"]))
    # within the few millimetres pyproj and PostGIS's PROJ pipelines may differ by
    assert projected.hausdorff_distance(box(299103, 330005, 299127, 330016)) < 0.01


def test_an_answer_without_envelope_true_has_none_and_a_point_off_any_plot_has_none(
        client: TestClient) -> None:
    assert client.get("/rules", params={"parcel": "TF 2001/E"}).json()["envelope"] is None
    off_plot = client.get("/rules", params={"x": 299100, "y": 329990, "envelope": "true"})
    assert off_plot.status_code == 200
    assert off_plot.json()["plot"] is None and off_plot.json()["envelope"] is None


def test_a_point_on_a_plot_gets_the_plots_envelope(client: TestClient) -> None:
    response = client.get("/rules", params={"x": 299115, "y": 330010, **STORAGE})
    assert response.json()["envelope"]["area_m2"] == pytest.approx(264, abs=0.01)


@pytest.mark.parametrize(("headers", "text"), [
    ({}, "envelope-crs : l'enveloppe est donnée en CRS84 ou en EPSG:26191"),
    ({"Accept-Language": "en"}, "envelope-crs: the envelope is given in CRS84 or in EPSG:26191"),
])
def test_an_envelope_crs_other_than_crs84_or_26191_is_a_400_saying_which(
        client: TestClient, headers: dict[str, str], text: str) -> None:
    for crs in ("EPSG:3857", "nonsense"):
        response = client.get("/rules", headers=headers, params={
            "parcel": "TF 2001/E", "envelope": "true", "envelope-crs": crs})
        assert response.status_code == 400
        assert response.json()["description"] == text


def test_a_submitted_outline_of_a_registered_plot_gets_the_same_envelope(
        client: TestClient) -> None:
    outline = {"type": "Polygon", "coordinates": [[
        [299100, 330000], [299130, 330000], [299130, 330020], [299100, 330020],
        [299100, 330000]]]}
    response = client.post("/rules", json=outline, params={"crs": "EPSG:26191", **STORAGE})
    assert response.status_code == 200, response.text
    envelope = response.json()["envelope"]
    assert envelope["boundary"] == {"front_m": 30.0, "side_m": 40.0, "rear_m": 30.0}
    assert envelope["area_m2"] == pytest.approx(264, abs=0.01)


def test_a_batch_with_envelope_gives_each_plot_the_envelope_of_its_own_lookup(
        client: TestClient) -> None:
    refs = ["TF 2001/E", "TF 2003/E", "TF 2006/E", "TF 9999/E"]
    response = client.post("/rules/batch", json={
        "envelope": True, "items": [{"parcel": r} for r in refs] + [{"x": 299100,
                                                                     "y": 329990}]})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    for ref, result in zip(refs[:3], results, strict=False):
        single = client.get("/rules", params={"parcel": ref, "envelope": "true"}).json()
        assert result["answer"]["envelope"] == single["envelope"]
    assert results[3]["error"]["status"] == 404
    assert results[4]["answer"]["envelope"] is None
    plain = client.post("/rules/batch", json={"items": [{"parcel": "TF 2001/E"}]})
    assert plain.json()["results"][0]["answer"]["envelope"] is None


def test_the_envelope_at_a_moment_uses_the_setbacks_in_force_then(
        client: TestClient, envelope_url: str) -> None:
    before = dt.datetime.now(dt.UTC)
    with psycopg.connect(envelope_url) as conn:
        conn.execute("UPDATE zone_rules SET setback_front_m = 7 WHERE code = 'R'")
    try:
        now = envelope_of(client, "TF 2001/E")
        then = envelope_of(client, "TF 2001/E", at=before.isoformat().replace("+00:00", "Z"))
        assert now["area_m2"] == pytest.approx(24 * 9, abs=0.01)
        assert then["area_m2"] == pytest.approx(24 * 11, abs=0.01)
    finally:
        with psycopg.connect(envelope_url) as conn:
            conn.execute("UPDATE zone_rules SET setback_front_m = 5 WHERE code = 'R'")


def test_the_parcel_rules_process_gives_the_envelope_of_rules(client: TestClient) -> None:
    response = client.post("/pygeoapi/processes/parcel-rules/execution", json={
        "inputs": {"parcel": "TF 2003/E", "envelope": True}})
    assert response.status_code == 200, response.text
    body = response.json()
    value = body["value"]
    single = client.get("/rules", params={"parcel": "TF 2003/E", "envelope": "true"}).json()
    assert value["envelope"] == single["envelope"]
    refused = client.post("/pygeoapi/processes/parcel-rules/execution", json={
        "inputs": {"parcel": "TF 2003/E", "envelope": "yes"}})
    assert refused.status_code == 400
    assert "envelope" in refused.text


NOTE_DATE = "2026-06-15"


def note(client: TestClient, ref: str, f: str = "html") -> bytes:
    response = client.get("/rules/note", params={"parcel": ref, "date": NOTE_DATE, "f": f})
    assert response.status_code == 200, response.text
    return response.content


def plain(html: bytes) -> str:
    """The page's text with entities read and non-breaking spaces as plain spaces."""
    return re.sub(r"[\u00a0\u202f]", " ", unescape(html.decode()))


def test_the_note_hatches_the_envelope_on_its_map_and_gives_its_figures(
        client: TestClient) -> None:
    html = plain(note(client, "TF 2005/E"))
    assert 'fill="url(#hatch-envelope)"' in html and 'class="envelope"' in html
    assert "Emprise constructible (enveloppe)" in html  # the legend
    section = html[html.index("Enveloppe constructible</h3>"):html.index("8. Observations")]
    for figure in ("714,00 m²", "600,00 m²", "15 m (R+4)", "2 400,00 m²", "7 785 m³",
                   "Hauteur limitée à 10 m sous « Servitude aéronautique de l'aérodrome"):
        assert figure in section, figure


def test_a_plot_that_cannot_be_built_on_has_no_hatched_envelope_and_says_why(
        client: TestClient) -> None:
    html = plain(note(client, "TF 2006/E"))
    assert 'class="envelope"' not in html
    assert "Aucune construction n'est possible sur cette parcelle" in html


def test_the_note_with_its_envelope_is_the_same_bytes_for_the_same_data_and_date(
        client: TestClient) -> None:
    assert note(client, "TF 2003/E") == note(client, "TF 2003/E")
    assert note(client, "TF 2003/E", "pdf") == note(client, "TF 2003/E", "pdf")


def test_the_pdf_note_is_tagged_and_the_html_note_fits_a_phone(
        client: TestClient, tmp_path: Path) -> None:
    pdf = tmp_path / "note.pdf"
    pdf.write_bytes(note(client, "TF 2001/E", "pdf"))
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    assert re.search(r"Tagged:\s+yes", info.stdout)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in plain(
        note(client, "TF 2001/E"))


def test_a_height_limit_is_said_once_and_a_servitude_named_after_its_kind_is_not_repeated(
        client: TestClient) -> None:
    html = plain(note(client, "TF 2005/E"))
    section = html[html.index("6. Servitudes"):html.index("7. Possibilités")]
    assert section.count("limitée à 10 m") == 1
    assert '<td colspan="2">Servitude aéronautique de l\'aérodrome (test)' in section
    assert "<td>Servitude aéronautique</td>" not in section


def test_the_flood_class_is_listed_with_the_servitudes_after_none_is_said(
        client: TestClient) -> None:
    html = plain(note(client, "TF 2007/E"))
    section = html[html.index("6. Servitudes"):html.index("7. Possibilités")]
    table = section[section.index("<table"):section.index("</table>")]
    assert table.index("Aucune servitude") < table.index("Aléa")
    assert "Classe 3" in table


# --- The neighbours' envelopes (the viewer's 3D scene, issue 15)


def test_the_neighbours_envelopes_are_those_of_their_own_rules_nearest_first(
        client: TestClient) -> None:
    response = client.get("/rules/neighbours", params={"parcel": "tf 2008/e", "distance": 5})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/geo+json")
    body = response.json()
    assert body["type"] == "FeatureCollection" and body["parcel"] == "TF 2008/E"
    refs = [f["properties"]["ref"] for f in body["features"]]
    # three plots touch it, the fourth lies 1 m away (behind a digitising gap)
    assert sorted(refs[:3]) == ["TF 2081/E", "TF 2082/E", "TF 2083/E"]
    assert refs[3:] == ["TF 2084/E"]
    assert [f["properties"]["distance_m"] for f in body["features"]] == [0, 0, 0, 1]
    assert body["truncated"] is False and body["limit"] == 20
    for feature in body["features"]:
        single = client.get("/rules", params={"parcel": feature["id"], "envelope": "true"})
        envelope = single.json()["envelope"]
        assert feature["geometry"] == envelope["geometry"]
        assert feature["properties"]["max_height_m"] == envelope["max_height_m"]
        assert feature["properties"]["area_m2"] == envelope["area_m2"]
        assert feature["properties"]["buildable"] is envelope["buildable"]
    assert response.headers["x-data-version"] == body["data_version"]


def test_the_neighbours_are_bounded_in_distance_and_count(client: TestClient) -> None:
    touching = client.get("/rules/neighbours", params={"parcel": "TF 2008/E", "distance": 0})
    assert {f["id"] for f in touching.json()["features"]} == {"TF 2081/E", "TF 2082/E",
                                                             "TF 2083/E"}
    first = client.get("/rules/neighbours", params={"parcel": "TF 2008/E", "distance": 5,
                                                     "limit": 2}).json()
    assert len(first["features"]) == 2 and first["truncated"] is True
    alone = client.get("/rules/neighbours", params={"parcel": "TF 2007/E", "distance": 0})
    assert alone.status_code == 200 and alone.json()["features"] == []
    for params, word in (({"distance": 101}, "distance"), ({"limit": 41}, "limit"),
                         ({"distance": "loin"}, "distance"), ({"limit": 0}, "limit")):
        refused = client.get("/rules/neighbours", params={"parcel": "TF 2008/E", **params})
        assert refused.status_code in (400, 422) and word in refused.text
    unknown = client.get("/rules/neighbours", params={"parcel": "TF 9999/E"})
    assert unknown.status_code == 404 and "Aucune parcelle" in unknown.json()["description"]


def test_the_neighbours_at_a_moment_are_the_plots_as_they_stood_then(
        client: TestClient, envelope_url: str) -> None:
    before = dt.datetime.now(dt.UTC)
    with psycopg.connect(envelope_url) as conn:
        conn.execute("UPDATE parcels SET geom = ST_Multi(ST_Translate(geom, 500, 0))"
                     " WHERE ref = 'TF 2084/E'")
    try:
        now = client.get("/rules/neighbours", params={"parcel": "TF 2008/E", "distance": 5})
        then = client.get("/rules/neighbours", params={
            "parcel": "TF 2008/E", "distance": 5,
            "at": before.isoformat().replace("+00:00", "Z")})
        assert "TF 2084/E" not in {f["id"] for f in now.json()["features"]}
        assert "TF 2084/E" in {f["id"] for f in then.json()["features"]}
        assert then.headers["etag"]
    finally:
        with psycopg.connect(envelope_url) as conn:
            conn.execute("UPDATE parcels SET geom = ST_Multi(ST_Translate(geom, -500, 0))"
                         " WHERE ref = 'TF 2084/E'")
