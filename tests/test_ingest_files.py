"""The importer reads the agency's real files: formats, encodings, CRSs, fields, geometries."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import shapely
from ingest_world import BOWTIE, OLD_REFS, options, plot, registry_with, rows, seed, write
from pyproj import CRS, Transformer

from geoportal.core.resources import CHECKOUT
from geoportal.ingest import IngestError, import_file
from geoportal.ingest.crs import to_storage
from geoportal.ingest.geometry import StorageShape, first_vertices, outside, to_storage_ewkb
from geoportal.registry import load_registry

REGISTRY = load_registry(CHECKOUT / "layers")
# The datum shift of DOMAIN.md written out by hand, independent of PROJ's EPSG database.
MERCHICH = ("+proj=lcc +lat_1=33.3 +lat_0=33.3 +lon_0=-5.4 +k_0=0.999625769 +x_0=500000 "
            "+y_0=300000 +a=6378249.2 +b=6356515 +towgs84=31,146,47,0,0,0,0 +units=m +no_defs")


@pytest.fixture(scope="module")
def url(fresh_database: Callable[[str], str]) -> str:
    """A migrated database of this module."""
    return fresh_database("ingest_files")


@pytest.fixture
def world(url: str) -> str:
    """The hand-made world, reset before each test."""
    seed(url)
    return url


def _report(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def _coords(geometry: shapely.Geometry) -> np.ndarray:
    """Vertices in a canonical order (Shapefiles turn rings clockwise)."""
    return np.asarray(shapely.get_coordinates(shapely.normalize(geometry)))


def _vertices(url: str, ref: str) -> np.ndarray:
    wkb = rows(url, "SELECT ST_AsBinary(ST_GeometryN(geom, 1)) FROM parcels WHERE ref = %s",
               ref)[0][0]
    return _coords(shapely.from_wkb(bytes(wkb)))


def test_a_latin1_shapefile_in_26191_loads_with_its_accents_and_exact_coordinates(
    world: str, tmp_path: Path
) -> None:
    refs = ["TF 100/C", "TF 101/Ç", "TF 102/Médiouna"]
    shapes = [plot(296010.37, 332050.12), plot(296050.5, 332050.25), plot(296090.01, 332050.99)]
    shp = write(tmp_path / "lots.shp", shapes, {"REF": refs}, "EPSG:26191",
                encoding="ISO-8859-1")
    shp.with_suffix(".cpg").unlink()  # an old desktop GIS file: Latin-1 and no .cpg
    assert b"\xc7" in shp.with_suffix(".dbf").read_bytes()  # Ç in Latin-1, not UTF-8

    summary = import_file(world, REGISTRY, "parcels", shp,
                          options(report_path=tmp_path / "report.csv"))

    assert (summary.read, summary.loaded, summary.repaired, summary.rejected) == (3, 3, 0, 0)
    assert summary.rows_before == 3 and summary.rows_after == 3
    assert [r[0] for r in rows(world, "SELECT ref FROM parcels ORDER BY id")] == refs
    for ref, shape in zip(refs, shapes, strict=True):
        expected = _coords(shape)
        assert np.allclose(_vertices(world, ref), expected, atol=0.005, rtol=0)
    areas = rows(world, "SELECT area_m2 FROM parcels ORDER BY id")
    assert [a[0] for a in areas] == [300.0, 300.0, 300.0]
    assert _report(tmp_path / "report.csv") == []


def test_a_utf8_shapefile_keeps_french_and_arabic_names_and_dbase_short_fields(
    world: str, tmp_path: Path
) -> None:
    shp = write(tmp_path / "communes.shp", [plot(300000, 330000, 5000, 5000)],
                {"CODE": ["AINSEBAA"], "KIND": ["arrondissement"], "NAME_FR": ["Aïn Sebaâ"],
                 "NAME_AR": ["عين السبع"], "PREFECTURE": ["CAS"]}, "EPSG:26191",
                encoding="UTF-8")  # PREFECTURE: prefecture_code as dBase cuts it

    summary = import_file(world, REGISTRY, "communes", shp, options(mode="append"))

    assert summary.loaded == 1 and summary.rows_after == 2
    assert rows(world, "SELECT name_fr, name_ar, prefecture_id FROM communes WHERE code = %s",
                "AINSEBAA") == [("Aïn Sebaâ", "عين السبع", 1)]


def test_a_shapefile_without_prj_is_refused_naming_epsg_26191_until_crs_is_given(
    world: str, tmp_path: Path
) -> None:
    shp = write(tmp_path / "noprj.shp", [plot(296000, 332100)], {"REF": ["TF 9/C"]}, None)
    assert not shp.with_suffix(".prj").exists()

    with pytest.raises(IngestError, match=r"no CRS.*--crs EPSG:26191") as refused:
        import_file(world, REGISTRY, "parcels", shp, options())
    assert "look like EPSG:26191" in str(refused.value)
    assert [r[0] for r in rows(world, "SELECT ref FROM parcels ORDER BY id")] == OLD_REFS

    summary = import_file(world, REGISTRY, "parcels", shp, options(crs="EPSG:26191"))
    assert summary.loaded == 1 and summary.source_crs == "EPSG:26191"


def test_the_transformation_from_wgs84_is_the_merchich_datum_shift_not_a_ballpark() -> None:
    transformer = to_storage(CRS.from_epsg(4326))
    assert transformer is not None
    assert "Merchich to WGS 84 (1)" in transformer.description  # EPSG:1166
    assert "allpark" not in transformer.description
    x, y = transformer.transform(-7.5898, 33.5731)
    assert abs(x - 296_630) < 10 and abs(y - 332_700) < 10  # DOMAIN.md's central Casablanca


def test_a_geopackage_in_4326_is_reprojected_and_its_bowtie_repaired_and_reported(
    world: str, tmp_path: Path
) -> None:
    to_lonlat = Transformer.from_crs(MERCHICH, "EPSG:4326", always_xy=True)
    to_merchich = Transformer.from_crs("EPSG:4326", MERCHICH, always_xy=True)
    stored = [plot(296500.25, 332500.75), BOWTIE]
    lonlat = [shapely.transform(g, lambda c: np.column_stack(to_lonlat.transform(*c.T)))
              for g in stored]
    gpkg = tmp_path / "lots.gpkg"
    write(gpkg, lonlat, {"REF": ["TF 200/C", "TF 201/C"]}, "EPSG:4326", layer="lots")
    write(gpkg, [plot(0, 0)], {"NAME": ["x"]}, "EPSG:4326", layer="other", append=True)

    with pytest.raises(IngestError, match=r"2 layers \(lots, other\).*--layer-name"):
        import_file(world, REGISTRY, "parcels", gpkg, options())
    report = tmp_path / "report.csv"
    summary = import_file(world, REGISTRY, "parcels", gpkg,
                          options(layer_name="lots", report_path=report))

    assert summary.source_crs == "EPSG:4326"
    assert (summary.loaded, summary.repaired, summary.rejected) == (2, 1, 0)
    expected = _coords(shapely.transform(
        lonlat[0], lambda c: np.column_stack(to_merchich.transform(*c.T))))
    assert np.allclose(_vertices(world, "TF 200/C"), expected, atol=0.01, rtol=0)
    valid, parts, kind = rows(world, "SELECT ST_IsValid(geom), ST_NumGeometries(geom), "
                                     "GeometryType(geom) FROM parcels WHERE ref = 'TF 201/C'")[0]
    assert valid and parts == 2 and kind == "MULTIPOLYGON"
    [entry] = _report(report)
    assert entry["feature"] == "2" and entry["key"] == "TF 201/C"
    assert entry["status"] == "repaired" and "Self-intersection" in entry["reason"]


def test_invalid_geometries_are_rejected_when_the_layer_says_reject(
    world: str, tmp_path: Path
) -> None:
    registry = registry_with(tmp_path, "parcels", "import: {invalid: reject}")
    fgb = write(tmp_path / "lots.fgb", [plot(296500, 332500), BOWTIE],
                {"REF": ["TF 300/C", "TF 301/C"]}, "EPSG:26191", driver="FlatGeobuf")
    report = tmp_path / "report.csv"

    summary = import_file(world, registry, "parcels", fgb, options(report_path=report))

    assert (summary.loaded, summary.repaired, summary.rejected) == (1, 0, 1)
    assert [r[0] for r in rows(world, "SELECT ref FROM parcels")] == ["TF 300/C"]
    [entry] = _report(report)
    assert entry["status"] == "rejected" and entry["key"] == "TF 301/C"
    assert entry["reason"].startswith("invalid: Self-intersection")


def test_missing_and_mistyped_fields_are_all_listed_before_anything_is_read(
    world: str, tmp_path: Path
) -> None:
    shp = write(tmp_path / "zones.shp", [plot(296000, 332000)],
                {"ZONAGE": ["B"], "PLAN_REF": [1.5]}, "EPSG:26191")

    with pytest.raises(IngestError) as refused:
        import_file(world, REGISTRY, "zoning", shp, options())

    message = str(refused.value)
    assert "missing field: ZONE (property code" in message
    assert "mistyped field: PLAN_REF is number in the file, but property plan_id needs string" \
        in message
    assert "the file has: ZONAGE, PLAN_REF" in message


def test_zones_name_their_plan_by_its_reference_and_an_unknown_one_is_refused(
    world: str, tmp_path: Path
) -> None:
    good = write(tmp_path / "zones.shp", [plot(296000, 332000, 500, 500),
                                          plot(296500, 332000, 500, 500)],
                 {"ZONE": ["B", "C"], "PLAN_REF": ["PA-1", "PA-1"]}, "EPSG:26191")
    assert import_file(world, REGISTRY, "zoning", good, options()).loaded == 2
    assert rows(world, "SELECT code, plan_id FROM zoning ORDER BY code") == [("B", 1), ("C", 1)]

    unknown = write(tmp_path / "unknown.shp", [plot(296000, 332000)] * 3,
                    {"ZONE": ["B", "C", "B"], "PLAN_REF": ["PA-1", "PA-9", "PA-7"]},
                    "EPSG:26191")
    with pytest.raises(IngestError) as refused:
        import_file(world, REGISTRY, "zoning", unknown, options())
    assert "refer to plans (plans.ref) that do not exist" in refused.value.en
    assert "renvoient à des plans (plans.ref) qui n'existent pas" in refused.value.message
    assert "1: PLAN_REF='PA-9'\n  2: PLAN_REF='PA-7'" in refused.value.en.replace(" : ", ": ")

    bad = write(tmp_path / "bad.shp", [plot(296000, 332000)],
                {"ZONE": ["Z9"], "PLAN_REF": ["PA-1"]}, "EPSG:26191")
    with pytest.raises(IngestError) as refused:
        import_file(world, REGISTRY, "zoning", bad, options())
    assert "references rows that do not exist" in refused.value.en
    assert rows(world, "SELECT code FROM zoning ORDER BY code") == [("B",), ("C",)]


def test_empty_missing_and_out_of_area_geometries_are_reported(
    world: str, tmp_path: Path
) -> None:
    shapes = [plot(296500, 332500), shapely.Polygon(), None, plot(150000, 150000)]
    geojson = write(tmp_path / "lots.geojson", shapes,
                    {"REF": ["TF 400/C", "TF 401/C", "TF 402/C", "TF 403/C"]}, "EPSG:26191",
                    driver="GeoJSON")
    report = tmp_path / "report.csv"

    summary = import_file(world, REGISTRY, "parcels", geojson,
                          options(mode="append", report_path=report))

    assert (summary.read, summary.loaded, summary.rejected, summary.outside) == (4, 2, 2, 1)
    assert summary.rows_after == 5
    entries = {e["key"]: (e["status"], e["reason"]) for e in _report(report)}
    assert entries == {"TF 401/C": ("rejected", "empty geometry"),
                       "TF 402/C": ("rejected", "no geometry"),
                       "TF 403/C": ("outside", "outside the AUC area")}


def test_a_file_entirely_outside_the_area_is_refused_as_a_crs_mistake(
    world: str, tmp_path: Path
) -> None:
    degrees = write(tmp_path / "lots.geojson", [plot(-7.6, 33.5, 0.001, 0.001)],
                    {"REF": ["TF 500/C"]}, "EPSG:4326", driver="GeoJSON")

    with pytest.raises(IngestError, match=r"none of the 1 features lies in the AUC area"):
        import_file(world, REGISTRY, "parcels", degrees, options(crs="EPSG:26191"))
    assert [r[0] for r in rows(world, "SELECT ref FROM parcels ORDER BY id")] == OLD_REFS


def test_appending_numbers_new_plots_after_the_existing_ones(world: str, tmp_path: Path) -> None:
    to_lonlat = Transformer.from_crs("EPSG:26191", "EPSG:4326", always_xy=True)
    lots = [shapely.transform(plot(296600 + 40 * i, 332600),
                              lambda c: np.column_stack(to_lonlat.transform(*c.T)))
            for i in range(3)]
    geojson = write(tmp_path / "lots.geojson", lots, {"REF": ["TF 600/C", "TF 601/C",
                                                              "TF 602/C"]},
                    "EPSG:4326", driver="GeoJSON")

    summary = import_file(world, REGISTRY, "parcels", geojson, options(mode="append"))

    assert summary.rows_after == 6
    assert rows(world, "SELECT id, ref FROM parcels WHERE id > 3 ORDER BY id") == [
        (4, "TF 600/C"), (5, "TF 601/C"), (6, "TF 602/C")]


def test_a_dry_run_checks_everything_and_changes_nothing(world: str, tmp_path: Path) -> None:
    shp = write(tmp_path / "lots.shp", [plot(296000, 332000), BOWTIE], {"REF": ["A", "B"]},
                "EPSG:26191")
    versions_before = rows(world, "SELECT version FROM layer_versions "
                                  "WHERE table_name = 'parcels'")

    summary = import_file(world, REGISTRY, "parcels", shp, options(dry_run=True))

    assert summary.dry_run and (summary.loaded, summary.repaired) == (2, 1)
    changes = summary.changes
    assert (changes.inserted, changes.deleted, changes.changeset) == (2, 3, None)
    assert [r[0] for r in rows(world, "SELECT ref FROM parcels ORDER BY id")] == OLD_REFS
    assert rows(world, "SELECT version FROM layer_versions WHERE table_name = 'parcels'") == \
        versions_before
    assert rows(world, "SELECT count(*) FROM parcels_history") == [(0,)]


def _cli(tmp_path: Path, url: str, *arguments: str,
         language: str = "fr_FR.UTF-8") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GEOPORTAL_DATABASE_URL": url, "COLUMNS": "120", "LANGUAGE": "",
           "LC_ALL": "", "LC_MESSAGES": "", "LANG": language}
    return subprocess.run([sys.executable, "-m", "geoportal.cli", "import", *arguments],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)


def test_the_command_line_imports_with_a_summary_and_refuses_with_a_message(
    world: str, tmp_path: Path
) -> None:
    shp = write(tmp_path / "lots.shp", [plot(296000, 332000)], {"REF": ["TF 700/C"]},
                "EPSG:26191")
    noprj = write(tmp_path / "noprj.shp", [plot(296000, 332000)], {"REF": ["TF 701/C"]}, None)

    done = _cli(tmp_path, world, "parcels", str(shp), "--as", "amina", "--comment",
                "cadastre de mars")
    refused = _cli(tmp_path, world, "parcels", str(noprj), "--as", "amina")

    assert done.returncode == 0, done.stderr
    assert "Imported" in done.stdout and "loaded" in done.stdout and "features/s" in done.stdout
    assert "inserted" in done.stdout and "by import:amina" in done.stdout
    assert (tmp_path / "lots-parcels-import-report.csv").exists()
    assert rows(world, "SELECT actor, source, comment FROM changesets ORDER BY id DESC "
                       "LIMIT 1") == [("import:amina", "import", "cadastre de mars")]
    assert refused.returncode == 1
    assert "--crs EPSG:26191" in refused.stderr.replace("\n", " ")
    assert rows(world, "SELECT ref FROM parcels") == [("TF 700/C",)]


def test_the_command_line_refuses_an_import_without_as_in_french_or_english(
    world: str, tmp_path: Path
) -> None:
    shp = write(tmp_path / "lots.shp", [plot(296000, 332000)], {"REF": ["TF 700/C"]},
                "EPSG:26191")

    french = _cli(tmp_path, world, "parcels", str(shp))
    english = _cli(tmp_path, world, "parcels", str(shp), language="en_GB.UTF-8")

    for refused in (french, english):
        assert refused.returncode != 0
        assert "Traceback" not in refused.stderr
        assert "--as USER" in refused.stderr
    assert "qui importe ?" in french.stderr
    assert "who is importing?" in english.stderr
    assert [r[0] for r in rows(world, "SELECT ref FROM parcels ORDER BY id")] == OLD_REFS


def test_lines_are_loaded_as_multilinestrings_and_points_are_refused(
    world: str, tmp_path: Path
) -> None:
    roads = write(tmp_path / "roads.geojson",
                  [shapely.LineString([(296000, 332000), (296500, 332300)]),
                   shapely.Point(296000, 332000)],
                  {"name": ["Boulevard d'Anfa", "Rond-point"], "road_class": ["primaire"] * 2},
                  "EPSG:26191", driver="GeoJSON", geometry_type="Unknown")
    report = tmp_path / "report.csv"

    summary = import_file(world, REGISTRY, "roads", roads, options(report_path=report))

    assert (summary.loaded, summary.rejected) == (1, 1)
    assert rows(world, "SELECT name, GeometryType(geom), round(ST_Length(geom)) FROM roads") == [
        ("Boulevard d'Anfa", "MULTILINESTRING", 583)]
    assert [(e["key"], e["status"], e["reason"]) for e in _report(report)] == [
        ("Rond-point", "rejected", "Point where the layer holds lines")]


def test_first_vertices_are_read_from_the_bytes_exactly_or_left_unknown() -> None:
    shape = StorageShape(family=3, multi=True, srid=26191)
    polygons = [plot(296000.125, 332000.5), BOWTIE, shapely.MultiPolygon([plot(1, 2), plot(3, 4)])]
    wkb = np.array([shapely.to_wkb(g) for g in polygons]
                   + [shapely.to_wkb(plot(5, 6), byte_order=0), None,
                      shapely.to_wkb(shapely.MultiPolygon())], dtype=object)
    ewkb, _ = to_storage_ewkb(wkb, shape)

    xy = first_vertices(ewkb, shape.family)

    for index, geometry in enumerate(polygons):
        first = shapely.get_coordinates(geometry)[0]
        assert tuple(xy[index]) == tuple(first)
    assert np.isnan(xy[3:]).all()  # big-endian, missing, empty: left to the exact test
    area = shapely.box(296000, 332000, 296400, 332100)
    shapely.prepare(area)
    assert outside(ewkb, shape.family, area) == [2, 3, 5]


def test_three_dimensional_plots_are_stored_flat(world: str, tmp_path: Path) -> None:
    flat = plot(296700, 332700)
    raised = shapely.force_3d(flat, 42.0)
    gpkg = write(tmp_path / "z.gpkg", [raised], {"REF": ["TF 1100/C"]}, "EPSG:26191",
                 geometry_type="Polygon Z")

    assert import_file(world, REGISTRY, "parcels", gpkg, options()).loaded == 1

    dims, area = rows(world, "SELECT ST_NDims(geom), area_m2 FROM parcels")[0]
    assert dims == 2 and area == 300.0
    assert np.allclose(_vertices(world, "TF 1100/C"), _coords(flat), atol=0.005, rtol=0)
