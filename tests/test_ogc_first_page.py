"""The first page of a whole layer shows a value of every typed property (clients such as
QGIS 3.22 type fields from ``items?limit=10``), and paging still gives every feature once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from geoportal.app import create_app
from geoportal.ogc.samples import SAMPLE, typed
from geoportal.registry.loader import load_registry
from geoportal.settings import Settings

REGISTRY = load_registry(Settings().layers_dir)


def _ids(database_url: str, sql: str) -> list[int]:
    with psycopg.connect(database_url) as conn:
        return [int(row[0]) for row in conn.execute(sql).fetchall()]  # type: ignore[arg-type]


def _next(page: dict[str, Any]) -> str | None:
    return next((link["href"] for link in page["links"] if link["rel"] == "next"), None)


def _walk(client: TestClient, url: str) -> tuple[list[int], list[int]]:
    """Every id met following the next links, and the size of each page."""
    ids: list[int] = []
    sizes: list[int] = []
    next_url: str | None = url
    while next_url is not None:
        assert len(sizes) < 1000, "the pages do not end"
        page = client.get(next_url).json()
        ids += [feature["id"] for feature in page["features"]]
        sizes.append(page["numberReturned"])
        next_url = _next(page)
    return ids, sizes


def test_the_first_ten_features_of_every_layer_hold_a_value_of_each_typed_property(
        demo_client: TestClient, demo_database_url: str) -> None:
    # the trap is in the data: the first ten reservations by id have no width
    first_ten = _ids(demo_database_url, "SELECT count(width_m) FROM (SELECT width_m FROM "
                     "reservations ORDER BY id LIMIT 10) t")
    assert first_ten == [0]
    missing = []
    for layer in REGISTRY:
        page = demo_client.get(f"/ogc/collections/{layer.id}/items?limit={SAMPLE}").json()
        for prop in typed(layer):
            has_values = _ids(demo_database_url,
                              f"SELECT count({prop.column_name}) FROM {layer.table}")[0]
            seen = [f["properties"].get(prop.name) for f in page["features"]]
            if has_values and all(value is None for value in seen):
                missing.append(f"{layer.id}.{prop.name}")
    assert not missing, missing


def test_a_layer_typed_by_its_first_features_keeps_the_plain_id_order(
        demo_client: TestClient, demo_database_url: str) -> None:
    expected = _ids(demo_database_url, "SELECT id FROM parcels ORDER BY id LIMIT 25")
    page = demo_client.get("/ogc/collections/parcels/items?limit=25").json()
    assert [f["id"] for f in page["features"]] == expected


def test_the_witnesses_open_the_order_then_the_other_features_follow_by_id(
        demo_client: TestClient, demo_database_url: str) -> None:
    by_id = _ids(demo_database_url, "SELECT id FROM reservations ORDER BY id")
    first_width = _ids(demo_database_url,
                       "SELECT min(id) FROM reservations WHERE width_m IS NOT NULL")[0]
    witnesses = sorted({by_id[0], first_width})  # plan_id is set on the first one already
    page = demo_client.get(f"/ogc/collections/reservations/items?limit={SAMPLE}").json()
    others = [i for i in by_id if i not in witnesses]
    assert [f["id"] for f in page["features"]] == witnesses + others[:SAMPLE - 2]


@pytest.mark.parametrize("limit", [1, 2, 7, 100, 10_000])
@pytest.mark.parametrize("paging", ["cursor", "offset"])
def test_paging_a_layer_that_opens_with_witnesses_gives_every_feature_once(
        demo_client: TestClient, demo_database_url: str, limit: int, paging: str) -> None:
    everything = _ids(demo_database_url, "SELECT id FROM reservations ORDER BY id")
    if paging == "cursor":
        ids, sizes = _walk(demo_client, f"/ogc/collections/reservations/items?limit={limit}")
    else:
        ids, sizes, more = [], [], True
        while more:
            assert len(sizes) < 1000, "the pages do not end"
            page = demo_client.get(f"/ogc/collections/reservations/items?limit={limit}"
                                   f"&offset={len(ids)}").json()
            ids += [feature["id"] for feature in page["features"]]
            sizes.append(page["numberReturned"])
            more = _next(page) is not None
            assert more == (len(ids) < len(everything)), (len(ids), limit)
    assert sorted(ids) == everything and len(ids) == len(set(ids))
    assert 0 not in sizes  # no empty last page
    if paging == "cursor":
        assert len(sizes) == -(-len(everything) // limit)
    # both ways walk the same order
    offset_page = demo_client.get("/ogc/collections/reservations/items?limit=3&offset=1").json()
    assert [f["id"] for f in offset_page["features"]] == ids[1:4]


def test_filtered_and_sorted_pages_keep_their_own_order(demo_client: TestClient,
                                                        demo_database_url: str) -> None:
    roads = _ids(demo_database_url,
                 "SELECT id FROM reservations WHERE kind = 'equipement' ORDER BY id LIMIT 10")
    page = demo_client.get("/ogc/collections/reservations/items?limit=10&kind=equipement")
    assert [f["id"] for f in page.json()["features"]] == roads
    by_id = _ids(demo_database_url, "SELECT id FROM reservations ORDER BY id LIMIT 10")
    sorted_page = demo_client.get("/ogc/collections/reservations/items?limit=10&sortby=id")
    assert [f["id"] for f in sorted_page.json()["features"]] == by_id


@pytest.fixture()
def small_reservations(fresh_database: Callable[[str], str], tmp_path: Any
                       ) -> Iterator[tuple[str, TestClient]]:
    """Twenty facilities (no width) then five planned roads, in a database of its own."""
    url = fresh_database("first_page")
    square = "ST_Multi(ST_MakeEnvelope(300000 + {i} * 10, 330000, 300005 + {i} * 10, 330005, " \
             "26191))"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO plans (id, ref, name, status, geom) VALUES (1, 'PA', 'PA', "
                     "'en vigueur', ST_Multi(ST_MakeEnvelope(299000, 329000, 301000, 331000, "
                     "26191)))")
        for i in range(1, 26):
            kind, width = ("equipement", "NULL") if i <= 20 else ("voirie", "12.0")
            conn.execute(  # type: ignore[call-overload]
                f"INSERT INTO reservations (id, plan_id, kind, label, width_m, geom) VALUES "
                f"({i}, 1, '{kind}', 'R {i}', {width}, {square.format(i=i)})")
    with TestClient(create_app(Settings(database_url=url, data_dir=tmp_path))) as client:
        yield url, client


def test_an_edit_that_gives_an_early_feature_a_value_restores_the_plain_id_order(
        small_reservations: tuple[str, TestClient]) -> None:
    url, client = small_reservations
    first = client.get("/ogc/collections/reservations/items?limit=5").json()
    assert [f["id"] for f in first["features"]] == [1, 21, 2, 3, 4]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE reservations SET width_m = 8.0 WHERE id = 3")
    again = client.get("/ogc/collections/reservations/items?limit=5").json()
    assert [f["id"] for f in again["features"]] == [1, 2, 3, 4, 5]
    ids, _ = _walk(client, "/ogc/collections/reservations/items?limit=4")
    assert ids == list(range(1, 26))
