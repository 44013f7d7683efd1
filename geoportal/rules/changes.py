"""``/rules/changes``: what changed for a plot between two moments, and who changed it.

The answer of ``/rules`` is computed at both moments (each from the data as it stood then,
with the plans in force on that day) and compared by ``geoportal.rules.compare``; the
change-sets that touched the layers under the plot in between are read from the history.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from geoportal.core.history import as_of
from geoportal.core.versions import data_version
from geoportal.errors import InvalidParameter, NotFound
from geoportal.rules.compare import Change, compare, summary
from geoportal.rules.models import Answer, RulesAnswer, RulesQuery
from geoportal.rules.params import clean_parcel
from geoportal.rules.service import Database, answer_day, lookup

MAX_CHANGESETS = 100
# Layers under the plot, matched by geometry; zone rules are matched by their zones.
SPATIAL_TABLES = ("parcels", "plans", "zoning", "servitudes", "reservations")


class Moment(Answer):
    """One end of the comparison."""

    at: dt.datetime = Field(description="The moment the data was read at.")
    rules_date: dt.date = Field(description="The plans in force on this date answered.")
    data_version: str = Field(description="The data version at that moment.")
    parcel_known: bool = Field(description="Whether the plot was registered then.")


class ChangeSet(Answer):
    """A change-set (one transaction of edits) that touched the layers under the plot."""

    id: int
    actor: str
    source: str
    comment: str | None = None
    created_at: dt.datetime


class RulesChanges(Answer):
    """What changed for a plot between two moments: the answer of ``/rules/changes``."""

    parcel: str
    start: Moment = Field(alias="from")
    end: Moment = Field(alias="to")
    changes: list[Change] = Field(description="Plot, areas, plans, zones, rules, servitudes, "
                                              "reservations, planned roads.")
    summary_fr: str
    summary_en: str
    changesets: list[ChangeSet] = Field(
        description="Change-sets that touched the layers under the plot between the two "
                    f"moments, oldest first (at most {MAX_CHANGESETS}).")
    changesets_truncated: bool = False


_REF = "ref_norm = geoportal_ref_norm($1::text)"
_SPATIAL = "t.geom && s.g AND ST_Intersects(t.geom, s.g)"
_ZONE = ("((SELECT pl.ref FROM plans pl WHERE pl.id = t.plan_id), t.code) IN "
         "(SELECT * FROM unnest($4::text[], $5::text[]))")


def _touched(table: str, condition: str, joined: str = "") -> list[str]:
    """The change-sets of versions of ``table`` made, or ended, in (from, to]: $2, $3."""
    return [
        f"SELECT t.changeset_id AS id FROM {table} t{joined} WHERE {condition} "  # noqa: S608
        "AND t.valid_from > $2 AND t.valid_from <= $3",
        f"SELECT t.changeset_id FROM {table}_history t{joined} WHERE {condition} "  # noqa: S608
        "AND t.valid_from > $2 AND t.valid_from <= $3",
        f"SELECT t.ended_changeset_id FROM {table}_history t{joined} "  # noqa: S608
        f"WHERE {condition} AND t.valid_to > $2 AND t.valid_to <= $3",
    ]


def _changesets_sql() -> str:
    """$1 the reference, $2/$3 the moments, $4/$5 the zones (plan refs and codes) of both
    answers; the plot is its outline at both moments, matched through the GiST indexes."""
    # identifiers from the schema, values bound
    outlines = " UNION ALL ".join(f"SELECT geom FROM {as_of('parcels', at)} WHERE {_REF}"  # noqa: S608
                                  for at in ("$2", "$3"))
    subject = f"SELECT ST_Union(geom) AS g FROM ({outlines}) p"  # noqa: S608
    parts = [part for table in SPATIAL_TABLES
             for part in _touched(table, _SPATIAL, " CROSS JOIN s")]
    parts += _touched("zone_rules", _ZONE)
    union = "\n  UNION ".join(parts)
    return f"""
WITH s AS ({subject}), touched AS (
  {union}
)
SELECT c.id, c.actor, c.source, c.comment, c.created_at FROM changesets c
WHERE c.id IN (SELECT id FROM touched)
ORDER BY c.created_at, c.id LIMIT {MAX_CHANGESETS + 1}"""  # noqa: S608


CHANGESETS = _changesets_sql()


async def _answer_at(db: Database, parcel: str, moment: dt.datetime | None
                     ) -> RulesAnswer | None:
    """The answer about the plot at a moment (None: now), or None when it was unknown."""
    query = RulesQuery.for_parcel(parcel, at=answer_day(moment), data_at=moment,
                                  with_geometry=True)
    try:
        return await lookup(db, query)
    except NotFound as exc:
        if type(exc) is not NotFound:  # outside the area: said as such
            raise
        return None


def check_order(start: dt.datetime, end: dt.datetime) -> None:
    """400 when ``from`` comes after ``to``."""
    if start > end:
        raise InvalidParameter("from doit précéder to (ou lui être égal)",
                               en="from must come before to (or equal it)")


async def rules_changes(db: Database, parcel: str, start: dt.datetime,
                        end: dt.datetime | None, now: dt.datetime | None = None
                        ) -> RulesChanges:
    """What changed for ``parcel`` between ``start`` and ``end`` (None: now); 404 when the
    plot was registered at neither moment."""
    ref = clean_parcel(parcel)
    until = end or now or dt.datetime.now(dt.UTC)
    check_order(start, until)
    before = await _answer_at(db, ref, start)
    after = await _answer_at(db, ref, end)
    if before is None and after is None:
        raise NotFound(f"Aucune parcelle immatriculée n'a la référence foncière {ref!r}, ni "
                       "à l'une ni à l'autre des deux dates.",
                       en=f"No registered plot had the land-title reference {ref!r} at either "
                          "moment.")
    changes = compare(before, after)
    zones = {(z.plan_ref, z.code) for a in (before, after) if a for z in a.zones}
    rows = await db.fetch(CHANGESETS, ref, start, until,
                          [p for p, _ in sorted(zones)], [c for _, c in sorted(zones)])
    known = after or before
    return RulesChanges.model_validate({
        "parcel": known.plot.ref if known is not None and known.plot is not None else ref,
        "from": await _moment(db, start, before),
        "to": await _moment(db, until, after, current=end is None),
        "changes": changes,
        "summary_fr": summary(changes, start, until, "fr"),
        "summary_en": summary(changes, start, until, "en"),
        "changesets": [dict(r) for r in rows[:MAX_CHANGESETS]],
        "changesets_truncated": len(rows) > MAX_CHANGESETS,
    })


async def _moment(db: Database, at: dt.datetime, answer: RulesAnswer | None,
                  current: bool = False) -> dict[str, Any]:
    version = answer.data_version if answer is not None \
        else await data_version(db, None if current else at)
    return {"at": at, "rules_date": answer_day(at), "data_version": version,
            "parcel_known": answer is not None}


def dumps(changes: RulesChanges) -> str:
    """The JSON body, with ``from`` and ``to`` named so."""
    return changes.model_dump_json(by_alias=True)


