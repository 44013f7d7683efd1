"""OGC API Tiles documents: tileset lists, tileset metadata, TileJSON, the tile matrix set."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from geoportal.app import create_app
from geoportal.settings import Settings

FIXTURE = Path(__file__).parent / "fixtures" / "tiles.sql"


@pytest.fixture(scope="module")
def client(sql_database: Callable[[str, Path], str]) -> Iterator[TestClient]:
    """The app on the small hand-made area."""
    url = sql_database("tiles_meta", FIXTURE)
    with TestClient(create_app(Settings(database_url=url))) as test_client:
        yield test_client


def link(document: dict[str, object], rel: str) -> dict[str, object]:
    """The first link of that relation."""
    links = document["links"]
    assert isinstance(links, list)
    return next(item for item in links if item["rel"] == rel)


def test_a_collection_lists_one_webmercatorquad_tileset(client: TestClient) -> None:
    body = client.get("/ogc/collections/zoning/tiles").json()
    [tileset] = body["tilesets"]
    assert tileset["tileMatrixSetURI"].endswith("/WebMercatorQuad")
    assert tileset["dataType"] == "vector"
    item = link(tileset, "item")
    assert item["templated"] is True and item["type"] == "application/vnd.mapbox-vector-tile"
    assert str(item["href"]).endswith(
        "/ogc/collections/zoning/tiles/WebMercatorQuad/{tileMatrix}/{tileCol}/{tileRow}")
    scheme = link(tileset, "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme")
    assert client.get(str(scheme["href"])).json()["id"] == "WebMercatorQuad"


def test_the_tileset_metadata_describes_the_layer_and_its_tile_attributes(
    client: TestClient,
) -> None:
    body = client.get("/ogc/collections/parcels/tiles/WebMercatorQuad").json()
    [layer] = body["layers"]
    assert layer["id"] == "parcels" and layer["minTileMatrix"] == "15"
    assert set(layer["propertiesSchema"]["properties"]) == {"ref", "area_m2"}
    west, south = body["boundingBox"]["lowerLeft"]
    east, north = body["boundingBox"]["upperRight"]
    assert -7.592 < west < east < -7.588 and 33.571 < south < north < 33.575
    limits = {limit["tileMatrix"]: limit for limit in body["tileMatrixSetLimits"]}
    assert limits["15"]["minTileCol"] == 15693 and limits["15"]["minTileRow"] == 13136
    template = str(link(body, "item")["href"])
    url = template.format(tileMatrix=15, tileCol=15693, tileRow=13136)
    assert client.get(url).status_code == 200


def test_tilejson_points_at_working_tiles(client: TestClient) -> None:
    body = client.get("/ogc/collections/zoning/tiles/WebMercatorQuad?f=tilejson").json()
    assert body["tilejson"] == "3.0.0" and body["minzoom"] == 9
    assert body["vector_layers"][0]["fields"] == {"code": "String", "plan_id": "Number"}
    url = body["tiles"][0].format(z=13, x=3923, y=3284)
    assert client.get(url).status_code == 200


def test_the_dataset_tileset_names_every_layer(client: TestClient) -> None:
    body = client.get("/ogc/tiles/WebMercatorQuad?f=tilejson").json()
    ids = [layer["id"] for layer in body["vector_layers"]]
    assert {"prefectures", "communes", "zoning", "servitudes", "roads", "parcels"} <= set(ids)
    assert body["minzoom"] == 0
    listing = client.get("/ogc/tiles").json()
    assert link(listing["tilesets"][0], "item")["templated"] is True
    assert client.get("/ogc/tiles/WebMercatorQuad").json()["layers"]


def test_unknown_formats_and_tile_matrix_sets_are_refused(client: TestClient) -> None:
    assert client.get("/ogc/collections/zoning/tiles/WebMercatorQuad?f=xml").status_code == 400
    assert client.get("/ogc/collections/zoning/tiles/GoogleCRS84Quad").status_code == 404
    assert client.get("/ogc/tileMatrixSets/Nope").status_code == 404
    sets = client.get("/ogc/tileMatrixSets").json()["tileMatrixSets"]
    assert [s["id"] for s in sets] == ["WebMercatorQuad"]


def test_links_follow_the_configured_public_url(fresh_database: Callable[[str], str]) -> None:
    settings = Settings(database_url=fresh_database("tiles_public"),
                        public_url="https://geoportail.example.ma/")
    with TestClient(create_app(settings)) as proxied:
        body = proxied.get("/ogc/collections/zoning/tiles").json()
    href = str(link(body["tilesets"][0], "self")["href"])
    assert href == "https://geoportail.example.ma/ogc/collections/zoning/tiles/WebMercatorQuad"
