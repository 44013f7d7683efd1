"""What changed for a plot between two answers of ``/rules``: pure functions, no I/O.

``compare(before, after)`` lists the changes of the facts — the plot's area and outline, its
préfecture and commune, the plans (status, dates, situation), the zones and their shares,
each zone's rules, servitudes, reservations and planned roads appearing, disappearing or
changing area — each with its kind, subject, before and after values and a sentence in
French and English. ``summary`` joins the sentences.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from pydantic import Field

from geoportal.core.history import AGENCY_TZ
from geoportal.core.i18n import Language
from geoportal.errors import expected
from geoportal.rules import french
from geoportal.rules.models import Answer, PlanInfo, RulesAnswer, ZoneShare

ChangeKind = Literal["plot", "admin", "plan", "zone", "zone_rule", "servitude", "reservation",
                     "planned_road"]
AREA_TOLERANCE_M2 = 0.005
"""Areas are given to the centimetre (m², 2 decimals): a smaller difference is no change."""
PCT_TOLERANCE = 0.005


class Change(Answer):
    """One thing that changed for the plot between the two moments."""

    kind: ChangeKind
    subject: str = Field(description="What changed, e.g. `zone C (PA-T-A)`.")
    field: str | None = Field(default=None, description="The attribute that changed, e.g. "
                                                        "`cos` or `pct`; null: it appeared "
                                                        "or disappeared.")
    before: Any = Field(description="The value at the first moment (null: absent then).")
    after: Any = Field(description="The value at the second moment (null: absent now).")
    text_fr: str
    text_en: str


# The rules of a zone, named in sentences; values shown by kind.
RULE_FIELDS: dict[str, tuple[str, str, str]] = {
    # field: French name (with its article), English name, how values are written
    "label": ("l'intitulé", "the label", "text"),
    "category": ("la catégorie", "the category", "text"),
    "affectation": ("l'affectation", "the intended use", "text"),
    "uses_allowed": ("les usages admis", "the uses allowed", "list"),
    "uses_forbidden": ("les usages interdits", "the uses forbidden", "list"),
    "cos": ("le COS", "the COS", "coefficient"),
    "cus": ("le CUS", "the CUS", "coefficient"),
    "max_height_m": ("la hauteur maximale", "the maximum height", "metres"),
    "max_levels": ("le nombre de niveaux", "the number of levels", "levels"),
    "setback_front_m": ("le recul sur voie", "the front setback", "metres"),
    "setback_side_m": ("le recul latéral", "the side setback", "metres"),
    "setback_rear_m": ("le recul arrière", "the rear setback", "metres"),
    "min_plot_area_m2": ("la surface minimale de parcelle", "the minimum plot area", "area"),
    "min_frontage_m": ("la façade minimale", "the minimum frontage", "metres"),
    "parking": ("le stationnement", "parking", "text"),
    "article": ("l'article du règlement", "the regulation's article", "text"),
}
PLAN_FIELDS: dict[str, tuple[str, str, str]] = {
    "name": ("le nom", "the name", "text"),
    "status": ("le statut", "the status", "text"),
    "approval_date": ("la date d'approbation", "the approval date", "date"),
    "valid_until": ("la fin de validité", "the end of validity", "date"),
    "decree": ("le décret", "the decree", "text"),
    "situation": ("la situation à la date demandée", "the situation on the date asked",
                  "text"),
}
MISSING_FR, MISSING_EN = "non renseigné", "not given"


def _value_fr(value: Any, how: str) -> str:
    if value is None or value == []:
        return MISSING_FR
    if how == "coefficient":
        return french.coefficient(float(value))
    if how == "metres":
        return f"{french.number(float(value), 2 if float(value) % 1 else 0)}\u00a0m"
    if how == "area":
        return french.area(float(value))
    if how == "levels":
        return "RDC" if int(value) == 0 else f"R+{int(value)}"
    if how == "date":
        return french.date(dt.date.fromisoformat(str(value)))
    if how == "list":
        return "« " + ", ".join(str(v) for v in value) + " »"
    return f"« {value} »"


def _value_en(value: Any, how: str) -> str:
    if value is None or value == []:
        return MISSING_EN
    if how == "coefficient":
        return f"{float(value):g}"
    if how == "metres":
        return f"{float(value):g} m"
    if how == "area":
        return f"{float(value):,.2f} m²"
    if how == "levels":
        return "ground floor only" if int(value) == 0 else f"R+{int(value)}"
    if how == "date":
        return dt.date.fromisoformat(str(value)).strftime("%-d %B %Y")
    if how == "list":
        return '"' + ", ".join(str(v) for v in value) + '"'
    return f'"{value}"'


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _area_fr(area: float | None, pct: float | None) -> str:
    if area is None:
        return "une partie"
    return french.area(area) + (f" ({french.percent(pct)})" if pct is not None else "")


def _area_en(area: float | None, pct: float | None) -> str:
    if area is None:
        return "part"
    return f"{area:,.2f} m²" + (f" ({pct:.2f} %)" if pct is not None else "")


def _differs(before: float | None, after: float | None, tolerance: float) -> bool:
    if before is None or after is None:
        return before is not after
    return abs(before - after) > tolerance


def _field_changes(kind: ChangeKind, subject_fr: str, subject_en: str,
                   fields: dict[str, tuple[str, str, str]], before: dict[str, Any],
                   after: dict[str, Any]) -> list[Change]:
    """One change per attribute whose value differs, e.g. "Le COS de la zone C passe de…"."""
    changes = []
    for name, (label_fr, label_en, how) in fields.items():
        old, new = before.get(name), after.get(name)
        if old == new or (isinstance(old, int | float) and isinstance(new, int | float)
                          and not _differs(float(old), float(new), 1e-9)):
            continue
        plural = label_fr.startswith("les ")
        changes.append(Change(
            kind=kind, subject=subject_fr, field=name, before=old, after=new,
            text_fr=f"{_capital(label_fr)} {_of_fr(subject_fr)} "
                    f"{'passent' if plural else 'passe'} de {_value_fr(old, how)} "
                    f"à {_value_fr(new, how)}.",
            text_en=f"{_capital(label_en)} of {subject_en} {'change' if plural else 'changes'} "
                    f"from {_value_en(old, how)} to {_value_en(new, how)}."))
    return changes


def _of_fr(subject: str) -> str:
    """« de la zone C », « du plan PA-T-A », « de la servitude … »."""
    if subject.startswith("le "):
        return "du " + subject[3:]
    return "de " + subject


def _keyed(items: Iterable[Any], key: Callable[[Any], tuple[str, ...]]) -> dict[tuple[str, ...],
                                                                               Any]:
    return {key(item): item for item in items}


def _plot_changes(before: RulesAnswer | None, after: RulesAnswer | None) -> list[Change]:
    old = before.plot if before is not None else None
    new = after.plot if after is not None else None
    if old is None:
        if new is None:
            return []
        return [Change(kind="plot", subject="la parcelle", before=None,
                       after={"area_m2": new.area_m2},
                       text_fr=f"La parcelle n'existait pas encore ; elle mesure désormais "
                               f"{french.area(new.area_m2)}.",
                       text_en=f"The plot did not exist yet; it now measures "
                               f"{new.area_m2:,.2f} m².")]
    if new is None:
        return [Change(kind="plot", subject="la parcelle", before={"area_m2": old.area_m2},
                       after=None,
                       text_fr=f"La parcelle n'existe plus (elle mesurait "
                               f"{french.area(old.area_m2)}).",
                       text_en=f"The plot no longer exists (it measured {old.area_m2:,.2f} m²).")]
    changes = []
    if _differs(old.area_m2, new.area_m2, AREA_TOLERANCE_M2):
        changes.append(Change(
            kind="plot", subject="la parcelle", field="area_m2", before=old.area_m2,
            after=new.area_m2,
            text_fr=f"La surface de la parcelle passe de {french.area(old.area_m2)} à "
                    f"{french.area(new.area_m2)}.",
            text_en=f"The plot's area changes from {old.area_m2:,.2f} m² to "
                    f"{new.area_m2:,.2f} m²."))
    if old.geometry is not None and new.geometry is not None and old.geometry != new.geometry:
        changes.append(Change(
            kind="plot", subject="la parcelle", field="geometry", before=old.geometry,
            after=new.geometry, text_fr="Le contour de la parcelle a changé.",
            text_en="The plot's outline has changed."))
    return changes


def _admin_changes(before: RulesAnswer, after: RulesAnswer) -> list[Change]:
    changes = []
    for name, label_fr, label_en in (("prefecture", "la préfecture", "the préfecture"),
                                     ("commune", "la commune", "the commune")):
        old, new = getattr(before.admin, name), getattr(after.admin, name)
        old_name = old.name_fr if old is not None else None
        new_name = new.name_fr if new is not None else None
        if (old.code if old else None) == (new.code if new else None):
            continue
        changes.append(Change(
            kind="admin", subject=label_fr, field="code", before=old_name, after=new_name,
            text_fr=f"{_capital(label_fr)} de la parcelle passe de {_value_fr(old_name, 'text')} "
                    f"à {_value_fr(new_name, 'text')}.",
            text_en=f"{_capital(label_en)} of the plot changes from "
                    f"{_value_en(old_name, 'text')} to {_value_en(new_name, 'text')}."))
    return changes


def _plan_changes(before: Sequence[PlanInfo], after: Sequence[PlanInfo]) -> list[Change]:
    old, new = _keyed(before, lambda p: (p.ref,)), _keyed(after, lambda p: (p.ref,))
    changes = []
    for key in sorted(old.keys() | new.keys()):
        plan_old, plan_new = old.get(key), new.get(key)
        subject_fr, subject_en = f"le plan {key[0]}", f"plan {key[0]}"
        if plan_old is None:
            plan_new = expected(plan_new, f"plan {key[0]}")
            changes.append(Change(
                kind="plan", subject=subject_fr, before=None,
                after=plan_new.model_dump(mode="json"),
                text_fr=f"Le {plan_new.name} ({key[0]}) couvre désormais la parcelle "
                        f"({plan_new.situation}).",
                text_en=f"{plan_new.name} ({key[0]}) now covers the plot "
                        f"({plan_new.situation})."))
        elif plan_new is None:
            changes.append(Change(
                kind="plan", subject=subject_fr, before=plan_old.model_dump(mode="json"),
                after=None,
                text_fr=f"Le {plan_old.name} ({key[0]}) ne couvre plus la parcelle.",
                text_en=f"{plan_old.name} ({key[0]}) no longer covers the plot."))
        else:
            changes += _field_changes("plan", subject_fr, subject_en, PLAN_FIELDS,
                                      plan_old.model_dump(mode="json"),
                                      plan_new.model_dump(mode="json"))
    return changes


def _zone_subject(zone: ZoneShare) -> tuple[str, str]:
    return f"la zone {zone.code} ({zone.plan_ref})", f"zone {zone.code} ({zone.plan_ref})"


def _share(zone: ZoneShare) -> dict[str, float | None]:
    return {"area_m2": zone.area_m2, "pct": zone.pct}


def _zone_changes(before: Sequence[ZoneShare], after: Sequence[ZoneShare]) -> list[Change]:
    old = _keyed(before, lambda z: (z.plan_ref, z.code))
    new = _keyed(after, lambda z: (z.plan_ref, z.code))
    changes = []
    for key in sorted(old.keys() | new.keys()):
        zone_old, zone_new = old.get(key), new.get(key)
        subject_fr, subject_en = _zone_subject(expected(zone_new or zone_old, f"zone {key}"))
        if zone_old is None:
            zone_new = expected(zone_new, f"zone {key}")
            changes.append(Change(
                kind="zone", subject=subject_fr, before=None, after=_share(zone_new),
                text_fr=f"{_capital(subject_fr)} couvre désormais "
                        f"{_area_fr(zone_new.area_m2, zone_new.pct)} de la parcelle "
                        "(auparavant aucune partie).",
                text_en=f"{_capital(subject_en)} now covers "
                        f"{_area_en(zone_new.area_m2, zone_new.pct)} of the plot "
                        "(none before)."))
        elif zone_new is None:
            changes.append(Change(
                kind="zone", subject=subject_fr, before=_share(zone_old), after=None,
                text_fr=f"{_capital(subject_fr)} ne couvre plus la parcelle (auparavant "
                        f"{_area_fr(zone_old.area_m2, zone_old.pct)}).",
                text_en=f"{_capital(subject_en)} no longer covers the plot (before: "
                        f"{_area_en(zone_old.area_m2, zone_old.pct)})."))
        else:
            if (_differs(zone_old.area_m2, zone_new.area_m2, AREA_TOLERANCE_M2)
                    or _differs(zone_old.pct, zone_new.pct, PCT_TOLERANCE)):
                changes.append(Change(
                    kind="zone", subject=subject_fr, field="pct", before=_share(zone_old),
                    after=_share(zone_new),
                    text_fr=f"{_capital(subject_fr)} couvre désormais "
                            f"{_share_fr(zone_new, 'de la parcelle')} (auparavant "
                            f"{_share_fr(zone_old)}).",
                    text_en=f"{_capital(subject_en)} now covers "
                            f"{_share_en(zone_new, 'of the plot')} (before: "
                            f"{_share_en(zone_old)})."))
            changes += _field_changes("zone_rule", subject_fr, subject_en, RULE_FIELDS,
                                      zone_old.rules.model_dump(mode="json"),
                                      zone_new.rules.model_dump(mode="json"))
    return changes


def _share_fr(zone: ZoneShare, whole: str = "") -> str:
    """« 40,00 % de la parcelle, soit 800,00 m² »."""
    of = f" {whole}" if whole else ""
    if zone.pct is not None and zone.area_m2 is not None:
        return f"{french.percent(zone.pct)}{of}, soit {french.area(zone.area_m2)}"
    return _area_fr(zone.area_m2, zone.pct) + of


def _share_en(zone: ZoneShare, whole: str = "") -> str:
    of = f" {whole}" if whole else ""
    if zone.pct is not None and zone.area_m2 is not None:
        return f"{zone.pct:.2f} %{of}, i.e. {zone.area_m2:,.2f} m²"
    return _area_en(zone.area_m2, zone.pct) + of


# Overlays: kind, answer attribute, noun (fr, en), key, attributes compared besides the area.
Overlay = tuple[ChangeKind, str, str, str, tuple[str, ...], dict[str, tuple[str, str, str]]]
_OVERLAYS: tuple[Overlay, ...] = (
    ("servitude", "servitudes", "la servitude", "servitude", ("kind", "name"), {
        "effect": ("l'effet", "the effect", "text"),
        "max_height_m": ("la hauteur maximale", "the maximum height", "metres"),
        "legal_ref": ("la référence légale", "the legal reference", "text")}),
    ("reservation", "reservations", "la réservation", "reservation", ("plan_ref", "label"),
     {"facility": ("l'équipement", "the facility", "text")}),
    ("planned_road", "planned_roads", "la voie projetée", "planned road", ("plan_ref", "label"),
     {"width_m": ("l'emprise", "the width", "metres")}),
)


def _extent(item: Any) -> dict[str, float | None]:
    return {"area_m2": item.area_m2, "pct": item.pct}


def _overlay_change(overlay: Overlay, old: Any, new: Any) -> list[Change]:
    """The changes of one servitude, reservation or planned road (None: absent then)."""
    kind, _, noun_fr, noun_en, _, fields = overlay
    item = new if new is not None else old
    label = item.name if kind == "servitude" else item.label
    subject_fr, subject_en = f"{noun_fr} « {label} »", f'{noun_en} "{label}"'
    if old is None:
        return [Change(
            kind=kind, subject=subject_fr, before=None, after=_extent(new),
            text_fr=f"{_capital(subject_fr)} touche désormais "
                    f"{_area_fr(new.area_m2, new.pct)} de la parcelle.",
            text_en=f"{_capital(subject_en)} now affects {_area_en(new.area_m2, new.pct)} of "
                    "the plot.")]
    if new is None:
        return [Change(
            kind=kind, subject=subject_fr, before=_extent(old), after=None,
            text_fr=f"{_capital(subject_fr)} ne touche plus la parcelle (auparavant "
                    f"{_area_fr(old.area_m2, old.pct)}).",
            text_en=f"{_capital(subject_en)} no longer affects the plot (before: "
                    f"{_area_en(old.area_m2, old.pct)}).")]
    changes = []
    if _differs(old.area_m2, new.area_m2, AREA_TOLERANCE_M2):
        changes.append(Change(
            kind=kind, subject=subject_fr, field="area_m2", before=_extent(old),
            after=_extent(new),
            text_fr=f"{_capital(subject_fr)} touche désormais {_area_fr(new.area_m2, new.pct)} "
                    f"de la parcelle (auparavant {_area_fr(old.area_m2, old.pct)}).",
            text_en=f"{_capital(subject_en)} now affects {_area_en(new.area_m2, new.pct)} of "
                    f"the plot (before: {_area_en(old.area_m2, old.pct)})."))
    return changes + _field_changes(kind, subject_fr, subject_en, fields,
                                    old.model_dump(mode="json"), new.model_dump(mode="json"))


def _overlay_changes(before: RulesAnswer, after: RulesAnswer) -> list[Change]:
    changes = []
    for overlay in _OVERLAYS:
        attribute, names = overlay[1], overlay[4]

        def key(item: Any, names: tuple[str, ...] = names) -> tuple[str, ...]:
            return tuple(str(getattr(item, n)) for n in names)

        old = _keyed(getattr(before, attribute), key)
        new = _keyed(getattr(after, attribute), key)
        for name in sorted(old.keys() | new.keys()):
            changes += _overlay_change(overlay, old.get(name), new.get(name))
    return changes


def compare(before: RulesAnswer | None, after: RulesAnswer | None) -> list[Change]:
    """The changes of the facts between two answers about one plot (None: the plot did not
    exist at that moment), in a stable order: plot, areas, plans, zones, overlays."""
    changes = _plot_changes(before, after)
    if before is None or after is None:
        return changes
    return [*changes, *_admin_changes(before, after), *_plan_changes(before.plans, after.plans),
            *_zone_changes(before.zones, after.zones), *_overlay_changes(before, after)]


def moment_text(moment: dt.datetime, language: Language = "fr") -> str:
    """A moment in Casablanca time, e.g. « 7 décembre 2026 à 10:05 »."""
    local = moment.astimezone(AGENCY_TZ)
    if language == "en":
        return local.strftime("%-d %B %Y at %H:%M")
    return f"{french.date(local.date())} à {local:%H:%M}"


def summary(changes: Sequence[Change], start: dt.datetime, end: dt.datetime,
            language: Language = "fr") -> str:
    """The changes in words, one sentence each; says so when nothing changed."""
    if changes:
        return " ".join(c.text_en if language == "en" else c.text_fr for c in changes)
    if language == "en":
        return (f"Nothing changed for this plot between {moment_text(start, 'en')} and "
                f"{moment_text(end, 'en')}.")
    return (f"Rien n'a changé pour cette parcelle entre le {moment_text(start)} et le "
            f"{moment_text(end)}.")
