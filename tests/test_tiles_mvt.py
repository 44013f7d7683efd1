"""Vector tiles from PostGIS: content, zoom rules, simplification, errors, validators, cache.

Tiles are decoded by GDAL's MVT driver (through pyogrio), a real independent reader.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import asyncpg
import psycopg
import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer
from starlette.routing import Match

from geoportal.app import create_app
from geoportal.core.routing import TriedFirst
from geoportal.ogc import ITEM_PATHS
from geoportal.registry import load_registry
from geoportal.settings import Settings
from geoportal.tiles.grid import fit_affine, storage_footprint, tile_address
from geoportal.tiles.routes import TILE_PATHS
from geoportal.tiles.service import TileService
from geoportal.tiles.sql import layer_tile_sql

FIXTURE = Path(__file__).parent / "fixtures" / "tiles.sql"
PLOTS_Z15 = "15/15693/13136"  # holds the 100 hand-made plots around (296600, 332700)
TO_LONLAT = Transformer.from_crs("EPSG:26191", "EPSG:4326", always_xy=True)


@pytest.fixture(scope="module")
def tiles_database(sql_database: Callable[[str, Path], str]) -> str:
    """A migrated database holding the small hand-made area of tests/fixtures/tiles.sql."""
    return sql_database("tiles", FIXTURE)


@pytest.fixture(scope="module")
def client(tiles_database: str) -> Iterator[TestClient]:
    """The app on that database, re-reading data versions on every request."""
    settings = Settings(database_url=tiles_database, tiles_version_check_s=0)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def decode(body: bytes, address: str, tmp_path: Path) -> dict[str, list[dict[str, object]]]:
    """Layer name → features (properties + shapely geometry in lon/lat), read by GDAL."""
    path = tmp_path / f"{address}.pbf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    layers: dict[str, list[dict[str, object]]] = {}
    for name, _ in pyogrio.list_layers(path):
        meta, _, geometries, fields = pyogrio.raw.read(path, layer=name)
        to_lonlat = Transformer.from_crs(meta["crs"], "EPSG:4326", always_xy=True)
        features = []
        for i, wkb in enumerate(geometries):
            shape = shapely.transform(shapely.from_wkb(wkb), partial(_project, to_lonlat))
            props = {column: values[i] for column, values in zip(meta["fields"], fields,
                                                                  strict=True)}
            features.append({"geometry": shape, **props})
        layers[str(name)] = features
    return layers


def _project(transformer: Transformer, xy: shapely.typing.NDArray) -> shapely.typing.NDArray:
    x, y = transformer.transform(xy[:, 0], xy[:, 1])
    xy[:, 0], xy[:, 1] = x, y
    return xy


def test_a_z15_parcel_tile_holds_every_plot_with_only_the_tile_attributes(
    client: TestClient, tmp_path: Path
) -> None:
    response = client.get(f"/ogc/collections/parcels/tiles/WebMercatorQuad/{PLOTS_Z15}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    layers = decode(response.content, PLOTS_Z15, tmp_path)
    assert list(layers) == ["parcels"]
    plots = layers["parcels"]
    assert len(plots) == 100
    assert {"ref", "area_m2"} <= set(plots[0]) and "updated_at" not in plots[0]
    by_ref = {p["ref"]: p for p in plots}
    assert by_ref["TF 5000/C"]["area_m2"] == pytest.approx(400.0)
    # The first plot lies where EPSG:26191 (296510, 332610) is, to a few metres.
    lon, lat = TO_LONLAT.transform(296510, 332610)
    centre = by_ref["TF 5000/C"]["geometry"].centroid  # type: ignore[union-attr]
    assert centre.x == pytest.approx(lon, abs=5e-5) and centre.y == pytest.approx(lat, abs=5e-5)


def test_parcels_are_not_in_tiles_below_their_minimum_zoom(client: TestClient) -> None:
    response = client.get("/ogc/collections/parcels/tiles/WebMercatorQuad/14/7846/6568")
    assert response.status_code == 204
    assert response.content == b""


def test_a_tile_far_from_the_data_is_empty(client: TestClient) -> None:
    paris = client.get("/ogc/collections/zoning/tiles/WebMercatorQuad/12/2074/1409")
    atlantic = client.get("/ogc/collections/zoning/tiles/WebMercatorQuad/3/2/3")
    assert paris.status_code == atlantic.status_code == 204
    assert "etag" in paris.headers


def test_the_whole_world_tile_holds_the_territory(client: TestClient, tmp_path: Path) -> None:
    world = client.get("/ogc/tiles/WebMercatorQuad/0/0/0")
    assert world.status_code == 200
    layers = decode(world.content, "0/0/0", tmp_path)
    assert [f["code"] for f in layers["prefectures"]] == ["CASA"]
    assert "zoning" not in layers


def test_the_zoning_tile_carries_zone_codes(client: TestClient, tmp_path: Path) -> None:
    address = "13/3923/3284"
    response = client.get(f"/ogc/collections/zoning/tiles/WebMercatorQuad/{address}")
    assert response.status_code == 200
    zones = decode(response.content, address, tmp_path)["zoning"]
    assert sorted(z["code"] for z in zones) == ["B", "V"]


def test_a_20000_vertex_polygon_is_simplified_by_zoom(client: TestClient,
                                                      tmp_path: Path) -> None:
    low = client.get("/ogc/collections/servitudes/tiles/WebMercatorQuad/9/245/205")
    assert low.status_code == 200
    shape = decode(low.content, "9/245/205", tmp_path)["servitudes"][0]["geometry"]
    assert len(low.content) < 1500
    assert shapely.get_num_coordinates(shape) < 100  # 20,001 in the database


def _scope(path: str, method: str = "GET") -> dict[str, object]:
    return {"type": "http", "method": method, "path": path, "root_path": "",
            "query_string": b"", "headers": []}


def test_a_tile_is_matched_first_by_the_route_that_would_serve_it_anyway(
        client: TestClient) -> None:
    """The tiles router is tried before the others for tile paths only, and for those no
    earlier route would have answered: trying it first changes the speed, not the answer."""
    routes = client.app.router.routes  # type: ignore[attr-defined]
    tried = {r.pattern.pattern: r for r in routes[:3] if isinstance(r, TriedFirst)}
    assert set(tried) == {TILE_PATHS, ITEM_PATHS, r"/rules$"}  # tiles, one feature, /rules
    first = tried[TILE_PATHS]
    rest = [r for r in routes if not isinstance(r, TriedFirst)]
    tiles = [f"/ogc/collections/parcels/tiles/WebMercatorQuad/{PLOTS_Z15}",
             f"/ogc/collections/parcels/tiles/WebMercatorQuad/{PLOTS_Z15}.mvt",
             f"/ogc/tiles/WebMercatorQuad/{PLOTS_Z15}.pbf",
             f"/ogc/tiles/WebMercatorQuad/{PLOTS_Z15}",
             "/ogc/collections/parcels/tiles/WebMercatorQuad/a/0/0"]
    for path in tiles:
        assert first.matches(_scope(path))[0] is Match.FULL, path
        in_order = next(r for r in rest if r.matches(_scope(path))[0] is not Match.NONE)
        assert in_order is first.included, path
    assert first.matches(_scope(tiles[0], "POST"))[0] is Match.PARTIAL  # still a 405
    others = ["/ogc/collections/parcels/items/1", "/ogc/collections/parcels/tiles/WebMercatorQuad",
              "/ogc/tileMatrixSets/WebMercatorQuad", "/ogc/collections/parcels/items", "/rules",
              "/ogc/collections/parcels/tiles/WebMercatorQuad/15/1/2/3"]
    for path in others:
        assert first.matches(_scope(path))[0] is Match.NONE, path
    # /rules, the most frequent point question, is tried first by the router that serves it.
    rules = tried[r"/rules$"]
    for method in ("GET", "POST"):
        assert rules.matches(_scope("/rules", method))[0] is Match.FULL
        in_order = next(r for r in rest
                        if r.matches(_scope("/rules", method))[0] is not Match.NONE)
        assert in_order is rules.included
    for path in ("/rules/batch", "/rules/note", "/ogc/collections/rules", "/rules/"):
        assert rules.matches(_scope(path))[0] is Match.NONE, path
    assert client.get("/rules?lon=-7.6&lat=33.57").status_code == 200
    # One feature (read, and its edits) is tried first by the OGC router that serves it.
    item = tried[ITEM_PATHS]
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        assert item.matches(_scope("/ogc/collections/parcels/items/1", method))[0] is Match.FULL
        in_order = next(r for r in rest if r.matches(
            _scope("/ogc/collections/parcels/items/1", method))[0] is not Match.NONE)
        assert in_order is item.included
    for path in ("/ogc/collections/parcels/items", "/ogc/collections/parcels/items/1/history",
                 "/ogc/collections/parcels"):
        assert item.matches(_scope(path))[0] is Match.NONE, path
    assert client.get("/ogc/collections/parcels/items/1").status_code == 200
    # Served through the whole app: GET, and HEAD (a GET without its body).
    assert client.get(f"/ogc/tiles/WebMercatorQuad/{PLOTS_Z15}").status_code == 200
    assert client.head(f"/ogc/collections/parcels/tiles/WebMercatorQuad/{PLOTS_Z15}.mvt"
                       ).headers["content-type"] == "application/vnd.mapbox-vector-tile"


def test_out_of_range_tiles_and_unknown_names_are_client_errors(client: TestClient) -> None:
    base = "/ogc/collections/parcels/tiles"
    assert client.get(f"{base}/WebMercatorQuad/25/0/0").status_code == 400
    assert client.get(f"{base}/WebMercatorQuad/-1/0/0").status_code == 400
    assert client.get(f"{base}/WebMercatorQuad/3/8/0").status_code == 404
    assert client.get(f"{base}/WebMercatorQuad/3/0/-1").status_code == 404
    assert client.get(f"{base}/WebMercatorQuad/a/0/0").status_code == 400
    assert client.get(f"{base}/WorldCRS84Quad/3/0/0").status_code == 404
    missing = client.get("/ogc/collections/nope/tiles/WebMercatorQuad/3/0/0")
    assert missing.status_code == 404 and "nope" in missing.json()["description"]
    bad = client.get("/ogc/tiles/WebMercatorQuad/15/15693/13136?collections=parcels,nope")
    assert bad.status_code == 400 and "nope" in bad.json()["description"]


def test_tiles_carry_validators_and_answer_304_when_unchanged(client: TestClient) -> None:
    url = f"/ogc/collections/parcels/tiles/WebMercatorQuad/{PLOTS_Z15}"
    first = client.get(url)
    etag = first.headers["etag"]
    assert etag.startswith('"') and first.headers["cache-control"].startswith("public, max-age=")
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag
    other = client.get("/ogc/collections/zoning/tiles/WebMercatorQuad/15/15693/13136")
    assert other.headers["etag"] != etag


def test_tiles_are_sent_gzipped_to_clients_that_accept_it(client: TestClient) -> None:
    url = f"/ogc/collections/parcels/tiles/WebMercatorQuad/{PLOTS_Z15}"
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    raw = client.get(url, headers={"Accept-Encoding": "gzip"}, extensions={})
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.content == plain.content  # httpx decoded it
    assert len(gzip.compress(plain.content)) < len(plain.content)


def test_editing_a_plot_changes_its_tile(client: TestClient, tiles_database: str,
                                         tmp_path: Path) -> None:
    url = f"/ogc/collections/parcels/tiles/WebMercatorQuad/{PLOTS_Z15}"
    before = client.get(url)
    cached = client.get(url)
    assert cached.content == before.content and cached.headers["etag"] == before.headers["etag"]
    with psycopg.connect(tiles_database, autocommit=True) as conn:
        conn.execute("UPDATE parcels SET ref = 'TF 99999/C' WHERE ref = 'TF 5000/C'")
    after = client.get(url)
    assert after.headers["etag"] != before.headers["etag"]
    refs = {p["ref"] for p in decode(after.content, PLOTS_Z15, tmp_path)["parcels"]}
    assert "TF 99999/C" in refs and "TF 5000/C" not in refs
    stale = client.get(url, headers={"If-None-Match": before.headers["etag"]})
    assert stale.status_code == 200


def test_the_viewer_tile_combines_the_layers_legible_at_its_zoom(client: TestClient,
                                                                 tmp_path: Path) -> None:
    z15 = client.get(f"/ogc/tiles/WebMercatorQuad/{PLOTS_Z15}")
    layers = decode(z15.content, PLOTS_Z15, tmp_path)
    assert {"prefectures", "communes", "plans", "zoning", "roads", "parcels"} <= set(layers)
    assert layers["roads"][0]["name"] == "Boulevard de test"
    z12 = client.get("/ogc/tiles/WebMercatorQuad/12/1961/1642")
    assert z12.status_code == 200
    low = decode(z12.content, "12/1961/1642", tmp_path / "z12")
    assert "parcels" not in low and "zoning" in low
    # One label point per labelled polygon, only in the tile that holds it.
    assert [f["name_fr"] for f in low["communes_labels"]] == ["Casablanca-Anfa"]
    only = client.get(f"/ogc/tiles/WebMercatorQuad/{PLOTS_Z15}?collections=roads")
    assert list(decode(only.content, PLOTS_Z15, tmp_path / "only")) == ["roads"]


def test_the_tile_cache_keeps_each_tile_once(client: TestClient) -> None:
    service = client.app.state.services.get(TileService)  # type: ignore[attr-defined]
    url = "/ogc/collections/communes/tiles/WebMercatorQuad/14/7846/6568"
    first = client.get(url)
    held = len(service.cache)
    second = client.get(url)
    assert second.content == first.content
    assert len(service.cache) == held


def test_the_affine_shortcut_draws_the_same_tile_as_st_transform(tiles_database: str,
                                                                  tmp_path: Path) -> None:
    layer = load_registry(Settings().layers_dir).get("parcels")
    assert layer is not None
    tile = tile_address(15, 15693, 13136)
    footprint = storage_footprint(tile)
    assert footprint is not None and footprint.to_mercator and footprint.to_tile
    assert fit_affine(tile_address(9, 245, 205)) is None  # too large a tile: real transform
    base = (tile.z, tile.x, tile.y, footprint.xmin, footprint.ymin, footprint.xmax,
            footprint.ymax)

    async def both() -> tuple[bytes, bytes]:
        conn = await asyncpg.connect(tiles_database)
        try:
            exact = await conn.fetchval(layer_tile_sql(layer, affine=False), *base,
                                        footprint.unit_m)
            fast = await conn.fetchval(layer_tile_sql(layer, affine=True), *base,
                                       *footprint.to_mercator, *footprint.to_tile)
        finally:
            await conn.close()
        return exact, fast

    exact, fast = asyncio.run(both())
    shapes = {}
    for name, body in (("exact", exact), ("fast", fast)):
        plots = decode(body, PLOTS_Z15, tmp_path / name)["parcels"]
        shapes[name] = {p["ref"]: p["geometry"] for p in plots}
    assert shapes["exact"].keys() == shapes["fast"].keys()
    one_unit_deg = footprint.unit_m / 111_000 * 1.5
    for ref, shape in shapes["exact"].items():
        assert shapely.hausdorff_distance(shape, shapes["fast"][ref]) < one_unit_deg
