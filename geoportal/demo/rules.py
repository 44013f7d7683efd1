"""The règlement of each zone code, varied a little per plan (synthetic texts and values).

``max_levels`` is n in R+n (levels above the ground floor): R+4 is 4, a ground floor alone 0.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from geoportal.demo.planning import A_L_ETUDE, PlanArea
from geoportal.demo.shapes import rng_for
from geoportal.demo.territory import SYNTHETIC

RULE_STREAM = 200


@dataclass(frozen=True)
class ZoneRule:
    """One row of ``zone_rules`` (without plan_id and code)."""

    label: str
    category: str
    affectation: str
    uses_allowed: tuple[str, ...]
    uses_forbidden: tuple[str, ...]
    cos: float
    cus: float
    max_height_m: float
    max_levels: int
    setbacks_m: tuple[float, float, float]  # front, side, rear
    min_plot_area_m2: float
    min_frontage_m: float
    parking: str


_NUISANCES = ("établissements industriels", "dépôts de matériaux", "activités bruyantes")
BASE_RULES: dict[str, ZoneRule] = {
    "B": ZoneRule(
        "Zone d'immeubles R+6", "habitat",
        "Zone urbaine dense d'immeubles collectifs en ordre continu, avec commerces en "
        "rez-de-chaussée.",
        ("logements collectifs", "commerces de proximité", "bureaux", "équipements publics"),
        _NUISANCES, 0.6, 3.6, 23.5, 6, (0.0, 0.0, 4.0), 300.0, 15.0,
        "1 place par logement et 1 place par 50 m² de bureaux ou de commerces, en sous-sol."),
    "C": ZoneRule(
        "Zone d'immeubles R+4", "habitat",
        "Zone d'immeubles d'habitat collectif de hauteur moyenne en ordre continu.",
        ("logements collectifs", "commerces de proximité", "bureaux", "équipements publics"),
        _NUISANCES, 0.6, 2.8, 17.5, 4, (0.0, 0.0, 4.0), 200.0, 12.0,
        "1 place par logement, en sous-sol ou dans la parcelle."),
    "D": ZoneRule(
        "Zone d'habitat R+2", "habitat",
        "Zone d'habitat individuel ou de petits collectifs en ordre continu.",
        ("logements", "commerces de proximité", "services"),
        _NUISANCES, 0.65, 1.95, 11.5, 2, (0.0, 0.0, 3.0), 120.0, 10.0,
        "1 place par logement dans la parcelle."),
    "E": ZoneRule(
        "Zone d'habitat économique R+3", "habitat",
        "Zone d'habitat économique sur petites parcelles, avec patio.",
        ("logements économiques", "commerces de proximité", "artisanat non nuisant"),
        _NUISANCES, 0.8, 3.0, 13.5, 3, (0.0, 0.0, 0.0), 80.0, 8.0,
        "Stationnement public mutualisé dans les îlots; pas d'obligation par parcelle."),
    "V": ZoneRule(
        "Zone de villas R+1", "habitat",
        "Zone de villas isolées ou jumelées, en ordre discontinu.",
        ("villas", "maisons jumelées", "professions libérales"),
        ("immeubles collectifs", "commerces", *_NUISANCES), 0.2, 0.4, 8.5, 1,
        (5.0, 4.0, 4.0), 500.0, 18.0, "2 places par villa dans la parcelle."),
    "I": ZoneRule(
        "Zone industrielle", "activités",
        "Zone réservée aux établissements industriels et aux entrepôts.",
        ("établissements industriels", "entrepôts", "logement de gardiennage"),
        ("logements", "établissements scolaires", "établissements de santé"), 0.6, 1.2, 15.0, 1,
        (6.0, 5.0, 5.0), 1000.0, 25.0,
        "1 place par 100 m² de plancher et aires de livraison dans la parcelle."),
    "ZAE": ZoneRule(
        "Zone d'activités économiques", "activités",
        "Zone d'activités tertiaires, de services et de petite industrie non polluante.",
        ("bureaux", "services", "commerces de gros", "industrie légère non polluante"),
        ("logements", "industries polluantes"), 0.5, 2.0, 16.0, 3, (5.0, 4.0, 4.0), 800.0, 20.0,
        "1 place par 40 m² de bureaux, dans la parcelle."),
    "ZV": ZoneRule(
        "Espace vert", "espaces verts",
        "Espace vert public, parc ou jardin, inconstructible.",
        ("aménagements paysagers", "aires de jeux", "cheminements piétons"),
        ("toute construction",), 0.0, 0.0, 0.0, 0, (0.0, 0.0, 0.0), 0.0, 0.0,
        "Sans objet."),
    "RA": ZoneRule(
        "Zone agricole", "agricole",
        "Zone à vocation agricole; seules les constructions liées à l'exploitation sont admises.",
        ("habitation de l'exploitant", "bâtiments agricoles"),
        ("lotissements", "immeubles collectifs", "établissements industriels"), 0.02, 0.04, 8.0,
        1, (10.0, 10.0, 10.0), 10_000.0, 50.0, "Dans la parcelle."),
    "NA": ZoneRule(
        "Zone naturelle", "naturelle",
        "Zone naturelle protégée (forêt, dunes, vallons), à préserver.",
        ("abris forestiers", "aménagements légers de découverte"),
        ("toute construction à usage d'habitation", "lotissements", "établissements industriels"),
        0.005, 0.005, 4.5, 0, (15.0, 15.0, 15.0), 50_000.0, 100.0, "Sans objet."),
}
ARTICLE_NUMBERS = {code: n for n, code in enumerate(BASE_RULES, start=3)}


def height_in_levels(levels: int) -> str:
    """Levels written the Moroccan way: R for a ground floor alone, then R+1, R+2…"""
    return "R" if levels <= 0 else f"R+{levels}"


def _num(value: float) -> str:
    """A number written the French way (decimal comma)."""
    return f"{value:g}".replace(".", ",")


def _building_text(rule: ZoneRule) -> str:
    """Height, setbacks and plot size; a single sentence where nothing may be built."""
    if rule.max_height_m <= 0.0:
        return "La zone est inconstructible."
    front, side, rear = rule.setbacks_m
    return (
        f"La hauteur des constructions ne peut excéder {_num(rule.max_height_m)} m "
        f"({height_in_levels(rule.max_levels)}). Reculs minimaux : {_num(front)} m sur voie, "
        f"{_num(side)} m sur limites latérales, {_num(rear)} m en fond de parcelle. Parcelle "
        f"constructible : au moins {_num(rule.min_plot_area_m2)} m² et "
        f"{_num(rule.min_frontage_m)} m de façade."
    )


def article_text(code: str, rule: ZoneRule) -> str:
    """The synthetic article of the règlement for one zone."""
    return (
        f"Article {ARTICLE_NUMBERS[code]} – Zone {code} ({rule.label}). {rule.affectation} "
        f"Sont admis : {', '.join(rule.uses_allowed)}. "
        f"Sont interdits : {', '.join(rule.uses_forbidden)}. "
        f"Le coefficient d'occupation du sol (COS) est limité à {_num(rule.cos)} et le "
        f"coefficient d'utilisation du sol (CUS) à {_num(rule.cus)}. {_building_text(rule)} "
        f"Stationnement : {rule.parking} (Texte fictif, {SYNTHETIC}, sans valeur "
        f"réglementaire.)"
    )


def _densified(rule: ZoneRule) -> ZoneRule:
    """One more level for apartment zones, as a revision under study would propose."""
    if rule.category != "habitat" or rule.max_levels < 2:
        return rule
    levels = rule.max_levels + 1
    return replace(rule, label=rule.label.replace(
        height_in_levels(rule.max_levels), height_in_levels(levels)),
        max_levels=levels, max_height_m=rule.max_height_m + 3.0,
        cus=round(rule.cus + rule.cos * 0.8, 2))


def plan_rules(plan: PlanArea, codes: set[str], seed: int) -> dict[str, ZoneRule]:
    """The rules of a plan for the codes its zones use; values vary slightly per plan."""
    rng = rng_for(seed, RULE_STREAM + plan.id)
    rules = {}
    for code in sorted(codes):
        rule = BASE_RULES[code]
        factor = float(rng.choice([0.9, 1.0, 1.0, 1.1]))
        rule = replace(rule, cus=round(rule.cus * factor, 2))
        if plan.spec.status == A_L_ETUDE:
            rule = _densified(rule)
        rules[code] = rule
    return rules
