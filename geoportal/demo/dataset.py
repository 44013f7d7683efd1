"""The whole synthetic data set, built in memory before anything touches the database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from geoportal.demo.overlays import (
    Reservation,
    Road,
    Servitude,
    build_facilities,
    build_planned_roads,
    build_roads,
    build_servitudes,
)
from geoportal.demo.parcels import ParcelSet, build_parcels
from geoportal.demo.planning import PlanArea, ZoneArea, build_plans, build_zoning
from geoportal.demo.rules import ZoneRule, plan_rules
from geoportal.demo.territory import Territory, build_territory

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class DemoData:
    """Every layer of the demo, in load order."""

    territory: Territory
    plans: tuple[PlanArea, ...]
    rules: dict[int, dict[str, ZoneRule]]
    zones: list[ZoneArea]
    servitudes: list[Servitude]
    reservations: list[Reservation]
    roads: list[Road]
    parcels: ParcelSet


def silent(step: str, done: int, total: int) -> None:
    """A progress callback that reports nothing."""


def _rules_by_plan(plans: tuple[PlanArea, ...], zones: list[ZoneArea],
                   seed: int) -> dict[int, dict[str, ZoneRule]]:
    """For each plan, a rule for every code its zones use."""
    return {
        plan.id: plan_rules(plan, {z.code for z in zones if z.plan_id == plan.id}, seed)
        for plan in plans
    }


def build_demo(parcels: int, seed: int, progress: Progress = silent) -> DemoData:
    """Generate the data set; the same (parcels, seed) always gives the same data."""
    steps = ("territory", "zoning", "overlays", "parcels")
    progress(steps[0], 0, 1)
    territory = build_territory()
    progress(steps[0], 1, 1)
    progress(steps[1], 0, 1)
    plans = build_plans(territory)
    zones = build_zoning(plans, seed)
    rules = _rules_by_plan(plans, zones, seed)
    progress(steps[1], 1, 1)
    progress(steps[2], 0, 1)
    servitudes = build_servitudes(territory)
    reservations = build_facilities(zones, seed) + build_planned_roads(plans, zones, seed)
    roads = build_roads(territory)
    progress(steps[2], 1, 1)
    progress(steps[3], 0, parcels)
    plots = build_parcels(parcels, territory, seed)
    progress(steps[3], parcels, parcels)
    return DemoData(territory, plans, rules, zones, servitudes, reservations, roads, plots)
