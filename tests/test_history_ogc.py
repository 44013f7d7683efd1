"""Time travel in the OGC API: ``at=`` on items, one item and tiles; a feature's history.

A small demo database of its own (2,000 plots, a baseline valid since ever), then edits made
as the owner in SQL within a transaction that names its actor: one plot grown by 2 m, one
deleted. Reads ``at`` a moment before the edits show the old data, after them the new.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pyogrio
import pytest
from fastapi.testclient import TestClient
from history_world import database_now, edit, utc_text

from geoportal.app import create_app
from geoportal.demo.load import load_demo
from geoportal.settings import Settings

ENGLISH = {"Accept-Language": "en"}
STORAGE_CRS = "http://www.opengis.net/def/crs/EPSG/0/26191"
LONG_AGO = "2020-01-01"  # before any edit, long settled: the demo baseline


@dataclass(frozen=True)
class Plot:
    id: int
    ref: str
    area_m2: float
    lon: float
    lat: float


@dataclass(frozen=True)
class EditedWorld:
    url: str
    grown: Plot
    deleted: Plot
    before: dt.datetime
    after: dt.datetime
    tile_before_edit: bytes


def _plot(conn: psycopg.Connection[Any], offset: int) -> Plot:
    row = conn.execute(
        "SELECT id, ref, area_m2, ST_X(p), ST_Y(p) FROM (SELECT *, "
        "ST_Transform(ST_PointOnSurface(geom), 4326) AS p FROM parcels) t "
        "WHERE area_m2 > 200 ORDER BY id OFFSET %s LIMIT 1", (offset,)).fetchone()
    assert row is not None
    return Plot(*row)


def tile_of(plot: Plot, z: int = 17) -> str:
    """The z/x/y of the WebMercatorQuad tile holding the plot's inner point."""
    n = 2 ** z
    x = int((plot.lon + 180) / 360 * n)
    lat = math.radians(plot.lat)
    y = int((1 - math.log(math.tan(lat) + 1 / math.cos(lat)) / math.pi) / 2 * n)
    return f"{z}/{x}/{y}"


@pytest.fixture(scope="module")
def world(fresh_database: Callable[[str], str],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[EditedWorld]:
    url = fresh_database("history_ogc")
    load_demo(url, parcels=2000, seed=11, raster_dir=tmp_path_factory.mktemp("rasters"))
    with psycopg.connect(url) as conn:
        grown, deleted = _plot(conn, 0), _plot(conn, 1)
    settings = Settings(database_url=url, tiles_version_check_s=0)
    with TestClient(create_app(settings)) as client:
        tile = client.get(f"/ogc/collections/parcels/tiles/WebMercatorQuad/{tile_of(deleted)}")
        assert tile.status_code == 200
    before = database_now(url)
    after_edit = edit(
        url, "test:alice",
        ("UPDATE parcels SET geom = ST_Multi(ST_Buffer(geom, 2, 'join=mitre')) WHERE id = %s",
         (grown.id,)),
        ("DELETE FROM parcels WHERE id = %s", (deleted.id,)),
        comment="limites corrigées")
    assert before < after_edit
    yield EditedWorld(url, grown, deleted, before, database_now(url), tile.content)


@pytest.fixture(scope="module")
def client(world: EditedWorld) -> Iterator[TestClient]:
    settings = Settings(database_url=world.url, tiles_version_check_s=0)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def features(client: TestClient, ref: str, **params: str) -> list[dict[str, Any]]:
    response = client.get("/ogc/collections/parcels/items", params={"ref": ref, **params})
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["features"]
    return found


def test_items_at_a_moment_before_an_edit_show_the_old_data_and_after_it_the_new(
        client: TestClient, world: EditedWorld) -> None:
    grown = world.grown
    [then] = features(client, grown.ref, at=utc_text(world.before))
    [later] = features(client, grown.ref, at=utc_text(world.after))
    [now] = features(client, grown.ref)
    assert then["properties"]["area_m2"] == grown.area_m2
    assert later["properties"]["area_m2"] > grown.area_m2 + 10
    assert now == later


def test_a_deleted_feature_is_in_the_items_of_a_moment_before_its_deletion(
        client: TestClient, world: EditedWorld) -> None:
    [then] = features(client, world.deleted.ref, at=utc_text(world.before))
    assert then["id"] == world.deleted.id
    assert features(client, world.deleted.ref) == []
    assert features(client, world.deleted.ref, at=utc_text(world.after)) == []
    for fmt in ("csv", "jsonseq"):
        then_all = client.get("/ogc/collections/parcels/items",
                              params={"f": fmt, "at": utc_text(world.before)})
        now_all = client.get("/ogc/collections/parcels/items", params={"f": fmt})
        assert world.deleted.ref in then_all.text and world.deleted.ref not in now_all.text
        assert not then_all.headers["etag"].startswith("W/")


def test_one_item_at_a_moment_is_the_feature_as_it_stood_then(
        client: TestClient, world: EditedWorld) -> None:
    base = "/ogc/collections/parcels/items"
    then = client.get(f"{base}/{world.grown.id}", params={"at": utc_text(world.before)})
    assert then.status_code == 200
    assert then.json()["properties"]["area_m2"] == world.grown.area_m2
    gone = client.get(f"{base}/{world.deleted.id}")
    assert gone.status_code == 404
    was = client.get(f"{base}/{world.deleted.id}", params={"at": utc_text(world.before)})
    assert was.status_code == 200 and was.json()["properties"]["ref"] == world.deleted.ref
    after = client.get(f"{base}/{world.deleted.id}", params={"at": utc_text(world.after)})
    assert after.status_code == 404
    assert "n'existait pas" in after.json()["description"]
    assert {"rel": "version-history"}.items() <= next(
        link for link in then.json()["links"] if link["rel"] == "version-history").items()


def test_the_history_of_an_edited_feature_gives_each_version_with_who_and_when(
        client: TestClient, world: EditedWorld) -> None:
    response = client.get(f"/ogc/collections/parcels/items/{world.grown.id}/history")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    doc = response.json()
    assert (doc["order"], doc["deleted"], doc["numberMatched"]) == ("newest first", False, 2)
    update, create = doc["versions"]
    assert (update["operation"], update["version"], update["changed_by"]) == (
        "update", 2, "test:alice")
    assert update["valid_to"] is None and update["changeset_id"] > 0
    assert (create["operation"], create["version"], create["changed_by"]) == (
        "create", 1, "baseline")
    assert create["valid_from"] is None  # the demo is older than history
    assert create["valid_to"] == update["valid_from"]
    assert create["feature"]["properties"]["area_m2"] == world.grown.area_m2
    assert update["feature"]["properties"]["area_m2"] > world.grown.area_m2
    lon, lat = update["feature"]["geometry"]["coordinates"][0][0][0]
    assert -8 < lon < -7 and 33 < lat < 34  # CRS84 by default
    assert world.before < dt.datetime.fromisoformat(update["valid_from"]) <= world.after
    rels = {link["rel"]: link["href"] for link in doc["links"]}
    assert rels["latest-version"].endswith(f"/ogc/collections/parcels/items/{world.grown.id}"
                                           "?f=json")
    assert rels["collection"].endswith("/ogc/collections/parcels?f=json")


def test_a_version_s_valid_from_read_back_as_at_gives_that_version(
        client: TestClient, world: EditedWorld) -> None:
    doc = client.get(f"/ogc/collections/parcels/items/{world.grown.id}/history").json()
    update = doc["versions"][0]
    item = client.get(f"/ogc/collections/parcels/items/{world.grown.id}",
                      params={"at": update["valid_from"]})
    assert item.json()["properties"] == update["feature"]["properties"]


def test_a_deleted_feature_keeps_a_readable_history_ending_with_its_deletion(
        client: TestClient, world: EditedWorld) -> None:
    response = client.get(f"/ogc/collections/parcels/items/{world.deleted.id}/history")
    assert response.status_code == 200
    doc = response.json()
    assert doc["deleted"] is True
    deletion, create = doc["versions"]
    assert (deletion["operation"], deletion["changed_by"], deletion["feature"]) == (
        "delete", "test:alice", None)
    assert deletion["valid_from"] == create["valid_to"]
    assert create["feature"]["properties"]["ref"] == world.deleted.ref
    assert "latest-version" not in {link["rel"] for link in doc["links"]}


def test_the_history_of_an_id_that_never_existed_is_a_404_in_french(
        client: TestClient) -> None:
    for fid in ("987654321", "abc", "99999999999999999999999"):
        response = client.get(f"/ogc/collections/parcels/items/{fid}/history")
        assert response.status_code == 404
        assert "n'a jamais existé" in response.json()["description"]
    english = client.get("/ogc/collections/parcels/items/987654321/history", headers=ENGLISH)
    assert "never existed" in english.json()["description"]
    assert client.get("/ogc/collections/nope/items/1/history").status_code == 404


def test_the_history_honours_crs_paging_and_refuses_unknown_parameters(
        client: TestClient, world: EditedWorld) -> None:
    path = f"/ogc/collections/parcels/items/{world.grown.id}/history"
    stored = client.get(path, params={"crs": STORAGE_CRS})
    assert stored.headers["content-crs"] == f"<{STORAGE_CRS}>"
    x, y = stored.json()["versions"][0]["feature"]["geometry"]["coordinates"][0][0][0]
    assert x > 100_000 and y > 100_000
    first = client.get(path, params={"limit": "1"}).json()
    assert [v["version"] for v in first["versions"]] == [2]
    older = next(link["href"] for link in first["links"] if link["rel"] == "next")
    assert [v["version"] for v in client.get(older).json()["versions"]] == [1]
    refused = client.get(path, params={"at": "2020-01-01"})
    assert refused.status_code == 400 and "inconnu" in refused.json()["description"]


def test_the_history_page_in_html_shows_each_version_and_what_changed(
        client: TestClient, world: EditedWorld) -> None:
    path = f"/ogc/collections/parcels/items/{world.grown.id}/history"
    for response in (client.get(path, params={"f": "html"}),
                     client.get(path, headers={"Accept": "text/html"})):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        page = response.text
        assert "historique" in page and "test:alice" in page and "modification" in page
        assert "<mark>" in page and "<script" not in page
        assert "<svg" in page


def test_items_pages_of_a_moment_carry_that_moment_in_their_next_links(
        client: TestClient, world: EditedWorld) -> None:
    first = client.get("/ogc/collections/parcels/items",
                       params={"limit": "3", "at": utc_text(world.before)}).json()
    assert "timeStamp" not in first
    href = next(link["href"] for link in first["links"] if link["rel"] == "next")
    assert "at=" in href
    second = client.get(href)
    assert second.status_code == 200
    ids = [f["id"] for f in first["features"] + second.json()["features"]]
    assert ids == sorted(ids) and len(set(ids)) == 6
    today = client.get("/ogc/collections/parcels/items",
                       params={"limit": "3", "at": dt.date.today().isoformat()}).json()
    today_next = next(link["href"] for link in today["links"] if link["rel"] == "next")
    assert "at=20" in today_next and "T" in today_next.split("at=")[1]  # resolved: fixed


def test_a_settled_moment_is_cached_for_a_year_under_a_strong_etag(
        client: TestClient) -> None:
    path = "/ogc/collections/parcels/items"
    response = client.get(path, params={"limit": "5", "at": LONG_AGO})
    assert response.status_code == 200
    etag = response.headers["etag"]
    assert not etag.startswith("W/")
    assert "immutable" in response.headers["cache-control"]
    assert "max-age=31536000" in response.headers["cache-control"]
    again = client.get(path, params={"limit": "5", "at": LONG_AGO},
                       headers={"If-None-Match": etag})
    assert again.status_code == 304
    item = client.get(f"{path}/1", params={"at": LONG_AGO})
    assert not item.headers["etag"].startswith("W/")
    assert "immutable" in item.headers["cache-control"]
    now = client.get(path, params={"limit": "5"})
    assert now.headers["etag"].startswith("W/") and "immutable" not in now.headers[
        "cache-control"]


def test_a_recent_moment_has_a_strong_etag_but_a_short_cache(
        client: TestClient, world: EditedWorld) -> None:
    response = client.get("/ogc/collections/parcels/items",
                          params={"limit": "5", "at": utc_text(world.before)})
    assert not response.headers["etag"].startswith("W/")
    assert "immutable" not in response.headers["cache-control"]


def test_the_same_moment_gives_the_same_bytes(client: TestClient, world: EditedWorld) -> None:
    params = {"limit": "20", "at": utc_text(world.before), "f": "jsonfg"}
    first = client.get("/ogc/collections/parcels/items", params=params)
    second = client.get("/ogc/collections/parcels/items", params=params)
    assert first.content == second.content
    assert first.headers["etag"] == second.headers["etag"]


@pytest.mark.parametrize("value", ["2020-13-01", "hier", "2020-01-01T25:00:00", "1" * 80,
                                   "0001-01-01T00:00:00+01:00", "0001-01-01T00:00:00Z"])
def test_a_malformed_at_is_a_400_in_french(client: TestClient, value: str) -> None:
    for path in ("/ogc/collections/parcels/items", "/ogc/collections/parcels/items/1",
                 "/ogc/collections/parcels/tiles/WebMercatorQuad/15/15693/13136"):
        response = client.get(path, params={"at": value})
        assert response.status_code == 400, (path, response.text)
        assert "n'est pas une date" in response.json()["description"]
    english = client.get("/ogc/collections/parcels/items", params={"at": value},
                         headers=ENGLISH)
    assert "is neither a date" in english.json()["description"]


def test_a_moment_in_the_future_is_a_400(client: TestClient) -> None:
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).date().isoformat()
    for value in (tomorrow, "2999-01-01T00:00:00Z"):
        for path in ("/ogc/collections/parcels/items", "/ogc/collections/zoning/items/1",
                     "/ogc/tiles/WebMercatorQuad/10/490/410"):
            response = client.get(path, params={"at": value})
            assert response.status_code == 400, path
            assert "dans le futur" in response.json()["description"]


def _refs_in_tile(body: bytes, address: str, folder: Path) -> set[str]:
    path = folder / f"{address}.pbf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    meta, _, _, fields = pyogrio.raw.read(path, layer="parcels", read_geometry=False)
    return {str(ref) for ref in fields[list(meta["fields"]).index("ref")]}


def test_a_tile_at_a_moment_before_a_deletion_still_draws_the_deleted_plot(
        client: TestClient, world: EditedWorld, tmp_path: Path) -> None:
    address = tile_of(world.deleted)
    url = f"/ogc/collections/parcels/tiles/WebMercatorQuad/{address}"
    now = client.get(url)  # cached first: the tile of the past must not be served from it
    then = client.get(url, params={"at": utc_text(world.before)})
    assert now.status_code == then.status_code == 200
    assert now.headers["etag"] != then.headers["etag"]
    assert world.deleted.ref not in _refs_in_tile(now.content, address, tmp_path / "now")
    assert world.deleted.ref in _refs_in_tile(then.content, address, tmp_path / "then")
    assert (_refs_in_tile(then.content, address, tmp_path / "then")
            == _refs_in_tile(world.tile_before_edit, address, tmp_path / "before"))
    viewer = client.get(f"/ogc/tiles/WebMercatorQuad/{address}",
                        params={"at": utc_text(world.before)})
    assert world.deleted.ref in _refs_in_tile(viewer.content, address, tmp_path / "viewer")
    again = client.get(url, params={"at": utc_text(world.before)},
                       headers={"If-None-Match": then.headers["etag"]})
    assert again.status_code == 304


def test_a_tile_of_a_settled_moment_is_immutable(client: TestClient,
                                                 world: EditedWorld) -> None:
    url = f"/ogc/collections/parcels/tiles/WebMercatorQuad/{tile_of(world.grown)}"
    response = client.get(url, params={"at": LONG_AGO})
    assert response.status_code == 200
    assert "immutable" in response.headers["cache-control"]
    assert "immutable" not in client.get(url).headers["cache-control"]


def test_the_api_definition_documents_at_and_the_history(client: TestClient) -> None:
    doc = client.get("/ogc/api").json()
    assert "at" in doc["components"]["parameters"]
    history = doc["paths"]["/collections/parcels/items/{featureId}/history"]["get"]
    assert history["responses"]["404"]
    items = doc["paths"]["/collections/parcels/items"]["get"]["parameters"]
    assert {"$ref": "#/components/parameters/at"} in items


def test_a_zone_rule_without_geometry_has_its_history_too(
        client: TestClient, world: EditedWorld) -> None:
    with psycopg.connect(world.url) as conn:
        row = conn.execute("SELECT id, cos FROM zone_rules WHERE cos IS NOT NULL "
                           "ORDER BY id LIMIT 1").fetchone()
    assert row is not None
    rule_id, cos = row
    edit(world.url, "test:bob", ("UPDATE zone_rules SET cos = %s WHERE id = %s",
                                 (round(cos / 2, 3), rule_id)))
    response = client.get(f"/ogc/collections/zone_rules/items/{rule_id}/history")
    assert response.status_code == 200, response.text
    versions = response.json()["versions"]
    assert [v["operation"] for v in versions] == ["update", "create"]
    assert versions[0]["changed_by"] == "test:bob"
    assert versions[0]["feature"]["geometry"] is None
    assert versions[0]["feature"]["properties"]["cos"] == round(cos / 2, 3)
    assert versions[1]["feature"]["properties"]["cos"] == cos
    page = client.get(f"/ogc/collections/zone_rules/items/{rule_id}/history?f=html")
    assert page.status_code == 200 and "test:bob" in page.text
