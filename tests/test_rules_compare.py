"""What changed between two answers of /rules: the pure comparison, without a database."""

from __future__ import annotations

import datetime as dt
from typing import Any

from geoportal.rules.assess import build_answer
from geoportal.rules.compare import compare, summary
from geoportal.rules.models import RulesAnswer, RulesQuery

NBSP = "\u00a0"
TODAY = dt.date(2026, 6, 1)
PLAN = {"id": 1, "ref": "PA-T-A", "name": "PA Test Anfa", "name_ar": None,
        "status": "en vigueur", "approval_date": "2018-05-17", "valid_until": "2028-05-17",
        "decree": "Décret n° 2-18-1"}
COASTAL = {"kind": "littoral", "name": "Bande littorale de 100 m",
           "effect": "zone non aedificandi.", "max_height_m": None,
           "legal_ref": "Loi 81-12", "text": "Bande de 100 m."}


def zone_rules(code: str, **changed: Any) -> dict[str, Any]:
    return {"code": code, "label": f"Zone {code}", "category": "habitat",
            "affectation": "Habitat", "uses_allowed": ["habitation"],
            "uses_forbidden": ["industrie"], "cos": 0.6, "cus": 3.0, "max_height_m": 15.5,
            "max_levels": 4, "setback_front_m": 5.0, "setback_side_m": 3.0,
            "setback_rear_m": 4.0, "min_plot_area_m2": 200.0, "min_frontage_m": 12.0,
            "parking": "Une place par logement", "article": f"Article {code}.1", **changed}


def answer(zones: dict[str, float], *, area: float = 2000.0,
           rules: dict[str, dict[str, Any]] | None = None,
           servitudes: dict[str, float] | None = None, plan: dict[str, Any] | None = None,
           version: str = "v1") -> RulesAnswer:
    """The answer about plot TF 1/C of ``area`` m², zones of PA-T-A by code → area."""
    plan = plan or PLAN
    facts = {
        "data_version": version,
        "parcel": {"ref": "TF 1/C", "area_m2": area}, "area_m2": area,
        "location": {"x": 300000.0, "y": 330000.0, "lon": -7.6, "lat": 33.6},
        "geometry": None,
        "prefecture": {"code": "CAS", "kind": "préfecture", "name_fr": "Casablanca",
                       "name_ar": None},
        "commune": None,
        "plans": [plan],
        "zones": [{"area_m2": share, "plan": plan,
                   "rules": (rules or {}).get(code, zone_rules(code))}
                  for code, share in zones.items()],
        "servitudes": [{**COASTAL, "area_m2": share}
                       for share in (servitudes or {}).values()],
        "reservations": [],
    }
    return build_answer(RulesQuery.for_parcel("TF 1/C"), facts, today=TODAY, rasters=[])


def texts(before: RulesAnswer | None, after: RulesAnswer | None) -> list[str]:
    return [c.text_fr.replace(NBSP, " ") for c in compare(before, after)]


def test_the_same_facts_give_no_change_and_say_so() -> None:
    same = answer({"C": 1400.0, "D": 600.0})
    assert compare(same, answer({"C": 1400.0, "D": 600.0}, version="v2")) == []
    start = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    end = dt.datetime(2026, 6, 1, 9, 30, tzinfo=dt.UTC)
    assert summary([], start, end) == ("Rien n'a changé pour cette parcelle entre le "
                                       "1er janvier 2026 à 13:00 et le 1er juin 2026 à 10:30.")
    assert summary([], start, end, "en").startswith("Nothing changed for this plot between")


def test_a_new_share_of_a_zone_is_said_with_the_old_one() -> None:
    changes = compare(answer({"C": 500.0, "D": 1500.0}), answer({"C": 800.0, "D": 1200.0}))
    c_zone = changes[0]
    assert (c_zone.kind, c_zone.subject, c_zone.field) == ("zone", "la zone C (PA-T-A)", "pct")
    assert c_zone.before == {"area_m2": 500.0, "pct": 25.0}
    assert c_zone.after == {"area_m2": 800.0, "pct": 40.0}
    assert c_zone.text_fr.replace(NBSP, " ") == (
        "La zone C (PA-T-A) couvre désormais 40,00 % de la parcelle, soit 800,00 m² "
        "(auparavant 25,00 %, soit 500,00 m²).")
    assert c_zone.text_en == ("Zone C (PA-T-A) now covers 40.00 % of the plot, i.e. 800.00 m² "
                              "(before: 25.00 %, i.e. 500.00 m²).")
    assert changes[1].subject == "la zone D (PA-T-A)"


def test_a_zone_appearing_or_disappearing_is_said_so() -> None:
    assert texts(answer({"C": 2000.0}), answer({"C": 1500.0, "E": 500.0}))[1] == (
        "La zone E (PA-T-A) couvre désormais 500,00 m² (25,00 %) de la parcelle (auparavant "
        "aucune partie).")
    assert texts(answer({"C": 1500.0, "E": 500.0}), answer({"C": 2000.0}))[1] == (
        "La zone E (PA-T-A) ne couvre plus la parcelle (auparavant 500,00 m² (25,00 %)).")


def test_each_changed_rule_of_a_zone_is_one_change_with_its_values() -> None:
    before = answer({"C": 2000.0})
    after = answer({"C": 2000.0}, rules={"C": zone_rules(
        "C", cos=0.8, max_levels=5, setback_front_m=6.5, uses_allowed=["habitation",
                                                                       "bureaux"])})
    changes = compare(before, after)
    assert [(c.kind, c.field, c.before, c.after) for c in changes] == [
        ("zone_rule", "uses_allowed", ["habitation"], ["habitation", "bureaux"]),
        ("zone_rule", "cos", 0.6, 0.8),
        ("zone_rule", "max_levels", 4, 5),
        ("zone_rule", "setback_front_m", 5.0, 6.5),
    ]
    assert texts(before, after) == [
        "Les usages admis de la zone C (PA-T-A) passent de « habitation » à "
        "« habitation, bureaux ».",
        "Le COS de la zone C (PA-T-A) passe de 0,6 à 0,8.",
        "Le nombre de niveaux de la zone C (PA-T-A) passe de R+4 à R+5.",
        "Le recul sur voie de la zone C (PA-T-A) passe de 5 m à 6,50 m.",
    ]


def test_a_servitude_appearing_changing_or_disappearing_is_said_with_its_area() -> None:
    plain, under = answer({"C": 2000.0}), answer({"C": 2000.0}, servitudes={"band": 300.0})
    more = answer({"C": 2000.0}, servitudes={"band": 450.0})
    assert texts(plain, under) == [
        "La servitude « Bande littorale de 100 m » touche désormais 300,00 m² (15,00 %) de "
        "la parcelle."]
    assert texts(under, more) == [
        "La servitude « Bande littorale de 100 m » touche désormais 450,00 m² (22,50 %) de "
        "la parcelle (auparavant 300,00 m² (15,00 %))."]
    [gone] = compare(more, plain)
    assert (gone.kind, gone.before, gone.after) == ("servitude",
                                                    {"area_m2": 450.0, "pct": 22.5}, None)


def test_a_plan_status_change_is_said_with_its_new_situation() -> None:
    revised = {**PLAN, "status": "en révision"}
    changes = compare(answer({"C": 2000.0}), answer({"C": 2000.0}, plan=revised))
    assert [(c.kind, c.field, c.before, c.after) for c in changes] == [
        ("plan", "status", "en vigueur", "en révision"),
        ("plan", "situation", "en vigueur", "en révision"),
    ]
    assert changes[0].text_fr == ("Le statut du plan PA-T-A passe de « en vigueur » à "
                                  "« en révision ».")


def test_the_plot_s_own_area_and_existence_are_compared() -> None:
    small, large = answer({"C": 2000.0}), answer({"C": 2100.0}, area=2100.0)
    assert texts(small, large)[0] == ("La surface de la parcelle passe de 2 000,00 m² à "
                                      "2 100,00 m².")
    assert texts(None, small) == ["La parcelle n'existait pas encore ; elle mesure désormais "
                                  "2 000,00 m²."]
    assert texts(small, None) == ["La parcelle n'existe plus (elle mesurait 2 000,00 m²)."]
    assert compare(None, None) == []
