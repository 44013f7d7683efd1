"""OGC API Features Part 1 (core): documents, items, paging, formats, errors, caching."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

pytest_plugins = ["ogc_fixtures"]


LAYER_IDS = {"parcels", "zoning", "prefectures", "communes", "plans", "servitudes",
             "reservations", "roads", "zone_rules"}


def test_landing_page_links_every_required_resource_with_absolute_urls(small_client):
    body = small_client.get("/ogc").json()
    rels = {link["rel"]: link["href"] for link in body["links"]}
    for rel in ("self", "alternate", "service-desc", "service-doc", "conformance", "data"):
        assert rels[rel].startswith("http://testserver/ogc"), rel


def test_public_url_setting_replaces_the_request_host_in_links(small_database_url):
    from geoportal.app import create_app
    from geoportal.settings import Settings

    settings = Settings(database_url=small_database_url, public_url="https://geo.auc.ma/")
    with TestClient(create_app(settings)) as client:
        links = client.get("/ogc/collections/parcels/items?limit=1").json()["links"]
    assert all(link["href"].startswith("https://geo.auc.ma/ogc/") for link in links)


def test_conformance_declares_core_geojson_crs_filter_and_cql2(small_client):
    classes = small_client.get("/ogc/conformance").json()["conformsTo"]
    for suffix in ("ogcapi-features-1/1.0/conf/core", "ogcapi-features-1/1.0/conf/geojson",
                   "ogcapi-features-1/1.0/conf/oas30", "ogcapi-features-2/1.0/conf/crs",
                   "ogcapi-features-3/1.0/conf/filter", "cql2/1.0/conf/cql2-text"):
        assert any(c.endswith(suffix) for c in classes), suffix


def test_an_extension_adds_conformance_classes_and_collection_links(small_database_url):
    from geoportal.app import create_app
    from geoportal.ogc import OgcExtension, register_extension
    from geoportal.settings import Settings

    app = create_app(Settings(database_url=small_database_url))
    register_extension(app.state.services, OgcExtension(
        conformance=("http://example.org/conf/tiles",),
        collection_links=lambda layer, links: [
            links.link(f"/ogc/collections/{layer.id}/tiles", "tiles")]))
    with TestClient(app) as client:
        assert "http://example.org/conf/tiles" in client.get("/ogc/conformance").json()[
            "conformsTo"]
        links = client.get("/ogc/collections/plans").json()["links"]
    assert any(link["rel"] == "tiles" and link["href"].endswith("/plans/tiles")
               for link in links)


def test_collections_list_every_registry_layer_with_crs_and_storage_crs(small_client):
    body = small_client.get("/ogc/collections").json()
    assert {c["id"] for c in body["collections"]} == LAYER_IDS
    parcels = next(c for c in body["collections"] if c["id"] == "parcels")
    assert parcels["storageCrs"] == "http://www.opengis.net/def/crs/EPSG/0/26191"
    for uri in ("http://www.opengis.net/def/crs/OGC/1.3/CRS84",
                "http://www.opengis.net/def/crs/EPSG/0/4326",
                "http://www.opengis.net/def/crs/EPSG/0/3857"):
        assert uri in parcels["crs"]


def test_collection_extent_is_in_crs84_around_the_features(small_client):
    body = small_client.get("/ogc/collections/parcels").json()
    (x1, y1, x2, y2), = body["extent"]["spatial"]["bbox"]
    assert -7.8 < x1 < x2 < -7.2 and 33.3 < y1 < y2 < 33.8
    assert body["extent"]["temporal"]["interval"][0][0].startswith("2023-03-03")
    assert body["itemType"] == "feature"


def test_items_return_geojson_with_number_returned_and_content_crs(small_client):
    response = small_client.get("/ogc/collections/parcels/items")
    body = response.json()
    assert response.headers["content-type"] == "application/geo+json"
    assert response.headers["content-crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    assert body["type"] == "FeatureCollection"
    assert body["numberReturned"] == 5 and body["numberMatched"] == 5
    assert [f["id"] for f in body["features"]] == [1, 2, 3, 4, 5]
    assert body["features"][0]["properties"] == {
        "ref": "TF 100/C", "area_m2": 400.0, "updated_at": "2024-01-10T08:00:00+00:00"}


def test_bbox_selects_only_intersecting_features(small_client):
    # parcels 1, 2 and 4 lie around E 296 600, N 332 600 (central Casablanca).
    body = small_client.get("/ogc/collections/parcels/items",
                            params={"bbox": "-7.592,33.571,-7.588,33.575"}).json()
    assert sorted(f["id"] for f in body["features"]) == [1, 2, 4]


def test_datetime_selects_instants_and_open_intervals(small_client):
    def ids(value: str) -> list[int]:
        body = small_client.get("/ogc/collections/parcels/items",
                                params={"datetime": value}).json()
        return sorted(f["id"] for f in body["features"])

    assert ids("2024-01-10T08:00:00Z") == [1, 5]
    assert ids("2024-01-01/..") == [1, 2, 3, 5]
    assert ids("../2024-01-10") == [1, 4, 5]
    assert ids("2024-06-01") == [2]


def test_next_links_keep_the_other_parameters_and_page_through_everything(small_client):
    url = "/ogc/collections/parcels/items?limit=2&properties=ref"
    seen: list[int] = []
    while url:
        body = small_client.get(url).json()
        seen += [f["id"] for f in body["features"]]
        assert all(set(f["properties"]) == {"ref"} for f in body["features"])
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), "")
        assert not url or ("properties=ref" in url and "limit=2" in url and "cursor=" in url)
    assert seen == [1, 2, 3, 4, 5]


def test_offset_paging_gives_prev_links(small_client):
    body = small_client.get("/ogc/collections/parcels/items?limit=2&offset=2").json()
    assert [f["id"] for f in body["features"]] == [3, 4]
    rels = {link["rel"]: link["href"] for link in body["links"]}
    assert "offset=0" in rels["prev"]
    assert "cursor=4" in rels["next"] and "offset" not in rels["next"]  # keyset from here


def test_one_feature_by_id_has_links_and_404_when_missing(small_client):
    body = small_client.get("/ogc/collections/parcels/items/3").json()
    assert body["id"] == 3 and body["properties"]["ref"] == "TF 200/N"
    assert {link["rel"] for link in body["links"]} >= {"self", "alternate", "collection"}
    for missing in ("999", "abc", "99999999999999999999999"):
        response = small_client.get(f"/ogc/collections/parcels/items/{missing}")
        assert response.status_code == 404
        assert response.json()["code"] == "NotFound"


@pytest.mark.parametrize("query", [
    "limit=abc", "limit=-1", "limit=0", "limit=1e3", "offset=-3", "bbox=1,2,3",
    "bbox=a,b,c,d", "bbox=10,10,0,0", "bbox=1,2,3,nan", "crs=EPSG:9999", "bbox-crs=EPSG:4326",
    "bbox=1,2,3,4&bbox-crs=foo", "datetime=yesterday", "datetime=2024-02-01/2024-01-01",
    "datetime=../..", "sortby=nope", "properties=ref,nope", "filter=ref%20%3D", "filter-lang=sql",
    "filter=nope%20%3D%201", "filter=ref%20%3D%201", "unknown=1", "cursor=x", "f=xml",
    "area_m2=big", "cursor=3&sortby=ref", "filter-crs=EPSG:4326",
])
def test_invalid_parameters_are_400_with_an_ogc_exception(small_client, query):
    response = small_client.get(f"/ogc/collections/parcels/items?{query}")
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "InvalidParameterValue" and body["description"]


def test_limit_above_the_maximum_is_cut_to_the_maximum(small_client):
    body = small_client.get("/ogc/collections/parcels/items?limit=1000000&offset=1").json()
    assert body["numberReturned"] == 4 and body["numberMatched"] == 5
    self_link = next(link["href"] for link in body["links"] if link["rel"] == "self")
    assert "limit=1000000" in self_link


def test_unknown_collection_is_404(small_client):
    for path in ("/ogc/collections/nope", "/ogc/collections/nope/items",
                 "/ogc/collections/nope/items/1", "/ogc/collections/nope/queryables"):
        assert small_client.get(path).status_code == 404


def test_etag_gives_304_until_the_layer_changes(small_client, small_database_url):
    import psycopg

    url = "/ogc/collections/parcels/items?limit=2"
    first = small_client.get(url)
    etag = first.headers["etag"]
    assert "max-age" in first.headers["cache-control"]
    again = small_client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert small_client.get(url + "&offset=1", headers={"If-None-Match": etag}).status_code == 200
    with psycopg.connect(small_database_url, autocommit=True) as conn:
        conn.execute("UPDATE parcels SET ref = ref WHERE id = 1")
    assert small_client.get(url, headers={"If-None-Match": etag}).status_code == 200


def test_single_feature_and_collection_answer_304_to_their_etag(small_client):
    for url in ("/ogc/collections/parcels/items/2", "/ogc/collections/parcels", "/ogc"):
        etag = small_client.get(url).headers["etag"]
        assert small_client.get(url, headers={"If-None-Match": etag}).status_code == 304, url


def test_properties_parameter_returns_only_those(small_client):
    body = small_client.get("/ogc/collections/parcels/items/1?properties=area_m2").json()
    assert body["properties"] == {"area_m2": 400.0}


def test_sortby_orders_by_queryables_descending(small_client):
    body = small_client.get("/ogc/collections/parcels/items?sortby=-area_m2").json()
    assert [f["id"] for f in body["features"]] == [4, 2, 5, 1, 3]
    body = small_client.get("/ogc/collections/parcels/items?sortby=updated_at,-id").json()
    assert [f["id"] for f in body["features"]] == [4, 5, 1, 2, 3]


def test_queryable_equality_parameters_filter(small_client):
    body = small_client.get("/ogc/collections/parcels/items?ref=TF%20101/C").json()
    assert [f["id"] for f in body["features"]] == [2]


def test_jsonfg_keeps_the_merchich_place_beside_the_wgs84_geometry(small_client):
    body = small_client.get("/ogc/collections/parcels/items/1?f=jsonfg").json()
    assert body["coordRefSys"] == "http://www.opengis.net/def/crs/EPSG/0/26191"
    assert body["place"]["coordinates"][0][0][0] == [296620, 332690]
    lon, lat = body["geometry"]["coordinates"][0][0][0]
    assert -7.6 < lon < -7.58 and 33.5 < lat < 33.6
    assert body["time"] == {"timestamp": "2024-01-10T08:00:00+00:00"}
    page = small_client.get("/ogc/collections/parcels/items?f=jsonfg&limit=2")
    assert page.headers["content-type"] == "application/vnd.ogc.fg+json"
    assert page.json()["featureType"] == "parcels"


def test_jsonseq_streams_every_feature_as_a_text_sequence(small_client):
    response = small_client.get("/ogc/collections/parcels/items?f=jsonseq")
    assert response.headers["content-type"] == "application/geo+json-seq"
    records = [r for r in response.content.split(b"\x1e") if r]
    features = [json.loads(r) for r in records]
    assert sorted(f["id"] for f in features) == [1, 2, 3, 4, 5]
    assert all(r.endswith(b"\n") for r in records)


def test_csv_quotes_values_and_carries_wkt(small_client):
    import csv
    import io

    response = small_client.get("/ogc/collections/parcels/items?f=csv&crs=EPSG:26191")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 5
    odd = next(r for r in rows if r["id"] == "5")
    assert odd["ref"] == 'TF 4"5/C, bis'
    assert odd["wkt"].startswith("MULTIPOLYGON(((310000 320000")


def test_accept_header_negotiates_html_and_geojson(small_client):
    page = small_client.get("/ogc/collections/parcels/items", headers={
        "Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert page.headers["content-type"].startswith("text/html")
    assert "TF 100/C" in page.text and "<svg" in page.text
    data = small_client.get("/ogc/collections/parcels/items", headers={
        "Accept": "application/geo+json"})
    assert data.headers["content-type"] == "application/geo+json"


@pytest.mark.parametrize("path", [
    "/ogc", "/ogc/conformance", "/ogc/collections", "/ogc/collections/parcels",
    "/ogc/collections/parcels/items", "/ogc/collections/parcels/items/1",
    "/ogc/collections/parcels/queryables", "/ogc/collections/plans/schema", "/ogc/api",
])
def test_every_resource_has_an_html_page_without_external_assets(small_client, path):
    response = small_client.get(path, params={"f": "html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "https://" not in response.text.split("<body>")[0].replace("https://json-schema", "")


def test_openapi_document_is_openapi_30_with_every_collection(small_client):
    response = small_client.get("/ogc/api")
    assert response.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    doc = response.json()
    assert doc["openapi"].startswith("3.0")
    for layer in LAYER_IDS:
        assert f"/collections/{layer}/items" in doc["paths"]
    limit = doc["components"]["parameters"]["limit"]["schema"]
    assert limit["maximum"] == 1000


def test_docs_pages_load_swagger_ui_from_the_service_itself(small_client):
    for path in ("/docs", "/ogc/api?f=html"):
        page = small_client.get(path).text
        assert "/ogc/static/swagger-ui/swagger-ui-bundle.js" in page
        assert "cdn" not in page.lower()
    script = small_client.get("/ogc/static/swagger-ui/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000
    assert small_client.get("/ogc/static/swagger-ui/../../settings.py").status_code == 404
