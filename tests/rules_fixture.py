"""A small hand-made planning world whose right answers are known, for the rules tests.

Layout (EPSG:26191, metres): one préfecture 2 km × 2 km at E 299 000–301 000,
N 329 000–331 000, two communes (west/east of E 300 000), four plans:

* PA-T-A, in force (2018–2028): E 299 000–300 500; zones V (villas, south strip),
  C (west) and D (east of E 300 000);
* PA-T-B, under revision (2016–2029): E 300 500–301 000, N 330 000–331 000; zone B;
* PA-T-C, recorded in force but past its ten years (2011–2021): E 300 500–301 000,
  N 329 000–330 000; zone I;
* PA-T-S, under study: E 299 000–300 000, N 330 700–331 000; zone B.

Plots: TF 1001/C split 70/30 between C and D; TF 1002/C half under a school reservation;
TF 1003/C cut by a 20 m planned road; TF 1004/C in the 100 m coastal band; TF 1005/C below
zone V's minimum area; TF 1006/C under the plan under revision; TF 1007/C under the expired
plan and in high flood hazard; TF 1008/C under the plan under study.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psycopg
import rasterio
from affine import Affine
from shapely import wkt
from shapely.geometry import LineString, MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry

SRID = 26191
ROAD_POINT = (299800.0, 330600.0)  # on an existing road, in zone C, no plot
OUTSIDE_POINT = (310000.0, 330000.0)


def _multi(geom: BaseGeometry) -> MultiPolygon:
    return geom if isinstance(geom, MultiPolygon) else MultiPolygon([geom])


@dataclass
class RulesWorld:
    """The fixture's geometries, kept to compute the expected answers independently."""

    url: str
    raster_dir: Path
    plots: dict[str, Polygon] = field(default_factory=dict)
    zones: dict[tuple[str, str], Polygon] = field(default_factory=dict)
    reservations: dict[str, Polygon] = field(default_factory=dict)
    servitudes: dict[str, Polygon] = field(default_factory=dict)


PLANS = (
    # ref, name, name_ar, status, approved, valid_until, extent
    ("PA-T-A", "PA Test Anfa", "تصميم تهيئة تجريبي", "en vigueur", dt.date(2018, 5, 17),
     dt.date(2028, 5, 17), box(299000, 329000, 300500, 331000)),
    ("PA-T-B", "PA Test Est", None, "en révision", dt.date(2016, 3, 1), dt.date(2029, 3, 1),
     box(300500, 330000, 301000, 331000)),
    ("PA-T-C", "PA Test Sud-Est", None, "en vigueur", dt.date(2011, 7, 14),
     dt.date(2021, 7, 14), box(300500, 329000, 301000, 330000)),
    ("PA-T-S", "PA Test Anfa (révision)", None, "à l'étude", None, None,
     box(299000, 330700, 300000, 331000)),
)

RULES = {
    # code: label, category, cos, cus, height, levels, min area
    "C": ("Immeubles R+4", "habitat", 0.6, 3.0, 15.5, 4, 200.0),
    "D": ("Habitat R+2", "habitat", 0.7, 2.1, 11.5, 2, 120.0),
    "V": ("Villas", "habitat", 0.2, 0.4, 8.5, 1, 500.0),
    "B": ("Immeubles R+6", "habitat", 0.65, 4.5, 21.5, 6, 300.0),
    "I": ("Industrie", "activites", 0.5, 1.0, 12.0, None, 1000.0),
}

ZONES = (
    ("PA-T-A", "V", box(299000, 329000, 300000, 329500)),
    ("PA-T-A", "C", box(299000, 329500, 300000, 331000)),
    ("PA-T-A", "D", box(300000, 329000, 300500, 331000)),
    ("PA-T-B", "B", box(300500, 330000, 301000, 331000)),
    ("PA-T-C", "I", box(300500, 329000, 301000, 330000)),
    ("PA-T-S", "B", box(299000, 330700, 300000, 331000)),
)

PLOTS = {
    "TF 1001/C": box(299930, 330500, 300030, 330520),  # 1,400 m² in C, 600 m² in D
    "TF 1002/C": Polygon([(299500, 330100), (299540, 330100), (299545, 330130),
                          (299500, 330130)]),
    "TF 1003/C": box(299600, 330200, 299650, 330240),
    "TF 1004/C": box(299200, 329080, 299230, 329110),
    "TF 1005/C": box(299400, 329300, 299415, 329320),
    "TF 1006/C": box(300700, 330500, 300720, 330525),
    "TF 1007/C": box(300700, 329500, 300740, 329525),
    "TF 1008/C": box(299300, 330800, 299340, 330830),
    # neighbours, for the map extract
    "TF 1011/C": box(299930, 330520, 300030, 330545),
    "TF 1012/C": box(299880, 330500, 299930, 330520),
}

SCHOOL = box(299520, 330080, 299600, 330150)
PLANNED_ROAD = LineString([(299560, 330160), (299700, 330300)]).buffer(10, cap_style="flat")
COASTAL_BAND = box(299000, 329000, 301000, 329100)
FLOOD_ZONE = box(300600, 329400, 300800, 329600)


def _insert(conn: psycopg.Connection, world: RulesWorld) -> None:
    conn.execute(
        "INSERT INTO prefectures (id, code, kind, name_fr, name_ar, geom) VALUES "
        "(1, 'CAS', 'préfecture', 'Préfecture de Casablanca', 'عمالة الدار البيضاء', "
        "ST_GeomFromText(%s, 26191))", (_multi(box(299000, 329000, 301000, 331000)).wkt,))
    for cid, code, name, name_ar, extent in (
        (1, "CAS-ANFA", "Casablanca-Anfa", "الدار البيضاء أنفا",
         box(299000, 329000, 300000, 331000)),
        (2, "CAS-FIDA", "Al Fida-Mers Sultan", "الفداء مرس السلطان",
         box(300000, 329000, 301000, 331000)),
    ):
        conn.execute(
            "INSERT INTO communes (id, code, kind, name_fr, name_ar, prefecture_id, geom) "
            "VALUES (%s, %s, 'préfecture d''arrondissements', %s, %s, 1, "
            "ST_GeomFromText(%s, 26191))", (cid, code, name, name_ar, _multi(extent).wkt))
    plan_ids = {}
    for pid, (ref, name, name_ar, status, approved, until, extent) in enumerate(PLANS, 1):
        plan_ids[ref] = pid
        conn.execute(
            "INSERT INTO plans (id, ref, name, name_ar, status, approval_date, valid_until, "
            "decree, geom) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, ST_GeomFromText(%s, 26191))",
            (pid, ref, name, name_ar, status, approved, until,
             f"Décret n° 2-00-{pid} (test)" if approved else None, _multi(extent).wkt))
        for code in sorted({c for r, c, _ in ZONES if r == ref}):
            label, category, cos, cus, height, levels, minimum = RULES[code]
            conn.execute(
                "INSERT INTO zone_rules (plan_id, code, label, category, affectation, "
                "uses_allowed, uses_forbidden, cos, cus, max_height_m, max_levels, "
                "setback_front_m, setback_side_m, setback_rear_m, min_plot_area_m2, "
                "min_frontage_m, parking, article) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, "
                "%s, %s, 5, 3, 4, %s, 12, 'Une place par logement', %s)",
                (pid, code, label, category, f"Zone {label.lower()}", ["habitation", "commerce"],
                 ["industrie lourde"], cos, cus, height, levels, minimum,
                 f"Article {code}.1 — règlement de la zone {code} (test)."))
    for ref, code, geom in ZONES:
        world.zones[(ref, code)] = geom
        conn.execute("INSERT INTO zoning (plan_id, code, geom) VALUES (%s, %s, "
                     "ST_GeomFromText(%s, 26191))", (plan_ids[ref], code, _multi(geom).wkt))
    conn.execute(
        "INSERT INTO reservations (plan_id, kind, facility, label, width_m, geom) VALUES "
        "(1, 'equipement', 'ecole', 'École primaire', NULL, ST_GeomFromText(%s, 26191)), "
        "(1, 'voirie', NULL, 'Voie projetée n° 12', 20, ST_GeomFromText(%s, 26191))",
        (_multi(SCHOOL).wkt, _multi(PLANNED_ROAD).wkt))
    world.reservations = {"École primaire": SCHOOL, "Voie projetée n° 12": PLANNED_ROAD}
    conn.execute(
        "INSERT INTO servitudes (kind, name, effect, max_height_m, legal_ref, text, geom) "
        "VALUES ('littoral', 'Bande littorale de 100 m', 'zone non aedificandi : toute "
        "construction y est interdite.', NULL, 'Loi 81-12 relative au littoral', "
        "'Bande de 100 m à compter de la limite terrestre du domaine public maritime.', "
        "ST_GeomFromText(%s, 26191)), ('inondation', 'Zone inondable de l''oued (test)', "
        "'constructions soumises à l''avis de l''Agence du bassin hydraulique.', NULL, NULL, "
        "'Zone d''expansion des crues.', ST_GeomFromText(%s, 26191))",
        (_multi(COASTAL_BAND).wkt, _multi(FLOOD_ZONE).wkt))
    world.servitudes = {"Bande littorale de 100 m": COASTAL_BAND,
                        "Zone inondable de l'oued (test)": FLOOD_ZONE}
    conn.execute(
        "INSERT INTO roads (name, road_class, geom) VALUES ('Boulevard test', 'primary', "
        "ST_GeomFromText('MULTILINESTRING((299000 330600, 301000 330600))', 26191)), "
        "('Rue test', 'street', "
        "ST_GeomFromText('MULTILINESTRING((299870 330000, 299870 331000))', 26191))")
    for ref, geom in PLOTS.items():
        world.plots[ref] = geom
        conn.execute("INSERT INTO parcels (id, ref, geom) VALUES (%s, %s, "
                     "ST_GeomFromText(%s, 26191))",
                     (len(world.plots), ref, _multi(geom).wkt))


def write_flood_raster(folder: Path) -> None:
    """flood_hazard.tif: 10 m cells, class 3 over the flood zone, 1 around it, 0 elsewhere."""
    folder.mkdir(parents=True, exist_ok=True)
    cells = np.zeros((200, 200), dtype=np.uint8)  # N 331 000 down, E 299 000 right
    cells[140:160, 160:180] = 1  # E 300 600–300 800, N 329 400–329 600 and a margin
    cells[142:158, 162:178] = 1
    cells[144:156, 170:178] = 3  # E 300 700–300 780, N 329 440–329 560
    profile = {"driver": "GTiff", "width": 200, "height": 200, "count": 1, "dtype": "uint8",
               "crs": f"EPSG:{SRID}", "transform": Affine(10, 0, 299000, 0, -10, 331000),
               "nodata": 255}
    with rasterio.open(folder / "flood_hazard.tif", "w", **profile) as dataset:
        dataset.write(cells, 1)


LAYER_TABLES = ("prefectures", "communes", "plans", "zone_rules", "zoning", "servitudes",
                "reservations", "roads", "parcels")


def build_rules_world(url: str, raster_dir: Path) -> RulesWorld:
    """Insert the world into a migrated database and write its raster.

    Like the demo, the world is a baseline, valid since ever (the history triggers are off
    while it is written): asking the rules "at" a date of the past reads these same data.
    """
    world = RulesWorld(url=url, raster_dir=raster_dir)
    with psycopg.connect(url) as conn:
        for table in LAYER_TABLES:
            conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_history")
        _insert(conn, world)
        for table in LAYER_TABLES:
            conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_history")
    write_flood_raster(raster_dir)
    return world


def geometry_of(world: RulesWorld, ref: str) -> BaseGeometry:
    """A plot's geometry as stored (read back, to compare with the service's answer)."""
    with psycopg.connect(world.url) as conn:
        row = conn.execute("SELECT ST_AsText(geom) FROM parcels WHERE ref = %s",
                           (ref,)).fetchone()
    assert row is not None
    return wkt.loads(row[0])


_WORLDS: dict[int, RulesWorld] = {}


def shared_world(fresh_database: Callable[[str], str], folder: Path) -> RulesWorld:
    """The world, built once per test session (several test modules share it)."""
    key = id(fresh_database)
    if key not in _WORLDS:
        _WORLDS[key] = build_rules_world(fresh_database("rules"), folder)
    return _WORLDS[key]
