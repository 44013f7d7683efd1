"""The Alembic migrations build the schema and take it down again."""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from geoportal.db.migrate import downgrade, head_revision, upgrade
from geoportal.db.models import VERSIONED_TABLES

LAYER_TABLES = {*VERSIONED_TABLES, "layer_versions"}


def _tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {row[0] for row in rows}


def test_upgrade_creates_every_table_and_downgrade_removes_them(
    fresh_database: Callable[..., str],
) -> None:
    url = fresh_database("migrations", migrate=False)
    upgrade(url)
    assert _tables(url) >= LAYER_TABLES
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == (
            head_revision(),
        )
    downgrade(url, "base")
    assert not (LAYER_TABLES & _tables(url))
    upgrade(url)
    assert _tables(url) >= LAYER_TABLES


def test_geometries_are_stored_in_merchich_with_gist_indexes(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        srids = dict(conn.execute(
            "SELECT f_table_name, srid FROM geometry_columns WHERE f_table_schema = 'public'"
        ).fetchall())
        gist = {row[0] for row in conn.execute(
            "SELECT tablename FROM pg_indexes WHERE indexdef ILIKE '%USING gist%'"
        ).fetchall()}
    layers = set(VERSIONED_TABLES) - {"zone_rules"}
    assert set(srids) == layers | {f"{table}_history" for table in layers} | {"nru_requests"}
    assert set(srids.values()) == {26191}
    assert set(srids) <= gist


def test_invalid_geometry_is_refused(database_url: str) -> None:
    bowtie = "SRID=26191;MULTIPOLYGON(((0 0,10 10,10 0,0 10,0 0)))"
    with psycopg.connect(database_url) as conn:
        try:
            conn.execute("INSERT INTO parcels (ref, geom) VALUES ('TF 1/C', %s)", (bowtie,))
        except psycopg.errors.CheckViolation as exc:
            assert "parcels_geom_valid" in str(exc)
        else:
            raise AssertionError("a self-intersecting plot was accepted")


def test_parcel_reference_is_normalised_and_area_computed(database_url: str) -> None:
    square = "SRID=26191;MULTIPOLYGON(((296000 332000,296020 332000,296020 332030,"
    square += "296000 332030,296000 332000)))"
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "INSERT INTO parcels (ref, geom) VALUES ('tf 123 /c', %s) RETURNING ref_norm, area_m2",
            (square,),
        ).fetchone()
        conn.rollback()
    assert row == ("TF123/C", 600.0)


def test_changing_a_layer_bumps_its_version(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        before = conn.execute(
            "SELECT version FROM layer_versions WHERE table_name = 'roads'"
        ).fetchone()
        conn.execute("INSERT INTO roads (road_class, geom) VALUES ('principale', "
                     "'SRID=26191;MULTILINESTRING((296000 332000,297000 333000))')")
        after = conn.execute(
            "SELECT version FROM layer_versions WHERE table_name = 'roads'"
        ).fetchone()
        conn.rollback()
    assert before is not None and after is not None
    assert after[0] == before[0] + 1
