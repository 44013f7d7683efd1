"""The buildable-envelope SQL: one set-based statement for one plot or a batch of them.

Computed in PostGIS, in EPSG:26191, where the plot's neighbours, zones, servitudes and
reservations already are (GiST-indexed): nothing but the answer leaves the database, and a
batch of 1,000 plots is one statement. PostGIS and shapely share GEOS, so the tests compare
with shapely's result of the same construction.

The method (said in every answer, ``envelope.METHOD``):

* each segment of the plot's boundary is a **front** when less than half of its length lies
  within ``NEIGHBOUR_TOLERANCE_M`` of another plot (it faces a road or public space);
* the **rear** is the non-front segments whose outward direction is within 30° of the
  opposite of the front's (length-weighted mean outward direction); the others are
  **sides** (a corner plot on two roads has two fronts and two sides); with no front at all,
  every segment is a side;
* in each zone of the applicable plans the plot touches, the part of the plot in the zone,
  minus everything within the zone's front, side and rear setbacks of the segments of each
  class (round buffers of the segments: the exact set of points nearer than the setback);
* minus the non aedificandi servitudes and the reservations of the applicable plans (each
  named with the area it removes);
* split under height-limit servitudes (the lowest limit where several cover a point).

Nothing in this text comes from a request; the layers' names are the schema's.
"""

from __future__ import annotations

from geoportal.core.area import STORAGE_SRID
from geoportal.core.history import as_of

NEIGHBOUR_TOLERANCE_M = 2.0
"""A boundary segment within this of another plot is shared with it (not a front): above
the gaps left between neighbours by digitising (1 m in the demo), well below a street."""
REAR_COS = 0.866
"""cos 30°: how close to the opposite of the front a segment's outward direction must be."""
CUTTING_KINDS = ("littoral", "ligne_electrique", "voie_ferree", "non_aedificandi")
"""Servitude kinds that forbid building (also any servitude whose effect says
« non aedificandi »)."""

_KINDS = ", ".join(f"'{kind}'" for kind in CUTTING_KINDS)
_CLIPPED = ("CASE WHEN ST_CoveredBy(s.g, {t}.geom) THEN ST_Expand(ST_Envelope(s.g), 1) "
            "ELSE ST_Intersection({t}.geom, ST_Expand(ST_Envelope(s.g), 1)) END AS geom")
"""A layer's geometry around the plot only: its box (1 m wider) when it covers the plot."""
_EMPTY = f"ST_GeomFromText('POLYGON EMPTY', {STORAGE_SRID})"

_ENVELOPE = f"""
WITH subject AS (
  SELECT q.ord, ST_SetSRID(ST_GeomFromWKB(q.wkb), {STORAGE_SRID}) AS g
  FROM unnest($1::int[], $2::bytea[]) AS q(ord, wkb)
),
asked AS (
  SELECT * FROM unnest($3::int[], $4::int[], $5::text[], $6::text[], $7::float8[],
                       $8::float8[], $9::float8[])
    AS z(ord, part, plan_ref, code, front_m, side_m, rear_m)
),
near AS MATERIALIZED (  -- once per plot, not per segment
  SELECT s.ord,
         (SELECT ST_Buffer(ST_Collect(n.geom), {NEIGHBOUR_TOLERANCE_M}, 'quad_segs=2')
          FROM {{parcels}} n
          WHERE ST_DWithin(n.geom, s.g, {NEIGHBOUR_TOLERANCE_M})
            AND ST_Area(ST_Intersection(n.geom, s.g))
                < 0.5 * least(ST_Area(n.geom), ST_Area(s.g))) AS shared
  FROM subject s
),
segment AS (
  SELECT s.ord, d.geom AS seg, ST_Length(d.geom) AS len,
         ST_X(ST_EndPoint(d.geom)) - ST_X(ST_StartPoint(d.geom)) AS dx,
         ST_Y(ST_EndPoint(d.geom)) - ST_Y(ST_StartPoint(d.geom)) AS dy,
         coalesce(ST_Length(ST_Intersection(d.geom, nr.shared)), 0)
           < 0.5 * ST_Length(d.geom) AS front
  FROM subject s JOIN near nr USING (ord)
  CROSS JOIN LATERAL ST_DumpSegments(ST_ForcePolygonCCW(s.g)) d
  WHERE ST_Length(d.geom) > 0
),
facing AS (  -- outward normal of a segment of a CCW ring: (dy, -dx)
  SELECT ord, coalesce(sum(dy) FILTER (WHERE front), 0) AS fx,
         coalesce(sum(-dx) FILTER (WHERE front), 0) AS fy,
         coalesce(sum(len) FILTER (WHERE front), 0) AS flen
  FROM segment GROUP BY ord
),
classed AS (
  SELECT g.ord, g.seg, g.len,
         CASE WHEN g.front THEN 'front'
              WHEN sqrt(f.fx ^ 2 + f.fy ^ 2) > 0.1 * f.flen
                   AND (g.dy * f.fx - g.dx * f.fy) / (g.len * sqrt(f.fx ^ 2 + f.fy ^ 2))
                       <= -{REAR_COS}
              THEN 'rear' ELSE 'side' END AS kind
  FROM segment g JOIN facing f USING (ord)
),
limits AS (
  SELECT ord, ST_Collect(seg) FILTER (WHERE kind = 'front') AS front,
         ST_Collect(seg) FILTER (WHERE kind = 'side') AS side,
         ST_Collect(seg) FILTER (WHERE kind = 'rear') AS rear,
         coalesce(sum(len) FILTER (WHERE kind = 'front'), 0) AS front_len,
         coalesce(sum(len) FILTER (WHERE kind = 'side'), 0) AS side_len,
         coalesce(sum(len) FILTER (WHERE kind = 'rear'), 0) AS rear_len
  FROM classed GROUP BY ord
),
zone_part AS (
  SELECT a.ord, a.part,
         ST_CollectionExtract(z.g, 3) AS in_zone,
         ST_Union(ARRAY[ST_Buffer(l.front, coalesce(a.front_m, 0)),
                        ST_Buffer(l.side, coalesce(a.side_m, 0)),
                        ST_Buffer(l.rear, coalesce(a.rear_m, 0))]) AS setbacks
  FROM asked a JOIN subject s USING (ord) JOIN limits l USING (ord)
  CROSS JOIN LATERAL (  -- most plots lie wholly in one zone: no overlay then
    SELECT ST_Union(CASE WHEN ST_CoveredBy(s.g, zn.geom) THEN s.g
                         ELSE ST_Intersection(zn.geom, s.g) END) AS g
    FROM {{zoning}} zn JOIN {{plans}} pl ON pl.id = zn.plan_id
    WHERE pl.ref = a.plan_ref AND zn.code = a.code AND ST_Intersects(zn.geom, s.g)) z
),
set_back AS (
  SELECT ord, part, in_zone,
         ST_CollectionExtract(ST_Difference(in_zone, coalesce(setbacks, {_EMPTY})), 3) AS env
  FROM zone_part WHERE in_zone IS NOT NULL
),
cut AS (  -- what forbids building: non aedificandi servitudes, reservations of the plans;
          -- each clipped once to the plot's box (servitudes are large, detailed polygons)
  SELECT s.ord, 'servitude' AS source, sv.kind, sv.name, sv.id, {_CLIPPED.format(t="sv")}
  FROM subject s JOIN {{servitudes}} sv ON ST_Intersects(sv.geom, s.g)
  WHERE sv.kind IN ({_KINDS})
     OR sv.effect ILIKE '%aedificandi%'
  UNION ALL
  SELECT s.ord, 'reservation', rv.kind, rv.label, rv.id, {_CLIPPED.format(t="rv")}
  FROM subject s JOIN {{reservations}} rv ON ST_Intersects(rv.geom, s.g)
  JOIN {{plans}} pl ON pl.id = rv.plan_id
  WHERE pl.ref IN (SELECT a.plan_ref FROM asked a WHERE a.ord = s.ord)
),
cut_union AS (
  SELECT ord, ST_Union(geom) AS g FROM cut GROUP BY ord
),
buildable AS (
  SELECT b.ord, b.part, b.in_zone, b.env,
         CASE WHEN cu.g IS NULL THEN b.env
              ELSE ST_CollectionExtract(ST_Difference(b.env, cu.g), 3) END AS g
  FROM set_back b LEFT JOIN cut_union cu USING (ord)
),
height_limit AS (
  SELECT s.ord, sv.id, sv.name, sv.max_height_m, {_CLIPPED.format(t="sv")}
  FROM subject s JOIN {{servitudes}} sv ON ST_Intersects(sv.geom, s.g)
  WHERE sv.max_height_m IS NOT NULL
),
piece AS (  -- each buildable part split under the height limits, the lowest limit first
  SELECT b.ord, b.part, h.name AS limited_by, h.max_height_m AS limit_m,
         ST_CollectionExtract(ST_Intersection(b.g, ST_Difference(h.geom, coalesce(
           (SELECT ST_Union(o.geom) FROM height_limit o
            WHERE o.ord = h.ord AND (o.max_height_m, o.id) < (h.max_height_m, h.id)),
           {_EMPTY}))), 3) AS g
  FROM buildable b JOIN height_limit h USING (ord)
  UNION ALL
  SELECT b.ord, b.part, NULL, NULL,
         ST_CollectionExtract(ST_Difference(b.g, coalesce(
           (SELECT ST_Union(o.geom) FROM height_limit o WHERE o.ord = b.ord), {_EMPTY})), 3)
  FROM buildable b
)
SELECT s.ord, json_build_object(
  'front_m', l.front_len, 'side_m', l.side_len, 'rear_m', l.rear_len,
  'parts', (SELECT json_agg(json_build_object(
              'part', b.part, 'in_zone_m2', ST_Area(b.in_zone),
              'set_back_m2', ST_Area(b.env), 'area_m2', ST_Area(b.g)) ORDER BY b.part)
            FROM buildable b WHERE b.ord = s.ord),
  'pieces', (SELECT json_agg(json_build_object(
               'part', p.part, 'limited_by', p.limited_by, 'limit_m', p.limit_m,
               'area_m2', ST_Area(p.g), 'geometry', {{geojson}})
               ORDER BY p.part, p.limit_m NULLS LAST, p.limited_by)
             FROM piece p WHERE p.ord = s.ord AND NOT ST_IsEmpty(p.g)),
  'cuts', (SELECT json_agg(json_build_object(
             'source', c.source, 'kind', c.kind, 'name', c.name,
             'plot_m2', ST_Area(ST_Intersection(c.geom, s.g)),
             'removed_m2', (SELECT coalesce(sum(ST_Area(ST_Intersection(b.env, c.geom))), 0)
                            FROM buildable b WHERE b.ord = s.ord))
             ORDER BY c.source DESC, c.id)
           FROM cut c WHERE c.ord = s.ord),
  'height_limits', (SELECT json_agg(json_build_object(
                      'name', h.name, 'max_height_m', h.max_height_m,
                      'plot_m2', ST_Area(ST_Intersection(h.geom, s.g))) ORDER BY h.id)
                    FROM height_limit h WHERE h.ord = s.ord),
  'geometry', (SELECT {{geojson_union}} FROM buildable b WHERE b.ord = s.ord)
) AS envelope
FROM subject s JOIN limits l USING (ord)
ORDER BY s.ord"""  # noqa: S608

_GEOJSON = {
    # $10: the answer's geometries in CRS84 (true) or in EPSG:26191 (false)
    "geojson": "CASE WHEN $10::boolean THEN ST_AsGeoJSON(ST_Transform(p.g, 4326), 9)::json "
               "ELSE ST_AsGeoJSON(p.g, 3)::json END",
    "geojson_union": "CASE WHEN $10::boolean "
                     "THEN ST_AsGeoJSON(ST_Transform(ST_Multi(ST_Union(b.g)), 4326), 9)::json "
                     "ELSE ST_AsGeoJSON(ST_Multi(ST_Union(b.g)), 3)::json END",
}


def envelope_sql(past: bool) -> str:
    """The statement on the current tables, or (``past``) on the tables as they stood at the
    moment bound as $11."""
    at = "$11" if past else None
    names = {name: as_of(name, at)
             for name in ("parcels", "zoning", "plans", "servitudes", "reservations")}
    return _ENVELOPE.format(**names, **_GEOJSON)


NOW = envelope_sql(past=False)
THEN = envelope_sql(past=True)
