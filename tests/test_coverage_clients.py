"""The flood-hazard coverage as GDAL's OGCAPI driver and OWSLib read it: the raster's exact
grid and values, its real extent and CRS, a named Byte band, scaling in every spelling, and
a bbox in the legal CRS answered, not crashed on.

GDAL 3.6's OGCAPI driver labels every coverage EPSG:4326 whatever its CRS (its code sets it
so); the grid it reads is the one in the domain set, here EPSG:26191, so the tests assign
that CRS to what GDAL writes (``-a_srs``) and compare cells and geotransforms.
"""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import rasterio
from fastapi.testclient import TestClient
from owslib.ogcapi.coverages import Coverages
from pyproj import Transformer

from geoportal.app import create_app
from geoportal.settings import Settings

PATH = "/pygeoapi/collections/flood-hazard"
EPSG_26191 = "http://www.opengis.net/def/crs/EPSG/0/26191"
NO_CACHE = ("-oo", "CACHE=NO")  # GDAL's WMS layer would keep blocks in ./gdalwmscache


@pytest.fixture(scope="module")
def stored(demo_settings: Settings) -> Iterator[rasterio.io.DatasetReader]:
    """The raster file the service serves."""
    with rasterio.open(demo_settings.raster_dir / "flood_hazard.tif") as raster:
        yield raster


def _gdal(*args: str) -> str:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_gdal_opens_the_coverage_on_the_raster_s_own_grid_with_a_byte_band(
    live_server: str, stored: rasterio.io.DatasetReader
) -> None:
    info = json.loads(_gdal("gdalinfo", "-json", *NO_CACHE, f"OGCAPI:{live_server}{PATH}"))

    assert info["size"] == [stored.width, stored.height] == [1300, 1100]
    assert info["geoTransform"] == list(stored.transform.to_gdal())
    assert [band["type"] for band in info["bands"]] == ["Byte"]


def test_gdal_translate_reads_every_cell_as_stored(
    live_server: str, stored: rasterio.io.DatasetReader, tmp_path: Path
) -> None:
    whole, half = tmp_path / "whole.tif", tmp_path / "half.tif"
    _gdal("gdal_translate", "-q", *NO_CACHE, "-a_srs", "EPSG:26191",
          f"OGCAPI:{live_server}{PATH}", str(whole))
    # half size: GDAL reads its overview through scaleSize, which takes the nearest cells
    _gdal("gdal_translate", "-q", *NO_CACHE, "-outsize", "50%", "50%",
          f"OGCAPI:{live_server}{PATH}", str(half))

    with rasterio.open(whole) as copy:
        assert copy.transform == stored.transform and copy.dtypes == ("uint8",)
        assert np.array_equal(copy.read(1), stored.read(1))
    with rasterio.open(half) as copy:
        assert copy.shape == (550, 650)
        assert np.array_equal(copy.read(1), stored.read(1)[1::2, 1::2])


def test_the_collection_advertises_the_raster_s_real_extent_and_crs(
    live_server: str, stored: rasterio.io.DatasetReader
) -> None:
    response = httpx.get(f"{live_server}{PATH}", params={"f": "json"})
    listed = httpx.get(f"{live_server}/pygeoapi/collections", params={"f": "json"}).json()
    doc = response.json()

    west, south, east, north = doc["extent"]["spatial"]["bbox"][0]
    to_lonlat = Transformer.from_crs("EPSG:26191", "OGC:CRS84", always_xy=True)
    left, bottom, right, top = stored.bounds
    edge = np.linspace(0, 1, 201)
    xs = np.concatenate([left + (right - left) * edge, np.full(201, right),
                         left + (right - left) * edge, np.full(201, left)])
    ys = np.concatenate([np.full(201, bottom), bottom + (top - bottom) * edge,
                         np.full(201, top), bottom + (top - bottom) * edge])
    lons, lats = to_lonlat.transform(xs, ys)
    assert west <= lons.min() and east >= lons.max() and south <= lats.min()
    assert north >= lats.max() > 33.825  # beyond the 33.8 the old configuration said
    assert max(lons.min() - west, east - lons.max(), lats.min() - south,
               north - lats.max()) < 1e-6  # and no wider
    assert doc["storageCrs"] == EPSG_26191 and EPSG_26191 in doc["crs"]
    assert "OGC/1.3/26191" not in response.text
    flood = next(c for c in listed["collections"] if c["id"] == "flood-hazard")
    assert flood["extent"]["spatial"]["bbox"][0] == [west, south, east, north]


def test_the_band_has_its_name_its_byte_type_and_its_classes(live_server: str) -> None:
    doc = httpx.get(f"{live_server}{PATH}", params={"f": "json"}).json()
    schema = httpx.get(f"{live_server}{PATH}/schema", params={"f": "json"})
    covjson = httpx.get(f"{live_server}{PATH}/coverage",
                        params={"f": "json", "bbox": "-7.60,33.55,-7.59,33.56"}).json()

    field = doc["rangetype"]["field"][0]
    assert field["name"] == "flood_hazard_class"
    assert field["definition"] == "ogcType:unsignedByte"
    assert field["nilValues"][0]["value"] == 255
    band = schema.json()["properties"]["flood_hazard_class"]
    assert schema.headers["content-type"] == "application/schema+json"
    assert band["type"] == "integer"
    assert band["x-ogc-definition"].endswith("/def/dataType/OGC/0/unsignedByte")
    assert [c["title"] for c in band["oneOf"]] == ["nul", "faible", "moyen", "fort"]
    assert list(covjson["parameters"]) == list(covjson["ranges"]) == ["flood_hazard_class"]
    assert covjson["ranges"]["flood_hazard_class"]["dataType"] == "integer"
    assert covjson["parameters"]["flood_hazard_class"]["categoryEncoding"][
        "flood_hazard_class:3"] == 3


def test_coveragejson_axes_run_from_cell_centre_to_cell_centre_in_50_m_steps(
    demo_client: TestClient, stored: rasterio.io.DatasetReader
) -> None:
    document = demo_client.get(f"{PATH}/coverage", params={"f": "json"}).json()

    x, y = document["domain"]["axes"]["x"], document["domain"]["axes"]["y"]
    assert (x["start"], x["stop"], x["num"]) == (270025.0, 334975.0, 1300)
    assert (y["start"], y["stop"], y["num"]) == (359975.0, 305025.0, 1100)
    assert (x["stop"] - x["start"]) / (x["num"] - 1) == 50.0
    assert (y["start"] - y["stop"]) / (y["num"] - 1) == 50.0
    assert document["domain"]["referencing"][0]["system"]["id"] == EPSG_26191
    values = np.array([255 if v is None else v
                       for v in document["ranges"]["flood_hazard_class"]["values"]])
    assert np.array_equal(values.reshape(1100, 1300), stored.read(1))


@pytest.mark.parametrize(("params", "shape"), [
    ({"scale-size": "X(130),Y(110)"}, (110, 130)),
    ({"scaleSize": "X(65),Y(55)"}, (55, 65)),
    ({"scale-size": "Y(10)"}, (10, 1300)),
    ({"scale-factor": "4"}, (275, 325)),
    ({"scaleFactor": "2.5"}, (440, 520)),
    ({"scale-axes": "X(2)"}, (1100, 650)),
    ({"scaleAxes": "X(10),Y(5)"}, (220, 130)),
    ({"subset": "X(290000:300000),Y(330000:340000)", "scale-size": "X(100),Y(50)"}, (50, 100)),
])
def test_scaling_is_honoured_in_every_spelling(demo_client: TestClient,
                                               params: dict[str, str],
                                               shape: tuple[int, int]) -> None:
    response = demo_client.get(f"{PATH}/coverage", params={"f": "GTiff", **params})

    assert response.status_code == 200, response.text
    with rasterio.open(io.BytesIO(response.content)) as served:
        assert served.shape == shape and served.crs.to_epsg() == 26191


def test_a_bbox_in_the_legal_crs_gives_the_stored_cells(
    demo_client: TestClient, stored: rasterio.io.DatasetReader
) -> None:
    response = demo_client.get(f"{PATH}/coverage", params={
        "f": "GTiff", "bbox": "296010,332020,299990,336000", "bbox-crs": EPSG_26191})
    curie = demo_client.get(f"{PATH}/coverage", params={
        "f": "GTiff", "bbox": "296010,332020,299990,336000", "bbox-crs": "EPSG:26191"})

    assert response.status_code == curie.status_code == 200
    assert response.content == curie.content
    with rasterio.open(io.BytesIO(response.content)) as served:
        assert served.bounds == (296000, 332000, 300000, 336000)  # whole cells
        window = stored.window(296000, 332000, 300000, 336000)
        assert np.array_equal(served.read(1), stored.read(1, window=window))


@pytest.mark.parametrize(("params", "french", "english"), [
    ({"bbox": "1,2,3,4", "bbox-crs": "EPSG:2154"}, "n'est pas proposé", "is not offered"),
    ({"bbox": "1,2,3,4", "bbox-crs": EPSG_26191}, "ne recoupe pas", "does not overlap"),
    ({"scale-size": "X(0)"}, "entier ≥ 1", "integer ≥ 1"),
    ({"scale-factor": "2", "scale-size": "X(3)"}, "s'excluent", "exclusive"),
    ({"subset": "X(290000)"}, "intervalle", "interval"),
    ({"f": "png"}, "non proposé", "not offered"),
])
def test_coverage_mistakes_are_400s_in_french_or_english(
    demo_client: TestClient, params: dict[str, str], french: str, english: str
) -> None:
    fr = demo_client.get(f"{PATH}/coverage", params=params)
    en = demo_client.get(f"{PATH}/coverage", params=params, headers={"Accept-Language": "en"})

    assert fr.status_code == en.status_code == 400
    assert french in fr.json()["description"] and english in en.json()["description"]


def test_samples_asked_past_the_raster_are_nodata(demo_client: TestClient,
                                                 stored: rasterio.io.DatasetReader) -> None:
    response = demo_client.get(f"{PATH}/coverage", params={
        "subset": "X(260000:280000),Y(350000:360000)", "scale-size": "X(400),Y(200)"})

    with rasterio.open(io.BytesIO(response.content)) as served:
        cells = served.read(1)
        assert served.bounds == (260000, 350000, 280000, 360000) and served.nodata == 255
    assert (cells[:, :200] == 255).all()  # west of the raster
    assert np.array_equal(cells[:, 200:], stored.read(1)[:200, :200])


def test_every_link_of_the_collection_resolves(live_server: str) -> None:
    doc = httpx.get(f"{live_server}{PATH}", params={"f": "json"}).json()

    for link in doc["links"]:
        response = httpx.get(link["href"], headers={"Accept": link["type"]}, timeout=60)
        assert response.status_code == 200, link
        assert response.headers["content-type"].split(";")[0] == link["type"].split(";")[0]


def test_owslib_reads_the_coverage_and_a_scaled_subset(
    live_server: str, stored: rasterio.io.DatasetReader
) -> None:
    api = Coverages(f"{live_server}/pygeoapi")
    whole = api.coverage("flood-hazard")
    part = api.coverage("flood-hazard", subset={"X": (290000, 300000), "Y": (330000, 340000)},
                        scale_size={"X": 100, "Y": 100})

    assert api.coverages() == ["flood-hazard"]
    assert api.collection("flood-hazard")["storageCrs"] == EPSG_26191
    with rasterio.open(whole) as served:
        assert np.array_equal(served.read(1), stored.read(1))
    with rasterio.open(part) as served:
        assert served.shape == (100, 100)
        assert served.bounds == (290000, 330000, 300000, 340000)


def test_a_coverage_answers_byte_ranges_and_not_modified(demo_client: TestClient) -> None:
    url = f"{PATH}/coverage"
    whole = demo_client.get(url, params={"f": "GTiff"})
    part = demo_client.get(url, params={"f": "GTiff"}, headers={"Range": "bytes=0-3"})
    again = demo_client.get(url, params={"f": "GTiff"},
                            headers={"If-None-Match": whole.headers["etag"]})

    assert whole.headers["content-length"] == str(len(whole.content))
    assert whole.headers["content-crs"] == f"<{EPSG_26191}>"
    assert part.status_code == 206 and part.content == whole.content[:4] == b"II*\x00"
    assert again.status_code == 304


def test_a_raster_missing_from_this_server_is_a_404(tmp_path: Path) -> None:
    settings = Settings(database_url="postgresql://u@127.0.0.1:9/none", data_dir=tmp_path)
    with TestClient(create_app(settings)) as client:
        coverage = client.get(f"{PATH}/coverage")
        domainset = client.get(f"{PATH}/coverage/domainset", headers={"Accept-Language": "en"})

    assert coverage.status_code == domainset.status_code == 404
    assert "n'est pas chargé" in coverage.json()["description"]
    assert "not loaded" in domainset.json()["description"]
