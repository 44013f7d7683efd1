"""From the facts the database returns to the answer: plans in force, shares, figures, warnings.

Pure functions, no I/O: each rule about what applies is written and tested once here.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

from geoportal.registry import RasterLayer
from geoportal.rules import french
from geoportal.rules.models import (
    AdminAreas,
    DerivedFigure,
    Figures,
    Location,
    PlanInfo,
    PlannedRoad,
    PlanSituation,
    Plot,
    RasterValue,
    ReservationHit,
    RulesAnswer,
    RulesQuery,
    RulesWarning,
    ServitudeHit,
    ZoneRules,
    ZoneShare,
)

SLIVER_M2 = 0.01
"""Overlaps smaller than this are digitising noise, not a share of the plot: ignored."""
FULLY_ZONED_TOLERANCE_M2 = 0.05
"""When zone areas sum to the plot area within this, shares are made to sum to exactly 100."""
UNZONED_WARNING_M2 = 1.0
"""A part of the plot larger than this outside every zone is reported."""

DISCLAIMER = (
    "Renseignement établi automatiquement à partir des données du géoportail de l'Agence "
    "urbaine de Casablanca dans la version indiquée. Il a une valeur d'information : il ne "
    "remplace ni la note de renseignement urbanistique délivrée par l'Agence, ni les documents "
    "d'urbanisme approuvés, qui seuls font foi. Surfaces calculées en Merchich / Nord Maroc "
    "(EPSG:26191)."
)


def plan_situation(plan: dict[str, Any], at: dt.date, today: dt.date) -> PlanSituation:
    """What a plan is on date ``at``: in force, under revision, expired, under study, or not yet.

    A plan under revision stays in force until the revised one is approved; a plan under
    study is not in force. Past its ``valid_until`` a plan is expired whatever its status.
    A plan recorded as expired was in force on earlier dates within its validity.
    """
    status = plan["status"]
    if status == "à l'étude":
        return "à l'étude"
    approved = _date(plan.get("approval_date"))
    valid_until = _date(plan.get("valid_until"))
    if approved is None or approved > at:
        return "non encore approuvé"
    if valid_until is not None and valid_until < at:
        return "expiré"
    if status == "expiré" and (valid_until is None or at >= today):
        return "expiré"
    if status == "en révision" and at >= today:
        return "en révision"
    return "en vigueur"


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def applicable_plan_ids(situations: dict[int, PlanSituation],
                        plans: dict[int, dict[str, Any]]) -> set[int]:
    """The plans whose rules answer: those in force; failing any, the latest expired one."""
    in_force = {pid for pid, sit in situations.items() if sit in ("en vigueur", "en révision")}
    if in_force:
        return in_force
    expired = [pid for pid, sit in situations.items() if sit == "expiré"]
    if not expired:
        return set()
    latest = max(expired, key=lambda pid: (str(plans[pid].get("approval_date")), pid))
    return {latest}


def apportion(values: Sequence[float], total: float) -> list[float]:
    """Round to 2 decimals so that the results sum exactly to ``total`` rounded (largest
    remainder); plain rounding when that is not possible."""
    cents = [v * 100 for v in values]
    floors = [math.floor(c) for c in cents]
    missing = round(total * 100) - sum(floors)
    if not 0 <= missing <= len(values):
        return [round(v, 2) for v in values]
    order = sorted(range(len(values)), key=lambda i: (floors[i] - cents[i], i))
    for i in order[:missing]:
        floors[i] += 1
    return [f / 100 for f in floors]


def _pct(part: float | None, whole: float | None) -> float | None:
    if part is None or not whole:
        return None
    return round(min(100.0, part / whole * 100), 2)


def _area(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _kept(rows: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Rows whose overlap is a real share (points keep every row)."""
    return [r for r in rows or [] if r.get("area_m2") is None or r["area_m2"] >= SLIVER_M2]


def zone_shares(rows: list[dict[str, Any]], plot_area: float | None,
                plan_refs: dict[int, str]) -> list[ZoneShare]:
    """Zones with areas and shares; when they tile the plot, they sum to its area and 100 %."""
    if plot_area is None:
        areas: list[float | None] = [None] * len(rows)
        pcts: list[float | None] = [None] * len(rows)
    else:
        raw = [float(r["area_m2"]) for r in rows]
        if rows and abs(sum(raw) - plot_area) <= FULLY_ZONED_TOLERANCE_M2:
            areas = list(apportion(raw, plot_area))
            pcts = list(apportion([a / plot_area * 100 for a in raw], 100.0))
        else:
            areas = [round(a, 2) for a in raw]
            pcts = [_pct(a, plot_area) for a in raw]
    shares = [
        ZoneShare(plan_ref=plan_refs[r["plan_id"]], code=r["rules"]["code"],
                  label=r["rules"]["label"], area_m2=a, pct=p,
                  rules=ZoneRules.model_validate(r["rules"]))
        for r, a, p in zip(rows, areas, pcts, strict=True)
    ]
    return sorted(shares, key=lambda z: (-(z.area_m2 or 0), z.plan_ref, z.code))


def figures(zones: list[ZoneShare]) -> Figures:
    """Max footprint (COS × area) and floor area (CUS × area) per zone, and their sums."""
    by_zone = []
    for zone in zones:
        area, cos, cus = zone.area_m2, zone.rules.cos, zone.rules.cus
        by_zone.append(DerivedFigure(
            plan_ref=zone.plan_ref, zone=zone.code, area_m2=area, cos=cos, cus=cus,
            max_footprint_m2=round(cos * area, 2) if cos is not None and area is not None
            else None,
            max_floor_area_m2=round(cus * area, 2) if cus is not None and area is not None
            else None,
            max_height_m=zone.rules.max_height_m, max_levels=zone.rules.max_levels,
        ))
    return Figures(by_zone=by_zone, max_footprint_m2=_total(f.max_footprint_m2 for f in by_zone),
                   max_floor_area_m2=_total(f.max_floor_area_m2 for f in by_zone))


def _total(values: Any) -> float | None:
    present = [v for v in values if v is not None]
    return round(sum(present), 2) if present else None


def _plan_infos(facts: dict[str, Any], at: dt.date, today: dt.date
                ) -> tuple[dict[int, dict[str, Any]], dict[int, PlanSituation], set[int]]:
    """The plans that matter here: those of the zones and reservations touched, and those
    under the location point (e.g. a plan under study with no zoning yet)."""
    plans = {p["id"]: p for p in facts.get("plans") or []}
    for row in _kept(facts.get("zones")) + _kept(facts.get("reservations")):
        plans.setdefault(row["plan"]["id"], row["plan"])
    situations = {pid: plan_situation(p, at, today) for pid, p in plans.items()}
    return plans, situations, applicable_plan_ids(situations, plans)


def build_answer(query: RulesQuery, facts: dict[str, Any], *, today: dt.date,
                 rasters: list[RasterValue],
                 raster_layers: Sequence[RasterLayer] = ()) -> RulesAnswer:
    """The full answer from the database facts, on the query's date (default: today);
    ``raster_layers`` say how the ``rasters`` values are read (their warnings)."""
    at = query.at or today
    plot_area: float | None = facts.get("area_m2")
    zone_rows = [{**z, "plan_id": z["plan"]["id"]} for z in _kept(facts.get("zones"))]
    plans, situations, applies = _plan_infos(facts, at, today)
    refs = {pid: p["ref"] for pid, p in plans.items()}
    zones = zone_shares([z for z in zone_rows if z["plan_id"] in applies], plot_area, refs)
    study = [z for z in zone_rows
             if z["plan_id"] in plans and situations[z["plan_id"]] == "à l'étude"]
    study_zones = zone_shares(study, plot_area, refs)
    reservation_rows = [{**r, "plan_id": r["plan"]["id"]} for r in _kept(facts.get("reservations"))
                        if r["plan"]["id"] in applies]
    answer = RulesAnswer(
        query=query, date=today, at=at, data_at=query.data_at,
        data_version=facts["data_version"],
        plot=_plot(facts),
        location=Location.model_validate(facts["location"]),
        admin=AdminAreas(prefecture=facts["prefecture"], commune=facts.get("commune")),
        plans=[PlanInfo(**{k: v for k, v in p.items() if k != "id"},
                        situation=situations[pid], applies=pid in applies)
               for pid, p in sorted(plans.items(), key=lambda item: (item[0] not in applies,
                                                                       item[0]))],
        zones=zones, study_zones=study_zones,
        servitudes=[ServitudeHit(**s, pct=_pct(s["area_m2"], plot_area))
                    for s in _rounded(_kept(facts.get("servitudes")))],
        reservations=[ReservationHit(plan_ref=refs[r["plan_id"]], facility=r["facility"],
                                     label=r["label"], area_m2=r["area_m2"],
                                     pct=_pct(r["area_m2"], plot_area))
                      for r in _rounded(reservation_rows) if r["kind"] != "voirie"],
        planned_roads=[PlannedRoad(plan_ref=refs[r["plan_id"]], label=r["label"],
                                   width_m=r["width_m"], area_m2=r["area_m2"],
                                   pct=_pct(r["area_m2"], plot_area))
                       for r in _rounded(reservation_rows) if r["kind"] == "voirie"],
        rasters=rasters, figures=figures(zones), warnings=[], disclaimer=DISCLAIMER,
    )
    answer.warnings = warnings_for(answer, plot_area, sum(float(z["area_m2"] or 0)
                                                          for z in zone_rows
                                                          if z["plan_id"] in applies),
                                   raster_layers)
    return answer


def _rounded(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**r, "area_m2": _area(r.get("area_m2"))} for r in rows]


def _plot(facts: dict[str, Any]) -> Plot | None:
    parcel = facts.get("parcel")
    if parcel is not None:
        return Plot(ref=parcel["ref"], source="cadastre", area_m2=parcel["area_m2"],
                    geometry=facts.get("geometry"))
    if facts.get("area_m2") is not None:
        return Plot(ref=None, source="geometry", area_m2=round(facts["area_m2"], 2),
                    geometry=facts.get("geometry"))
    return None


def _share_text(area: float | None, pct: float | None) -> str:
    if area is None or pct is None:
        return ""
    return f" ({french.area(area)}, soit {french.percent(pct)} de la parcelle)"


def warnings_for(answer: RulesAnswer, plot_area: float | None, zoned_area: float,
                 raster_layers: Sequence[RasterLayer] = ()) -> list[RulesWarning]:
    """The warnings of an answer, in plain French, most important first."""
    notes: list[RulesWarning] = []

    def add(code: str, message: str) -> None:
        notes.append(RulesWarning(code=code, message=message))

    subject = "Le point demandé" if answer.plot is None else "La parcelle"
    where = "au point demandé" if answer.plot is None else "sur la parcelle"

    if answer.plot is None:
        add("no_plot", "Aucune parcelle immatriculée n'est enregistrée à cet endroit (voie "
            "publique ou terrain non immatriculé) : les règles indiquées sont celles du point "
            "demandé.")
    if len(answer.zones) > 1:
        parts = ", ".join(
            f"{z.code} ({french.percent(z.pct)})" if z.pct is not None else z.code
            for z in answer.zones)
        if answer.plot is None:
            add("several_zones", f"Le point demandé est en limite de plusieurs zones : {parts}.")
        else:
            add("several_zones", f"La parcelle est située dans plusieurs zones : {parts}. "
                "Chaque partie de la parcelle suit les règles de sa zone.")
    _plan_warnings(answer, add)
    if plot_area is not None and answer.zones and plot_area - zoned_area >= UNZONED_WARNING_M2:
        add("not_fully_zoned", f"{french.area(plot_area - zoned_area)} de la parcelle ne sont "
            "couverts par aucune zone du plan applicable.")
    on_plot = answer.plot is not None
    for reservation in answer.reservations:
        verb = "est grevée d'" if on_plot else "est situé dans "
        add("reservation", f"{subject} {verb}une réservation pour équipement public "
            f"« {reservation.label} »{_share_text(reservation.area_m2, reservation.pct)} : "
            "ce terrain n'est pas constructible pour un usage privé.")
    for road in answer.planned_roads:
        width = f" de {french.number(road.width_m, 0)} m d'emprise" if road.width_m else ""
        verb = "est touchée par" if on_plot else "est sur l'emprise d'"
        add("planned_road", f"{subject} {verb}{' ' if on_plot else ''}une voie projetée{width} "
            f"« {road.label} »{_share_text(road.area_m2, road.pct)} : ce terrain est "
            "réservé à la voirie.")
    for servitude in answer.servitudes:
        add(f"servitude_{servitude.kind}", f"Servitude « {servitude.name} »"
            f"{_share_text(servitude.area_m2, servitude.pct)} : {servitude.effect}")
    if answer.plot is not None:
        for zone in answer.zones:
            minimum = zone.rules.min_plot_area_m2
            if minimum is not None and answer.plot.area_m2 < minimum:
                add("below_min_area", f"La surface de la parcelle "
                    f"({french.area(answer.plot.area_m2)}) est inférieure à la surface minimale "
                    f"de la zone {zone.code} ({french.area(minimum)}).")
    declared = {layer.id: layer for layer in raster_layers}
    for raster in answer.rasters:
        layer = declared.get(raster.layer)
        if layer is not None and raster.max is not None:
            message = layer.warning(raster.max, raster.label, where)
            if message is not None:
                add(layer.id, message)
    return notes


def _plan_warnings(answer: RulesAnswer, add: Any) -> None:
    at = french.date(answer.at)
    applying = [p for p in answer.plans if p.applies]
    if not applying:
        add("no_plan", f"Aucun plan d'aménagement n'était en vigueur à cet endroit le {at} "
            "(plan non encore approuvé à cette date, ou lieu non couvert).")
    for plan in applying:
        if plan.situation == "expiré":
            until = f" le {french.date(plan.valid_until)}" if plan.valid_until else ""
            add("plan_expired", f"Le {plan.name} ({plan.ref}) a expiré{until} ; ses "
                "dispositions sont données à titre d'information, en attendant un nouveau plan "
                "approuvé.")
        elif plan.situation == "en révision":
            add("plan_under_revision", f"Le {plan.name} ({plan.ref}) est en cours de révision : "
                "il reste applicable jusqu'à l'approbation du plan révisé, dont les règles "
                "peuvent être différentes.")
    for plan in answer.plans:
        if plan.situation == "à l'étude":
            add("plan_under_study", f"Un plan d'aménagement est à l'étude sur ce secteur : "
                f"{plan.name} ({plan.ref}). Il n'est pas opposable tant qu'il n'est pas "
                "approuvé.")
