"""The viewer's tools on the server: search by coordinates and loose references, outlines from
uploaded files and drawn lines, the printed map, the help page, the icon and the caches."""

from __future__ import annotations

import io
import json
import re
import subprocess
import zipfile
from html import unescape
from itertools import pairwise
from pathlib import Path

import numpy as np
import psycopg
import pytest
import shapely
from fastapi.testclient import TestClient
from pyogrio.raw import write as write_raw
from pyproj import Transformer

TO_LOCAL = Transformer.from_crs("EPSG:4326", "EPSG:26191", always_xy=True)
SQUARE = {"type": "Polygon", "coordinates": [[[-7.60, 33.55], [-7.599, 33.55], [-7.599, 33.551],
                                              [-7.60, 33.551], [-7.60, 33.55]]]}


def a_plot(demo_database_url: str) -> tuple[str, float, float]:
    """A demo plot's reference and a point inside it (lon, lat)."""
    with psycopg.connect(demo_database_url) as conn:
        row = conn.execute(
            "SELECT ref, ST_X(c), ST_Y(c) FROM (SELECT ref, ST_Transform(ST_PointOnSurface(geom),"
            " 4326) AS c FROM parcels ORDER BY id LIMIT 1) s").fetchone()
    assert row is not None
    return str(row[0]), float(row[1]), float(row[2])


def test_search_reads_wgs84_coordinates_either_way_round(demo_client: TestClient) -> None:
    for typed in ("33.57, -7.59", "33,57 -7,59", "-7.59, 33.57", "33.57;-7.59"):
        results = demo_client.get("/search", params={"q": typed}).json()["results"]
        assert [r["kind"] for r in results] == ["point"], typed
        assert results[0]["center"] == pytest.approx([-7.59, 33.57]), typed


def test_search_reads_nord_maroc_metres(demo_client: TestClient) -> None:
    results = demo_client.get("/search", params={"q": "296630 332700"}).json()["results"]
    assert [r["kind"] for r in results] == ["point"]
    lon, lat = results[0]["center"]
    x, y = TO_LOCAL.transform(lon, lat)
    assert x == pytest.approx(296630, abs=0.5) and y == pytest.approx(332700, abs=0.5)
    assert "Nord Maroc" in results[0]["label"]


def test_search_accepts_a_reference_written_with_a_dash_or_dots(
    demo_client: TestClient, demo_database_url: str
) -> None:
    ref = a_plot(demo_database_url)[0]  # "TF 458736/N"
    number, index = ref.removeprefix("TF ").split("/")
    for typed in (f"TF {number}-{index}", f"T.F. {number}/{index}", f"tf n° {number}-{index}"):
        results = demo_client.get("/search", params={"q": typed}).json()["results"]
        assert ref in [r["ref"] for r in results if r["kind"] == "parcel"], typed


def test_an_uploaded_geojson_becomes_one_outline_measured_in_nord_maroc_metres(
    demo_client: TestClient
) -> None:
    collection = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": SQUARE}]}
    response = demo_client.post("/web/outline", files={
        "file": ("plot.geojson", json.dumps(collection).encode(), "application/geo+json")})
    assert response.status_code == 200, response.text
    outline = response.json()
    assert outline["kind"] == "polygon" and outline["features"] == 1
    local = shapely.transform(shapely.geometry.shape(SQUARE), lambda xy: np.column_stack(
        TO_LOCAL.transform(xy[:, 0], xy[:, 1])))
    assert outline["area_m2"] == pytest.approx(local.area, rel=1e-3)
    rules = demo_client.post("/rules", json=outline["geometry"])
    assert rules.status_code in (200, 404)  # rules, or a French "outside the area"


def shapefile_zip(tmp_path: Path, with_prj: bool = True) -> bytes:
    """A zipped Shapefile of one polygon in EPSG:26191 (or without its .prj)."""
    x, y = TO_LOCAL.transform(-7.6, 33.55)
    polygon = shapely.box(x, y, x + 40, y + 25)
    path = tmp_path / "plot.shp"
    write_raw(path, np.array([shapely.to_wkb(polygon)], dtype=object), [np.array([1])], ["n"],
              driver="ESRI Shapefile", geometry_type="Polygon",
              crs="EPSG:26191" if with_prj else None)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for part in tmp_path.glob("plot.*"):
            archive.write(part, part.name)
    return buffer.getvalue()


def test_a_zipped_shapefile_is_read_in_its_own_crs(
    demo_client: TestClient, tmp_path: Path
) -> None:
    response = demo_client.post("/web/outline", files={
        "file": ("plot.zip", shapefile_zip(tmp_path), "application/zip")})
    assert response.status_code == 200, response.text
    outline = response.json()
    assert outline["area_m2"] == pytest.approx(1000, rel=1e-6)
    assert outline["geometry"]["type"] == "Polygon"
    lon = outline["geometry"]["coordinates"][0][0][0]
    assert -7.61 < lon < -7.59


def test_bad_uploads_are_refused_in_french_or_english(
    demo_client: TestClient, tmp_path: Path
) -> None:
    garbage = demo_client.post("/web/outline", files={"file": ("x.geojson", b"{not json", "x")})
    assert garbage.status_code == 422 and "GeoJSON" in garbage.json()["description"]
    english = demo_client.post("/web/outline", files={"file": ("x.txt", b"hello", "text/plain")},
                               headers={"Accept-Language": "en"})
    assert english.status_code == 422 and "neither" in english.json()["description"]
    no_prj = demo_client.post("/web/outline", files={
        "file": ("p.zip", shapefile_zip(tmp_path, with_prj=False), "application/zip")})
    assert no_prj.status_code == 422 and ".prj" in no_prj.json()["description"]
    empty_zip = io.BytesIO()
    with zipfile.ZipFile(empty_zip, "w") as archive:
        archive.writestr("readme.txt", "nothing")
    no_shp = demo_client.post("/web/outline", files={
        "file": ("p.zip", empty_zip.getvalue(), "application/zip")})
    assert no_shp.status_code == 422 and "Shapefile" in no_shp.json()["description"]
    huge = demo_client.post("/web/outline", files={"file": ("big.json", b" " * 4_500_000, "x")})
    assert huge.status_code == 422 and "Mo" in huge.json()["description"]


def test_a_drawn_line_becomes_a_corridor_of_the_asked_width(demo_client: TestClient) -> None:
    line = {"type": "LineString", "coordinates": [[-7.60, 33.55], [-7.59, 33.55]]}
    outline = demo_client.post("/web/corridor", params={"width": 4}, json=line).json()
    assert outline["kind"] == "line" and outline["geometry"]["type"] == "Polygon"
    assert outline["area_m2"] == pytest.approx(outline["length_m"] * 4, rel=1e-3)
    assert 900 < outline["length_m"] < 950
    point = demo_client.post("/web/corridor", json={"type": "Point", "coordinates": [0, 0]})
    assert point.status_code == 422 and "LineString" in point.json()["description"]
    assert demo_client.post("/web/corridor", params={"width": 0}, json=line).status_code in (
        400, 422)


def test_the_printed_map_is_a_pdf_with_legend_scale_date_and_data_version(
    demo_client: TestClient, demo_database_url: str, tmp_path: Path, artifacts: Path
) -> None:
    _, lon, lat = a_plot(demo_database_url)
    bbox = f"{lon - 0.004},{lat - 0.003},{lon + 0.004},{lat + 0.003}"
    response = demo_client.get("/print", params={"bbox": bbox, "scale": 2000, "size": "A3"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    (artifacts / "print-a3.pdf").write_bytes(response.content)
    path = tmp_path / "map.pdf"
    path.write_bytes(response.content)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "Légende" in text and "Zonage" in text
    assert "1/2" in text and "000" in text  # the scale
    assert "Version des données" in text and "Données au" in text
    words = pdf_words(path)
    # the north arrow's letter, alone, at the top of the map
    assert any(w == "N" and y < 120 for w, _, y in words)
    # the scale bar: "0" and "<n> m" on one line, n metres apart at 1/2 000
    zero = next((x, y) for w, x, y in words if w == "0" and y > 700)
    ends = [(float(w), x) for (w, x, y), (unit, _, y2) in pairwise(words)
            if w.isdigit() and unit == "m" and abs(y - zero[1]) < 1 and abs(y2 - y) < 1]
    assert len(ends) == 1
    metres, end_x = ends[0]
    assert (end_x - zero[0]) * 25.4 / 72 == pytest.approx(metres / 2000 * 1000, abs=1.5)
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True,
                          check=True).stdout
    assert "(A3)" in info and re.search(r"Tagged:\s+yes", info)


def pdf_words(path: Path) -> list[tuple[str, float, float]]:
    """The words of a PDF with the centre x and the top y of each, in points."""
    html = subprocess.run(["pdftotext", "-bbox", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout
    return [(unescape(w), (float(x0) + float(x1)) / 2, float(y0)) for x0, y0, x1, w in
            re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" '
                       r'yMax="[\d.]+">([^<]*)</word>', html)]


def test_a_print_of_the_past_says_so(demo_client: TestClient, demo_database_url: str) -> None:
    _, lon, lat = a_plot(demo_database_url)
    bbox = f"{lon - 0.002},{lat - 0.002},{lon + 0.002},{lat + 0.002}"
    response = demo_client.get("/print", params={"bbox": bbox, "at": "2024-01-01",
                                                 "layers": "zoning,parcels"})
    assert response.status_code == 200 and response.content.startswith(b"%PDF")


@pytest.mark.parametrize(("params", "word"), [
    ({"bbox": "1,2,3"}, "bbox"),
    ({"bbox": "-7.5,33.6,-7.6,33.5"}, "bbox"),
    ({"bbox": "-7.6,33.5,-7.5,33.6", "layers": "zone_rules"}, "layers"),
    ({"bbox": "-7.6,33.5,-7.5,33.6", "layers": "nope"}, "layers"),
    ({"bbox": "-7.6,33.5,-7.5,33.6", "at": "2999-01-01"}, "at"),
])
def test_a_bad_print_request_is_a_400_in_french(
    demo_client: TestClient, params: dict[str, str], word: str
) -> None:
    response = demo_client.get("/print", params=params)
    assert response.status_code == 400
    assert word in response.json()["description"]
    assert demo_client.get("/print", params={**params, "scale": 10}).status_code == 400


def test_the_help_page_the_icon_and_immutable_vendor_files(demo_client: TestClient) -> None:
    help_page = demo_client.get("/aide")
    assert help_page.status_code == 200 and '<html lang="fr">' in help_page.text
    for feature in ("Mesurer", "Vue 3D", "parcelles voisines", "transparente", "Fond de carte",
                    "Me localiser", "TF 1861325-C", "Nord Maroc", "Imprimer", "date",
                    'lang="ar" dir="rtl"'):
        assert feature in help_page.text, feature  # each feature of the viewer, explained
    icon = demo_client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.content.startswith(b"<svg")
    versioned = demo_client.get("/web/static/vendor/maplibre-gl/maplibre-gl.js?v=1")
    assert "immutable" in versioned.headers["cache-control"]
    rtl = demo_client.get("/web/static/vendor/mapbox-gl-rtl-text/mapbox-gl-rtl-text.js?v=1")
    assert rtl.status_code == 200 and "registerRTLTextPlugin" in rtl.text
