"""The viewer's own endpoints: the page, its configuration, the search, and the OGC API links."""

from __future__ import annotations

import psycopg
from fastapi.testclient import TestClient

from geoportal.app import create_app
from geoportal.registry import load_registry
from geoportal.settings import Settings


def a_plot_ref(demo_database_url: str) -> str:
    """The reference of the first demo plot."""
    with psycopg.connect(demo_database_url) as conn:
        row = conn.execute("SELECT ref FROM parcels ORDER BY id LIMIT 1").fetchone()
    assert row is not None
    return str(row[0])


def test_the_page_is_french_and_loads_only_packaged_assets(demo_client: TestClient) -> None:
    page = demo_client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<html lang="fr">' in html and "{{version}}" not in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html
    for asset in ("web/static/vendor/maplibre-gl/maplibre-gl.js",
                  "web/static/vendor/proj4/proj4.js", "web/static/js/app.js",
                  "web/static/css/app.css"):
        assert asset in html
        response = demo_client.get("/" + asset)
        assert response.status_code == 200 and response.headers["etag"]
    vendored = demo_client.get("/web/static/vendor/maplibre-gl/maplibre-gl.js?v=x")
    assert "immutable" in vendored.headers["cache-control"]  # its URL carries the version
    assert demo_client.get("/web/static/../settings.py").status_code == 404


def test_the_page_links_to_the_open_data_downloads_and_the_api(demo_client: TestClient) -> None:
    html = demo_client.get("/").text
    for target in ("opendata", "ogc", "docs"):
        assert f'href="{target}"' in html
        assert demo_client.get("/" + target).status_code == 200


def test_the_config_is_generated_from_the_layer_registry(demo_client: TestClient) -> None:
    config = demo_client.get("/web/config.json").json()
    registry = load_registry(Settings().layers_dir)
    assert [layer["id"] for layer in config["layers"]] == [
        layer.id for layer in registry.with_geometry()]  # a table is not a map layer
    zoning = next(layer for layer in config["layers"] if layer["id"] == "zoning")
    assert {c["value"] for c in zoning["style"]["classes"]} >= {"B", "V", "ZV"}
    servitudes = next(layer for layer in config["layers"] if layer["id"] == "servitudes")
    assert servitudes["style"]["hatched"] is True
    parcels = next(layer for layer in config["layers"] if layer["id"] == "parcels")
    assert parcels["min_zoom"] == 15
    assert config["tiles"] == "ogc/tiles/WebMercatorQuad/{z}/{x}/{y}"
    assert "+towgs84=31,146,47" in config["crs"]["proj4"]
    west, south, east, north = config["bounds"]
    assert -8.2 < west < -7.59 < east < -7.0 and 33.2 < south < 33.57 < north < 34.0


def test_search_finds_a_plot_by_reference_whatever_the_spacing_and_case(
    demo_client: TestClient, demo_database_url: str
) -> None:
    ref = a_plot_ref(demo_database_url)
    for typed in (ref, ref.lower(), ref.replace(" ", ""), ref[:-2], ref.split(" ")[1][:-2]):
        results = demo_client.get("/search", params={"q": typed}).json()["results"]
        assert ref in [r["ref"] for r in results if r["kind"] == "parcel"], typed
    first = demo_client.get("/search", params={"q": ref}).json()["results"][0]
    west, south, east, north = first["bbox"]
    assert west <= first["center"][0] <= east and south <= first["center"][1] <= north


def test_search_matches_names_without_accents_or_case(demo_client: TestClient) -> None:
    results = demo_client.get("/search", params={"q": "AIN CHOCK"}).json()["results"]
    assert results[0]["label"] == "Aïn Chock" and results[0]["kind"] == "commune"
    mohammedia = demo_client.get("/search", params={"q": "mohammedia"}).json()["results"]
    assert "prefecture" in {r["kind"] for r in mohammedia}
    arabic = demo_client.get("/search", params={"q": "عين الشق"}).json()["results"]
    assert arabic and arabic[0]["label"] == "Aïn Chock"


def test_search_treats_wildcards_as_text_and_refuses_bad_input(demo_client: TestClient) -> None:
    assert demo_client.get("/search", params={"q": "TF %"}).json()["results"] == []
    assert demo_client.get("/search", params={"q": "TF 1_"}).json()["results"] == []
    assert demo_client.get("/search", params={"q": "a"}).json()["results"] == []
    assert demo_client.get("/search", params={"q": "x" * 101}).status_code == 400
    assert demo_client.get("/search", params={"q": "TF 1", "limit": 50}).status_code == 400
    assert demo_client.get("/search").status_code == 400
    limited = demo_client.get("/search", params={"q": "TF 1", "limit": 3}).json()["results"]
    assert len(limited) == 3


def test_the_ogc_api_declares_tiles_and_links_each_collection_to_its_tilesets(
    demo_client: TestClient,
) -> None:
    conformance = demo_client.get("/ogc/conformance", params={"f": "json"}).json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt" in conformance
    assert "http://www.opengis.net/spec/tms/2.0/conf/tilematrixset" in conformance
    collection = demo_client.get("/ogc/collections/zoning", params={"f": "json"}).json()
    tiles = [link for link in collection["links"]
             if link["rel"] == "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"]
    assert tiles and tiles[0]["href"].endswith("/ogc/collections/zoning/tiles")
    assert demo_client.get(tiles[0]["href"]).status_code == 200
    landing = demo_client.get("/ogc", params={"f": "json"}).json()
    assert any(link["href"].endswith("/ogc/tiles") for link in landing["links"])


def test_an_external_base_map_can_be_configured(demo_settings: Settings) -> None:
    settings = demo_settings.model_copy(
        update={"basemap_url": "https://tuiles.example.ma/style.json"})
    with TestClient(create_app(settings)) as client:
        config = client.get("/web/config.json").json()
    assert config["basemap_url"] == "https://tuiles.example.ma/style.json"
