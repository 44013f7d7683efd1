"""The lookup SQL: one statement per question, returning the facts as one JSON document.

The subject ``s`` (the plot, the point or the submitted geometry, in EPSG:26191) is found
first; every layer is then read with an index-assisted ``ST_Intersects`` and measured with
``ST_Area(ST_Intersection(...))`` in the storage CRS. Table and column names are those of
the schema (``geoportal.db.models``); nothing in this text comes from a request.

Each statement exists in two versions of one text: on the current tables (``NOW``), and on
the tables as they stood at a moment bound after the question's own parameters (``THEN``:
each table ``T`` read as ``T_as_of($n)``, see ``geoportal.core.history``). The table names
are formatted in from ``tables(at)``, the one mapping of the two.
"""

from __future__ import annotations

from dataclasses import dataclass

from geoportal.core.area import STORAGE_SRID
from geoportal.core.history import as_of
from geoportal.core.versions import data_version_sql

LOOKUP_TABLES = ("prefectures", "communes", "plans", "zoning", "zone_rules", "servitudes",
                 "reservations", "parcels", "roads")


def tables(at: str | None = None) -> dict[str, str]:
    """Each table the lookups read: the table itself, or its state at the bound moment ``at``
    (e.g. ``$4``)."""
    return {name: as_of(name, at) for name in LOOKUP_TABLES}


def version_sql(at: str | None = None) -> str:
    """The data version now, or at the bound moment ``at``."""
    return data_version_sql(f"{at}::timestamptz" if at else None)


_ADMIN = """(SELECT json_build_object('code', a.code, 'kind', a.kind, 'name_fr', a.name_fr,
                                   'name_ar', a.name_ar)
           FROM {table} a WHERE ST_Intersects(a.geom, {probe}) ORDER BY a.id LIMIT 1)"""


def _admin(table: str) -> str:
    """The area at the location point, else the first one the subject touches."""
    return "coalesce({}, {})".format(
        _ADMIN.format(table=table, probe="s.probe"), _ADMIN.format(table=table, probe="s.g")
    )


def _overlap(alias: str) -> str:
    """Area of the subject inside a layer's geometry (null when the subject is a point);
    most plots lie wholly in one zone, where the cheaper containment test gives it."""
    return (f"CASE WHEN NOT s.is_area THEN NULL WHEN ST_CoveredBy(s.g, {alias}.geom) "
            f"THEN ST_Area(s.g) ELSE ST_Area(ST_Intersection({alias}.geom, s.g)) END")


_PLAN = """json_build_object('id', pl.id, 'ref', pl.ref, 'name', pl.name,
                 'name_ar', pl.name_ar, 'status', pl.status,
                 'approval_date', pl.approval_date, 'valid_until', pl.valid_until,
                 'decree', pl.decree)"""

_FACTS = f"""json_build_object(
  'data_version', {{data_version}},
  'parcel', CASE WHEN s.parcel_id IS NOT NULL
                 THEN json_build_object('ref', s.ref, 'area_m2', s.area_m2) END,
  'area_m2', CASE WHEN s.is_area THEN ST_Area(s.g) END,
  'location', (SELECT json_build_object('x', ST_X(s.probe), 'y', ST_Y(s.probe),
                                        'lon', ST_X(w.p), 'lat', ST_Y(w.p))
               FROM (SELECT ST_Transform(s.probe, 4326) AS p) w),
  'geometry', CASE WHEN {{with_geometry}} AND s.is_area
                   THEN ST_AsGeoJSON(ST_Transform(s.g, 4326), 9)::json END,
  'prefecture', {{prefecture}},
  'commune', {{commune}},
  'plans', (SELECT json_agg({_PLAN} ORDER BY pl.id)
            FROM {{plans}} pl WHERE ST_Intersects(pl.geom, s.probe)),
  'zones', (SELECT json_agg(json_build_object('area_m2', z.area_m2, 'plan', {_PLAN},
                                              'rules', to_json(r)) ORDER BY z.plan_id, z.code)
            FROM (SELECT zn.plan_id, zn.code, sum({_overlap("zn")}) AS area_m2
                  FROM {{zoning}} zn WHERE ST_Intersects(zn.geom, s.g)
                  GROUP BY zn.plan_id, zn.code) z
            JOIN {{zone_rules}} r ON r.plan_id = z.plan_id AND r.code = z.code
            JOIN {{plans}} pl ON pl.id = z.plan_id),
  'servitudes', (SELECT json_agg(json_build_object(
                    'kind', sv.kind, 'name', sv.name, 'effect', sv.effect,
                    'max_height_m', sv.max_height_m, 'legal_ref', sv.legal_ref,
                    'text', sv.text, 'area_m2', {_overlap("sv")}) ORDER BY sv.id)
                 FROM {{servitudes}} sv WHERE ST_Intersects(sv.geom, s.g)),
  'reservations', (SELECT json_agg(json_build_object(
                      'plan', {_PLAN}, 'kind', rv.kind, 'facility', rv.facility,
                      'label', rv.label, 'width_m', rv.width_m,
                      'area_m2', {_overlap("rv")}) ORDER BY rv.id)
                   FROM {{reservations}} rv JOIN {{plans}} pl ON pl.id = rv.plan_id
                   WHERE ST_Intersects(rv.geom, s.g))
)"""  # noqa: S608


def facts(with_geometry: str, at: str | None = None) -> str:
    """The facts document about the subject ``s``, from the tables now or at ``at``."""
    named = tables(at)
    return _FACTS.format(**named, with_geometry=with_geometry, data_version=version_sql(at),
                         prefecture=_admin(named["prefectures"]),
                         commune=_admin(named["communes"]))


# "OFFSET 0" fences keep the subject a computed row: its point-on-surface is computed once,
# and the planner cannot specialise the plan to the point given, so the prepared statement
# settles on one generic plan instead of re-planning this large statement on every call
# (measured on the 1M bench DB: 0.5 ms instead of 1.1 ms per lookup).
# A subject has: parcel_id, ref, area_m2 (stored), g (geometry), probe (a point inside g
# where the administrative areas are read), is_area (g is a polygon).
_BY_POINT = f"""
SELECT p.id AS parcel_id, p.ref, p.area_m2, coalesce(p.geom, pt.g) AS g,
       CASE WHEN p.id IS NULL THEN pt.g ELSE ST_PointOnSurface(p.geom) END AS probe,
       p.id IS NOT NULL AS is_area
FROM (SELECT ST_SetSRID(ST_MakePoint({{x}}, {{y}}), {STORAGE_SRID}) AS g OFFSET 0) pt
LEFT JOIN LATERAL (
  SELECT id, ref, area_m2, geom FROM {{parcels}}
  WHERE ST_Intersects(geom, pt.g) ORDER BY id LIMIT 1
) p ON true"""  # noqa: S608

_BY_REF = """
SELECT id AS parcel_id, ref, area_m2, geom AS g, ST_PointOnSurface(geom) AS probe,
       true AS is_area
FROM {parcels} WHERE ref_norm = geoportal_ref_norm({ref})"""

_BY_GEOMETRY = f"""
SELECT NULL::bigint AS parcel_id, NULL::text AS ref, NULL::float8 AS area_m2, x.g,
       ST_PointOnSurface(x.g) AS probe, true AS is_area
FROM (SELECT ST_SetSRID(ST_GeomFromWKB($1::bytea), {STORAGE_SRID}) AS g) x"""  # noqa: S608


def _single(subject: str, with_geometry: str, at: str | None) -> str:
    return (f"SELECT {facts(with_geometry, at)} AS facts, "  # noqa: S608
            f"ST_AsBinary(s.g) AS wkb FROM ({subject} OFFSET 0) s")


def _batch(at: str | None) -> str:
    named = tables(at)
    return f"""
SELECT q.ord, {facts("false", at)} AS facts, ST_AsBinary(s.g) AS wkb
FROM unnest($1::int[], $2::text[], $3::float8[], $4::float8[]) AS q(ord, ref, x, y)
CROSS JOIN LATERAL (SELECT * FROM (
  {_BY_REF.format(ref="q.ref", **named)} AND q.ref IS NOT NULL
  UNION ALL
  {_BY_POINT.format(x="q.x", y="q.y", **named)} WHERE q.ref IS NULL
) u OFFSET 0) s
ORDER BY q.ord"""  # noqa: S608


@dataclass(frozen=True)
class Lookups:
    """The statements of one time: now, or at a moment bound after their own parameters."""

    by_point: str
    """Facts at a point ($1, $2 in EPSG:26191; $3: with the plot's geometry)."""
    by_ref: str
    """Facts about a registered plot ($1: land-title reference; $2: with geometry)."""
    by_geometry: str
    """Facts about a polygon ($1: WKB in EPSG:26191; $2: with geometry)."""
    batch: str
    """Facts for many plots and points at once ($1 ordinals, $2 refs or nulls, $3/$4 x/y)."""


def lookups(past: bool) -> Lookups:
    """The lookups on the current tables, or (``past``) on the tables as they stood at the
    moment bound as the parameter after each statement's own: $4, $3, $3 and $5."""
    def at(n: int) -> str | None:
        return f"${n}" if past else None

    return Lookups(
        by_point=_single(_BY_POINT.format(x="$1::float8", y="$2::float8", **tables(at(4))),
                         "$3::boolean", at(4)),
        by_ref=_single(_BY_REF.format(ref="$1::text", **tables(at(3))), "$2::boolean", at(3)),
        by_geometry=_single(_BY_GEOMETRY, "$2::boolean", at(3)),
        batch=_batch(at(5)),
    )


NOW = lookups(past=False)
THEN = lookups(past=True)
BY_POINT, BY_REF, BY_GEOMETRY, BATCH = NOW.by_point, NOW.by_ref, NOW.by_geometry, NOW.batch
