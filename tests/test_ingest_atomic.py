"""An import is all or nothing: until it commits, and whenever it fails, the old data is served."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from ingest_world import OLD_REFS, options, plot, rows, seed, write

from geoportal.app import create_app
from geoportal.core.resources import CHECKOUT
from geoportal.ingest import IngestError, import_file
from geoportal.ingest.importer import APPLYING, CHECKING, READING
from geoportal.registry import load_registry
from geoportal.settings import Settings

REGISTRY = load_registry(CHECKOUT / "layers")
# Everything an import may write: the layers' rows, their history, change-sets, counters.
FOOTPRINT_SQL = """
SELECT (SELECT json_agg(p ORDER BY id) FROM plans p)::text,
       (SELECT json_agg(z ORDER BY id) FROM zoning z)::text,
       (SELECT json_agg(r ORDER BY id) FROM zone_rules r)::text,
       (SELECT json_agg(c ORDER BY id) FROM communes c)::text,
       (SELECT json_agg(x ORDER BY id) FROM parcels x)::text,
       (SELECT count(*) FROM plans_history) + (SELECT count(*) FROM zoning_history)
         + (SELECT count(*) FROM parcels_history) + (SELECT count(*) FROM communes_history),
       (SELECT max(id) FROM changesets),
       (SELECT json_agg(v ORDER BY table_name) FROM layer_versions v)::text
"""


@pytest.fixture(scope="module")
def url(fresh_database: Callable[[str], str]) -> str:
    """A migrated database of this module."""
    return fresh_database("ingest_atomic")


@pytest.fixture(scope="module")
def client(url: str) -> Iterator[TestClient]:
    """The service on this module's database, to read what it serves during an import."""
    with TestClient(create_app(Settings(database_url=url))) as client:
        yield client


@pytest.fixture
def world(url: str) -> str:
    """The hand-made world, reset before each test."""
    seed(url)
    return url


def served_refs(client: TestClient) -> list[str]:
    """The plots the service serves right now (its CSV download)."""
    response = client.get("/opendata/parcels.csv")
    assert response.status_code == 200
    return sorted(row["ref"] for row in csv.DictReader(io.StringIO(response.text)))


def footprint(url: str) -> tuple[object, ...]:
    """The layers' rows, their history, the latest change-set and the layer counters."""
    return tuple(rows(url, FOOTPRINT_SQL)[0])


def test_a_file_that_names_a_plot_twice_is_refused_listing_it_and_nothing_changes(
    world: str, client: TestClient, tmp_path: Path
) -> None:
    refs = [f"TF {800 + i}/C" for i in range(5)] + ["TF 800 / c"]  # same plot as the first
    shp = write(tmp_path / "lots.shp", [plot(296000 + 30 * i, 332300) for i in range(6)],
                {"REF": refs}, "EPSG:26191")
    before = footprint(world)
    served_during: list[list[str]] = []

    def progress(step: str, done: int, total: int) -> None:
        if step == CHECKING and done == 0:
            served_during.append(served_refs(client))

    with pytest.raises(IngestError) as refused:
        import_file(world, REGISTRY, "parcels", shp, options(), progress=progress)

    assert "répète une valeur qui doit être unique (ref_norm)" in refused.value.message
    assert "repeats a value that must be unique (ref_norm)" in refused.value.en
    assert "TF800/C: 0, 5" in refused.value.en  # the name, and the file's features
    assert served_during == [OLD_REFS]
    assert served_refs(client) == OLD_REFS
    assert footprint(world) == before


def test_a_value_too_long_in_a_later_chunk_stops_the_import_with_nothing_changed(
    world: str, tmp_path: Path
) -> None:
    codes = ["C1", "C2", "C3", "C4", "UN-CODE-BIEN-TROP-LONG"]
    shp = write(tmp_path / "communes.shp", [plot(300000 + 100 * i, 330000) for i in range(5)],
                {"CODE": codes, "KIND": ["commune"] * 5, "NAME_FR": codes,
                 "PREFECTURE": ["CAS"] * 5}, "EPSG:26191")
    before = footprint(world)

    with pytest.raises(IngestError, match=r"feature 4: CODE is longer than 16 characters"):
        import_file(world, REGISTRY, "communes", shp, options(chunk_size=2))

    assert footprint(world) == before


def test_a_rule_broken_after_the_update_ran_rolls_everything_back(
    world: str, tmp_path: Path
) -> None:
    shp = write(tmp_path / "plans.shp", [plot(280000, 320000, 40000, 25000),
                                         plot(300000, 330000, 1000, 1000)],
                {"REF": ["PA-1", "PA-2"], "NAME": ["Plan renommé", "Plan nouveau"],
                 "STATUS": ["en vigueur", "abrogé"]}, "EPSG:26191", encoding="UTF-8")
    before = footprint(world)
    steps: list[int] = []

    def progress(step: str, done: int, total: int) -> None:
        if step == APPLYING:
            steps.append(done)

    with pytest.raises(IngestError) as refused:
        import_file(world, REGISTRY, "plans", shp, options(), progress=progress)

    assert "breaks a rule of the table (plans_status_known)" in refused.value.en
    assert "enfreint une règle de la table (plans_status_known)" in refused.value.message
    assert steps == [0, 1, 2, 3]  # PA-1 was updated, then PA-2 could not be inserted
    assert footprint(world) == before


def test_a_zone_the_rules_lack_after_the_old_zones_were_deleted_rolls_everything_back(
    world: str, tmp_path: Path
) -> None:
    shp = write(tmp_path / "zones.shp", [plot(296000, 332000, 500, 500),
                                         plot(296500, 332000, 500, 500)],
                {"ZONE": ["C", "Z9"], "PLAN_REF": ["PA-1", "PA-1"]}, "EPSG:26191")
    before = footprint(world)

    with pytest.raises(IngestError) as refused:
        import_file(world, REGISTRY, "zoning", shp, options())

    assert "references rows that do not exist (zoning_rules_fkey)" in refused.value.en
    assert footprint(world) == before
    assert rows(world, "SELECT code FROM zoning") == [("B",)]


def test_readers_see_the_old_plots_without_waiting_until_the_import_commits(
    world: str, client: TestClient, tmp_path: Path
) -> None:
    new_refs = [f"TF {900 + i}/C" for i in range(4)]
    shp = write(tmp_path / "lots.shp", [plot(296000 + 30 * i, 332400) for i in range(4)],
                {"REF": new_refs}, "EPSG:26191")
    served_during: dict[tuple[str, int], list[str]] = {}

    def progress(step: str, done: int, total: int) -> None:
        if (step in (READING, CHECKING) and done == 0) or (step == APPLYING and done < total):
            served_during[step, done] = served_refs(client)  # inside the import's transaction

    summary = import_file(world, REGISTRY, "parcels", shp, options(), progress=progress)

    assert set(served_during) == {(READING, 0), (CHECKING, 0), (APPLYING, 0), (APPLYING, 1),
                                  (APPLYING, 2), (APPLYING, 3)}
    assert all(refs == OLD_REFS for refs in served_during.values())
    assert served_refs(client) == new_refs
    assert (summary.changes.inserted, summary.changes.deleted) == (4, 3)
    assert rows(world, "SELECT id FROM parcels ORDER BY id") == [(4,), (5,), (6,), (7,)]
    with psycopg.connect(world) as conn:  # the sequence still hands out new ids
        new_id = conn.execute("INSERT INTO parcels (ref, geom) VALUES ('TF 999/C', ST_Multi("
                              "ST_MakeEnvelope(296000, 332900, 296010, 332910, 26191))) "
                              "RETURNING id").fetchone()
    assert new_id == (8,)


def test_readers_never_fail_while_a_layer_is_replaced(world: str, tmp_path: Path) -> None:
    count = 2_000
    shp = write(tmp_path / "many.shp",
                [plot(290000 + 25 * (i % 200), 325000 + 25 * (i // 200)) for i in range(count)],
                {"REF": [f"TF {10_000 + i}/C" for i in range(count)]}, "EPSG:26191")
    seen: set[int] = set()
    errors: list[Exception] = []
    stop = threading.Event()

    def read() -> None:
        with psycopg.connect(world, autocommit=True) as conn:
            while not stop.is_set():
                try:
                    seen.add(conn.execute("SELECT count(*) FROM parcels").fetchone()[0])  # type: ignore[index]
                except psycopg.Error as exc:
                    errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        import_file(world, REGISTRY, "parcels", shp, options())
    finally:
        stop.set()
        for reader in readers:
            reader.join()

    assert errors == []
    assert seen <= {3, count} and 3 in seen
    assert rows(world, "SELECT count(*) FROM parcels") == [(count,)]
