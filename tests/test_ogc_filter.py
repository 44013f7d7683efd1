"""OGC API Features Part 3 (filtering): queryables, CQL2 text and JSON, limits."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from geoportal.core.resources import CHECKOUT
from geoportal.errors import InvalidParameter, expected
from geoportal.ogc.filters import MAX_DEPTH, MAX_FILTER_CHARS, MAX_NODES, parse_filter
from geoportal.ogc.sql import Params
from geoportal.registry import Layer, load_registry

pytest_plugins = ["ogc_fixtures"]
ENGLISH = {"Accept-Language": "en"}


def ids(client, collection: str = "parcels", **params) -> list[int]:
    response = client.get(f"/ogc/collections/{collection}/items", params=params)
    assert response.status_code == 200, response.text
    return sorted(f["id"] for f in response.json()["features"])


def test_queryables_are_a_json_schema_of_the_registry_queryables(small_client):
    response = small_client.get("/ogc/collections/plans/queryables")
    assert response.headers["content-type"] == "application/schema+json"
    schema = response.json()
    assert schema["type"] == "object" and schema["$id"].endswith("/plans/queryables")
    assert set(schema["properties"]) == {"geometry", "ref", "name", "status", "approval_date",
                                         "valid_until"}
    assert schema["properties"]["approval_date"] == {"title": "Date d'approbation",
                                                     "type": "string", "format": "date"}
    assert schema["properties"]["geometry"]["x-ogc-role"] == "primary-geometry"


@pytest.mark.parametrize(("cql", "expected"), [
    ("ref = 'TF 100/C'", [1]),
    ("ref <> 'TF 100/C'", [2, 3, 4, 5]),
    ("area_m2 > 500", [2, 4]),
    ("area_m2 >= 500", [2, 4, 5]),
    ("area_m2 < 400", [3]),
    ("area_m2 <= 400", [1, 3]),
    ("ref LIKE 'TF 1%'", [1, 2]),
    ("ref NOT LIKE 'TF%'", [4]),
    ("CASEI(ref) LIKE 'tf 3%'", [4]),
    ("ref IN ('TF 100/C', 'TF 200/N', 'nothing')", [1, 3]),
    ("ref NOT IN ('TF 100/C')", [2, 3, 4, 5]),
    ("area_m2 BETWEEN 400 AND 900", [1, 2, 5]),
    ("area_m2 NOT BETWEEN 400 AND 900", [3, 4]),
    ("ref IS NULL", []),
    ("ref IS NOT NULL", [1, 2, 3, 4, 5]),
    ("area_m2 * 2 > 1500", [2, 4]),
    ("area_m2 / 0 > 1", []),
    ("NOT (area_m2 > 500) AND ref LIKE 'TF%'", [1, 3, 5]),
    ("area_m2 > 1000 OR ref = 'TF 200/N'", [3, 4]),
    ("updated_at > TIMESTAMP('2024-06-01T00:00:00Z')", [2, 3]),
    ("T_AFTER(updated_at, TIMESTAMP('2024-06-01T12:00:00Z'))", [3]),
    ("T_BEFORE(updated_at, DATE('2024-01-01'))", [4]),
    ("T_INTERSECTS(updated_at, INTERVAL('2024-01-01', '2024-12-31'))", [1, 2, 5]),
    ("T_DURING(updated_at, INTERVAL('2024-01-11', '..'))", [2, 3]),
    ("T_EQUALS(updated_at, TIMESTAMP('2024-01-10T08:00:00Z'))", [1, 5]),
    ("T_DISJOINT(updated_at, INTERVAL('..', '2024-12-31T00:00:00Z'))", [3]),
    ("S_INTERSECTS(geometry, POINT(-7.58978 33.57308))", [1]),
    ("S_INTERSECTS(geometry, BBOX(-7.592, 33.571, -7.588, 33.575))", [1, 2, 4]),
    ("S_WITHIN(geometry, POLYGON((-7.60 33.56, -7.58 33.56, -7.58 33.58, -7.60 33.58, "
     "-7.60 33.56)))", [1, 2, 4]),
    ("S_DISJOINT(geometry, BBOX(-7.592, 33.571, -7.588, 33.575))", [3, 5]),
    ("S_CONTAINS(geometry, POINT(-7.58978 33.57308))", [1]),
    ("S_INTERSECTS(geometry, BBOX(-7.592, 33.571, -7.588, 33.575)) AND area_m2 > 500",
     [2, 4]),
])
def test_cql2_text_operators_select_the_expected_parcels(small_client, cql, expected):
    assert ids(small_client, filter=cql) == expected


def test_cql2_json_is_equivalent_to_cql2_text(small_client):
    tree = {"op": "and", "args": [
        {"op": "s_intersects", "args": [{"property": "geometry"},
                                        {"bbox": [-7.592, 33.571, -7.588, 33.575]}]},
        {"op": "between", "args": [{"property": "area_m2"}, 300, 1000]},
        {"op": "t_after", "args": [{"property": "updated_at"},
                                   {"timestamp": "2024-01-01T00:00:00Z"}]},
    ]}
    assert ids(small_client, filter=json.dumps(tree), **{"filter-lang": "cql2-json"}) == [1, 2]


def test_filter_crs_reads_geometries_in_that_crs(small_client):
    merchich = "S_INTERSECTS(geometry, POINT(296625 332695))"
    assert ids(small_client, filter=merchich, **{"filter-crs": "EPSG:26191"}) == [1]
    lat_lon = "S_INTERSECTS(geometry, POINT(33.57308 -7.58978))"
    assert ids(small_client, filter=lat_lon, **{"filter-crs": "EPSG:4326"}) == [1]


def test_date_properties_and_is_null_on_plans(small_client):
    assert ids(small_client, "plans", filter="approval_date IS NULL") == [2]
    assert ids(small_client, "plans", filter="approval_date < DATE('2020-01-01')") == [1]
    assert ids(small_client, "plans",
               filter="T_DURING(approval_date, INTERVAL('2016-01-01', '2016-12-31'))") == [1]


def test_filter_combines_with_bbox_sortby_and_paging(small_client):
    response = small_client.get("/ogc/collections/parcels/items", params={
        "filter": "ref LIKE 'TF%'", "bbox": "-7.6,33.5,-7.5,33.7", "sortby": "-area_m2",
        "limit": 1})
    body = response.json()
    assert [f["id"] for f in body["features"]] == [2]
    nxt = next(link["href"] for link in body["links"] if link["rel"] == "next")
    assert "offset=1" in nxt and "filter=" in nxt


@pytest.mark.parametrize(("cql", "message"), [
    ("owner = 'x'", "unknown property 'owner'"),
    ("ref_norm = 'x'", "unknown property 'ref_norm'"),
    ("ref > 3", "cannot compare"),
    ("area_m2 LIKE 'x%'", "cannot compare"),
    ("updated_at > '2024-01-01'", "cannot compare"),
    ("S_INTERSECTS(geometry, POLYGON((0 0, 1 1, 1 0, 0 1, 0 0)))", "invalid geometry"),
    ("ACCENTI(ref) = 'x'", "not supported"),
    ("area_m2", "not a condition"),
    ("ref = 'a' AND", "not valid cql2-text"),
    ("T_AFTER(updated_at, TIMESTAMP('2024-13-45T00:00:00Z'))", "filter"),
])
def test_bad_filters_are_400_with_a_clear_message(small_client, cql, message):
    response = small_client.get("/ogc/collections/parcels/items", params={"filter": cql},
                                headers=ENGLISH)
    assert response.status_code == 400, response.text
    assert message in response.json()["description"]


def test_filter_size_nodes_and_depth_are_bounded(small_client):
    def status(cql: str) -> tuple[int, str]:
        response = small_client.get("/ogc/collections/parcels/items", params={"filter": cql},
                                    headers=ENGLISH)
        return response.status_code, response.json().get("description", "")

    long_text = "ref = '" + "x" * MAX_FILTER_CHARS + "'"
    assert status(long_text) == (400, f"filter: longer than {MAX_FILTER_CHARS} characters")
    many = " OR ".join(f"area_m2 = {i}" for i in range(MAX_NODES))
    assert status(many)[1] == f"filter: more than {MAX_NODES} nodes"
    deep = "NOT (" * (MAX_DEPTH + 1) + "area_m2 = 1" + ")" * (MAX_DEPTH + 1)
    assert status(deep)[1].startswith("filter: nested deeper")


def test_filter_that_postgres_cannot_evaluate_is_400_not_500(small_client):
    response = small_client.get("/ogc/collections/parcels/items",
                                params={"filter": "area_m2 * 1e308 * 1e308 > 1"})
    assert response.status_code == 400
    assert "ERROR" not in response.text and "postgres" not in response.text.lower()


def test_hostile_nesting_is_refused_before_the_parser_sees_it(small_client):
    # 9,000 nested parentheses crash the CQL2 text parser itself; the service must say 400.
    text = "(" * 9000 + "area_m2 = 1" + ")" * 9000
    response = small_client.get("/ogc/collections/parcels/items", params={"filter": text})
    assert response.status_code == 400
    tree = '{"op":"not","args":[' * 800 + "true" + "]}" * 800
    response = small_client.get("/ogc/collections/parcels/items", params={
        "filter": tree, "filter-lang": "cql2-json"})
    assert response.status_code == 400
    assert small_client.get("/ogc/collections/parcels/items?limit=1").status_code == 200


@pytest.mark.parametrize("tree", [
    {"op": "t_after", "args": [{"property": "updated_at"}, 5]},
    {"op": "t_during", "args": [{"property": "updated_at"}, {"interval": ["2024-01-01", 5]}]},
    {"op": "=", "args": [{"property": "ref"}, {"nonsense": 1}]},
    {"op": "in", "args": [{"property": "ref"}, [["a"]]]},
    {"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": [1, 2]}]},
])
def test_malformed_cql2_json_is_400(small_client, tree):
    response = small_client.get("/ogc/collections/parcels/items", params={
        "filter": json.dumps(tree), "filter-lang": "cql2-json"})
    assert response.status_code == 400, response.text


# --- One phase: the filter is checked when the request is parsed --------------------------

def _parcels() -> Layer:
    return expected(load_registry(CHECKOUT / "layers").get("parcels"), "parcels")


@pytest.mark.parametrize(("text", "message"), [
    ("nope = 1", "propriété inconnue 'nope'"),
    ("ref = 3", "= ne peut comparer un texte et un nombre"),
    ("area_m2 LIKE 'x%'", "LIKE ne peut comparer un nombre et un texte"),
    ("S_INTERSECTS(ref, POINT(-7.6 33.59))", "S_INTERSECTS compare deux géométries"),
    ("area_m2 + 1", "l'expression n'est pas une condition"),
])
def test_unknown_queryables_and_type_errors_are_refused_when_the_filter_is_parsed(
        text: str, message: str) -> None:
    with pytest.raises(InvalidParameter, match=re.escape(message)):
        parse_filter(text, "cql2-text", _parcels())


def test_a_spatial_literal_is_bound_once_for_the_index_and_the_condition() -> None:
    parsed = parse_filter("S_INTERSECTS(geom, POLYGON((-7.62 33.58, -7.61 33.58, -7.61 33.59, "
                          "-7.62 33.58))) AND area_m2 > 10", "cql2-text", _parcels())
    assert len(parsed.spatial) == 1
    params = Params()
    envelope = parsed.spatial[0].render(params)
    condition = parsed.condition.render(params)
    assert envelope in condition
    assert [type(v) for v in params.values] == [bytes, float]  # the WKB once, then 10


def test_a_spatial_predicate_under_or_or_not_does_not_send_the_planner_to_the_index() -> None:
    layer = _parcels()
    for text in ("S_INTERSECTS(geom, POINT(-7.6 33.59)) OR area_m2 > 10",
                 "NOT S_INTERSECTS(geom, POINT(-7.6 33.59))",
                 "S_DISJOINT(geom, POINT(-7.6 33.59))"):
        assert parse_filter(text, "cql2-text", layer).spatial == ()


def test_the_items_endpoint_refuses_an_unknown_queryable_in_french_and_english(
        demo_client: TestClient) -> None:
    url = "/ogc/collections/parcels/items"
    french = demo_client.get(url, params={"filter": "nope = 1"})
    english = demo_client.get(url, params={"filter": "nope = 1"},
                              headers={"Accept-Language": "en"})
    assert french.status_code == english.status_code == 400
    assert "propriété inconnue" in french.json()["description"]
    assert "unknown property" in english.json()["description"]
