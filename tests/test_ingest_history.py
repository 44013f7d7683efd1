"""An import changes a layer feature by feature, matched by natural key, under a name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from ingest_world import BOWTIE, IMPORTER, options, plot, registry_with, rows, seed, write

from geoportal.core.resources import CHECKOUT
from geoportal.ingest import ImportOptions, IngestError, import_file
from geoportal.registry import load_registry

REGISTRY = load_registry(CHECKOUT / "layers")
PREFECTURES = {"CODE": ["CAS", "MOH"], "KIND": ["préfecture"] * 2,
               "NAME_FR": ["Casablanca", "Mohammedia"], "NAME_AR": ["الدار البيضاء", "المحمدية"]}
PREFECTURE_SHAPES = [plot(280000, 320000, 40000, 25000), plot(320000, 330000, 15000, 20000)]
HISTORY_SQL = """
SELECT (SELECT count(*) FROM prefectures_history), (SELECT count(*) FROM communes_history),
       (SELECT count(*) FROM plans_history), (SELECT count(*) FROM zoning_history),
       (SELECT count(*) FROM zone_rules_history), (SELECT count(*) FROM reservations_history),
       (SELECT count(*) FROM parcels_history), (SELECT max(id) FROM changesets)
"""


@pytest.fixture(scope="module")
def url(fresh_database: Callable[[str], str]) -> str:
    """A migrated database of this module."""
    return fresh_database("ingest_history")


@pytest.fixture
def world(url: str) -> str:
    """The hand-made world, reset before each test."""
    seed(url)
    return url


def history(url: str) -> tuple[object, ...]:
    """How many superseded versions each table keeps, and the latest change-set."""
    return tuple(rows(url, HISTORY_SQL)[0])


def parcels(url: str) -> list[tuple[object, ...]]:
    """Every plot: id, reference, version, who changed it last and in which change-set."""
    return rows(url, "SELECT id, ref, version, changed_by, changeset_id FROM parcels ORDER BY id")


def test_an_import_by_natural_key_keeps_ids_and_records_each_change_with_the_importer(
    world: str, tmp_path: Path
) -> None:
    first = write(tmp_path / "first.shp", [plot(296000, 332000), plot(296100, 332000),
                                           plot(296200, 332000)],
                  {"REF": ["TF 1/C", "TF 2/C", "TF 3/C"]}, "EPSG:26191")
    import_file(world, REGISTRY, "parcels", first, options())
    before = {ref: (i, version) for i, ref, version, *_ in parcels(world)}
    stamped = dict(rows(world, "SELECT id, updated_at FROM parcels"))
    # TF 1/C spelled otherwise and moved, TF 2/C as it was, TF 3/C gone, TF 4/C new.
    second = write(tmp_path / "second.shp", [plot(296000, 332050), plot(296100, 332000),
                                             plot(296300, 332000)],
                   {"REF": ["tf 1 / c", "TF 2/C", "TF 4/C"]}, "EPSG:26191")

    summary = import_file(world, REGISTRY, "parcels", second,
                          ImportOptions(user="youssef", comment="mise à jour de mars"))

    changes = summary.changes
    assert (changes.inserted, changes.updated, changes.deleted, changes.unchanged) == (1, 1, 1, 1)
    assert summary.matched_by == "natural key (ref_norm)" and summary.actor == "import:youssef"
    cs = changes.changeset
    assert rows(world, "SELECT actor, source, comment FROM changesets WHERE id = %s", cs) == [
        ("import:youssef", "import", "mise à jour de mars")]
    assert parcels(world) == [
        (1, "tf 1 / c", before["TF 1/C"][1] + 1, "import:youssef", cs),
        (2, "TF 2/C", before["TF 2/C"][1], f"import:{IMPORTER}", cs - 1),
        (4, "TF 4/C", 1, "import:youssef", cs)]
    assert rows(world, "SELECT id, ref, version, ended_op, ended_by FROM parcels_history "
                       "WHERE ended_changeset_id = %s ORDER BY id", cs) == [
        (1, "TF 1/C", before["TF 1/C"][1], "update", "import:youssef"),
        (3, "TF 3/C", before["TF 3/C"][1], "delete", "import:youssef")]
    now = dict(rows(world, "SELECT id, updated_at FROM parcels"))  # renewed when changed
    assert now[1] > stamped[1] and now[2] == stamped[2]


def test_importing_the_same_file_again_writes_no_history_and_changes_no_version(
    world: str, tmp_path: Path
) -> None:
    lots = write(tmp_path / "lots.gpkg", [plot(296000, 332000), BOWTIE, plot(296200, 332000)],
                 {"REF": ["TF 1/C", "TF 2/C", "TF 5/C"]}, "EPSG:26191")
    import_file(world, REGISTRY, "parcels", lots, options())
    plots, kept = parcels(world), history(world)
    counters = rows(world, "SELECT table_name, version FROM layer_versions ORDER BY 1")

    again = import_file(world, REGISTRY, "parcels", lots, ImportOptions(user="youssef"))

    changes = again.changes
    assert (changes.inserted, changes.updated, changes.deleted, changes.unchanged) == (0, 0, 0, 3)
    assert changes.changeset is None and again.repaired == 1  # the bow tie, repaired alike
    assert parcels(world) == plots
    assert history(world) == kept
    assert rows(world, "SELECT table_name, version FROM layer_versions ORDER BY 1") == counters


def test_a_prefectures_shapefile_without_ids_imports_and_its_communes_follow_by_code(
    world: str, tmp_path: Path
) -> None:
    shp = write(tmp_path / "prefectures.shp", PREFECTURE_SHAPES, PREFECTURES, "EPSG:26191",
                encoding="UTF-8")
    communes = write(tmp_path / "communes.shp", [plot(290000, 330000, 10000, 10000),
                                                 plot(321000, 331000, 5000, 5000)],
                     {"CODE": ["ANFA", "MOH-1"], "KIND": ["arrondissement", "commune"],
                      "NAME_FR": ["Anfa", "Mohammedia"],
                      "PREFECTURE": ["MOH", "MOH"]},  # prefecture_code, cut by dBase
                     "EPSG:26191", encoding="UTF-8")

    summary = import_file(world, REGISTRY, "prefectures", shp, options())
    moved = import_file(world, REGISTRY, "communes", communes, options())

    assert (summary.changes.updated, summary.changes.inserted) == (2, 0)
    assert rows(world, "SELECT id, code, name_ar FROM prefectures ORDER BY id") == [
        (1, "CAS", "الدار البيضاء"), (2, "MOH", "المحمدية")]
    assert (moved.changes.updated, moved.changes.inserted) == (1, 1)
    assert rows(world, "SELECT id, code, prefecture_id FROM communes ORDER BY id") == [
        (1, "ANFA", 2), (2, "MOH-1", 2)]


def test_an_import_that_would_delete_a_referenced_plan_is_refused_with_the_list(
    world: str, tmp_path: Path
) -> None:
    only_new = write(tmp_path / "plans.shp", [plot(300000, 330000, 1000, 1000)],
                     {"REF": ["PA-2"], "NAME": ["Plan nouveau"], "STATUS": ["à l'étude"]},
                     "EPSG:26191", encoding="UTF-8")
    plans = rows(world, "SELECT * FROM plans ORDER BY id")
    kept = history(world)

    with pytest.raises(IngestError) as refused:
        import_file(world, REGISTRY, "plans", only_new, options())

    assert refused.value.message.startswith(
        "import refusé, rien n'a changé : 1 entité(s) de plans absente(s) du fichier sont "
        "encore référencées")
    assert "\n  PA-1 : reservations (1), zone_rules (2), zoning (1)\n" in refused.value.message
    assert refused.value.en.startswith(
        "import refused, nothing changed: 1 feature(s) of plans missing from the file are "
        "still referenced")
    assert "\n  PA-1: reservations (1), zone_rules (2), zoning (1)\n" in refused.value.en
    assert rows(world, "SELECT * FROM plans ORDER BY id") == plans
    assert history(world) == kept
    dry = import_file(world, REGISTRY, "plans", only_new, options(mode="append",
                                                                  dry_run=True))
    assert (dry.changes.inserted, dry.changes.deleted) == (1, 0)


def test_appending_updates_the_features_the_file_names_and_keeps_the_others(
    world: str, tmp_path: Path
) -> None:
    shp = write(tmp_path / "moh.shp", PREFECTURE_SHAPES[1:],
                {k: v[1:] for k, v in PREFECTURES.items()}, "EPSG:26191", encoding="UTF-8")

    summary = import_file(world, REGISTRY, "prefectures", shp, options(mode="append"))

    assert (summary.changes.updated, summary.changes.deleted) == (1, 0)
    assert rows(world, "SELECT code, version FROM prefectures ORDER BY id") == [
        ("CAS", 1), ("MOH", 2)]


def test_a_layer_without_natural_key_is_matched_on_the_files_ids_or_else_replaced_whole(
    world: str, tmp_path: Path
) -> None:
    registry = registry_with(tmp_path, "servitudes", "import: {id_field: id}")
    shapes = [plot(295000, 331000, 300, 300), plot(296000, 331000, 300, 300)]
    fields = {"KIND": ["inondation", "littoral"], "NAME": ["Oued", "Côte"],
              "EFFECT": ["inconstructible"] * 2, "TEXT": ["Article 1", "Article 2"]}
    with_ids = write(tmp_path / "with.shp", shapes, {"ID": [7, 9], **fields}, "EPSG:26191",
                     encoding="UTF-8")
    first = import_file(world, registry, "servitudes", with_ids, options())
    changed = write(tmp_path / "changed.shp", shapes[:1],
                    {"ID": [7], **{k: ["Oued Bouskoura"] if k == "NAME" else v[:1]
                                   for k, v in fields.items()}}, "EPSG:26191", encoding="UTF-8")

    second = import_file(world, registry, "servitudes", changed, options())

    assert first.matched_by == "id" and first.changes.inserted == 2
    assert (second.changes.updated, second.changes.deleted) == (1, 1)
    assert rows(world, "SELECT id, name, version FROM servitudes") == [(7, "Oued Bouskoura", 2)]
    without_ids = write(tmp_path / "without.shp", shapes, fields, "EPSG:26191", encoding="UTF-8")
    whole = import_file(world, registry, "servitudes", without_ids, options())
    assert whole.matched_by == "none (the layer is replaced whole)"
    assert (whole.changes.deleted, whole.changes.inserted) == (1, 2)
    assert rows(world, "SELECT id FROM servitudes ORDER BY id") == [(10,), (11,)]


def test_a_plot_whose_new_geometry_is_rejected_keeps_its_current_version(
    world: str, tmp_path: Path
) -> None:
    registry = registry_with(tmp_path, "parcels", "import: {invalid: reject}")
    lots = write(tmp_path / "lots.geojson", [plot(296000, 332000), BOWTIE, None],
                 {"REF": ["TF 1/C", "TF 2/C", "TF 9/C"]}, "EPSG:26191", driver="GeoJSON")
    seeded = rows(world, "SELECT ref, version, ST_AsEWKB(geom) FROM parcels WHERE id = 2")

    summary = import_file(world, registry, "parcels", lots, options())

    changes = summary.changes
    assert (summary.rejected, changes.updated, changes.deleted, changes.inserted,
            changes.unchanged) == (2, 1, 1, 0, 1)
    assert rows(world, "SELECT ref, version, ST_AsEWKB(geom) FROM parcels WHERE id = 2") == \
        seeded
    assert rows(world, "SELECT ref FROM parcels ORDER BY id") == [("TF 1/C",), ("TF 2/C",)]
    assert rows(world, "SELECT ref, ended_op FROM parcels_history ORDER BY id") == [
        ("TF 1/C", "update"), ("TF 3/C", "delete")]


@pytest.mark.parametrize("user", ["", "   ", "a\nb", "x" * 101])
def test_an_import_without_a_proper_importer_name_is_refused_before_anything(
    world: str, tmp_path: Path, user: str
) -> None:
    shp = write(tmp_path / "lots.shp", [plot(296000, 332000)], {"REF": ["TF 9/C"]},
                "EPSG:26191")

    with pytest.raises(IngestError) as refused:
        import_file(world, REGISTRY, "parcels", shp, ImportOptions(user=user))

    assert "--as" in refused.value.message and "--as" in refused.value.en
    assert len(rows(world, "SELECT id FROM parcels")) == 3
