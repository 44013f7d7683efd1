"""Every GIS client works first time (issue 13): counts, ring orientation, typed fields,
Part 5 schemas, CSV, extents and the OpenAPI document — with GDAL, QGIS 3.22 and OWSLib."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from pathlib import Path
from typing import Any, ClassVar

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate
from owslib.ogcapi.features import Features

from geoportal.app import create_app
from geoportal.registry import Layer
from geoportal.registry.loader import load_registry
from geoportal.settings import Settings

REGISTRY = load_registry(Settings().layers_dir)
SPATIAL = [layer for layer in REGISTRY if layer.has_geometry]
PART_5 = "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf"
SCHEMA_REL = "http://www.opengis.net/def/rel/ogc/1.0/schema"
BBOX = "-7.62,33.55,-7.58,33.59"
QGIS_PYTHON = "/usr/bin/python3"
QGIS_PROBE = Path(__file__).parent / "qgis_fields_probe.py"


def _count(database_url: str, sql: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(sql).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return int(row[0])


def _next(page: dict[str, Any]) -> str | None:
    return next((link["href"] for link in page["links"] if link["rel"] == "next"), None)


# numberMatched and the last page ------------------------------------------------------------

def test_every_page_of_a_whole_layer_says_how_many_features_it_has(
        demo_client: TestClient, demo_database_url: str) -> None:
    expected = _count(demo_database_url, "SELECT count(*) FROM parcels")
    first = demo_client.get("/ogc/collections/parcels/items?limit=100").json()
    second = demo_client.get(_next(first) or "").json()
    by_offset = demo_client.get("/ogc/collections/parcels/items?limit=100&offset=700").json()
    assert [first["numberMatched"], second["numberMatched"], by_offset["numberMatched"]] == \
        [expected] * 3
    assert second["features"][0]["id"] > first["features"][-1]["id"]


@pytest.mark.parametrize("layer", SPATIAL, ids=lambda layer: layer.id)
def test_every_collection_says_on_its_first_page_how_many_features_it_has(
        demo_client: TestClient, demo_database_url: str, layer: Layer) -> None:
    page = demo_client.get(f"/ogc/collections/{layer.id}/items?limit=1").json()
    assert page["numberMatched"] == _count(demo_database_url, f"SELECT count(*) FROM {layer.table}")


def test_a_bbox_page_says_how_many_features_intersect_the_box(
        demo_client: TestClient, demo_database_url: str) -> None:
    expected = _count(demo_database_url, (
        "SELECT count(*) FROM parcels WHERE ST_Intersects(geom, ST_Transform(ST_Segmentize("
        "ST_MakeEnvelope(-7.62, 33.55, -7.58, 33.59, 4326), 0.005), 26191))"))
    page = demo_client.get(f"/ogc/collections/parcels/items?limit=10&bbox={BBOX}").json()
    assert 10 < expected <= 10_000
    assert page["numberMatched"] == expected


def test_a_filter_is_counted_up_to_the_cap_and_beyond_it_the_count_is_omitted(
        demo_settings: Settings, demo_database_url: str) -> None:
    small = _count(demo_database_url, "SELECT count(*) FROM parcels WHERE area_m2 > 800")
    large = _count(demo_database_url, "SELECT count(*) FROM parcels WHERE area_m2 > 300")
    cap = (small + large) // 2
    assert 0 < small < cap < large
    settings = demo_settings.model_copy(update={"items_count_cap": cap})
    with TestClient(create_app(settings)) as client:
        counted = client.get("/ogc/collections/parcels/items?limit=5&filter=area_m2 > 800")
        over = client.get("/ogc/collections/parcels/items?limit=5&filter=area_m2 > 300")
    assert counted.json()["numberMatched"] == small
    assert "numberMatched" not in over.json() and _next(over.json()) is not None


def test_the_last_full_page_has_no_next_link_whether_paged_by_cursor_or_offset(
        demo_client: TestClient, demo_database_url: str) -> None:
    total = _count(demo_database_url, "SELECT count(*) FROM prefectures")
    whole = demo_client.get(f"/ogc/collections/prefectures/items?limit={total}").json()
    assert whole["numberReturned"] == total and _next(whole) is None
    sorted_pages = demo_client.get(
        f"/ogc/collections/prefectures/items?limit={total - 1}&sortby=-code").json()
    last = demo_client.get(_next(sorted_pages) or "").json()
    assert last["numberReturned"] == 1 and _next(last) is None
    parcels = _count(demo_database_url, "SELECT count(*) FROM parcels")
    before_last = _count(demo_database_url,
                         f"SELECT id FROM parcels ORDER BY id OFFSET {parcels - 101} LIMIT 1")
    page = demo_client.get(
        f"/ogc/collections/parcels/items?limit=100&cursor={before_last}").json()
    assert page["numberReturned"] == 100 and _next(page) is None


# RFC 7946 rings --------------------------------------------------------------------------------

def _signed_area(ring: list[list[float]]) -> float:
    return sum(x0 * y1 - x1 * y0 for (x0, y0, *_), (x1, y1, *_) in pairwise(ring)) / 2


def _polygons(geometry: dict[str, Any] | None) -> list[list[list[list[float]]]]:
    if geometry is None:
        return []
    if geometry["type"] == "Polygon":
        return [geometry["coordinates"]]
    return geometry["coordinates"] if geometry["type"] == "MultiPolygon" else []


@pytest.mark.parametrize("layer", SPATIAL, ids=lambda layer: layer.id)
@pytest.mark.parametrize(("query", "member"), [
    ("", "geometry"), ("&f=jsonfg", "geometry"), ("&f=jsonfg", "place"),
    ("&crs=http://www.opengis.net/def/crs/EPSG/0/3857", "geometry")])
def test_exterior_rings_turn_counter_clockwise_and_holes_clockwise(
        demo_client: TestClient, layer: Layer, query: str, member: str) -> None:
    page = demo_client.get(f"/ogc/collections/{layer.id}/items?limit=2000{query}").json()
    rings = [(index, _signed_area(ring)) for feature in page["features"]
             for polygon in _polygons(feature[member]) for index, ring in enumerate(polygon)]
    wrong = [(index, area) for index, area in rings if (area <= 0) == (index == 0)]
    assert not wrong, f"{len(wrong)} of {len(rings)} rings turn the wrong way"


# Field types and Part 5 ------------------------------------------------------------------------

def test_part_5_is_declared_and_each_collection_links_its_schema_with_the_part_5_rel(
        demo_client: TestClient) -> None:
    classes = demo_client.get("/ogc/conformance").json()["conformsTo"]
    assert {f"{PART_5}/schemas", f"{PART_5}/core-roles-features"} <= set(classes)
    for layer in REGISTRY:
        links = demo_client.get(f"/ogc/collections/{layer.id}").json()["links"]
        rels = {link["rel"]: link for link in links}
        assert rels[SCHEMA_REL]["href"].endswith(f"/collections/{layer.id}/schema?f=json")
        assert rels[SCHEMA_REL]["type"] == "application/schema+json"
        assert rels["describedby"]["href"].endswith(f"/{layer.id}/schema/geojson?f=json")


def test_the_schema_gives_roles_types_and_titles_as_qgis_reads_them(
        demo_client: TestClient) -> None:
    # QGIS (3.40+) reads each property's type, format and title (its alias)
    qgis_type = {"integer": "LongLong", "number": "Double", "boolean": "Bool",
                 "array": "QVariantList"}
    schemas = {layer.id: demo_client.get(f"/ogc/collections/{layer.id}/schema").json()
               for layer in REGISTRY}
    fields = {layer_id: {name: (qgis_type.get(p.get("type"), {"date": "QDate", "date-time":
                                "QDateTime"}.get(p.get("format"), "QString")), p.get("title"))
                         for name, p in schema["properties"].items() if "type" in p}
              for layer_id, schema in schemas.items()}
    assert fields["reservations"]["width_m"] == ("Double", "Emprise (m)")
    assert fields["servitudes"]["max_height_m"][0] == "Double"
    assert fields["plans"]["approval_date"][0] == "QDate"
    assert fields["parcels"]["updated_at"][0] == "QDateTime"
    assert all(fields[layer_id]["id"][0] == "LongLong" for layer_id in fields)
    parcels = schemas["parcels"]["properties"]
    assert parcels["id"]["x-ogc-role"] == "id"
    assert parcels["geometry"]["x-ogc-role"] == "primary-geometry"
    assert parcels["updated_at"]["x-ogc-role"] == "primary-instant"
    assert schemas["plans"]["properties"]["approval_date"]["x-ogc-role"] == "primary-instant"


def test_the_describedby_schema_is_a_geojson_feature_with_every_property_typed(
        demo_client: TestClient) -> None:
    schema = demo_client.get("/ogc/collections/reservations/schema/geojson").json()
    assert schema["properties"]["type"]["enum"] == ["Feature"]
    properties = schema["properties"]["properties"]["properties"]
    assert properties["width_m"]["type"] == "number"
    assert properties["plan_id"]["type"] == "integer"


def test_whole_numbers_keep_their_decimal_point(demo_client: TestClient) -> None:
    text = demo_client.get("/ogc/collections/servitudes/items?limit=100").text
    heights = re.findall(r'"max_height_m":([^,}]+)', text)
    assert any(h != "null" for h in heights)
    assert all(h == "null" or "." in h for h in heights), heights


# CSV and extents -------------------------------------------------------------------------------

def test_csv_has_iso_dates_bare_numbers_and_quoted_text(demo_client: TestClient) -> None:
    text = demo_client.get("/ogc/collections/parcels/items?f=csv&limit=3").text
    header, first = text.splitlines()[:2]
    assert header == "id,ref,area_m2,updated_at,wkt"
    row = next(csv.reader(io.StringIO(first)))
    assert re.fullmatch(r'\d+,"[^"]+",\d+(\.\d+)?,\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[.\d]*[+-]\d\d:\d\d'
                        r',"MULTIPOLYGON.*', first), first
    assert row[1].startswith("TF")
    plans = demo_client.get("/ogc/collections/plans/items?f=csv&limit=1").text.splitlines()[1]
    assert re.search(r',\d{4}-\d\d-\d\d,', plans)


def test_the_csvt_sidecar_names_the_type_of_every_column(demo_client: TestClient) -> None:
    response = demo_client.get("/opendata/parcels.csvt")
    assert response.status_code == 200
    assert response.text == '"Integer64","String","Real","DateTime","WKT"\n'
    assert demo_client.get("/opendata/zone_rules.csvt").text.startswith('"Integer64","Integer64"')
    assert demo_client.get("/opendata/nothing.csvt").status_code == 404


@pytest.mark.parametrize("layer", SPATIAL, ids=lambda layer: layer.id)
def test_the_extent_is_the_data_s_crs84_bounds_not_the_storage_box_s(
        demo_client: TestClient, demo_database_url: str, layer: Layer) -> None:
    with psycopg.connect(demo_database_url) as conn:
        row = conn.execute(
            f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent("
            f"ST_Transform({layer.spatial_column}, 4326)) AS e FROM {layer.table}) t").fetchone()
    assert row is not None
    bbox = demo_client.get(f"/ogc/collections/{layer.id}").json()["extent"]["spatial"]["bbox"][0]
    assert bbox == pytest.approx(list(row), abs=1e-6)


# The OpenAPI document --------------------------------------------------------------------------

def test_the_openapi_document_is_valid_and_describes_tiles_and_styles(
        demo_client: TestClient) -> None:
    document = demo_client.get("/ogc/api?f=json").json()
    validate(document)
    for path in ("/collections/{collection_id}/tiles",
                 "/collections/{collection_id}/tiles/{tms}/{z}/{x}/{y}",
                 "/tiles/{tms}/{z}/{x}/{y}", "/tileMatrixSets/{tms}",
                 "/collections/{collection_id}/styles/{style_id}",
                 "/collections/parcels/schema/geojson"):
        assert path in document["paths"], path
    tile = document["paths"]["/collections/{collection_id}/tiles/{tms}/{z}/{x}/{y}"]["get"]
    assert {p["name"] for p in tile["parameters"]} >= {"collection_id", "tms", "z", "x", "y",
                                                        "at"}


# Real clients ----------------------------------------------------------------------------------

class _Counting(BaseHTTPRequestHandler):
    """A reverse proxy that counts requests (the links it passes on lead back to it)."""

    target = ""
    seen: ClassVar[list[tuple[str, str, int | None]]] = []

    def _forward(self) -> None:
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "accept-encoding")}
        with httpx.Client(timeout=300) as client:
            response = client.request(self.command, self.target + self.path, headers=headers)
        own = f"http://{self.headers['Host']}"
        body = response.content.replace(self.target.encode(), own.encode())
        returned = None
        if self.path.split("?")[0].endswith("/items") and response.status_code == 200:
            returned = json.loads(body).get("numberReturned")
        self.seen.append((self.command, self.path, returned))
        self.send_response(response.status_code)
        for key, value in response.headers.items():
            if key.lower() not in ("content-encoding", "content-length", "transfer-encoding",
                                   "connection"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = _forward
    do_HEAD = _forward

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture()
def counting_proxy(live_server: str) -> Iterator[tuple[str, list[tuple[str, str, int | None]]]]:
    """The live server behind a proxy that records (method, path, numberReturned)."""
    seen: list[tuple[str, str, int | None]] = []
    handler = type("Handler", (_Counting,), {"target": live_server, "seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_ogrinfo_counts_the_parcels_in_three_requests_and_ogr2ogr_asks_no_empty_page(
        counting_proxy: tuple[str, list[tuple[str, str, int | None]]], demo_database_url: str,
        tmp_path: Path) -> None:
    base, seen = counting_proxy
    expected = _count(demo_database_url, "SELECT count(*) FROM parcels")
    info = subprocess.run(["ogrinfo", "-ro", "-so", f"OAPIF:{base}/ogc", "parcels"],
                          capture_output=True, text=True, check=True, timeout=300).stdout
    assert f"Feature Count: {expected}\n" in info
    # the collections, the feature schema, one page (it was 2,005 requests: every page)
    assert len(seen) <= 3, seen
    seen.clear()
    subprocess.run(["ogr2ogr", "-oo", "PAGE_SIZE=5000", "-f", "GPKG",
                    str(tmp_path / "parcels.gpkg"), f"OAPIF:{base}/ogc", "parcels"],
                   capture_output=True, text=True, check=True, timeout=600)
    pages = [returned for _, path, returned in seen if returned is not None]
    assert 0 not in pages and sum(pages[1:]) == expected, seen
    print(f"ogr2ogr -oo PAGE_SIZE=5000: {len(seen)} requests")


def test_gdal_types_every_field_from_the_schema_even_when_the_first_values_are_null(
        live_server: str) -> None:
    expected = {"reservations": ["width_m: Real", "plan_id: Integer"],
                "servitudes": ["max_height_m: Real"],
                "plans": ["approval_date: Date", "valid_until: Date"],
                "parcels": ["area_m2: Real", "updated_at: DateTime"],
                "zone_rules": ["cos: Real", "max_levels: Integer", "uses_allowed: StringList"]}
    for collection, fields in expected.items():
        out = subprocess.run(["ogrinfo", "-ro", "-so", f"OAPIF:{live_server}/ogc", collection],
                             capture_output=True, text=True, check=True, timeout=300).stdout
        for field in fields:
            assert f"{field} (" in out, (collection, field, out)


def test_gdal_reads_the_csv_download_typed_without_autodetect(live_server: str) -> None:
    out = subprocess.run(["ogrinfo", "-ro", "-so", "-al",
                          f"/vsicurl/{live_server}/opendata/plans.csv"],
                         capture_output=True, text=True, check=True, timeout=300).stdout
    for field in ("id: Integer64", "approval_date: Date", "name: String"):
        assert f"{field} (" in out, out


def test_owslib_reads_the_count_and_the_part_5_conformance(live_server: str,
                                                          demo_database_url: str) -> None:
    api = Features(f"{live_server}/ogc")
    assert f"{PART_5}/schemas" in api.conformance()["conformsTo"]
    page = api.collection_items("servitudes", limit=3)
    assert page["numberMatched"] == _count(demo_database_url, "SELECT count(*) FROM servitudes")


@pytest.fixture(scope="module")
def qgis_sees(live_server: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What QGIS 3.22's OAPIF provider knows of every collection before any download."""
    if not Path(QGIS_PYTHON).exists():
        pytest.fail("python3-qgis is missing: apt-get install python3-qgis")
    done = subprocess.run(
        [QGIS_PYTHON, str(QGIS_PROBE), live_server, *REGISTRY.ids(),
         "--read", "reservations"],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": "",
             # a QGIS profile (and network cache) of its own
             "HOME": str(tmp_path_factory.mktemp("qgis-home"))})
    assert done.returncode == 0, done.stderr[-3000:]
    seen: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return seen


def test_qgis_3_22_counts_every_collection_before_download_and_types_its_fields(
        qgis_sees: dict[str, Any], demo_database_url: str) -> None:
    for layer in REGISTRY:
        expected = _count(demo_database_url, f"SELECT count(*) FROM {layer.table}")
        assert qgis_sees[layer.id]["valid"] and qgis_sees[layer.id]["count"] == expected, \
            layer.id
    assert qgis_sees["servitudes"]["fields"]["max_height_m"] == "Real"
    assert qgis_sees["plans"]["fields"]["approval_date"] == "Date"
    assert qgis_sees["parcels"]["fields"]["updated_at"] == "DateTime"
    assert qgis_sees["parcels"]["fields"]["area_m2"] == "Real"


# The OGR type QGIS 3.22 gives each registry type (it reads the first page through OGR's
# GeoJSON driver: a property null in every feature of that page would be a String).
OGR_TYPES = {"integer": {"Integer", "Integer64"}, "number": {"Real"}, "date": {"Date"},
             "datetime": {"DateTime"},
             "array": {"StringList", "IntegerList", "Integer64List", "RealList"}}


def test_qgis_3_22_types_every_field_even_when_the_first_features_have_none(
        qgis_sees: dict[str, Any], demo_database_url: str) -> None:
    # The trap is in the data: QGIS 3.22 types fields from items?limit=10, and the first
    # ten reservations (by id) have no width.
    assert _count(demo_database_url, "SELECT count(width_m) FROM (SELECT width_m FROM "
                  "reservations ORDER BY id LIMIT 10) first_ten") == 0
    checked, wrong = [], []
    for layer in REGISTRY:
        for prop in layer.properties:
            if prop.type not in OGR_TYPES or not _count(
                    demo_database_url, f"SELECT count({prop.column_name}) FROM {layer.table}"):
                continue  # a string, or a property without any value to type it by
            checked.append(f"{layer.id}.{prop.name}")
            found = qgis_sees[layer.id]["fields"].get(prop.name)
            if found not in OGR_TYPES[prop.type]:
                wrong.append(f"{layer.id}.{prop.name}: {found} (schema: {prop.type})")
    assert "reservations.width_m" in checked and len(checked) >= 15, checked
    assert not wrong, wrong


def test_qgis_3_22_reads_every_reservation_and_every_width_as_a_number(
        qgis_sees: dict[str, Any], demo_database_url: str) -> None:
    read = qgis_sees["reservations"]["read"]
    assert read["features"] == _count(demo_database_url, "SELECT count(*) FROM reservations")
    widths = _count(demo_database_url, "SELECT count(width_m) FROM reservations")
    assert widths > 0 and read["values"]["width_m"] == {"float": widths}
    assert read["values"]["plan_id"] == {"int": read["features"]}
