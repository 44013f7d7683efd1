"""pygeoapi in the service, read by real clients: OWSLib's Records and Processes, rasterio."""

from __future__ import annotations

import io

import httpx
import numpy as np
import psycopg
import pytest
import rasterio
from fastapi.testclient import TestClient
from owslib.ogcapi.processes import Processes
from owslib.ogcapi.records import Records

from geoportal.core.resources import CHECKOUT
from geoportal.registry import load_registry
from geoportal.settings import Settings

REGISTRY = load_registry(CHECKOUT / "layers")


def _first_ref(url: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT ref FROM parcels ORDER BY id LIMIT 1").fetchone()
    assert row is not None
    return str(row[0])


def test_owslib_lists_the_catalogue_and_reads_every_dataset_record(
    live_server: str, demo_database_url: str
) -> None:
    catalogue = Records(f"{live_server}/pygeoapi")

    assert catalogue.records() == ["catalogue"]
    everything = catalogue.collection_items("catalogue", limit=50)
    assert everything["numberMatched"] == len(REGISTRY) + 1
    assert [r["id"] for r in everything["features"]] == [*REGISTRY.ids(), "flood-hazard"]
    parcels = catalogue.collection_item("catalogue", "parcels")
    with psycopg.connect(demo_database_url) as conn:
        count = conn.execute("SELECT count(*) FROM parcels").fetchone()
    assert count is not None and parcels["properties"]["features"] == count[0]
    assert parcels["properties"]["license"] == "ODbL-1.0"
    enclosures = [link["href"] for link in parcels["links"] if link["rel"] == "enclosure"]
    assert f"{live_server}/opendata/parcels.gpkg?crs=EPSG%3A26191" in enclosures
    download = httpx.get(f"{live_server}/opendata/prefectures.geojson")
    assert download.status_code == 200 and download.json()["type"] == "FeatureCollection"


@pytest.mark.parametrize(("q", "expected"), [
    ("parcelles", ["parcels"]),
    ("MEDIOUNA", ["prefectures"]),  # accents and case do not matter
    ("servitudes littoral", ["servitudes"]),
    ("التهيئة", ["plans", "zoning"]),  # Arabic titles are searched too
    ("aléa inondation", ["flood-hazard"]),
    ("nothing-like-this", []),
])
def test_the_catalogue_is_searchable_with_q(live_server: str, q: str,
                                            expected: list[str]) -> None:
    found = Records(f"{live_server}/pygeoapi").collection_items("catalogue", q=q)
    assert [r["id"] for r in found["features"]] == expected


def test_the_catalogue_filters_by_bbox_and_time(demo_client: TestClient) -> None:
    items = "/pygeoapi/collections/catalogue/items"
    inside = demo_client.get(items, params={"bbox": "-7.7,33.5,-7.5,33.6", "limit": 50})
    far = demo_client.get(items, params={"bbox": "2.2,48.8,2.4,48.9"})
    future = demo_client.get(items, params={"datetime": "2100-01-01T00:00:00Z/.."})

    # A table without geometry (zone_rules) has a record without geometry: in no bbox.
    assert inside.status_code == 200 and \
        inside.json()["numberMatched"] == len(REGISTRY.with_geometry())
    assert far.json()["numberMatched"] == 0 and future.json()["numberMatched"] == 0


def test_owslib_runs_parcel_rules_and_gets_the_answer_of_rules(
    live_server: str, demo_database_url: str
) -> None:
    ref = _first_ref(demo_database_url)
    processes = Processes(f"{live_server}/pygeoapi")

    assert "parcel-rules" in [p["id"] for p in processes.processes()]
    description = processes.process("parcel-rules")
    assert {"parcel", "lon", "lat", "geometry", "at"} <= set(description["inputs"])
    by_ref = processes.execute("parcel-rules", inputs={"parcel": ref})
    by_point = processes.execute("parcel-rules", inputs={"lon": -7.6189, "lat": 33.5883})

    assert by_ref["outputs"][0]["value"] == httpx.get(f"{live_server}/rules",
                                                      params={"parcel": ref}).json()
    assert by_point["outputs"][0]["value"] == httpx.get(
        f"{live_server}/rules", params={"lon": -7.6189, "lat": 33.5883}).json()


def test_parcel_rules_explains_what_is_wrong_with_the_inputs(live_server: str) -> None:
    processes = Processes(f"{live_server}/pygeoapi")
    with pytest.raises(RuntimeError, match=r"No registered plot has the land-title reference"):
        processes.execute("parcel-rules", inputs={"parcel": "TF 0/ZZ"})
    with pytest.raises(RuntimeError, match=r"give exactly one of"):
        processes.execute("parcel-rules", inputs={"parcel": "TF 1/C", "lon": 1, "lat": 2})


def test_the_flood_hazard_coverage_is_the_raster_file(
    demo_client: TestClient, demo_settings: Settings
) -> None:
    collection = demo_client.get("/pygeoapi/collections/flood-hazard", params={"f": "json"})
    coverage = demo_client.get("/pygeoapi/collections/flood-hazard/coverage",
                               params={"f": "GTiff"})

    assert collection.status_code == 200 and coverage.status_code == 200
    with rasterio.open(io.BytesIO(coverage.content)) as served, \
            rasterio.open(demo_settings.raster_dir / "flood_hazard.tif") as stored:
        assert served.crs.to_epsg() == 26191 and served.shape == stored.shape
        assert np.array_equal(served.read(1), stored.read(1))
        assert set(np.unique(served.read(1))) <= {0, 1, 2, 3, 255}


def test_pygeoapi_links_point_where_the_client_came_from(live_server: str) -> None:
    redirect = httpx.get(f"{live_server}/pygeoapi")
    landing = httpx.get(f"{live_server}/pygeoapi/", params={"f": "json"}).json()

    assert redirect.status_code == 308 and redirect.headers["location"].endswith("/pygeoapi/")
    self_links = [link["href"] for link in landing["links"] if link["rel"] == "self"]
    assert self_links and all(href.startswith(f"{live_server}/pygeoapi") for href in self_links)
