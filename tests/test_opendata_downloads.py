"""Open data: the catalogue page, and whole layers that reopen in GDAL as they were stored."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import httpx
import numpy as np
import psycopg
import pyogrio
import pytest
import rasterio
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer

from geoportal.app import create_app
from geoportal.core.resources import CHECKOUT
from geoportal.registry import load_registry
from geoportal.settings import Settings

REGISTRY = load_registry(CHECKOUT / "layers")
MERCHICH = ("+proj=lcc +lat_1=33.3 +lat_0=33.3 +lon_0=-5.4 +k_0=0.999625769 +x_0=500000 "
            "+y_0=300000 +a=6378249.2 +b=6356515 +towgs84=31,146,47,0,0,0,0 +units=m +no_defs")


def _count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    assert row is not None
    return int(row[0])


def _fetch(base: str, path: str, target: Path, **params: str) -> httpx.Response:
    with httpx.stream("GET", f"{base}{path}", params=params, timeout=120) as response, \
            target.open("wb") as out:
        for block in response.iter_bytes():
            out.write(block)
    return response


def test_the_opendata_page_lists_every_dataset_with_license_date_size_and_downloads(
    demo_client: TestClient, demo_database_url: str
) -> None:
    document = demo_client.get("/opendata", params={"f": "json"}).json()
    page = demo_client.get("/opendata")  # a page for people unless JSON is asked for

    datasets = {d["id"]: d for d in document["datasets"]}
    assert list(datasets) == [*REGISTRY.ids(), "flood-hazard"]
    for layer in REGISTRY:
        dataset = datasets[layer.id]
        assert dataset["features"] == _count(demo_database_url, layer.table)
        assert dataset["license"]["id"] == layer.license
        assert dataset["updated"] is not None and dataset["estimatedBytes"] > 0
        assert {(d["format"], d["crs"]) for d in dataset["downloads"]} == ({
            (f, c) for f in ("GeoJSON", "GeoPackage", "CSV (géométrie WKT)", "Shapefile (zip)")
            for c in ("CRS84", "EPSG:26191")} if layer.has_geometry else {  # a bare table
            ("GeoJSON", None), ("CSV", None)})
    assert datasets["flood-hazard"]["downloads"][0]["href"].endswith("/opendata/flood-hazard.tif")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "Parcelles (titres fonciers)" in html and "القطع الأرضية" in html
    assert "/opendata/parcels.gpkg?crs=EPSG%3A26191" in html and 'rel="license"' in html
    assert "20 000</span> objets" in html


@pytest.mark.parametrize("crs", ["CRS84", "EPSG:26191"])
@pytest.mark.parametrize("ext", ["geojson", "gpkg", "csv", "shp.zip"])
def test_every_format_reopens_in_gdal_with_the_same_count_and_crs(
    live_server: str, demo_database_url: str, tmp_path: Path, ext: str, crs: str
) -> None:
    target = tmp_path / f"zoning.{ext}"
    response = _fetch(live_server, f"/opendata/zoning.{ext}", target, crs=crs)
    assert response.status_code == 200
    suffix = "-26191" if crs == "EPSG:26191" else ""
    assert response.headers["content-disposition"] == \
        f'attachment; filename="zoning{suffix}.{ext}"'

    info = pyogrio.read_info(target)
    assert info["features"] == _count(demo_database_url, "zoning")
    if ext == "csv":
        west = pyogrio.read_info(target, force_total_bounds=True)["total_bounds"][0]
        assert (-8 < west < -7) if crs == "CRS84" else (250_000 < west < 350_000)
    else:
        assert info["crs"] == ("EPSG:26191" if crs == "EPSG:26191" else "EPSG:4326")
    if ext in ("gpkg", "shp.zip"):  # the system's GDAL command line reads them too
        opened = f"/vsizip/{target}" if ext == "shp.zip" else str(target)
        listing = subprocess.run(["ogrinfo", "-so", "-al", opened], capture_output=True,
                                 text=True, check=True, timeout=60).stdout
        assert f"Feature Count: {info['features']}" in listing


def test_crs84_coordinates_are_the_merchich_datum_shift_to_the_centimetre(
    live_server: str, tmp_path: Path
) -> None:
    lonlat = _fetch(live_server, "/opendata/parcels.geojson", tmp_path / "a.geojson")
    stored = _fetch(live_server, "/opendata/parcels.geojson", tmp_path / "b.geojson",
                    crs="EPSG:26191")
    assert lonlat.status_code == stored.status_code == 200
    features = json.loads((tmp_path / "a.geojson").read_text())["features"]
    originals = json.loads((tmp_path / "b.geojson").read_text())
    assert originals["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::26191"
    by_id = {f["id"]: f for f in originals["features"]}
    assert len(features) == len(by_id) == 20_000
    to_lonlat = Transformer.from_crs(MERCHICH, "EPSG:4326", always_xy=True)
    for feature in features[:: len(features) // 50]:
        got = shapely.get_coordinates(shapely.geometry.shape(feature["geometry"]))
        xy = shapely.get_coordinates(shapely.geometry.shape(by_id[feature["id"]]["geometry"]))
        expected = np.column_stack(to_lonlat.transform(xy[:, 0], xy[:, 1]))
        assert np.allclose(got, expected, atol=1.5e-7, rtol=0)  # ~1 cm
        assert feature["properties"]["ref"] == by_id[feature["id"]]["properties"]["ref"]


def test_the_license_travels_with_every_download(live_server: str, tmp_path: Path) -> None:
    geojson = _fetch(live_server, "/opendata/communes.geojson", tmp_path / "c.geojson")
    shapefile = _fetch(live_server, "/opendata/communes.shp.zip", tmp_path / "c.shp.zip")
    _fetch(live_server, "/opendata/communes.gpkg", tmp_path / "c.gpkg")
    sidecar = httpx.get(f"{live_server}/opendata/communes.license.txt")

    for response in (geojson, shapefile):
        assert f'<{live_server}/opendata/communes.license.txt>; rel="license"' in \
            response.headers["link"]
        assert 'rel="license"; title="ODbL-1.0"' in response.headers["link"]
    assert json.loads((tmp_path / "c.geojson").read_text())["license"] == "ODbL-1.0"
    with zipfile.ZipFile(tmp_path / "c.shp.zip") as archive:
        assert {"communes.shp", "communes.dbf", "communes.prj", "communes.cpg",
                "LICENSE.txt"} <= set(archive.namelist())
        assert "ODbL" in archive.read("LICENSE.txt").decode()
    metadata = pyogrio.read_info(tmp_path / "c.gpkg")["layer_metadata"]
    assert metadata["LICENSE"] == "ODbL-1.0" and "Casablanca" in metadata["ATTRIBUTION"]
    assert sidecar.status_code == 200 and "opendatacommons.org" in sidecar.text
    meta, _, _, values = pyogrio.raw.read(f"/vsizip/{tmp_path / 'c.shp.zip'}")
    names = values[list(meta["fields"]).index("name_ar")]
    assert any("ع" in str(name) for name in names)  # Arabic names survive the .dbf (UTF-8)


def test_the_raster_dataset_downloads_as_a_geotiff_in_26191(
    live_server: str, tmp_path: Path
) -> None:
    response = _fetch(live_server, "/opendata/flood-hazard.tif", tmp_path / "f.tif")
    assert response.status_code == 200
    with rasterio.open(tmp_path / "f.tif") as raster:
        assert raster.crs.to_epsg() == 26191 and raster.count == 1


def test_bad_download_requests_get_clear_client_errors(demo_client: TestClient) -> None:
    cases = {
        "/opendata/parcels.kml": (404, "layers come as .geojson, .gpkg, .csv, .shp.zip"),
        "/opendata/nowhere.geojson": (404, "no dataset 'nowhere'"),
        "/opendata/parcels": (404, "not a download"),
        "/opendata/parcels.geojson?crs=EPSG:3857": (400, "use CRS84 or EPSG:26191"),
        "/opendata/parcels.csv?crs=EPSG:999999": (400, "use CRS84 or EPSG:26191"),
    }
    for path, (status, message) in cases.items():
        response = demo_client.get(path)
        assert response.status_code == status, path
        assert message in response.json()["description"], path


def test_an_unchanged_layer_answers_not_modified(demo_client: TestClient) -> None:
    first = demo_client.get("/opendata/prefectures.geojson")
    again = demo_client.get("/opendata/prefectures.geojson",
                            headers={"If-None-Match": first.headers["etag"]})
    other_crs = demo_client.get("/opendata/prefectures.geojson", params={"crs": "EPSG:26191"},
                                headers={"If-None-Match": first.headers["etag"]})
    assert first.status_code == 200 and again.status_code == 304
    assert other_crs.status_code == 200


def test_the_ogc_api_links_to_the_open_data_and_to_pygeoapi(demo_client: TestClient) -> None:
    landing = demo_client.get("/ogc", params={"f": "json"}).json()
    collection = demo_client.get("/ogc/collections/parcels", params={"f": "json"}).json()

    hrefs = {link["href"] for link in landing["links"]}
    assert "http://testserver/opendata" in hrefs and "http://testserver/pygeoapi" in hrefs
    enclosures = [link for link in collection["links"] if link["rel"] == "enclosure"]
    assert enclosures[0]["href"] == "http://testserver/opendata/parcels.gpkg"
    assert enclosures[0]["type"] == "application/geopackage+sqlite3"


@pytest.mark.parametrize("ext", ["gpkg", "shp.zip", "geojson", "csv"])
def test_an_empty_layer_downloads_as_a_valid_empty_file(
    database_url: str, tmp_path: Path, ext: str
) -> None:
    with TestClient(create_app(Settings(database_url=database_url))) as client:
        response = client.get(f"/opendata/roads.{ext}", params={"crs": "EPSG:26191"})
    assert response.status_code == 200
    target = tmp_path / f"roads.{ext}"
    target.write_bytes(response.content)
    opened = f"/vsizip/{target}" if ext == "shp.zip" else target
    assert pyogrio.read_info(opened)["features"] == 0
