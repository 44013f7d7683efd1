"""What can be built on a plot: the buildable envelope, its area, footprint, heights, floor
area and volume (``GET /rules?...&envelope=true``, the batch, the note).

The geometry is computed by one PostGIS statement (``envelope_sql``); the figures here, by
pure functions of its result and the answer's zone rules:

* ``max_footprint_m2`` of a zone part = min(envelope area in the zone, COS × plot area in
  the zone): the envelope is kept whole, the footprint figure is capped;
* ``max_floor_area_m2`` = min(CUS × plot area in the zone, footprint × (levels + 1)), R+n
  having n + 1 floors (either alone when the other is unknown);
* ``max_volume_m3``: the footprint placed under the highest pieces first, times their height
  (a height limit lowers the height of the pieces under it).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, TypeAlias

import asyncpg

from geoportal.rules import envelope_sql, french
from geoportal.rules.envelope_sql import NEIGHBOUR_TOLERANCE_M
from geoportal.rules.models import (
    Envelope,
    EnvelopeBoundary,
    EnvelopeCut,
    EnvelopeHeightLimit,
    EnvelopePart,
    EnvelopePiece,
    RulesAnswer,
    ZoneShare,
)

Database: TypeAlias = asyncpg.Pool | asyncpg.Connection
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
STORAGE = "http://www.opengis.net/def/crs/EPSG/0/26191"
SLIVER_M2 = 0.01

METHOD = (
    "Calculée en Merchich / Nord Maroc (EPSG:26191) avec PostGIS. Façade : chaque segment "
    "du contour de la parcelle dont moins de la moitié de la longueur est à moins de "
    f"{french.number(NEIGHBOUR_TOLERANCE_M, 0)} m d'une autre parcelle (il donne sur une voie "
    "ou un espace public). Fond : les autres segments orientés à moins de 30° de l'opposé de "
    "la façade ; limites latérales : le reste (une parcelle d'angle a deux façades et pas de "
    "fond). Dans chaque zone, la partie de la parcelle dans la zone moins tout point à moins "
    "du recul de la zone de la façade, des limites latérales et du fond ; moins les "
    "servitudes non aedificandi et les réservations (voies projetées, équipements), chacune "
    "nommée ; la hauteur est abaissée sous une servitude de hauteur. Emprise maximale = "
    "min(surface de l'enveloppe, COS × surface de la parcelle dans la zone) ; surface de "
    "plancher maximale = min(CUS × surface dans la zone, emprise × (niveaux + 1)) ; volume = "
    "l'emprise placée d'abord sous les parties les plus hautes, × leur hauteur."
)

METHOD_SHORT = (
    f"Méthode : façade = limites sans parcelle voisine à moins de "
    f"{french.number(NEIGHBOUR_TOLERANCE_M, 0)} m, fond = limites opposées, le reste latéral ; "
    "dans chaque zone, la parcelle moins les reculs de la zone, les servitudes non aedificandi "
    "et les réservations ; emprise = min(enveloppe, COS × surface dans la zone) ; plancher = "
    "min(CUS × surface, emprise × (niveaux + 1))."
)
"""The method in one sentence, for the note (the answer carries ``METHOD``)."""


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _volume(footprint: float, pieces: Sequence[EnvelopePiece]) -> float | None:
    """The footprint placed under the highest pieces first (None: a height is unknown)."""
    left, volume = footprint, 0.0
    for piece in sorted(pieces, key=lambda p: -(p.max_height_m or 0)):
        if left <= 0:
            break
        if piece.max_height_m is None:
            return None
        used = min(left, piece.area_m2)
        volume += used * piece.max_height_m
        left -= used
    return volume


def _part(zone: ZoneShare, facts: dict[str, Any], pieces: list[EnvelopePiece]) -> EnvelopePart:
    rules = zone.rules
    area, in_zone = float(facts["area_m2"]), float(facts["in_zone_m2"])
    footprint = area if rules.cos is None else min(area, rules.cos * in_zone)
    bounds = [footprint * (rules.max_levels + 1) if rules.max_levels is not None else None,
              rules.cus * in_zone if rules.cus is not None else None]
    floor = min((b for b in bounds if b is not None), default=None)
    heights = [p.max_height_m for p in pieces if p.max_height_m is not None]
    return EnvelopePart(
        plan_ref=zone.plan_ref, zone=zone.code, plot_area_m2=round(in_zone, 2),
        setback_front_m=rules.setback_front_m, setback_side_m=rules.setback_side_m,
        setback_rear_m=rules.setback_rear_m, area_m2=round(area, 2), cos=rules.cos,
        cus=rules.cus, max_footprint_m2=round(footprint, 2), max_floor_area_m2=_round(floor),
        max_height_m=max(heights) if heights else rules.max_height_m,
        max_levels=rules.max_levels, max_volume_m3=_round(_volume(footprint, pieces)),
    )


def _pieces(zones: list[ZoneShare], rows: list[dict[str, Any]]) -> list[EnvelopePiece]:
    pieces = []
    for row in rows:
        if row["area_m2"] < SLIVER_M2:
            continue
        zone = zones[row["part"]]
        height = zone.rules.max_height_m
        limit = row["limit_m"]
        lowered = limit is not None and (height is None or limit < height)
        pieces.append(EnvelopePiece(
            plan_ref=zone.plan_ref, zone=zone.code, area_m2=round(row["area_m2"], 2),
            max_height_m=limit if lowered else height,
            limited_by=row["limited_by"] if lowered else None, geometry=row["geometry"]))
    return pieces


NO_FRONT = (" Aucune limite de la parcelle ne donne sur une voie ou un espace public : toutes "
            "sont traitées comme des limites latérales.")


def _summary(area: float, footprint: float, cuts: list[EnvelopeCut], plot_area: float,
             front_m: float) -> str:
    return _what_is_left(area, footprint, cuts, plot_area) + (NO_FRONT if front_m == 0 else "")


def _what_is_left(area: float, footprint: float, cuts: list[EnvelopeCut],
                  plot_area: float) -> str:
    if area >= SLIVER_M2:
        text = (f"Enveloppe constructible de {french.area(area)} ; emprise maximale "
                f"{french.area(footprint)}.")
        removed = [c.name for c in cuts if c.removed_m2 >= SLIVER_M2]
        if removed:
            text += " Retranchées : " + ", ".join(f"« {name} »" for name in removed) + "."
        return text
    whole = [c for c in cuts if c.plot_area_m2 >= plot_area - SLIVER_M2]
    if whole:
        names = " ; ".join(f"« {c.name} »" for c in whole)
        return (f"Aucune construction n'est possible sur cette parcelle : elle est "
                f"entièrement couverte par {names}, où toute construction est interdite.")
    if cuts:
        names = ", ".join(f"« {c.name} »" for c in cuts)
        return ("Aucune construction n'est possible sur cette parcelle : ce que laissent les "
                f"reculs est couvert par {names}.")
    return ("Aucune construction n'est possible sur cette parcelle : les reculs de la zone "
            "ne laissent aucune surface constructible.")


def build_envelope(answer: RulesAnswer, facts: dict[str, Any], crs84: bool) -> Envelope:
    """The envelope from the statement's result for the answer's plot (pure)."""
    zones = answer.zones
    pieces = _pieces(zones, facts.get("pieces") or [])
    parts = [_part(zones[row["part"]], row,
                   [p for p in pieces if (p.plan_ref, p.zone) ==
                    (zones[row["part"]].plan_ref, zones[row["part"]].code)])
             for row in facts.get("parts") or []]
    cuts = [EnvelopeCut(source=c["source"], kind=c["kind"], name=c["name"],
                        plot_area_m2=round(c["plot_m2"], 2),
                        removed_m2=round(c["removed_m2"], 2))
            for c in facts.get("cuts") or []]
    limits = [EnvelopeHeightLimit(name=h["name"], max_height_m=h["max_height_m"],
                                  plot_area_m2=round(h["plot_m2"], 2))
              for h in facts.get("height_limits") or []]
    area = sum(p.area_m2 for p in parts)
    footprint = sum(p.max_footprint_m2 for p in parts)
    floors = [p.max_floor_area_m2 for p in parts if p.max_floor_area_m2 is not None]
    volumes = [p.max_volume_m3 for p in parts]
    heights = [p.max_height_m for p in parts if p.max_height_m is not None and p.area_m2 > 0]
    levels = [p.max_levels for p in parts if p.max_levels is not None and p.area_m2 > 0]
    buildable = area >= SLIVER_M2
    plot_area = answer.plot.area_m2 if answer.plot is not None else 0.0
    return Envelope(
        method=METHOD, summary=_summary(area, footprint, cuts, plot_area, facts["front_m"]),
        buildable=buildable,
        crs=CRS84 if crs84 else STORAGE,
        geometry=facts.get("geometry") if buildable else None,
        area_m2=round(area, 2), max_footprint_m2=round(footprint, 2),
        max_floor_area_m2=round(sum(floors), 2) if floors else None,
        max_height_m=max(heights) if heights else None,
        max_levels=max(levels) if levels else None,
        max_volume_m3=round(sum(v for v in volumes if v is not None), 2)
        if volumes and None not in volumes else None,
        boundary=EnvelopeBoundary(front_m=round(facts["front_m"], 2),
                                  side_m=round(facts["side_m"], 2),
                                  rear_m=round(facts["rear_m"], 2)),
        parts=parts, pieces=pieces, cuts=cuts, height_limits=limits,
    )


def _arguments(subjects: Sequence[tuple[int, bytes, RulesAnswer]], crs84: bool,
               data_at: dt.datetime | None) -> list[Any]:
    zone_rows = [(ordinal, index, zone)
                 for ordinal, _, answer in subjects for index, zone in enumerate(answer.zones)]
    args: list[Any] = [
        [s[0] for s in subjects], [s[1] for s in subjects],
        [r[0] for r in zone_rows], [r[1] for r in zone_rows],
        [r[2].plan_ref for r in zone_rows], [r[2].code for r in zone_rows],
        [r[2].rules.setback_front_m for r in zone_rows],
        [r[2].rules.setback_side_m for r in zone_rows],
        [r[2].rules.setback_rear_m for r in zone_rows], crs84,
    ]
    if data_at is not None:
        args.append(data_at)
    return args


async def add_envelopes(db: Database, subjects: Sequence[tuple[int, bytes, RulesAnswer]], *,
                        crs84: bool = True, data_at: dt.datetime | None = None) -> None:
    """Give each answer about a plot its envelope, in one statement: ``subjects`` are
    (ordinal, plot WKB in EPSG:26191, answer); answers without a plot are left alone."""
    plots = [s for s in subjects if s[2].plot is not None]
    if not plots:
        return
    statement = envelope_sql.NOW if data_at is None else envelope_sql.THEN
    rows = await db.fetch(statement, *_arguments(plots, crs84, data_at))
    by_ordinal = {s[0]: s[2] for s in plots}
    for row in rows:
        facts = row["envelope"]
        facts = json.loads(facts) if isinstance(facts, str) else facts
        answer = by_ordinal[row["ord"]]
        answer.envelope = build_envelope(answer, facts, crs84)
