"""Servitudes, reservations (facilities and planned roads) and the existing road network."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Polygon

from geoportal.demo import landmarks as lm
from geoportal.demo.planning import PlanArea, ZoneArea
from geoportal.demo.shapes import (
    lineal,
    lonlat_line,
    polygonal,
    project,
    project_point,
    rng_for,
    wiggle,
)
from geoportal.demo.territory import SYNTHETIC, Territory

RESERVATION_STREAM = 300
ROAD_STREAM = 301
FACILITY_COUNT = 300
PLANNED_ROAD_COUNT = 45
URBAN_CODES = frozenset({"B", "C", "D", "E", "V", "ZAE"})
FACILITIES: dict[str, tuple[str, float, float, float]] = {
    # facility: (French label, weight, smallest side m, largest side m)
    "ecole": ("école", 0.30, 80.0, 120.0),
    "mosquee": ("mosquée", 0.20, 60.0, 90.0),
    "sante": ("centre de santé", 0.12, 70.0, 110.0),
    "sport": ("terrain de sport", 0.15, 100.0, 150.0),
    "parking": ("parking public", 0.10, 60.0, 100.0),
    "administration": ("équipement administratif", 0.13, 60.0, 100.0),
}
ROAD_WIDTHS = (15.0, 20.0, 25.0, 30.0, 40.0)


@dataclass(frozen=True)
class Servitude:
    """One row of ``servitudes``."""

    kind: str
    name: str
    effect: str
    max_height_m: float | None
    legal_ref: str | None
    text: str
    geom: MultiPolygon


@dataclass(frozen=True)
class Reservation:
    """One row of ``reservations``."""

    plan_id: int
    kind: str
    facility: str | None
    label: str
    width_m: float | None
    geom: MultiPolygon


@dataclass(frozen=True)
class Road:
    """One row of ``roads``."""

    name: str
    road_class: str
    geom: MultiLineString


def oued_lines() -> dict[str, LineString]:
    """The two oueds whose banks flood, as meandering lines."""
    return {
        "Oued Bouskoura": wiggle(lonlat_line(lm.OUED_BOUSKOURA), 180.0, 1_700.0, 0.3),
        "Oued El Maleh": wiggle(lonlat_line(lm.OUED_EL_MALEH), 220.0, 2_100.0, 1.9),
    }


def _on_land(geom: Polygon | MultiPolygon, territory: Territory) -> MultiPolygon:
    clipped = polygonal(shapely.intersection(geom, territory.land))
    assert clipped is not None, "a servitude must touch land"
    return clipped


def _note(body: str) -> str:
    return f"{body} Périmètre et prescriptions illustratifs ({SYNTHETIC})."


def _flood_servitudes(territory: Territory) -> list[Servitude]:
    return [
        Servitude("inondation", f"Zone inondable de l'{name}",
                  "Constructions soumises à l'avis de l'agence du bassin hydraulique; "
                  "sous-sols interdits.", None, "Loi 36-15 relative à l'eau",
                  _note(f"Bande de 150 m de part et d'autre du lit de l'{name}."),
                  _on_land(line.buffer(150.0), territory))
        for name, line in oued_lines().items()
    ]


def _coastal_servitude(territory: Territory) -> Servitude:
    band = territory.coastline.buffer(100.0)
    return Servitude("littoral", "Bande littorale de 100 m", "non aedificandi", None,
                     "Loi 81-12 relative au littoral",
                     _note("Bande de 100 m comptée à partir du rivage, inconstructible."),
                     _on_land(band, territory))


def _airport_servitude(territory: Territory) -> Servitude:
    x, y = project_point(*lm.AIRPORT)
    disc = shapely.Point(x, y).buffer(4_000.0, quad_segs=32)
    return Servitude("aeronautique", "Servitude aéronautique de l'aéroport Mohammed V",
                     "Hauteur des constructions limitée à 45 m.", 45.0,
                     "Loi 40-13 portant code de l'aviation civile",
                     _note("Dégagement aéronautique dans un rayon de 4 km autour de l'aéroport."),
                     _on_land(disc, territory))


def _heritage_servitudes(territory: Territory) -> list[Servitude]:
    centre = Polygon(project(lm.HERITAGE_CENTRE))
    hx, hy = project_point(*lm.HABOUS)
    habous = shapely.Point(hx, hy).buffer(350.0, quad_segs=16)
    effect = ("Travaux soumis à l'avis de l'inspection des monuments historiques; "
              "démolition des façades protégées interdite.")
    legal = "Loi 22-80 relative à la conservation des monuments historiques"
    return [
        Servitude("patrimoine", "Centre-ville du XXe siècle", effect, None, legal,
                  _note("Ensemble urbain Art déco et néo-mauresque du centre de Casablanca."),
                  _on_land(centre, territory)),
        Servitude("patrimoine", "Quartier des Habous", effect, None, legal,
                  _note("Quartier des Habous et ses abords."), _on_land(habous, territory)),
    ]


def _corridor_servitudes(territory: Territory) -> list[Servitude]:
    rows = []
    for name, points in lm.POWER_LINES:
        corridor = lonlat_line(points).buffer(30.0, cap_style="flat")
        rows.append(Servitude("ligne_electrique", f"Couloir de la {name}",
                              "Bande non aedificandi de 30 m de part et d'autre de l'axe.",
                              None, "Servitudes des lignes électriques (ONEE)",
                              _note(f"Couloir de protection de la {name}."),
                              _on_land(corridor, territory)))
    for name, points in lm.RAILWAYS:
        corridor = lonlat_line(points).buffer(25.0, cap_style="flat")
        rows.append(Servitude("voie_ferree", f"Emprise et abords de la {name}",
                              "Recul de 25 m des constructions depuis l'axe de la voie.",
                              None, "Police des chemins de fer (ONCF)",
                              _note(f"Abords de la {name}."), _on_land(corridor, territory)))
    return rows


def build_servitudes(territory: Territory) -> list[Servitude]:
    """Flood, coast, airport, heritage, power-line and railway servitudes, clipped to land."""
    return [
        *_flood_servitudes(territory),
        _coastal_servitude(territory),
        _airport_servitude(territory),
        *_heritage_servitudes(territory),
        *_corridor_servitudes(territory),
    ]


def _rectangle(x: float, y: float, width: float, depth: float, angle: float) -> Polygon:
    half = np.array([[-width, -depth], [width, -depth], [width, depth], [-width, depth]]) / 2.0
    cos, sin = np.cos(angle), np.sin(angle)
    corners = half @ np.array([[cos, sin], [-sin, cos]]) + np.array([x, y])
    return Polygon(corners)


def _random_point_in(zone: MultiPolygon, rng: np.random.Generator) -> tuple[float, float]:
    xmin, ymin, xmax, ymax = zone.bounds
    for _ in range(50):
        x, y = float(rng.uniform(xmin, xmax)), float(rng.uniform(ymin, ymax))
        if shapely.contains_xy(zone, x, y):
            return x, y
    point = zone.representative_point()
    return point.x, point.y


def _facility(number: int, zone: ZoneArea, rng: np.random.Generator) -> Reservation:
    names = list(FACILITIES)
    weights = np.array([FACILITIES[n][1] for n in names])
    facility = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    label, _, smallest, largest = FACILITIES[facility]
    x, y = _random_point_in(zone.geom, rng)
    width, depth = rng.uniform(smallest, largest, 2)
    shape = _rectangle(x, y, float(width), float(depth), float(rng.uniform(-0.4, 0.4)))
    text = f"Équipement projeté n° {number} : {label} ({SYNTHETIC})"
    return Reservation(zone.plan_id, "equipement", facility, text, None, MultiPolygon([shape]))


def build_facilities(zones: list[ZoneArea], seed: int) -> list[Reservation]:
    """A few hundred facility plots, each inside one urban zone, none overlapping another."""
    rng = rng_for(seed, RESERVATION_STREAM)
    urban = [z for z in zones if z.code in URBAN_CODES]
    areas = np.array([z.geom.area for z in urban])
    placed: list[Reservation] = []
    for _ in range(FACILITY_COUNT * 20):
        if len(placed) == FACILITY_COUNT:
            break
        zone = urban[int(rng.choice(len(urban), p=areas / areas.sum()))]
        candidate = _facility(len(placed) + 1, zone, rng)
        if not zone.geom.contains(candidate.geom):
            continue
        if any(candidate.geom.intersects(other.geom) for other in placed):
            continue
        placed.append(candidate)
    return placed


def _planned_road(number: int, plan: PlanArea, start: tuple[float, float],
                  rng: np.random.Generator) -> Reservation | None:
    heading = float(rng.uniform(0.0, np.pi))
    length = float(rng.uniform(1_000.0, 3_500.0))
    bend = heading + float(rng.uniform(-0.25, 0.25))
    x, y = start
    mid = (x + np.cos(heading) * length / 2, y + np.sin(heading) * length / 2)
    end = (mid[0] + np.cos(bend) * length / 2, mid[1] + np.sin(bend) * length / 2)
    back = (x - np.cos(heading) * length / 4, y - np.sin(heading) * length / 4)
    width = float(rng.choice(ROAD_WIDTHS))
    strip = LineString([back, start, mid, end]).buffer(width / 2.0, cap_style="flat",
                                                       join_style="mitre")
    geom = polygonal(shapely.intersection(strip, plan.geom))
    if geom is None:
        return None
    label = f"Voie projetée n° {number}, emprise {width:g} m ({SYNTHETIC})"
    return Reservation(plan.id, "voirie", None, label, width, geom)


def build_planned_roads(plans: tuple[PlanArea, ...], zones: list[ZoneArea],
                        seed: int) -> list[Reservation]:
    """About 45 planned roads (voirie projetée), each cut to the sector of its plan."""
    rng = rng_for(seed, ROAD_STREAM)
    by_id = {plan.id: plan for plan in plans}
    urban = [z for z in zones if z.code in URBAN_CODES]
    areas = np.array([z.geom.area for z in urban])
    roads: list[Reservation] = []
    for _ in range(PLANNED_ROAD_COUNT * 4):
        if len(roads) == PLANNED_ROAD_COUNT:
            break
        zone = urban[int(rng.choice(len(urban), p=areas / areas.sum()))]
        start = _random_point_in(zone.geom, rng)
        road = _planned_road(len(roads) + 1, by_id[zone.plan_id], start, rng)
        if road is not None:
            roads.append(road)
    return roads


def build_roads(territory: Territory) -> list[Road]:
    """The existing main roads, clipped to land."""
    roads = []
    for name, road_class, points in lm.ROADS:
        geom = lineal(shapely.intersection(lonlat_line(points), territory.land))
        if geom is not None:
            roads.append(Road(name, road_class, geom))
    return roads
