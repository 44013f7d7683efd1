"""The règlement of each zone as the collection ``zone_rules``: a table without geometry,
read, filtered and downloaded like any layer, and left out of what only maps can show."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from owslib.ogcapi.features import Features

from geoportal.core.resources import CHECKOUT
from geoportal.ingest import ImportOptions, IngestError, import_file
from geoportal.registry import RegistryError, load_registry

pytest_plugins = ["ogc_fixtures"]
ITEMS = "/ogc/collections/zone_rules/items"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
ENGLISH = {"Accept-Language": "en"}
REGISTRY = load_registry(CHECKOUT / "layers")
COLUMNS = ", ".join(p.name for p in REGISTRY.get("zone_rules").properties)  # type: ignore[union-attr]
NUMBERS = ("cos", "cus", "max_height_m", "max_levels", "setback_front_m", "setback_side_m",
           "setback_rear_m", "min_plot_area_m2")


def _rows(url: str, sql: str, *args: object) -> list[dict[str, Any]]:
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute(sql, args or None)  # type: ignore[arg-type]
        names = [d.name for d in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _ids(url: str, where: str, *args: object) -> list[int]:
    return [r["id"] for r in _rows(url, f"SELECT id FROM zone_rules WHERE {where} ORDER BY id",
                                   *args)]


def _every_id(client: TestClient, **params: str) -> list[int]:
    """Every feature id the API returns, following next links."""
    url: str | None = ITEMS
    found: list[int] = []
    query: dict[str, str] | None = {"limit": "1000", **params}
    while url:
        response = client.get(url, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        found += [f["id"] for f in body["features"]]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
        query = None
    return found


# The registry -----------------------------------------------------------------------------

TABLE = """
id: things
title: Things
description: Test table.
table: things
license: CC-BY-4.0
properties:
  - {name: code, type: string, title: Code, queryable: true}
"""


def test_a_layer_may_omit_its_geometry_and_then_has_no_geometry_column(tmp_path: Path) -> None:
    (tmp_path / "things.yml").write_text(TABLE, encoding="utf-8")
    layer = load_registry(tmp_path).get("things")
    assert layer is not None and not layer.has_geometry
    assert layer.geometry_type is None and layer.geometry_column is None
    with pytest.raises(ValueError, match="no geometry"):
        _ = layer.spatial_column


@pytest.mark.parametrize("extra", ["geometry_column: geom", "geometry_type: null\n"
                                   "geometry_column: shape"])
def test_a_geometry_column_without_a_geometry_type_is_refused(tmp_path: Path,
                                                              extra: str) -> None:
    (tmp_path / "things.yml").write_text(TABLE + extra + "\n", encoding="utf-8")
    with pytest.raises(RegistryError, match=r"things\.yml.*geometry_column"):
        load_registry(tmp_path)


def test_the_project_publishes_zone_rules_as_an_editable_table_with_every_column() -> None:
    layer = REGISTRY.get("zone_rules")
    assert layer is not None and layer.editable and not layer.has_geometry
    types = {p.name: p.type for p in layer.properties}
    assert types["uses_allowed"] == types["uses_forbidden"] == "array"
    assert types["plan_id"] == types["max_levels"] == "integer"
    assert {p.name for p in layer.queryables} == {"plan_id", "code", "category", *NUMBERS}
    assert "zone_rules" not in [x.id for x in REGISTRY.with_geometry()]


# Collection documents ----------------------------------------------------------------------

def test_the_collection_is_listed_without_spatial_extent_and_with_crs84_only(
    demo_client: TestClient
) -> None:
    listed = demo_client.get("/ogc/collections").json()["collections"]
    rules = next(c for c in listed if c["id"] == "zone_rules")
    assert rules["title"] == "Règlement des zones"
    assert rules["crs"] == [CRS84] and "storageCrs" not in rules
    assert "spatial" not in rules["extent"]
    rels = {link["rel"] for link in rules["links"]}
    assert "items" in rels and "http://www.opengis.net/def/rel/ogc/1.0/queryables" in rels
    assert "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector" not in rels
    enclosure = next(link for link in rules["links"] if link["rel"] == "enclosure")
    assert enclosure["href"].endswith("/opendata/zone_rules.csv")


def test_an_empty_table_is_described_and_pages_nothing(small_client: TestClient) -> None:
    described = small_client.get("/ogc/collections/zone_rules")
    assert described.status_code == 200 and described.json()["extent"] == {}
    assert small_client.get("/ogc/collections").status_code == 200
    page = small_client.get(ITEMS).json()
    assert page["features"] == [] and page["numberMatched"] == 0
    assert small_client.get(ITEMS, params={"f": "csv"}).text.startswith("id,plan_id,code,")


def test_the_collection_document_describes_the_table(demo_client: TestClient) -> None:
    body = demo_client.get("/ogc/collections/zone_rules").json()
    assert body["id"] == "zone_rules" and body["itemType"] == "feature"
    assert body["title_ar"] and body["license"] == "ODbL-1.0"
    page = demo_client.get("/ogc/collections/zone_rules", params={"f": "html"})
    assert page.status_code == 200 and "Règlement des zones" in page.text


def test_queryables_list_numbers_and_codes_and_no_geometry(demo_client: TestClient) -> None:
    response = demo_client.get("/ogc/collections/zone_rules/queryables")
    assert response.headers["content-type"] == "application/schema+json"
    properties = response.json()["properties"]
    assert set(properties) == {"plan_id", "code", "category", *NUMBERS}
    assert properties["cos"]["type"] == "number" and properties["max_levels"]["type"] == "integer"


def test_the_schema_gives_arrays_as_arrays_of_strings_and_no_geometry(
    demo_client: TestClient
) -> None:
    schema = demo_client.get("/ogc/collections/zone_rules/schema").json()
    assert "geometry" not in schema["properties"]
    assert schema["properties"]["uses_allowed"] == {
        "title": "Usages admis", "type": "array", "items": {"type": "string"}}
    assert {"plan_id", "code", "label", "article"} <= set(schema["required"])


def test_the_api_definition_offers_no_bbox_on_the_table(demo_client: TestClient) -> None:
    paths = demo_client.get("/ogc/api").json()["paths"]
    names = {p["$ref"].rsplit("/", 1)[1]
             for p in paths["/collections/zone_rules/items"]["get"]["parameters"]}
    assert "filter" in names and "sortby" in names and "bbox" not in names
    assert "bbox" in {p["$ref"].rsplit("/", 1)[1]
                      for p in paths["/collections/zoning/items"]["get"]["parameters"]}


# Items ------------------------------------------------------------------------------------

def test_items_are_paged_with_null_geometries_and_json_arrays(
    demo_client: TestClient, demo_database_url: str
) -> None:
    first = demo_client.get(ITEMS, params={"limit": "10"})
    assert first.status_code == 200 and first.headers["content-type"] == "application/geo+json"
    body = first.json()
    assert body["numberReturned"] == 10
    feature = body["features"][0]
    assert feature["geometry"] is None
    assert isinstance(feature["properties"]["uses_allowed"], list)
    assert all(isinstance(use, str) for use in feature["properties"]["uses_allowed"])
    every = _every_id(demo_client)
    assert every == _ids(demo_database_url, "true") and len(every) > 10
    second = demo_client.get(next(link["href"] for link in body["links"]
                                  if link["rel"] == "next")).json()
    assert [f["id"] for f in second["features"]] == every[10:20]


def test_one_rule_by_id_carries_every_column(demo_client: TestClient,
                                             demo_database_url: str) -> None:
    row = _rows(demo_database_url, f"SELECT id, {COLUMNS} FROM zone_rules WHERE code = 'B' "
                "ORDER BY id LIMIT 1")[0]
    response = demo_client.get(f"{ITEMS}/{row['id']}")
    assert response.status_code == 200
    feature = response.json()
    assert feature["id"] == row["id"] and feature["geometry"] is None
    for prop in REGISTRY.get("zone_rules").properties:  # type: ignore[union-attr]
        assert feature["properties"][prop.name] == row[prop.name], prop.name
    assert demo_client.get(f"{ITEMS}/999999").status_code == 404


def test_json_fg_has_neither_place_nor_coordinate_reference_system(
    demo_client: TestClient
) -> None:
    page = demo_client.get(ITEMS, params={"f": "jsonfg", "limit": "2"}).json()
    assert page.get("coordRefSys") is None and page["featureType"] == "zone_rules"
    assert all(f["place"] is None and f["geometry"] is None for f in page["features"])
    one = demo_client.get(f"{ITEMS}/{page['features'][0]['id']}", params={"f": "jsonfg"}).json()
    assert one["place"] is None and "coordRefSys" not in one


def test_csv_has_no_wkt_column_and_arrays_as_json_text(demo_client: TestClient,
                                                       demo_database_url: str) -> None:
    response = demo_client.get(ITEMS, params={"f": "csv"})
    assert response.headers["content-type"].startswith("text/csv")
    header, *_ = response.text.splitlines()
    assert header.split(",")[:3] == ["id", "plan_id", "code"] and "wkt" not in header
    rows = list(csv.DictReader(io.StringIO(response.text)))
    expected = {r["id"]: r for r in _rows(demo_database_url,
                                          f"SELECT id, {COLUMNS} FROM zone_rules")}
    assert len(rows) == len(expected)
    for row in rows:
        stored = expected[int(row["id"])]
        assert json.loads(row["uses_forbidden"]) == stored["uses_forbidden"]
        assert row["article"] == stored["article"]  # commas, quotes, accents intact


def test_jsonseq_streams_every_rule(demo_client: TestClient, demo_database_url: str) -> None:
    response = demo_client.get(ITEMS, params={"f": "jsonseq", "filter": "category = 'habitat'"})
    records = [json.loads(r) for r in response.text.split("\x1e") if r.strip()]
    assert [r["id"] for r in records] == _ids(demo_database_url, "category = 'habitat'")
    assert all(r["geometry"] is None for r in records)


def test_html_pages_show_the_rules_with_their_uses(demo_client: TestClient) -> None:
    page = demo_client.get(ITEMS, params={"f": "html", "limit": "5"})
    assert page.status_code == 200 and "Usages admis" in page.text
    assert "<svg" not in page.text and "[&#39;" not in page.text
    first = demo_client.get(ITEMS, params={"limit": "1"}).json()["features"][0]
    one = demo_client.get(f"{ITEMS}/{first['id']}", params={"f": "html"})
    assert one.status_code == 200
    assert ", ".join(first["properties"]["uses_allowed"]).replace("'", "&#39;") in one.text


# Filters, sorting, properties ---------------------------------------------------------------

@pytest.mark.parametrize(("params", "where"), [
    ({"filter": "cos > 0.5 AND max_levels >= 6"}, "cos > 0.5 AND max_levels >= 6"),
    ({"filter": "cos > 2.5"}, "cos > 2.5"),
    ({"filter": "cus BETWEEN 1 AND 2 OR setback_rear_m > 4"},
     "cus BETWEEN 1 AND 2 OR setback_rear_m > 4"),
    ({"filter": "code IN ('B', 'V') AND category = 'habitat'"},
     "code IN ('B', 'V') AND category = 'habitat'"),
    ({"filter": "code LIKE 'Z%'"}, "code LIKE 'Z%'"),
    ({"filter": "max_height_m IS NULL"}, "max_height_m IS NULL"),
    ({"filter": json.dumps({"op": "and", "args": [
        {"op": ">", "args": [{"property": "min_plot_area_m2"}, 250]},
        {"op": "=", "args": [{"property": "category"}, "habitat"]}]}),
      "filter-lang": "cql2-json"}, "min_plot_area_m2 > 250 AND category = 'habitat'"),
    ({"code": "B"}, "code = 'B'"),
    ({"max_levels": "4"}, "max_levels = 4"),
])
def test_filters_select_the_same_rules_as_sql(demo_client: TestClient, demo_database_url: str,
                                              params: dict[str, str], where: str) -> None:
    assert _every_id(demo_client, **params) == _ids(demo_database_url, where)


def test_the_issue_example_matches_rules_in_the_demo(demo_client: TestClient) -> None:
    found = demo_client.get(ITEMS, params={"filter": "cos > 0.5 AND max_levels >= 6"}).json()
    assert found["numberReturned"] > 0
    assert all(f["properties"]["cos"] > 0.5 and f["properties"]["max_levels"] >= 6
               for f in found["features"])


def test_sortby_orders_by_height_then_id(demo_client: TestClient,
                                         demo_database_url: str) -> None:
    body = demo_client.get(ITEMS, params={"sortby": "-max_height_m,code", "limit": "1000"}).json()
    expected = [r["id"] for r in _rows(
        demo_database_url,
        "SELECT id FROM zone_rules ORDER BY max_height_m DESC NULLS FIRST, code, id")]
    assert [f["id"] for f in body["features"]] == expected


def test_properties_choose_the_columns(demo_client: TestClient) -> None:
    body = demo_client.get(ITEMS, params={"properties": "code,cos", "limit": "3"}).json()
    assert all(set(f["properties"]) == {"code", "cos"} for f in body["features"])
    listed = demo_client.get(ITEMS, params={"properties": "code,uses_allowed", "f": "csv"})
    assert listed.text.splitlines()[0] == "id,code,uses_allowed"


# What a table cannot do ----------------------------------------------------------------------

@pytest.mark.parametrize(("params", "french", "english"), [
    ({"bbox": "-7.7,33.5,-7.5,33.6"}, "n'a pas de géométrie", "has no geometry"),
    ({"crs": "http://www.opengis.net/def/crs/EPSG/0/26191"}, "seul", "only"),
    ({"filter": "S_INTERSECTS(geometry, POINT(-7.6 33.57))"}, "n'a pas de géométrie",
     "has no geometry"),
    ({"filter": "uses_allowed = 'bureaux'"}, "propriété inconnue", "unknown property"),
    ({"filter": "cos > 'haut'"}, "ne peut comparer", "cannot compare"),
    ({"sortby": "article"}, "propriété inconnue", "unknown property"),
    ({"cos": "beaucoup"}, "n'est pas un nombre", "is not a number"),
])
def test_what_a_table_cannot_answer_is_a_400_in_french_or_english(
    demo_client: TestClient, params: dict[str, str], french: str, english: str
) -> None:
    response = demo_client.get(ITEMS, params=params)
    assert response.status_code == 400 and french in response.json()["description"]
    response = demo_client.get(ITEMS, params=params, headers=ENGLISH)
    assert response.status_code == 400 and english in response.json()["description"]


def test_crs84_is_accepted_and_a_projected_crs_refused_for_one_rule(
    demo_client: TestClient
) -> None:
    fid = demo_client.get(ITEMS, params={"limit": "1"}).json()["features"][0]["id"]
    assert demo_client.get(f"{ITEMS}/{fid}", params={"crs": CRS84}).status_code == 200
    assert demo_client.get(ITEMS, params={"crs": "CRS84", "limit": "1"}).status_code == 200
    refused = demo_client.get(f"{ITEMS}/{fid}", params={"crs": "EPSG:3857"})
    assert refused.status_code == 400


def test_tiles_neither_list_nor_draw_the_table(demo_client: TestClient) -> None:
    assert demo_client.get("/ogc/collections/zone_rules/tiles").status_code == 404
    assert demo_client.get(
        "/ogc/collections/zone_rules/tiles/WebMercatorQuad/12/1961/1642").status_code == 404
    tilejson = demo_client.get("/ogc/tiles/WebMercatorQuad", params={"f": "tilejson"}).json()
    assert "zone_rules" not in [layer["id"] for layer in tilejson["vector_layers"]]
    assert "zoning" in [layer["id"] for layer in tilejson["vector_layers"]]
    named = demo_client.get("/ogc/tiles/WebMercatorQuad/12/1961/1642",
                            params={"collections": "zoning,zone_rules"})
    assert named.status_code == 400 and "zone_rules" in named.json()["description"]
    assert demo_client.get("/ogc/tiles/WebMercatorQuad/12/1961/1642").status_code in (200, 204)


# The rest of the service copes ----------------------------------------------------------------

def test_the_viewer_page_and_its_layer_list_leave_the_table_out(demo_client: TestClient) -> None:
    assert demo_client.get("/").status_code == 200
    config = demo_client.get("/web/config.json").json()
    ids = [layer["id"] for layer in config["layers"]]
    assert "zone_rules" not in ids and "zoning" in ids


def test_open_data_offers_the_table_as_geojson_and_csv_only(
    demo_client: TestClient, demo_database_url: str
) -> None:
    assert demo_client.get("/opendata").status_code == 200
    document = demo_client.get("/opendata", params={"f": "json"}).json()
    dataset = next(d for d in document["datasets"] if d["id"] == "zone_rules")
    assert dataset["geometryType"] is None
    assert dataset["features"] == len(_ids(demo_database_url, "true"))
    assert [(d["format"], d["filename"]) for d in dataset["downloads"]] == [
        ("GeoJSON", "zone_rules.geojson"), ("CSV", "zone_rules.csv")]
    table = demo_client.get("/opendata/zone_rules.csv")
    assert table.status_code == 200 and table.text.startswith("id,plan_id,code,")
    assert len(list(csv.DictReader(io.StringIO(table.text)))) == dataset["features"]
    collection = demo_client.get("/opendata/zone_rules.geojson").json()
    assert len(collection["features"]) == dataset["features"]
    assert all(f["geometry"] is None for f in collection["features"])
    refused = demo_client.get("/opendata/zone_rules.gpkg")
    assert refused.status_code == 404 and "sans géométrie" in refused.json()["description"]


def test_pygeoapi_and_its_catalogue_answer_with_the_table(demo_client: TestClient) -> None:
    assert demo_client.get("/pygeoapi/collections", params={"f": "json"}).status_code == 200
    record = demo_client.get("/pygeoapi/collections/catalogue/items/zone_rules",
                             params={"f": "json"})
    assert record.status_code == 200
    assert record.json()["geometry"] is None


def test_importing_a_file_into_the_table_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    source = tmp_path / "rules.csv"
    source.write_text("plan_id,code\n1,B\n", encoding="utf-8")
    with pytest.raises(IngestError, match="n'a pas de géométrie") as refused:
        import_file("postgresql://nowhere.invalid/none", REGISTRY, "zone_rules", source,
                    ImportOptions(user="test"))
    assert "has no geometry" in refused.value.en


# Real clients ------------------------------------------------------------------------------------

def test_gdal_lists_the_table_without_geometry_and_reads_every_rule(
    live_server: str, demo_database_url: str
) -> None:
    listing = subprocess.run(["ogrinfo", "-ro", "-q", f"OAPIF:{live_server}/ogc"],
                             capture_output=True, text=True, check=True, timeout=120).stdout
    # A layer without geometry is listed with no geometry type after its title.
    assert ": zone_rules (title: Règlement des zones)\n" in listing, listing
    summary = subprocess.run(["ogrinfo", "-ro", "-so", f"OAPIF:{live_server}/ogc", "zone_rules"],
                             capture_output=True, text=True, check=True, timeout=120).stdout
    count = len(_ids(demo_database_url, "true"))
    # GDAL 3.6 infers the geometry type from a page of null geometries: "Unknown (any)".
    assert re.search(r"Geometry: (None|Unknown \(any\))\n", summary), summary
    assert f"Feature Count: {count}\n" in summary, summary
    assert "cos: Real" in summary and "uses_allowed: StringList" in summary
    filtered = subprocess.run(
        ["ogrinfo", "-ro", "-al", "-q", "-where", "max_levels >= 6", f"OAPIF:{live_server}/ogc",
         "zone_rules"], capture_output=True, text=True, check=True, timeout=120).stdout
    expected = _ids(demo_database_url, "max_levels >= 6")
    assert filtered.count("OGRFeature(zone_rules)") == len(expected) > 0
    assert not re.search(r"^\s+(MULTI)?(POINT|LINESTRING|POLYGON)", filtered, re.MULTILINE)
    assert "max_levels (Integer) = 6" in filtered


def test_owslib_reads_the_table_with_a_filter(live_server: str, demo_database_url: str) -> None:
    api = Features(f"{live_server}/ogc")
    assert "zone_rules" in api.feature_collections()
    assert "cos" in api.collection_queryables("zone_rules")["properties"]
    page = api.collection_items("zone_rules", filter="cos > 0.5 AND max_levels >= 6",
                                limit=100)
    assert sorted(f["id"] for f in page["features"]) == \
        _ids(demo_database_url, "cos > 0.5 AND max_levels >= 6")
    assert all(f["geometry"] is None for f in page["features"])


def test_the_live_server_answers_the_issue_example(live_server: str) -> None:
    response = httpx.get(f"{live_server}{ITEMS}", params={"filter": "cos > 2.5"}, timeout=30)
    assert response.status_code == 200 and response.json()["numberReturned"] == 0
