"""OGC API Features Part 2 (CRS): axis order, transformations, bbox-crs, Merchich accuracy."""

from __future__ import annotations

import psycopg
import pytest
from pyproj import Transformer

pytest_plugins = ["ogc_fixtures"]

# Parcel 1's first corner in storage (EPSG:26191, Merchich / Nord Maroc).
CORNER = (296620.0, 332690.0)


def _first_corner(client, **params) -> list[float]:
    body = client.get("/ogc/collections/parcels/items/1", params=params).json()
    return body["geometry"]["coordinates"][0][0][0]


def test_postgis_merchich_definition_carries_the_epsg_1166_towgs84(small_database_url):
    with psycopg.connect(small_database_url) as conn:
        proj4 = conn.execute("SELECT proj4text FROM spatial_ref_sys WHERE srid = 26191")
        text = proj4.fetchone()[0]
    assert "+towgs84=31,146,47" in text


def test_crs84_output_matches_proj_epsg_1166_to_the_centimetre(small_client):
    transformer = Transformer.from_crs("EPSG:26191", "EPSG:4326", always_xy=True)
    assert "Merchich to WGS 84 (1)" in transformer.description  # EPSG:1166, not ballpark
    lon, lat = transformer.transform(*CORNER)
    api_lon, api_lat = _first_corner(small_client)
    # 1e-7 degree is about 1 cm; the API rounds to 7 decimals.
    assert api_lon == pytest.approx(lon, abs=1.5e-7)
    assert api_lat == pytest.approx(lat, abs=1.5e-7)
    # and the no-op "ballpark" transform would be off by more than 100 m.
    ballpark = Transformer.from_pipeline(
        "+proj=pipeline +step +inv +proj=lcc +lat_1=33.3 +lat_0=33.3 +lon_0=-5.4 "
        "+k_0=0.999625769 +x_0=500000 +y_0=300000 +a=6378249.2 +b=6356515 "
        "+step +proj=unitconvert +xy_in=rad +xy_out=deg")
    b_lon, b_lat = ballpark.transform(*CORNER)
    assert abs(b_lon - api_lon) + abs(b_lat - api_lat) > 1e-3


def test_epsg_4326_output_is_in_lat_lon_order(small_client):
    lon, lat = _first_corner(small_client)
    assert _first_corner(small_client, crs="http://www.opengis.net/def/crs/EPSG/0/4326") == [
        lat, lon]


def test_storage_crs_output_is_the_stored_geometry_with_rings_by_the_right_hand_rule(
        small_client, small_database_url):
    # the same coordinates as stored; a clockwise exterior ring (parcel 5) is given in the
    # RFC 7946 order, counter-clockwise
    response = small_client.get("/ogc/collections/parcels/items/5",
                                params={"crs": "http://www.opengis.net/def/crs/EPSG/0/26191"})
    assert response.headers["content-crs"] == "<http://www.opengis.net/def/crs/EPSG/0/26191>"
    with psycopg.connect(small_database_url) as conn:
        stored = conn.execute("SELECT ST_AsGeoJSON(ST_ForcePolygonCCW(geom), 15)::json "
                              "FROM parcels WHERE id = 5")
        expected = stored.fetchone()[0]
    assert response.json()["geometry"]["coordinates"] == expected["coordinates"]


def test_web_mercator_output_matches_proj(small_client):
    x, y = _first_corner(small_client, crs="EPSG:3857")
    ex, ey = Transformer.from_crs("EPSG:26191", "EPSG:3857", always_xy=True).transform(*CORNER)
    assert x == pytest.approx(ex, abs=0.01) and y == pytest.approx(ey, abs=0.01)


def test_bbox_crs_takes_the_axis_order_of_its_crs(small_client):
    def ids(**params) -> list[int]:
        body = small_client.get("/ogc/collections/parcels/items", params=params).json()
        return sorted(f["id"] for f in body["features"])

    lon_lat = ids(bbox="-7.592,33.571,-7.588,33.575")
    assert lon_lat == [1, 2, 4]
    assert ids(bbox="33.571,-7.592,33.575,-7.588",
               **{"bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/4326"}) == lon_lat
    assert ids(bbox="296600,332680,296650,332720", **{"bbox-crs": "EPSG:26191"}) == [1]


def test_crs_list_is_offered_on_every_collection(small_client):
    for collection in small_client.get("/ogc/collections").json()["collections"]:
        if collection["id"] == "zone_rules":  # no geometry: CRS84 alone, no storage CRS
            assert collection["crs"] == ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"]
            assert "storageCrs" not in collection
            continue
        assert len(collection["crs"]) >= 4
        assert collection["storageCrs"].endswith("/EPSG/0/26191")
