"""The statements of the hot path: PostgreSQL assembles the response body.

One statement per request returns the data version, the page's features already encoded
(GeoJSON, JSON-FG) as ``bytea`` — so Python never decodes them — and what the links need.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from geoportal.core.crs import STORAGE, WGS84_LON_LAT, Crs
from geoportal.core.formats import CSV, JSONFG, JSONSEQ, Format
from geoportal.core.history import as_of
from geoportal.core.versions import data_version_sql, layer_version_sql
from geoportal.ogc import sql
from geoportal.ogc.params import ItemsQuery
from geoportal.ogc.sql import Params
from geoportal.registry import Layer, LayerProperty

# Above this share of the layer's extent, a bbox is not selective: walk the id order.
SPATIAL_FIRST_MAX_SHARE = 0.10


@dataclass(frozen=True)
class Statement:
    """SQL text and its bound values."""

    text: str
    values: list[object]


EARTH_RADIUS = 6_378_137.0


def bbox_area_m2(bbox: tuple[float, float, float, float], crs: Crs) -> float:
    """Approximate ground area of a bbox (enough to judge selectivity; no PROJ call)."""
    x1, y1, x2, y2 = bbox
    if crs.lat_lon:
        x1, y1, x2, y2 = y1, x1, y2, x2
    width, height = max(x2 - x1, 0.0), max(y2 - y1, 0.0)
    if crs.srid == 4326:
        mid_lat = math.radians((y1 + y2) / 2)
        return width * 111_320 * math.cos(mid_lat) * height * 110_574
    if crs.srid == 3857:
        mid_lat = math.atan(math.sinh((y1 + y2) / 2 / EARTH_RADIUS))
        return width * height * math.cos(mid_lat) ** 2
    return width * height


def bbox_share(query: ItemsQuery, layer_area: float) -> float:
    """The share of the layer's storage extent that the request's bbox covers."""
    if query.bbox is None or layer_area <= 0:
        return 1.0
    return bbox_area_m2(query.bbox, query.bbox_crs) / layer_area


def spatial_first(query: ItemsQuery, layer_area: float) -> bool:
    """Whether to collect matches through the GiST index before ordering by id.

    With a small bbox (or a spatial filter), ``ORDER BY id LIMIT n`` lets the planner walk
    the primary key and test every row; collecting the few matches first takes a few ms.
    """
    if query.bbox is not None:
        return bbox_share(query, layer_area) <= SPATIAL_FIRST_MAX_SHARE
    return query.filter is not None and bool(query.filter.spatial)


def conditions(layer: Layer, query: ItemsQuery, params: Params,
               envelope: str | None = None) -> list[str]:
    """Every filter of the request as SQL conditions (``envelope``: the bbox, if built)."""
    clauses: list[str] = []
    if query.bbox is not None:
        envelope = envelope or sql.envelope_sql(query.bbox, query.bbox_crs, params)
        clauses.append(sql.bbox_clause(layer, envelope))
    if query.interval is not None:
        clause = sql.datetime_clause(layer, *query.interval, params)
        if clause:
            clauses.append(clause)
    for prop, value in query.equals:
        cast = "float8" if isinstance(value, float) else "bool" if isinstance(value, bool) \
            else "text"
        clauses.append(f"{sql.column(layer, prop)} = {params.add(value, cast)}")
    if query.filter is not None:  # checked when parsed: writing it cannot fail
        clauses.append(query.filter.condition.render(params))
    return clauses


def feature_sql(layer: Layer, fmt: Format, crs: Crs, props: list[LayerProperty]) -> str:
    """One feature, encoded by PostgreSQL as text in the requested format."""
    fid = sql.id_column(layer)
    properties = sql.properties_json(layer, props)
    if fmt is CSV:
        cells = [sql.csv_bare(fid), *(sql.csv_cell(layer, p) for p in props)]
        if layer.has_geometry:
            cells.append(sql.csv_field(sql.wkt_sql(layer, crs)))
        return " || ',' || ".join(cells) + " || E'\\n'"
    if fmt is JSONFG:
        place = "'null'" if crs.srid == 4326 else sql.geojson_sql(layer, crs)
        return (f"""'{{"type":"Feature","id":' || {fid} || ',"featureType":'"""
                f""" || {sql.literal('"' + layer.id + '"')}"""
                f""" || ',"time":' || {_time_json(layer)}"""
                f""" || ',"place":' || {place}"""
                f""" || ',"geometry":' || {sql.geojson_sql(layer, WGS84_LON_LAT)}"""
                f""" || ',"properties":' || {properties} || '}}'""")
    feature = (f"""'{{"type":"Feature","id":' || {fid}"""
               f""" || ',"geometry":' || {sql.geojson_sql(layer, crs)}"""
               f""" || ',"properties":' || {properties} || '}}'""")
    return f"E'\\x1e' || {feature} || E'\\n'" if fmt is JSONSEQ else feature


def _time_json(layer: Layer) -> str:
    if layer.temporal is None:
        return "'null'"
    col = f"t.{sql.ident(layer.temporal.column)}"
    prop = next((p for p in layer.properties if p.column_name == layer.temporal.column), None)
    key = "date" if prop is not None and prop.type == "date" else "timestamp"
    return f"""coalesce('{{"{key}":' || to_json({col})::text || '}}', 'null')"""


def geometry_crs(query: ItemsQuery, fmt: Format) -> Crs:
    """The CRS of ``geometry`` (or of JSON-FG's ``place``, EPSG:26191 unless asked)."""
    if fmt is JSONFG and not query.crs_given:
        return STORAGE
    return query.crs


def version_sql(layer: Layer, at_sql: str | None = None) -> str:
    """The layer's change counter as a scalar subquery; at a past moment (``at_sql``, a
    bound timestamptz), the data version then (the layer counter does not go back)."""
    if at_sql is not None:
        return data_version_sql(f"{at_sql}::timestamptz")
    return layer_version_sql(sql.literal(layer.table))


def moment_sql(at: dt.datetime | None, params: Params) -> str | None:
    """The bound moment of a time-travel read, or None for the current data."""
    return params.add(at) if at is not None else None


def source_sql(layer: Layer, at_sql: str | None) -> str:
    """The layer's table, or the table as it stood at ``at_sql`` (its ``_as_of`` function)."""
    return as_of(layer.table, at_sql)


def _page_source(layer: Layer, query: ItemsQuery, params: Params, layer_area: float,
                 at_sql: str | None = None) -> str:
    """The CTE named ``page``: the rows of the requested page, in order."""
    order = sql.order_by(layer, query.sortby)
    keyset = [sql.after_id_clause(layer, query.after, params)] if query.after is not None \
        else []
    envelope = None
    if query.bbox is not None:
        envelope = sql.envelope_sql(query.bbox, query.bbox_crs, params)
    clauses = conditions(layer, query, params, envelope)
    limit = sql.limit_offset(query.limit, query.offset, params)
    table = source_sql(layer, at_sql)
    if not layer.has_geometry or not spatial_first(query, layer_area):
        return (f"WITH page AS (SELECT t.* FROM {table} t {sql.where(clauses + keyset)} "
                f"{order} {limit})")
    if envelope is None and query.filter is not None:  # a spatial filter's geometry, the
        envelope = query.filter.spatial[0].render(params)  # same bound value as the filter's
    # Candidates from the GiST index (bounding boxes meet), ordered, then the exact tests in
    # that order until the page is full (OFFSET 0 keeps the filter above the sort).
    candidates = [sql.bbox_candidates_clause(layer, str(envelope)), *keyset]
    if not query.sortby:
        # Sort only the ids (not whole rows with their geometries), then fetch the rows by
        # primary key in that order until the page is full; the nested loop keeps the order
        # the planner knows, so ORDER BY + LIMIT stop early.
        cid, tid = sql.id_column(layer, "c"), sql.id_column(layer)
        ordered_ids = f"SELECT {tid} FROM {table} t {sql.where(candidates)} ORDER BY {tid}"
        row_by_id = f"SELECT * FROM {table} t WHERE {tid} = {cid} OFFSET 0"
        return (f"WITH page AS (SELECT t.* FROM ({ordered_ids} OFFSET 0) c "
                f"CROSS JOIN LATERAL ({row_by_id}) t {sql.where(clauses)} "
                f"ORDER BY {cid} {limit})")
    return (f"WITH candidates AS MATERIALIZED (SELECT t.* FROM {table} t "
            f"{sql.where(candidates)}), "
            f"page AS (SELECT t.* FROM (SELECT * FROM candidates t {order} OFFSET 0) t "
            f"{sql.where(clauses)} {limit})")


def _lead_source(layer: Layer, query: ItemsQuery, params: Params, lead: tuple[int, ...]
                 ) -> str:
    """The CTE named ``page`` for a whole layer whose order opens with the features of
    ``lead`` (samples.py): those by id, then the others by id; a cursor is either kind of id.
    Each branch walks the primary key; the sort above it holds at most offset + limit rows."""
    table, tid = source_sql(layer, None), sql.id_column(layer)
    ids = params.add(list(lead), "int8[]")
    first = f"SELECT t.*, 0 AS lead_rank FROM {table} t WHERE {tid} = ANY({ids})"
    rest = f"SELECT t.*, 1 AS lead_rank FROM {table} t WHERE {tid} <> ALL({ids})"
    if query.after is not None:
        after = sql.after_id_clause(layer, query.after, params)
        if query.after in lead:
            first += f" AND {after}"
        else:
            first, rest = "", f"{rest} AND {after}"
    if query.limit is not None:
        rest += f" ORDER BY {tid} LIMIT {params.add(query.limit + query.offset, 'int8')}"
    branches = f"({first}) UNION ALL ({rest})" if first else f"({rest})"
    limit = sql.limit_offset(query.limit, query.offset, params)
    return f"WITH page AS (SELECT t.* FROM ({branches}) t {_lead_order(layer)} {limit})"


def _lead_order(layer: Layer) -> str:
    return f"ORDER BY t.lead_rank, {sql.id_column(layer)}"


def filtered(query: ItemsQuery) -> bool:
    """Whether the request narrows the layer (a read of the past counts as one)."""
    return bool(query.bbox is not None or query.interval is not None or query.equals
                or query.filter is not None or query.at is not None)


def _counted_source(layer: Layer, query: ItemsQuery, params: Params, at_sql: str | None,
                    cap: int | None) -> str:
    """The CTE named ``counted``: how many features match (all pages) and their largest id,
    up to ``cap`` + 1 matches when capped (beyond, the count is not given)."""
    ids = (f"SELECT {sql.id_column(layer)} AS id FROM {source_sql(layer, at_sql)} t "
           f"{sql.where(conditions(layer, query, params))}")
    if cap is not None:
        ids += f" LIMIT {params.add(cap + 1, 'int8')}"
    return f"counted AS (SELECT count(*) AS matched, max(m.id) AS max_id FROM ({ids}) m)"


def items_statement(layer: Layer, query: ItemsQuery, fmt: Format, layer_area: float,
                    count: bool = False, cap: int | None = None,
                    lead: tuple[int, ...] = ()) -> Statement:
    """The page: (version, number returned, last id, features as bytea, and — when
    ``count`` — the number of matches of every page and their largest id). ``lead``: the
    features that open the order of a whole layer (samples.py), first by id."""
    params = Params()
    at_sql = moment_sql(query.at, params)
    if lead:
        source = _lead_source(layer, query, params, lead)
        order = _lead_order(layer)
        last_id = f"(array_agg({sql.id_column(layer)} {order}))[count(*)]"
    else:
        source = _page_source(layer, query, params, layer_area, at_sql)
        order = sql.order_by(layer, query.sortby)
        last_id = f"max({sql.id_column(layer)})"
    matched = "NULL::int8 AS matched, NULL::int8 AS max_id"
    if count:
        source += ", " + _counted_source(layer, query, params, at_sql, cap)
        matched = ("(SELECT matched FROM counted) AS matched, "
                   "(SELECT max_id FROM counted) AS max_id")
    feature = feature_sql(layer, fmt, geometry_crs(query, fmt), query.properties)
    text = f"""{source}
        SELECT {version_sql(layer, at_sql)} AS version, count(*) AS returned,
               {last_id} AS last_id, {matched},
               convert_to(coalesce(string_agg({feature}, ',' {order}), ''), 'UTF8')
                 AS features
        FROM page t"""
    return Statement(text, params.values)


def stream_statement(layer: Layer, query: ItemsQuery, fmt: Format) -> Statement:
    """One row per feature (bytea), for a server-side cursor; no order unless asked."""
    params = Params()
    at_sql = moment_sql(query.at, params)
    clauses = conditions(layer, query, params)
    if query.after is not None:
        clauses.append(sql.after_id_clause(layer, query.after, params))
    order = sql.order_by(layer, query.sortby) if (query.sortby or query.offset
                                                  or query.after is not None
                                                  or query.limit_given) else ""
    limit = sql.limit_offset(query.limit, query.offset, params)
    feature = feature_sql(layer, fmt, geometry_crs(query, fmt), query.properties)
    text = (f"SELECT convert_to({feature}, 'UTF8') FROM {source_sql(layer, at_sql)} t "
            f"{sql.where(clauses)} {order} {limit}")
    return Statement(text, params.values)


def feature_statement(layer: Layer, fid: int, fmt: Format, crs: Crs,
                      props: list[LayerProperty], at: dt.datetime | None = None) -> Statement:
    """One feature by id (as it stood at ``at``): (its version, the data version then or
    null, feature as bytea)."""
    params = Params()
    condition = f"{sql.id_column(layer)} = {params.add(fid, 'int8')}"
    at_sql = moment_sql(at, params)
    data_version = version_sql(layer, at_sql) if at_sql is not None else "NULL::text"
    text = (f"SELECT t.version AS version, {data_version} AS data_version, "
            f"convert_to({feature_sql(layer, fmt, crs, props)}, 'UTF8') AS feature "
            f"FROM {source_sql(layer, at_sql)} t WHERE {condition}")
    return Statement(text, params.values)


def feature_version_statement(layer: Layer, fid: int) -> Statement:
    """The version of one feature (its ETag), by primary key: a 304 costs no encoding."""
    return Statement(f"SELECT t.version FROM {sql.table(layer)} t "
                     f"WHERE {sql.id_column(layer)} = $1::int8", [fid])


def csv_header(props: list[LayerProperty], geometry: bool = True) -> bytes:
    """The header line of the CSV encoding (no ``wkt`` column for a layer without geometry)."""
    return (",".join(["id", *(p.name for p in props), *(["wkt"] if geometry else [])])
            + "\n").encode()




CSVT_TYPES = {"integer": "Integer64", "number": "Real", "boolean": "Integer(Boolean)",
              "date": "Date", "datetime": "DateTime"}


def csvt_line(props: list[LayerProperty], geometry: bool = True) -> bytes:
    """The column types of the CSV encoding in GDAL's ``.csvt`` sidecar form, which GDAL
    fetches beside a ``.csv`` it opens (also over ``/vsicurl/``): typed columns without
    ``AUTODETECT_TYPE``."""
    types = ["Integer64", *(CSVT_TYPES.get(p.type, "String") for p in props),
             *(["WKT"] if geometry else [])]
    return (",".join(f'"{t}"' for t in types) + "\n").encode()
