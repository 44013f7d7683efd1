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
from ingest_world import OLD_REFS, plot, registry_with, rows, seed, write

from geoportal.app import create_app
from geoportal.ingest import ImportOptions, IngestError, import_file
from geoportal.ingest.importer import CHECKING, INDEXING, READING
from geoportal.registry import load_registry
from geoportal.settings import PROJECT_ROOT, Settings

REGISTRY = load_registry(PROJECT_ROOT / "layers")
STRUCTURE_SQL = """
SELECT 'index ' || indexname || ': ' || regexp_replace(indexdef, 'INDEX \\S+ ON', 'INDEX ON')
FROM pg_indexes WHERE tablename = %s
UNION ALL SELECT 'constraint ' || conname || ': ' || pg_get_constraintdef(oid)
FROM pg_constraint WHERE conrelid = %s::regclass
UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger WHERE tgrelid = %s::regclass
  AND NOT tgisinternal
UNION ALL SELECT 'sequence ' || pg_get_serial_sequence(%s, 'id')
ORDER BY 1
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


def structure(url: str, table: str) -> list[str]:
    """The table's indexes, constraints, triggers and sequence, by name and definition."""
    return [r[0] for r in rows(url, STRUCTURE_SQL, table, table, table, table)]


def version(url: str, table: str) -> int:
    """The table's change counter."""
    return int(rows(url, "SELECT version FROM layer_versions WHERE table_name = %s",
                    table)[0][0])


def test_a_file_whose_last_feature_breaks_a_rule_leaves_the_old_plots_served(
    world: str, client: TestClient, tmp_path: Path
) -> None:
    refs = [f"TF {800 + i}/C" for i in range(5)] + ["TF 800 / c"]  # same plot as the first
    shp = write(tmp_path / "lots.shp", [plot(296000 + 30 * i, 332300) for i in range(6)],
                {"REF": refs}, "EPSG:26191")
    ids_before = rows(world, "SELECT id, ref FROM parcels ORDER BY id")
    version_before = version(world, "parcels")
    served_during: list[list[str]] = []

    def progress(step: str, done: int, total: int) -> None:
        if step == INDEXING and done == 0:
            served_during.append(served_refs(client))

    with pytest.raises(IngestError, match=r"repeats a value that must be unique.*TF800/C"):
        import_file(world, REGISTRY, "parcels", shp, progress=progress)

    assert served_during == [OLD_REFS]
    assert served_refs(client) == OLD_REFS
    assert rows(world, "SELECT id, ref FROM parcels ORDER BY id") == ids_before
    assert version(world, "parcels") == version_before
    assert rows(world, "SELECT to_regclass('parcels__import')") == [(None,)]


def test_a_value_too_long_in_a_later_chunk_stops_the_import_with_nothing_changed(
    world: str, tmp_path: Path
) -> None:
    codes = ["C1", "C2", "C3", "C4", "UN-CODE-BIEN-TROP-LONG"]
    shp = write(tmp_path / "communes.shp", [plot(300000 + 100 * i, 330000) for i in range(5)],
                {"CODE": codes, "KIND": ["commune"] * 5, "NAME_FR": codes,
                 "PREFECTURE": [1] * 5}, "EPSG:26191")
    before = rows(world, "SELECT * FROM communes ORDER BY id")

    with pytest.raises(IngestError, match=r"feature 4: CODE is longer than 16 characters"):
        import_file(world, REGISTRY, "communes", shp, ImportOptions(chunk_size=2))

    assert rows(world, "SELECT * FROM communes ORDER BY id") == before
    assert rows(world, "SELECT to_regclass('communes__import')") == [(None,)]


def test_a_replace_serves_the_old_plots_until_its_swap_then_the_new_with_the_same_table(
    world: str, client: TestClient, tmp_path: Path
) -> None:
    new_refs = [f"TF {900 + i}/C" for i in range(4)]
    shp = write(tmp_path / "lots.shp", [plot(296000 + 30 * i, 332400) for i in range(4)],
                {"REF": new_refs}, "EPSG:26191")
    shape_before = structure(world, "parcels")
    version_before = version(world, "parcels")
    served_during: dict[str, list[str]] = {}

    def progress(step: str, done: int, total: int) -> None:
        if step in (READING, CHECKING, INDEXING) and step not in served_during:
            served_during[step] = served_refs(client)

    import_file(world, REGISTRY, "parcels", shp, progress=progress)

    assert served_during == {READING: OLD_REFS, CHECKING: OLD_REFS, INDEXING: OLD_REFS}
    assert served_refs(client) == new_refs
    assert structure(world, "parcels") == shape_before
    assert version(world, "parcels") == version_before + 1
    with psycopg.connect(world) as conn:  # the sequence and the trigger still work
        new_id = conn.execute("INSERT INTO parcels (ref, geom) VALUES ('TF 999/C', ST_Multi("
                              "ST_MakeEnvelope(296000, 332900, 296010, 332910, 26191))) "
                              "RETURNING id").fetchone()
    assert new_id == (5,)
    assert version(world, "parcels") == version_before + 2


def test_replacing_a_referenced_layer_keeps_its_children_and_refuses_to_orphan_them(
    world: str, tmp_path: Path
) -> None:
    fields = {"ID": [1, 2], "CODE": ["CAS", "MOH"], "KIND": ["préfecture"] * 2,
              "NAME_FR": ["Casablanca", "Mohammedia"], "NAME_AR": ["الدار البيضاء", "المحمدية"]}
    shapes = [plot(280000, 320000, 40000, 26000), plot(320000, 330000, 15000, 20000)]
    both = write(tmp_path / "both.shp", shapes, fields, "EPSG:26191", encoding="UTF-8")
    shape_before = structure(world, "communes")

    import_file(world, REGISTRY, "prefectures", both)  # layers/prefectures.yml: id_field: id

    assert rows(world, "SELECT id, code FROM prefectures ORDER BY id") == [(1, "CAS"), (2, "MOH")]
    assert rows(world, "SELECT code, prefecture_id FROM communes") == [("ANFA", 1)]
    assert structure(world, "communes") == shape_before  # its foreign key is back

    only_moh = write(tmp_path / "moh.shp", shapes[1:], {k: v[1:] for k, v in fields.items()},
                     "EPSG:26191", encoding="UTF-8")
    with pytest.raises(IngestError, match=r"communes still references rows of prefectures"):
        import_file(world, REGISTRY, "prefectures", only_moh)
    assert rows(world, "SELECT id FROM prefectures ORDER BY id") == [(1,), (2,)]
    assert structure(world, "communes") == shape_before

    renumbering = registry_with(tmp_path, "prefectures", None)
    with pytest.raises(IngestError, match=r"referenced by communes: replacing it must keep"):
        import_file(world, renumbering, "prefectures", both)


def test_readers_never_fail_while_a_layer_is_swapped(world: str, tmp_path: Path) -> None:
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
        import_file(world, REGISTRY, "parcels", shp)
    finally:
        stop.set()
        for reader in readers:
            reader.join()

    assert errors == []
    assert seen <= {3, count} and 3 in seen
    assert rows(world, "SELECT count(*) FROM parcels") == [(count,)]
