"""Plans d'aménagement and their zoning: sectors from communes, zones from Voronoi cells."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import MultiPoint, MultiPolygon

from geoportal.demo.landmarks import (
    INDUSTRIAL_AREAS,
    NATURAL_AREAS,
    PARKS,
    URBAN_CENTRES,
    VILLA_AREAS,
)
from geoportal.demo.shapes import FloatArray, LonLat, polygonal, project, rng_for
from geoportal.demo.territory import SYNTHETIC, Territory

EN_VIGUEUR = "en vigueur"
EN_REVISION = "en révision"
A_L_ETUDE = "à l'étude"
ZONE_STREAM = 100


@dataclass(frozen=True)
class PlanSpec:
    """A plan d'aménagement as written by hand; ``densify`` scales urban intensity."""

    ref: str
    name: str
    name_ar: str
    status: str
    approved: dt.date | None
    decree_no: str | None
    communes: tuple[str, ...]
    densify: float = 1.0


@dataclass(frozen=True)
class PlanArea:
    """A plan with its id (1-based, in load order) and sector."""

    id: int
    spec: PlanSpec
    geom: MultiPolygon

    @property
    def valid_until(self) -> dt.date | None:
        """Ten years after approval."""
        approved = self.spec.approved
        return approved.replace(year=approved.year + 10) if approved else None

    @property
    def decree(self) -> str | None:
        """The approval decree, labelled as synthetic."""
        if self.spec.decree_no is None or self.spec.approved is None:
            return None
        return (f"Décret n° {self.spec.decree_no} du {french_date(self.spec.approved)} "
                f"approuvant le plan d'aménagement ({SYNTHETIC})")


@dataclass(frozen=True)
class ZoneArea:
    """One zone of a plan."""

    plan_id: int
    code: str
    geom: MultiPolygon


_HH = ("CAS-HH", "CAS-ACH")
PLANS: tuple[PlanSpec, ...] = (
    PlanSpec("PA-CAS-ANFA-2018", "PA Casablanca-Anfa", "تصميم تهيئة الدار البيضاء أنفا",
             EN_VIGUEUR, dt.date(2018, 5, 17), "2-18-347", ("CAS-ANFA", "CAS-FIDA")),
    PlanSpec("PA-CAS-HH-2018", "PA Hay Hassani - Aïn Chock", "تصميم تهيئة الحي الحسني عين الشق",
             EN_REVISION, dt.date(2018, 2, 8), "2-17-716", _HH),
    PlanSpec("PA-CAS-SB-2019", "PA Sidi Bernoussi - Aïn Sebaâ",
             "تصميم تهيئة سيدي البرنوصي عين السبع", EN_VIGUEUR, dt.date(2019, 4, 11),
             "2-19-188", ("CAS-SB", "CAS-ASHM", "CAS-BMS", "CAS-MR")),
    PlanSpec("PA-MOH-2020", "PA Mohammedia", "تصميم تهيئة المحمدية", EN_VIGUEUR,
             dt.date(2020, 1, 16), "2-19-1032", ("MOH-MOH", "MOH-BY", "MOH-SMBA")),
    # Approved in 2011: still "en vigueur" in the table, but its ten years are over.
    PlanSpec("PA-NOU-BSK-2011", "PA Nouaceur - Bouskoura", "تصميم تهيئة النواصر بوسكورة",
             EN_VIGUEUR, dt.date(2011, 7, 14), "2-11-289", ("NOU-DB", "NOU-BSK", "NOU-NOU")),
    PlanSpec("PA-MED-2019", "PA Médiouna", "تصميم تهيئة مديونة", EN_VIGUEUR,
             dt.date(2019, 10, 3), "2-19-671", ("MED-MED", "MED-TM", "MED-LAH")),
    PlanSpec("PA-MAN-2020", "PA Mansouria", "تصميم تهيئة المنصورية", EN_VIGUEUR,
             dt.date(2020, 6, 25), "2-20-402", ("MAN-MAN",)),
    PlanSpec("PA-CAS-HH-REV", "PA Hay Hassani - Aïn Chock (révision)",
             "مراجعة تصميم تهيئة الحي الحسني عين الشق", A_L_ETUDE, None, None, _HH,
             densify=1.25),
)

_MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre")


def french_date(day: dt.date) -> str:
    """A date written the French way, e.g. ``17 mai 2018``."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def build_plans(territory: Territory) -> tuple[PlanArea, ...]:
    """Every plan with its sector, the union of its communes."""
    by_code = {c.spec.code: c.geom for c in territory.communes}
    plans = []
    for index, spec in enumerate(PLANS, start=1):
        sector = polygonal(shapely.union_all([by_code[code] for code in spec.communes]))
        assert sector is not None
        plans.append(PlanArea(index, spec, sector))
    return tuple(plans)


def _distances_km(xy: FloatArray, place: LonLat) -> FloatArray:
    centre = project([place])[0]
    distances: FloatArray = np.hypot(xy[:, 0] - centre[0], xy[:, 1] - centre[1]) / 1000.0
    return distances


def urban_intensity(xy: FloatArray) -> FloatArray:
    """How urban each point is, 0–1: the strongest pull of the town centres."""
    pulls = [c.weight * np.exp(-_distances_km(xy, c.lonlat) / c.reach_km) for c in URBAN_CENTRES]
    intensity: FloatArray = np.max(np.vstack(pulls), axis=0)
    return intensity


def _within_any(xy: FloatArray, discs: tuple[tuple[LonLat, float], ...]) -> np.ndarray:
    inside = np.zeros(len(xy), dtype=bool)
    for centre, radius_km in discs:
        inside |= _distances_km(xy, centre) < radius_km
    return inside


def _zone_seeds(sector: MultiPolygon, rng: np.random.Generator, densify: float) -> FloatArray:
    """Seed points, about one per 0.4 km² in town and up to one per 5 km² in the country."""
    finest_m2 = 400_000.0
    xmin, ymin, xmax, ymax = sector.bounds
    count = int((xmax - xmin) * (ymax - ymin) / finest_m2) + 1
    xy = np.column_stack([rng.uniform(xmin, xmax, count), rng.uniform(ymin, ymax, count)])
    keep_draw = rng.uniform(0.0, 1.0, count)
    intensity = np.maximum(urban_intensity(xy) * densify, 1e-3)
    cell_m2 = np.minimum(finest_m2 * (0.45 / np.minimum(intensity, 0.45)) ** 1.5, 5_000_000.0)
    keep = (keep_draw < finest_m2 / cell_m2) & shapely.contains_xy(sector, xy[:, 0], xy[:, 1])
    seeds: FloatArray = xy[keep]
    if len(seeds) == 0:
        point = sector.representative_point()
        seeds = np.array([[point.x, point.y]])
    return seeds


def _code_by_intensity(intensity: float, villa: bool, draw: float) -> str:
    """Dense codes near the centres, then houses, then agricultural or natural land."""
    bands = ((0.72, "B"), (0.52, "C"), (0.40, "D"), (0.30, "E"), (0.20, "V" if draw < 0.5 else "E"))
    for threshold, code in bands:
        if intensity > threshold:
            return "V" if villa and code in {"C", "D", "E"} and intensity < 0.6 else code
    return "NA" if draw < 0.15 else "RA"


def _industrial_code(xy: FloatArray, draws: np.ndarray) -> list[str | None]:
    codes: list[str | None] = [None] * len(xy)
    for centre, radius_km, code in INDUSTRIAL_AREAS:
        near = _distances_km(xy, centre) < radius_km
        for i in np.flatnonzero(near):
            if codes[i] is None and draws[i, 1] < 0.75:
                other = "ZAE" if code == "I" else "I"
                codes[i] = code if draws[i, 2] < 0.75 else other
    return codes


def zone_codes(xy: FloatArray, rng: np.random.Generator, densify: float) -> list[str]:
    """A zone code for each seed point, from its place and a few seeded draws."""
    draws = rng.uniform(0.0, 1.0, (len(xy), 3))
    intensity = urban_intensity(xy) * densify * np.exp(0.12 * rng.standard_normal(len(xy)))
    natural = _within_any(xy, NATURAL_AREAS)
    parks = _within_any(xy, PARKS)
    villas = _within_any(xy, VILLA_AREAS)
    industrial = _industrial_code(xy, draws)
    codes = []
    for i in range(len(xy)):
        if natural[i]:
            codes.append("NA")
        elif parks[i] or (intensity[i] > 0.25 and draws[i, 0] < 0.06):
            codes.append("ZV")
        elif industrial[i] is not None:
            codes.append(str(industrial[i]))
        else:
            codes.append(_code_by_intensity(float(intensity[i]), bool(villas[i]), draws[i, 2]))
    return codes


ZONE_CODES = ("B", "C", "D", "E", "V", "I", "ZAE", "ZV", "RA", "NA")


def _dissolve(plan_id: int, codes: list[str], cells: np.ndarray) -> list[ZoneArea]:
    """Neighbouring cells with the same code merged into one zone per connected piece."""
    zones = []
    for code in ZONE_CODES:
        members = [cell for c, cell in zip(codes, cells, strict=True) if c == code]
        merged = polygonal(shapely.union_all(members)) if members else None
        if merged is not None:
            zones += [ZoneArea(plan_id, code, MultiPolygon([part])) for part in merged.geoms]
    return zones


def _zones_of(plan: PlanArea, seed: int) -> list[ZoneArea]:
    rng = rng_for(seed, ZONE_STREAM + plan.id)
    seeds = _zone_seeds(plan.geom, rng, plan.spec.densify)
    codes = zone_codes(seeds, rng, plan.spec.densify)
    if len(seeds) == 1:
        return [ZoneArea(plan.id, codes[0], plan.geom)]
    diagram = shapely.voronoi_polygons(
        MultiPoint(seeds), extend_to=shapely.envelope(plan.geom), ordered=True
    )
    cells = shapely.intersection(shapely.get_parts(diagram), plan.geom)
    return _dissolve(plan.id, codes, cells)


def build_zoning(plans: tuple[PlanArea, ...], seed: int) -> list[ZoneArea]:
    """The zones of every plan, tiling each plan's sector."""
    return [zone for plan in plans for zone in _zones_of(plan, seed)]
