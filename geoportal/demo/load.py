"""Load the synthetic demo data set into a migrated database, replacing the previous one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from geoportal.db.urls import libpq_url
from geoportal.demo.dataset import DemoData, Progress, build_demo, silent
from geoportal.demo.overlays import oued_lines
from geoportal.demo.parcels import ParcelSet
from geoportal.demo.raster import FLOOD_HAZARD_FILE, write_flood_hazard
from geoportal.demo.rules import article_text
from geoportal.demo.shapes import ewkb_hex

LAYER_TABLES = (
    "prefectures", "communes", "plans", "zone_rules", "zoning", "servitudes",
    "reservations", "roads", "parcels",
)
PARCEL_CHUNK = 25_000


@dataclass(frozen=True)
class DemoSummary:
    """How many rows of each layer were loaded, and where the raster went."""

    seed: int
    prefectures: int
    communes: int
    plans: int
    zone_rules: int
    zones: int
    servitudes: int
    reservations: int
    roads: int
    parcels: int
    raster: Path | None


def database_is_empty(database_url: str) -> bool:
    """True when the database holds no plots and no préfectures (demo never loaded)."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute(
            "SELECT NOT EXISTS (SELECT 1 FROM parcels) AND NOT EXISTS (SELECT 1 FROM prefectures)"
        ).fetchone()
    return bool(row and row[0])


def _copy(conn: psycopg.Connection[Any], table: str, columns: Sequence[str],
          rows: Iterable[Sequence[object]]) -> int:
    """COPY rows into a table; identifiers come from this module's constants only."""
    statement = sql.SQL("COPY {table} ({columns}) FROM STDIN").format(
        table=sql.Identifier(table), columns=sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    count = 0
    with conn.cursor() as cur, cur.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _write_territory(conn: psycopg.Connection[Any], data: DemoData) -> tuple[int, int]:
    prefectures = data.territory.prefectures
    ids = {p.spec.code: i for i, p in enumerate(prefectures, start=1)}
    n_pref = _copy(conn, "prefectures", ("id", "code", "kind", "name_fr", "name_ar", "geom"), (
        (ids[p.spec.code], p.spec.code, p.spec.kind, p.spec.name_fr, p.spec.name_ar,
         ewkb_hex(p.geom)) for p in prefectures))
    n_comm = _copy(conn, "communes", (
        "id", "code", "kind", "name_fr", "name_ar", "prefecture_id", "geom"), (
        (i, c.spec.code, c.spec.kind, c.spec.name_fr, c.spec.name_ar, ids[c.spec.parent],
         ewkb_hex(c.geom)) for i, c in enumerate(data.territory.communes, start=1)))
    return n_pref, n_comm


def _write_plans(conn: psycopg.Connection[Any], data: DemoData) -> tuple[int, int, int]:
    n_plans = _copy(conn, "plans", (
        "id", "ref", "name", "name_ar", "status", "approval_date", "valid_until", "decree",
        "geom"), (
        (p.id, p.spec.ref, p.spec.name, p.spec.name_ar, p.spec.status, p.spec.approved,
         p.valid_until, p.decree, ewkb_hex(p.geom)) for p in data.plans))
    rule_rows = [
        (plan_id, code, r.label, r.category, r.affectation, list(r.uses_allowed),
         list(r.uses_forbidden), r.cos, r.cus, r.max_height_m, r.max_levels, *r.setbacks_m,
         r.min_plot_area_m2, r.min_frontage_m, r.parking, article_text(code, r))
        for plan_id, rules in data.rules.items() for code, r in rules.items()
    ]
    n_rules = _copy(conn, "zone_rules", (
        "id", "plan_id", "code", "label", "category", "affectation", "uses_allowed",
        "uses_forbidden", "cos", "cus", "max_height_m", "max_levels", "setback_front_m",
        "setback_side_m", "setback_rear_m", "min_plot_area_m2", "min_frontage_m", "parking",
        "article"), ((i, *row) for i, row in enumerate(rule_rows, start=1)))
    n_zones = _copy(conn, "zoning", ("id", "plan_id", "code", "geom"), (
        (i, z.plan_id, z.code, ewkb_hex(z.geom)) for i, z in enumerate(data.zones, start=1)))
    return n_plans, n_rules, n_zones


def _write_overlays(conn: psycopg.Connection[Any], data: DemoData) -> tuple[int, int, int]:
    n_serv = _copy(conn, "servitudes", (
        "id", "kind", "name", "effect", "max_height_m", "legal_ref", "text", "geom"), (
        (i, s.kind, s.name, s.effect, s.max_height_m, s.legal_ref, s.text, ewkb_hex(s.geom))
        for i, s in enumerate(data.servitudes, start=1)))
    n_res = _copy(conn, "reservations", (
        "id", "plan_id", "kind", "facility", "label", "width_m", "geom"), (
        (i, r.plan_id, r.kind, r.facility, r.label, r.width_m, ewkb_hex(r.geom))
        for i, r in enumerate(data.reservations, start=1)))
    n_roads = _copy(conn, "roads", ("id", "name", "road_class", "geom"), (
        (i, r.name, r.road_class, ewkb_hex(r.geom)) for i, r in enumerate(data.roads, start=1)))
    return n_serv, n_res, n_roads


def _write_parcels(conn: psycopg.Connection[Any], parcels: ParcelSet,
                   progress: Progress) -> int:
    """COPY the plots in preformatted chunks (refs hold no tab, newline or backslash)."""
    total = len(parcels)
    with conn.cursor() as cur, cur.copy("COPY parcels (id, ref, geom) FROM STDIN") as copy:
        for start in range(0, total, PARCEL_CHUNK):
            stop = min(start + PARCEL_CHUNK, total)
            copy.write(parcels.copy_text(start, stop))
            progress("loading parcels", stop, total)
    return total


def _reset_sequences(conn: psycopg.Connection[Any]) -> None:
    """Point each id sequence past the explicit ids, so later inserts do not collide."""
    for table in LAYER_TABLES:
        conn.execute(sql.SQL(
            "SELECT setval(pg_get_serial_sequence({name}, 'id'), "
            "(SELECT COALESCE(max(id), 0) + 1 FROM {table}), false)"
        ).format(name=sql.Literal(table), table=sql.Identifier(table)))


def _history_triggers(conn: psycopg.Connection[Any], action: str) -> None:
    """Switch the history triggers of every layer table (within the transaction)."""
    for table in LAYER_TABLES:
        conn.execute(sql.SQL("ALTER TABLE {table} {action} TRIGGER {trigger}").format(
            table=sql.Identifier(table), action=sql.SQL(action),
            trigger=sql.Identifier(f"{table}_history")))


def _replace_layers(conn: psycopg.Connection[Any], data: DemoData,
                    progress: Progress) -> DemoSummary:
    """Empty every layer table and load the data set, inside the caller's transaction.

    The demo is a baseline, not an edit: its rows are valid since ``-infinity`` with no
    history, so the history triggers are off while it loads (the owner's privilege) and the
    earlier history and change-sets go with the earlier data.
    """
    conn.execute("SELECT geoportal_reset_layers()")
    _history_triggers(conn, "DISABLE")
    progress("loading layers", 0, 1)
    n_pref, n_comm = _write_territory(conn, data)
    n_plans, n_rules, n_zones = _write_plans(conn, data)
    n_serv, n_res, n_roads = _write_overlays(conn, data)
    progress("loading layers", 1, 1)
    n_parcels = _write_parcels(conn, data.parcels, progress)
    _reset_sequences(conn)
    _history_triggers(conn, "ENABLE")
    # One change-set for the whole load: the data version says which demo this is.
    conn.execute("INSERT INTO changesets (actor, source, comment) VALUES "
                 "('demo', 'demo', %s)", (f"demo data set, {len(data.parcels)} plots",))
    return DemoSummary(0, n_pref, n_comm, n_plans, n_rules, n_zones, n_serv, n_res, n_roads,
                       n_parcels, None)


def _analyze(database_url: str, progress: Progress) -> None:
    progress("analyze", 0, 1)
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute(sql.SQL("ANALYZE {tables}").format(
            tables=sql.SQL(", ").join(map(sql.Identifier, LAYER_TABLES))))
    progress("analyze", 1, 1)


def _write_raster(raster_dir: Path, data: DemoData) -> Path:
    """Write the flood-hazard raster next to its final name, then swap it in."""
    raster_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=raster_dir, prefix=".demo-") as scratch:
        written = write_flood_hazard(Path(scratch), list(oued_lines().values()),
                                     data.territory.land)
        final = raster_dir / FLOOD_HAZARD_FILE
        os.replace(written, final)
    return final


def load_demo(database_url: str, parcels: int = 20_000, seed: int = 42,
              raster_dir: Path | None = None,
              progress: Progress | None = None) -> DemoSummary:
    """Replace all demo content in one transaction; a failure leaves the previous data."""
    if parcels < 0:
        raise ValueError("the number of parcels must not be negative")
    report = progress or silent
    data = build_demo(parcels, seed, report)
    with psycopg.connect(libpq_url(database_url)) as conn, conn.transaction():
        summary = _replace_layers(conn, data, report)
    _analyze(database_url, report)
    raster = None
    if raster_dir is not None:
        report("raster", 0, 1)
        raster = _write_raster(Path(raster_dir), data)
        report("raster", 1, 1)
    return replace(summary, seed=seed, raster=raster)
