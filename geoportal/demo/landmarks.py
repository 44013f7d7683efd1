"""Hand-placed landmarks in longitude/latitude (WGS 84), roughly where the real ones are.

Illustrative positions for synthetic demo data only: coast, oueds, corridors, towns, roads.
"""

from __future__ import annotations

from dataclasses import dataclass

from geoportal.core.area import AUC_AREA
from geoportal.demo.shapes import LonLat

AUC_BOUNDS = AUC_AREA  # xmin, ymin, xmax, ymax in EPSG:26191

CASABLANCA_CENTRE: LonLat = (-7.5898, 33.5731)
AIRPORT: LonLat = (-7.59, 33.37)

# South-west to north-east; the sea lies to the north-west. The ends reach past the AUC box.
COAST: tuple[LonLat, ...] = (
    (-7.98, 33.43), (-7.90, 33.485), (-7.86, 33.505), (-7.83, 33.522), (-7.79, 33.540),
    (-7.75, 33.556), (-7.71, 33.574), (-7.68, 33.589), (-7.660, 33.600), (-7.645, 33.607),
    (-7.628, 33.610), (-7.612, 33.613), (-7.595, 33.617), (-7.575, 33.616), (-7.555, 33.617),
    (-7.530, 33.624), (-7.505, 33.633), (-7.480, 33.645), (-7.455, 33.658), (-7.430, 33.672),
    (-7.405, 33.688), (-7.380, 33.704), (-7.355, 33.721), (-7.330, 33.737), (-7.305, 33.752),
    (-7.275, 33.771), (-7.240, 33.794), (-7.200, 33.822), (-7.12, 33.88),
)

OUED_BOUSKOURA: tuple[LonLat, ...] = (
    (-7.690, 33.300), (-7.672, 33.350), (-7.664, 33.395), (-7.655, 33.430), (-7.648, 33.458),
    (-7.638, 33.495), (-7.628, 33.530), (-7.618, 33.558), (-7.612, 33.585), (-7.610, 33.612),
)
OUED_EL_MALEH: tuple[LonLat, ...] = (
    (-7.250, 33.450), (-7.275, 33.500), (-7.305, 33.555), (-7.335, 33.605), (-7.365, 33.645),
    (-7.388, 33.672), (-7.402, 33.692),
)

RAILWAYS: tuple[tuple[str, tuple[LonLat, ...]], ...] = (
    ("Voie ferrée Casablanca – Rabat", (
        (-7.590, 33.592), (-7.550, 33.604), (-7.500, 33.624), (-7.440, 33.655),
        (-7.385, 33.693), (-7.320, 33.735), (-7.230, 33.795), (-7.150, 33.850))),
    ("Voie ferrée Casablanca – Aéroport Mohammed V – Settat", (
        (-7.590, 33.592), (-7.586, 33.555), (-7.598, 33.505), (-7.600, 33.440),
        (-7.594, 33.385), (-7.580, 33.330), (-7.570, 33.280))),
    ("Voie ferrée Casablanca – El Jadida", (
        (-7.618, 33.578), (-7.668, 33.548), (-7.740, 33.515), (-7.820, 33.480),
        (-7.950, 33.420))),
)

POWER_LINES: tuple[tuple[str, tuple[LonLat, ...]], ...] = (
    ("Ligne THT 225 kV Médiouna – Sidi Othmane", (
        (-7.380, 33.400), (-7.450, 33.450), (-7.510, 33.505), (-7.555, 33.545))),
    ("Ligne HT 60 kV Mohammedia – Tit Mellil", (
        (-7.405, 33.675), (-7.430, 33.625), (-7.455, 33.585), (-7.478, 33.555))),
)

HERITAGE_CENTRE: tuple[LonLat, ...] = (
    (-7.6150, 33.5905), (-7.6080, 33.5895), (-7.6000, 33.5925), (-7.5995, 33.5990),
    (-7.6050, 33.6005), (-7.6130, 33.6000), (-7.6155, 33.5960),
)
HABOUS: LonLat = (-7.5975, 33.5770)


@dataclass(frozen=True)
class UrbanCentre:
    """A town centre that pulls development: weight (0–1) and reach (km)."""

    name: str
    lonlat: LonLat
    weight: float
    reach_km: float


URBAN_CENTRES: tuple[UrbanCentre, ...] = (
    UrbanCentre("Casablanca", CASABLANCA_CENTRE, 1.00, 7.0),
    UrbanCentre("Casablanca – médina et port", (-7.615, 33.598), 0.90, 3.0),
    UrbanCentre("Casablanca – Maârif", (-7.640, 33.580), 0.90, 3.0),
    UrbanCentre("Casablanca – Hay Mohammadi", (-7.550, 33.588), 0.85, 3.0),
    UrbanCentre("Casablanca – Sidi Bernoussi", (-7.500, 33.605), 0.75, 2.5),
    UrbanCentre("Casablanca – Hay Hassani", (-7.675, 33.560), 0.75, 2.5),
    UrbanCentre("Mohammedia", (-7.383, 33.686), 0.85, 3.0),
    UrbanCentre("Bouskoura", (-7.648, 33.449), 0.70, 2.5),
    UrbanCentre("Dar Bouazza", (-7.815, 33.515), 0.70, 2.5),
    UrbanCentre("Médiouna", (-7.510, 33.452), 0.65, 2.0),
    UrbanCentre("Tit Mellil", (-7.485, 33.550), 0.65, 2.0),
    UrbanCentre("Lahraouiyine", (-7.535, 33.530), 0.65, 2.0),
    UrbanCentre("Nouaceur", (-7.575, 33.385), 0.60, 2.0),
    UrbanCentre("Mansouria", (-7.305, 33.745), 0.60, 2.0),
    UrbanCentre("Sidi Moussa Ben Ali", (-7.355, 33.585), 0.50, 1.5),
    UrbanCentre("Ben Yakhlef", (-7.330, 33.660), 0.50, 1.5),
)

INDUSTRIAL_AREAS: tuple[tuple[LonLat, float, str], ...] = (
    # (centre, radius km, dominant code)
    ((-7.535, 33.603), 1.8, "I"),   # Aïn Sebaâ
    ((-7.492, 33.612), 1.8, "I"),   # Sidi Bernoussi
    ((-7.415, 33.683), 1.2, "I"),   # Mohammedia, refinery side
    ((-7.635, 33.468), 1.6, "ZAE"),  # Bouskoura
    ((-7.630, 33.545), 0.9, "ZAE"),  # Sidi Maârouf
    ((-7.600, 33.385), 2.2, "ZAE"),  # around the airport
    ((-7.545, 33.520), 1.0, "I"),   # Lahraouiyine
)
NATURAL_AREAS: tuple[tuple[LonLat, float], ...] = (
    ((-7.640, 33.500), 2.6),  # forêt de Bouskoura
    ((-7.310, 33.700), 1.5),  # arrière-plage de Mansouria
)
PARKS: tuple[tuple[LonLat, float], ...] = (
    ((-7.625, 33.585), 0.45),  # parc de la Ligue arabe
    ((-7.660, 33.570), 0.35),
    ((-7.560, 33.575), 0.30),
)
VILLA_AREAS: tuple[tuple[LonLat, float], ...] = (
    ((-7.660, 33.585), 2.6),  # Anfa, Californie, Aïn Diab
    ((-7.790, 33.530), 3.0),  # Dar Bouazza coast
    ((-7.340, 33.725), 1.8),  # Mohammedia – Mansouria coast
)

ROADS: tuple[tuple[str, str, tuple[LonLat, ...]], ...] = (
    ("Autoroute A3 Casablanca – Rabat", "autoroute", (
        (-7.565, 33.585), (-7.520, 33.598), (-7.460, 33.622), (-7.400, 33.652),
        (-7.330, 33.690), (-7.250, 33.735), (-7.150, 33.800))),
    ("Autoroute A7 Casablanca – Marrakech", "autoroute", (
        (-7.560, 33.550), (-7.550, 33.500), (-7.540, 33.440), (-7.530, 33.380),
        (-7.520, 33.290))),
    ("Autoroute A1 Casablanca – El Jadida", "autoroute", (
        (-7.660, 33.550), (-7.720, 33.518), (-7.790, 33.488), (-7.920, 33.425))),
    ("Autoroute urbaine de Casablanca", "autoroute", (
        (-7.660, 33.552), (-7.620, 33.563), (-7.590, 33.574), (-7.565, 33.585))),
    ("Autoroute de l'aéroport Mohammed V", "autoroute", (
        (-7.600, 33.530), (-7.612, 33.470), (-7.603, 33.410), (-7.592, 33.378))),
    ("Rocade de contournement de Casablanca", "autoroute", (
        (-7.720, 33.552), (-7.685, 33.495), (-7.605, 33.462), (-7.520, 33.480),
        (-7.462, 33.540), (-7.445, 33.600), (-7.440, 33.640))),
    ("Boulevard Mohammed V", "principale", (
        (-7.616, 33.598), (-7.600, 33.592), (-7.585, 33.585))),
    ("Boulevard Zerktouni", "principale", (
        (-7.642, 33.596), (-7.626, 33.585), (-7.615, 33.574))),
    ("Boulevard d'Anfa", "principale", (
        (-7.628, 33.599), (-7.636, 33.586), (-7.646, 33.575))),
    ("Boulevard de la Corniche", "principale", (
        (-7.700, 33.584), (-7.672, 33.596), (-7.648, 33.604))),
    ("Route d'El Jadida", "principale", (
        (-7.620, 33.575), (-7.660, 33.545), (-7.720, 33.502), (-7.800, 33.462))),
    ("Route de Médiouna", "principale", (
        (-7.590, 33.570), (-7.560, 33.520), (-7.520, 33.460), (-7.490, 33.400))),
    ("Boulevard Abdelmoumen", "principale", (
        (-7.615, 33.590), (-7.625, 33.571), (-7.636, 33.555))),
    ("Avenue des FAR", "principale", (
        (-7.620, 33.600), (-7.605, 33.598), (-7.590, 33.596))),
    ("Boulevard Ghandi", "principale", (
        (-7.655, 33.582), (-7.656, 33.562), (-7.651, 33.545))),
    ("Route de Rabat (RN1)", "principale", (
        (-7.560, 33.600), (-7.500, 33.622), (-7.420, 33.668), (-7.386, 33.694))),
    ("Boulevard Moulay Ismaïl", "principale", (
        (-7.585, 33.590), (-7.560, 33.594), (-7.540, 33.600))),
    ("Route de Bouskoura", "principale", (
        (-7.630, 33.552), (-7.646, 33.500), (-7.650, 33.450))),
    ("Boulevard Mohammed VI", "principale", (
        (-7.600, 33.580), (-7.585, 33.555), (-7.570, 33.528))),
    ("Route d'Azemmour", "principale", (
        (-7.660, 33.586), (-7.710, 33.566), (-7.780, 33.536), (-7.830, 33.517))),
    ("Boulevard Oqba Ibn Nafiî", "principale", (
        (-7.570, 33.580), (-7.540, 33.570), (-7.510, 33.560))),
    ("Route de Tit Mellil", "secondaire", (
        (-7.550, 33.570), (-7.500, 33.560), (-7.460, 33.555))),
    ("Route de Mohammedia à Benslimane", "secondaire", (
        (-7.385, 33.690), (-7.350, 33.650), (-7.300, 33.600), (-7.250, 33.550))),
    ("Route de Nouaceur", "secondaire", (
        (-7.620, 33.470), (-7.590, 33.420), (-7.585, 33.370))),
    ("Route de Dar Bouazza à Bouskoura", "secondaire", (
        (-7.810, 33.515), (-7.730, 33.490), (-7.650, 33.455))),
    ("Route côtière de Mansouria", "secondaire", (
        (-7.378, 33.700), (-7.340, 33.722), (-7.300, 33.747), (-7.250, 33.778))),
    ("Route de Médiouna à Tit Mellil", "secondaire", (
        (-7.510, 33.450), (-7.492, 33.500), (-7.482, 33.550))),
    ("Route de Lahraouiyine", "secondaire", (
        (-7.560, 33.540), (-7.530, 33.520), (-7.500, 33.500))),
    ("Route de Sidi Moussa Ben Ali", "secondaire", (
        (-7.390, 33.688), (-7.370, 33.620), (-7.355, 33.570))),
    ("Route de Berrechid", "secondaire", (
        (-7.575, 33.385), (-7.560, 33.340), (-7.545, 33.290))),
    ("Route de Médiouna à Mohammedia", "secondaire", (
        (-7.510, 33.450), (-7.430, 33.520), (-7.390, 33.600), (-7.385, 33.680))),
)
