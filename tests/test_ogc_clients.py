"""Real clients against the live service: GDAL's OAPIF driver, OWSLib, a QGIS-style reader."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import psycopg
import pytest
from owslib.ogcapi.features import Features

BBOX = [-7.60, 33.57, -7.59, 33.58]


def _count(database_url: str, sql: str, *args: object) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(sql, args).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return int(row[0])


def test_gdal_ogrinfo_lists_every_layer(live_server):
    out = subprocess.run(["ogrinfo", "-ro", "-q", f"OAPIF:{live_server}/ogc"],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    for layer in ("parcels", "zoning", "prefectures", "communes", "plans", "servitudes",
                  "reservations", "roads"):
        assert f": {layer} (" in out, out


def test_gdal_ogr2ogr_copies_the_whole_parcels_layer(live_server, demo_database_url,
                                                     tmp_path: Path):
    target = tmp_path / "parcels.gpkg"
    subprocess.run(["ogr2ogr", "-oo", "PAGE_SIZE=5000", "-f", "GPKG", str(target),
                    f"OAPIF:{live_server}/ogc", "parcels"],
                   capture_output=True, text=True, check=True, timeout=600)
    info = subprocess.run(["ogrinfo", "-so", str(target), "parcels"], capture_output=True,
                          text=True, check=True).stdout
    expected = _count(demo_database_url, "SELECT count(*) FROM parcels")
    assert f"Feature Count: {expected}\n" in info
    assert "ref: String" in info and "area_m2: Real" in info


def test_gdal_reads_a_bbox_through_the_spatial_filter(live_server, demo_database_url):
    out = subprocess.run(
        ["ogrinfo", "-ro", "-so", "-oo", "PAGE_SIZE=1000", "-spat", *map(str, BBOX),
         f"OAPIF:{live_server}/ogc", "parcels"],
        capture_output=True, text=True, check=True, timeout=300).stdout
    expected = _count(
        demo_database_url,
        "SELECT count(*) FROM parcels WHERE ST_Intersects(geom, ST_Transform("
        "ST_Segmentize(ST_MakeEnvelope(%s, %s, %s, %s, 4326), 0.00125), 26191))", *BBOX)
    assert expected > 0
    assert f"Feature Count: {expected}\n" in out


def test_owslib_reads_collections_items_with_bbox_and_filter(live_server, demo_database_url):
    api = Features(f"{live_server}/ogc")
    assert "parcels" in api.feature_collections()
    assert "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter" in \
        api.conformance()["conformsTo"]
    page = api.collection_items("parcels", bbox=BBOX, limit=7)
    assert page["numberReturned"] == 7 and len(page["features"]) == 7
    for feature in page["features"]:
        xs = [p[0] for p in feature["geometry"]["coordinates"][0][0]]
        assert min(xs) <= BBOX[2] + 0.01 and max(xs) >= BBOX[0] - 0.01
    filtered = api.collection_items("parcels", filter="area_m2 > 700 AND ref LIKE 'TF%'",
                                    limit=50)
    assert filtered["numberReturned"] > 0
    assert all(f["properties"]["area_m2"] > 700 for f in filtered["features"])
    assert "area_m2" in api.collection_queryables("parcels")["properties"]


@pytest.mark.parametrize("crs", ["http://www.opengis.net/def/crs/EPSG/0/4326"])
def test_qgis_style_paging_returns_every_feature_exactly_once(live_server, demo_database_url,
                                                              crs):
    # What QGIS sends: the map CRS, a bbox in that CRS (lat,lon axis order), limit at the max.
    lat_lon_bbox = "33.55,-7.62,33.59,-7.58"
    maximum = httpx.get(f"{live_server}/ogc/api").json()["components"]["parameters"][
        "limit"]["schema"]["maximum"]
    url: str | None = (f"{live_server}/ogc/collections/parcels/items?limit={min(maximum, 2000)}"
                       f"&crs={crs}&bbox-crs={crs}&bbox={lat_lon_bbox}")
    seen: list[int] = []
    pages = 0
    with httpx.Client(timeout=60) as client:
        while url:
            response = client.get(url, headers={"Accept": "application/geo+json"})
            assert response.status_code == 200
            assert response.headers["content-crs"] == f"<{crs}>"
            body = response.json()
            seen += [f["id"] for f in body["features"]]
            for feature in body["features"][:3]:
                lat, lon = feature["geometry"]["coordinates"][0][0][0]
                assert 33.5 < lat < 33.7 and -7.7 < lon < -7.5
            url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
            pages += 1
    expected = _count(
        demo_database_url,
        "SELECT count(*) FROM parcels WHERE ST_Intersects(geom, ST_Transform("
        "ST_Segmentize(ST_MakeEnvelope(-7.62, 33.55, -7.58, 33.59, 4326), 0.005), 26191))")
    assert pages > 1
    assert len(seen) == len(set(seen)) == expected


def test_jsonseq_download_of_a_whole_layer_matches_the_table(live_server, demo_database_url):
    with httpx.stream("GET", f"{live_server}/ogc/collections/parcels/items?f=jsonseq",
                      timeout=300) as response:
        assert response.headers["content-type"] == "application/geo+json-seq"
        records = sum(chunk.count(b"\x1e") for chunk in response.iter_bytes())
    assert records == _count(demo_database_url, "SELECT count(*) FROM parcels")


def test_gzip_applies_to_pages_and_streams(live_server):
    page = httpx.get(f"{live_server}/ogc/collections/parcels/items?limit=100",
                     headers={"Accept-Encoding": "gzip"})
    assert page.headers["content-encoding"] == "gzip" and page.json()["numberReturned"] == 100
    with httpx.stream("GET", f"{live_server}/ogc/collections/zoning/items?f=csv",
                      headers={"Accept-Encoding": "gzip"}) as response:
        assert response.headers["content-encoding"] == "gzip"
        text = b"".join(response.iter_bytes()).decode()
    assert text.startswith("id,code,plan_id,wkt\n") and text.count("MULTIPOLYGON") > 10
