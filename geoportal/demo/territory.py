"""The land and its administrative areas: coast, préfectures/provinces, communes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPoint, MultiPolygon, Polygon, box

from geoportal.demo.landmarks import AUC_BOUNDS, COAST
from geoportal.demo.shapes import LonLat, lonlat_line, polygonal, project, wiggle

SYNTHETIC = "données de démonstration synthétiques"


@dataclass(frozen=True)
class AreaSpec:
    """A named administrative area; communes name their parent and a seed location."""

    code: str
    kind: str
    name_fr: str
    name_ar: str
    parent: str = ""
    seed: LonLat = (0.0, 0.0)


@dataclass(frozen=True)
class Area:
    """An administrative area with its geometry."""

    spec: AreaSpec
    geom: MultiPolygon


@dataclass(frozen=True)
class Territory:
    """The land of the AUC area and its nested administrative tiling."""

    coastline: LineString
    land: Polygon
    prefectures: tuple[Area, ...]
    communes: tuple[Area, ...]

    def prefecture_of(self, commune: Area) -> Area:
        """The préfecture or province holding a commune."""
        return next(p for p in self.prefectures if p.spec.code == commune.spec.parent)


PREFECTURES: tuple[AreaSpec, ...] = (
    AreaSpec("CAS", "préfecture", "Préfecture de Casablanca", "عمالة الدار البيضاء"),
    AreaSpec("MOH", "préfecture", "Préfecture de Mohammedia", "عمالة المحمدية"),
    AreaSpec("NOU", "province", "Province de Nouaceur", "إقليم النواصر"),
    AreaSpec("MED", "province", "Province de Médiouna", "إقليم مديونة"),
    AreaSpec("MAN", "commune", "Commune de Mansouria", "جماعة المنصورية"),
)

_ARR = "préfecture d'arrondissements"
COMMUNES: tuple[AreaSpec, ...] = (
    AreaSpec("CAS-ANFA", _ARR, "Casablanca-Anfa", "الدار البيضاء أنفا", "CAS", (-7.632, 33.592)),
    AreaSpec("CAS-FIDA", _ARR, "Al Fida-Mers Sultan", "الفداء مرس السلطان", "CAS",
             (-7.596, 33.578)),
    AreaSpec("CAS-ASHM", _ARR, "Aïn Sebaâ-Hay Mohammadi", "عين السبع الحي المحمدي", "CAS",
             (-7.545, 33.598)),
    AreaSpec("CAS-HH", _ARR, "Hay Hassani", "الحي الحسني", "CAS", (-7.685, 33.562)),
    AreaSpec("CAS-ACH", _ARR, "Aïn Chock", "عين الشق", "CAS", (-7.612, 33.538)),
    AreaSpec("CAS-SB", _ARR, "Sidi Bernoussi", "سيدي البرنوصي", "CAS", (-7.495, 33.612)),
    AreaSpec("CAS-BMS", _ARR, "Ben M'Sick", "ابن امسيك", "CAS", (-7.572, 33.560)),
    AreaSpec("CAS-MR", _ARR, "Moulay Rachid", "مولاي رشيد", "CAS", (-7.545, 33.565)),
    AreaSpec("MOH-MOH", "commune", "Mohammedia", "المحمدية", "MOH", (-7.385, 33.685)),
    AreaSpec("MOH-BY", "commune", "Ben Yakhlef", "بني يخلف", "MOH", (-7.318, 33.655)),
    AreaSpec("MOH-SMBA", "commune", "Sidi Moussa Ben Ali", "سيدي موسى بن علي", "MOH",
             (-7.345, 33.585)),
    AreaSpec("NOU-DB", "commune", "Dar Bouazza", "دار بوعزة", "NOU", (-7.800, 33.500)),
    AreaSpec("NOU-BSK", "commune", "Bouskoura", "بوسكورة", "NOU", (-7.660, 33.455)),
    AreaSpec("NOU-NOU", "commune", "Nouaceur", "النواصر", "NOU", (-7.600, 33.360)),
    AreaSpec("MED-MED", "commune", "Médiouna", "مديونة", "MED", (-7.470, 33.430)),
    AreaSpec("MED-TM", "commune", "Tit Mellil", "تيط مليل", "MED", (-7.465, 33.545)),
    AreaSpec("MED-LAH", "commune", "Lahraouiyine", "الهراويين", "MED", (-7.540, 33.515)),
    AreaSpec("MAN-MAN", "commune", "Mansouria", "المنصورية", "MAN", (-7.285, 33.735)),
)


def auc_box() -> Polygon:
    """The AUC bounding box in storage coordinates."""
    return box(*AUC_BOUNDS)


def build_coastline() -> LineString:
    """A slightly wiggly coastline from south-west to north-east, past the AUC box."""
    return wiggle(lonlat_line(COAST), amplitude=90.0, wavelength=2_300.0, phase=0.7)


def build_land(coastline: LineString) -> Polygon:
    """The AUC box minus the sea, which lies north-west of the coastline."""
    coords = np.asarray(coastline.coords)
    (x0, y0), (x1, y1) = coords[0], coords[-1]
    far = 100_000.0
    sea = Polygon([*map(tuple, coords), (x1, y1 + far), (x0 - far, y1 + far), (x0 - far, y0)])
    land = auc_box().difference(sea)
    assert isinstance(land, Polygon), "the coastline must cut the box in two"
    return land


def _voronoi_cells(seeds: np.ndarray, clip: Polygon) -> list[MultiPolygon]:
    """The Voronoi cell of each seed (in seed order), clipped to an area."""
    diagram = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=auc_box(), ordered=True)
    cells = shapely.intersection(shapely.get_parts(diagram), clip)
    result = [polygonal(cell) for cell in cells]
    assert all(cell is not None for cell in result), "every seed must own some land"
    return [cell for cell in result if cell is not None]


def build_territory() -> Territory:
    """Communes as Voronoi cells of hand-placed seeds on land; préfectures as their unions."""
    coastline = build_coastline()
    land = build_land(coastline)
    seeds = project([spec.seed for spec in COMMUNES])
    cells = _voronoi_cells(seeds, land)
    communes = tuple(Area(spec, cell) for spec, cell in zip(COMMUNES, cells, strict=True))
    prefectures = []
    for spec in PREFECTURES:
        members = [c.geom for c in communes if c.spec.parent == spec.code]
        union = polygonal(shapely.union_all(members))
        assert union is not None
        prefectures.append(Area(spec, union))
    return Territory(coastline, land, tuple(prefectures), communes)
