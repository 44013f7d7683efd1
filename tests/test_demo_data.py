"""The synthetic demo data set: shapes, rules, labels and determinism, checked with SQL."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
import rasterio

from geoportal.demo import load as demo_load
from geoportal.demo.load import DemoSummary, database_is_empty, load_demo

SEED = 7
PARCELS = 20_000
SYNTHETIC = "données de démonstration synthétiques"
# Content fingerprints: every geometry and attribute a user sees, in id order.
FINGERPRINTS = {
    "parcels": "SELECT md5(string_agg(ref || ST_AsEWKB(geom)::text, ',' ORDER BY id)) "
               "FROM parcels",
    "zoning": "SELECT md5(string_agg(plan_id || code || ST_AsEWKB(geom)::text, ',' ORDER BY id)) "
              "FROM zoning",
    "zone_rules": "SELECT md5(string_agg(r::text, ',' ORDER BY id)) FROM zone_rules r",
    "plans": "SELECT md5(string_agg(p::text, ',' ORDER BY id)) FROM plans p",
    "communes": "SELECT md5(string_agg(c::text, ',' ORDER BY id)) FROM communes c",
    "servitudes": "SELECT md5(string_agg(s::text, ',' ORDER BY id)) FROM servitudes s",
    "reservations": "SELECT md5(string_agg(r::text, ',' ORDER BY id)) FROM reservations r",
    "roads": "SELECT md5(string_agg(r::text, ',' ORDER BY id)) FROM roads r",
}


@dataclass(frozen=True)
class LoadedDemo:
    """A database holding the demo data set, with what load_demo reported."""

    url: str
    summary: DemoSummary
    raster_dir: Path


@pytest.fixture(scope="module")
def demo_db(fresh_database: Callable[[str], str],
            tmp_path_factory: pytest.TempPathFactory) -> LoadedDemo:
    """The demo data set (20,000 plots, seed 7) in a database of its own."""
    url = fresh_database("demo_data")
    raster_dir = tmp_path_factory.mktemp("demo_raster")
    summary = load_demo(url, parcels=PARCELS, seed=SEED, raster_dir=raster_dir)
    return LoadedDemo(url, summary, raster_dir)


def scalar(url: str, query: str, params: Any = None) -> Any:
    """The single value a query returns."""
    with psycopg.connect(url) as conn:
        row = conn.execute(query, params).fetchone()
    assert row is not None
    return row[0]


def fingerprints(url: str) -> dict[str, str]:
    """An md5 per table of everything the demo loads."""
    return {table: scalar(url, query) for table, query in FINGERPRINTS.items()}


def test_the_summary_counts_what_is_in_the_tables(demo_db: LoadedDemo) -> None:
    summary = demo_db.summary
    assert summary.parcels == PARCELS
    for table, expected in (("prefectures", summary.prefectures), ("communes", summary.communes),
                            ("plans", summary.plans), ("zone_rules", summary.zone_rules),
                            ("zoning", summary.zones), ("servitudes", summary.servitudes),
                            ("reservations", summary.reservations), ("roads", summary.roads),
                            ("parcels", summary.parcels)):
        assert scalar(demo_db.url, f"SELECT count(*) FROM {table}") == expected, table


def test_a_loaded_database_is_no_longer_empty(
        demo_db: LoadedDemo, fresh_database: Callable[[str], str]) -> None:
    assert database_is_empty(fresh_database("demo_empty"))
    assert not database_is_empty(demo_db.url)


def test_every_parcel_is_valid_and_lies_on_the_land_of_the_prefectures(
        demo_db: LoadedDemo) -> None:
    outside = scalar(demo_db.url, """
        WITH land AS (SELECT ST_Union(geom) AS geom FROM prefectures)
        SELECT count(*) FROM parcels p, land
        WHERE NOT ST_IsValid(p.geom) OR NOT ST_Within(p.geom, land.geom)""")
    assert outside == 0


def test_no_two_parcels_overlap(demo_db: LoadedDemo) -> None:
    overlapping = scalar(demo_db.url, """
        SELECT count(*) FROM parcels a JOIN parcels b
          ON a.id < b.id AND a.geom && b.geom AND ST_Relate(a.geom, b.geom, '2********')""")
    assert overlapping == 0


def test_parcel_refs_are_unique_titles_lettered_by_prefecture(demo_db: LoadedDemo) -> None:
    with psycopg.connect(demo_db.url) as conn:
        refs = [row[0] for row in conn.execute("SELECT ref FROM parcels")]
    assert len(set(refs)) == len(refs)
    assert all(re.fullmatch(r"TF \d+/[CMNDS]", ref) for ref in refs)
    misplaced = scalar(demo_db.url, """
        SELECT count(*) FROM parcels p JOIN prefectures f
          ON f.code = CASE right(p.ref, 1) WHEN 'C' THEN 'CAS' WHEN 'M' THEN 'MOH'
                      WHEN 'N' THEN 'NOU' WHEN 'D' THEN 'MED' ELSE 'MAN' END
        WHERE NOT ST_Intersects(f.geom, ST_Centroid(p.geom))""")
    assert misplaced <= PARCELS // 1000


def test_prefectures_tile_the_land_without_overlap_or_hole(demo_db: LoadedDemo) -> None:
    overlap = scalar(demo_db.url, """
        SELECT COALESCE(sum(ST_Area(ST_Intersection(a.geom, b.geom))), 0)
        FROM prefectures a JOIN prefectures b ON a.id < b.id AND a.geom && b.geom""")
    assert overlap < 1.0
    parts, holes = scalar(demo_db.url, """
        SELECT ARRAY[ST_NumGeometries(u), ST_NumInteriorRings(ST_GeometryN(u, 1))]
        FROM (SELECT ST_Union(geom) AS u FROM prefectures) s""")
    assert (parts, holes) == (1, 0)
    names = {row for row in _rows(demo_db.url, "SELECT code, kind FROM prefectures")}
    assert names == {("CAS", "préfecture"), ("MOH", "préfecture"), ("NOU", "province"),
                     ("MED", "province"), ("MAN", "commune")}


def test_communes_tile_their_prefecture(demo_db: LoadedDemo) -> None:
    outside = scalar(demo_db.url, """
        SELECT max(ST_Area(ST_Difference(c.geom, p.geom)))
        FROM communes c JOIN prefectures p ON p.id = c.prefecture_id""")
    assert outside < 1.0
    uncovered = scalar(demo_db.url, """
        SELECT max(abs(ST_Area(p.geom) - s.area)) FROM prefectures p
        JOIN (SELECT prefecture_id, sum(ST_Area(geom)) AS area FROM communes
              GROUP BY prefecture_id) s ON s.prefecture_id = p.id""")
    assert uncovered < 1.0
    arrondissements = scalar(demo_db.url, """
        SELECT count(*) FROM communes c JOIN prefectures p ON p.id = c.prefecture_id
        WHERE p.code = 'CAS' AND c.name_ar IS NOT NULL""")
    assert arrondissements == 8


def test_every_zone_has_the_rules_of_its_plan_and_code(demo_db: LoadedDemo) -> None:
    orphans = scalar(demo_db.url, """
        SELECT count(*) FROM zoning z
        LEFT JOIN zone_rules r ON r.plan_id = z.plan_id AND r.code = z.code
        WHERE r.id IS NULL""")
    assert orphans == 0
    unused = scalar(demo_db.url, """
        SELECT count(*) FROM zone_rules r
        WHERE NOT EXISTS (SELECT 1 FROM zoning z
                          WHERE z.plan_id = r.plan_id AND z.code = r.code)""")
    assert unused == 0
    incomplete = scalar(demo_db.url, """
        SELECT count(*) FROM zone_rules WHERE cos IS NULL OR cus IS NULL OR max_height_m IS NULL
          OR max_levels IS NULL OR setback_front_m IS NULL OR setback_side_m IS NULL
          OR setback_rear_m IS NULL OR min_plot_area_m2 IS NULL OR min_frontage_m IS NULL
          OR parking IS NULL OR cardinality(uses_allowed) = 0
          OR cardinality(uses_forbidden) = 0""")
    assert incomplete == 0


def test_zones_tile_the_sector_of_their_plan(demo_db: LoadedDemo) -> None:
    gap = scalar(demo_db.url, """
        SELECT max(abs(ST_Area(p.geom) - z.area)) FROM plans p
        JOIN (SELECT plan_id, sum(ST_Area(geom)) AS area FROM zoning GROUP BY plan_id) z
          ON z.plan_id = p.id""")
    assert gap < 1.0
    overlap = scalar(demo_db.url, """
        SELECT COALESCE(sum(ST_Area(ST_Intersection(a.geom, b.geom))), 0)
        FROM zoning a JOIN zoning b
          ON a.plan_id = b.plan_id AND a.id < b.id AND a.geom && b.geom""")
    assert overlap < 1.0


def test_plans_other_than_the_study_tile_the_land(demo_db: LoadedDemo) -> None:
    overlap = scalar(demo_db.url, """
        SELECT COALESCE(sum(ST_Area(ST_Intersection(a.geom, b.geom))), 0)
        FROM plans a JOIN plans b ON a.id < b.id AND a.geom && b.geom
        WHERE a.status <> 'à l''étude' AND b.status <> 'à l''étude'""")
    assert overlap < 1.0
    land = scalar(demo_db.url, "SELECT sum(ST_Area(geom)) FROM prefectures")
    planned = scalar(demo_db.url,
                     "SELECT sum(ST_Area(geom)) FROM plans WHERE status <> 'à l''étude'")
    assert abs(land - planned) < 1.0


def test_a_share_of_parcels_straddles_two_zones_of_one_plan(demo_db: LoadedDemo) -> None:
    share = scalar(demo_db.url, """
        WITH hits AS (
          SELECT p.id, z.plan_id FROM parcels p JOIN zoning z ON ST_Intersects(p.geom, z.geom)
          GROUP BY p.id, z.plan_id HAVING count(*) >= 2)
        SELECT (SELECT count(DISTINCT id) FROM hits)::float / (SELECT count(*) FROM parcels)""")
    assert 0.01 <= share <= 0.30


@pytest.mark.parametrize(("bbox", "at_least"), [
    ((-7.60, 33.57, -7.59, 33.58), 100),
    ((-7.62, 33.55, -7.58, 33.59), 1_000),
])
def test_central_casablanca_is_dense_with_parcels(
        demo_db: LoadedDemo, bbox: tuple[float, float, float, float], at_least: int) -> None:
    count = scalar(demo_db.url, """
        SELECT count(*) FROM parcels
        WHERE ST_Intersects(geom, ST_Transform(ST_MakeEnvelope(%s, %s, %s, %s, 4326), 26191))""",
        bbox)
    assert count >= at_least


def test_one_plan_is_under_revision_and_its_revision_under_study_overlaps_it(
        demo_db: LoadedDemo) -> None:
    statuses = [row[0] for row in _rows(demo_db.url, "SELECT status FROM plans")]
    assert 6 <= len(statuses) <= 8
    assert statuses.count("en révision") == 1
    assert statuses.count("à l'étude") == 1
    shared = scalar(demo_db.url, """
        SELECT ST_Area(ST_Intersection(r.geom, s.geom)) / ST_Area(r.geom)
        FROM plans r, plans s WHERE r.status = 'en révision' AND s.status = 'à l''étude'""")
    assert shared > 0.5


def test_one_plan_in_force_has_outlived_its_ten_years(demo_db: LoadedDemo) -> None:
    # A fixed reference date, so that the test does not change its answer as time passes.
    expired = scalar(demo_db.url, """
        SELECT count(*) FROM plans
        WHERE status = 'en vigueur' AND valid_until < DATE '2025-01-01'""")
    assert expired == 1
    ten_years = scalar(demo_db.url, """
        SELECT bool_and(valid_until = (approval_date + interval '10 years')::date)
        FROM plans WHERE approval_date IS NOT NULL""")
    assert ten_years


def test_servitudes_of_every_kind_lie_on_land(demo_db: LoadedDemo) -> None:
    kinds = {row[0] for row in _rows(demo_db.url, "SELECT DISTINCT kind FROM servitudes")}
    assert kinds == {"inondation", "littoral", "aeronautique", "patrimoine", "ligne_electrique",
                     "voie_ferree"}
    off_land = scalar(demo_db.url, """
        WITH land AS (SELECT ST_Union(geom) AS geom FROM prefectures)
        SELECT max(ST_Area(ST_Difference(s.geom, land.geom))) FROM servitudes s, land""")
    assert off_land < 1.0
    coast = _rows(demo_db.url, "SELECT legal_ref, effect FROM servitudes WHERE kind = 'littoral'")
    assert coast == [("Loi 81-12 relative au littoral", "non aedificandi")]


def test_reservations_lie_in_the_sector_of_their_plan(demo_db: LoadedDemo) -> None:
    outside = scalar(demo_db.url, """
        SELECT max(ST_Area(ST_Difference(r.geom, p.geom)))
        FROM reservations r JOIN plans p ON p.id = r.plan_id""")
    assert outside < 1.0
    facilities = scalar(demo_db.url, """
        SELECT count(*) FROM reservations WHERE kind = 'equipement'
          AND facility IN ('ecole', 'mosquee', 'sante', 'sport', 'parking', 'administration')""")
    roads = scalar(demo_db.url,
                   "SELECT count(*) FROM reservations WHERE kind = 'voirie' AND width_m > 0")
    assert facilities >= 200
    assert 30 <= roads <= 60


def test_everything_a_user_reads_says_the_data_is_synthetic(demo_db: LoadedDemo) -> None:
    unlabelled = scalar(demo_db.url, """
        SELECT (SELECT count(*) FROM zone_rules WHERE position(%(s)s IN article) = 0)
             + (SELECT count(*) FROM servitudes WHERE position(%(s)s IN text) = 0)
             + (SELECT count(*) FROM reservations WHERE position(%(s)s IN label) = 0)
             + (SELECT count(*) FROM plans
                WHERE decree IS NOT NULL AND position(%(s)s IN decree) = 0)""", {"s": SYNTHETIC})
    assert unlabelled == 0


def test_the_flood_raster_is_in_the_storage_crs_with_four_classes(demo_db: LoadedDemo) -> None:
    assert demo_db.summary.raster == demo_db.raster_dir / "flood_hazard.tif"
    with rasterio.open(demo_db.raster_dir / "flood_hazard.tif") as raster:
        assert raster.crs.to_epsg() == 26191
        assert raster.nodata == 255
        assert raster.res == (50.0, 50.0)
        assert raster.tags()["synthetic"] == "true"
        values = set(np.unique(raster.read(1)).tolist())
    assert {0, 1, 2, 3} <= values <= {0, 1, 2, 3, 255}


def test_loading_again_with_the_same_seed_gives_identical_data(demo_db: LoadedDemo) -> None:
    before = fingerprints(demo_db.url)
    load_demo(demo_db.url, parcels=PARCELS, seed=SEED)
    assert fingerprints(demo_db.url) == before
    assert scalar(demo_db.url, "SELECT count(*) FROM parcels") == PARCELS


def test_a_failed_reload_leaves_the_previous_data(
        demo_db: LoadedDemo, monkeypatch: pytest.MonkeyPatch) -> None:
    before = fingerprints(demo_db.url)

    def fail(*args: object) -> None:
        raise RuntimeError("interrupted on purpose")

    monkeypatch.setattr(demo_load, "_reset_sequences", fail)
    with pytest.raises(RuntimeError, match="on purpose"):
        load_demo(demo_db.url, parcels=1_000, seed=SEED + 1)
    assert fingerprints(demo_db.url) == before


def test_new_rows_get_ids_after_the_loaded_ones(demo_db: LoadedDemo) -> None:
    with psycopg.connect(demo_db.url) as conn:
        row = conn.execute("""
            INSERT INTO parcels (ref, geom)
            VALUES ('TF 1/TEST', ST_Multi(ST_MakeEnvelope(0, 0, 10, 10, 26191)))
            RETURNING id""").fetchone()
        conn.rollback()
    assert row is not None and row[0] > PARCELS


def _rows(url: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()
