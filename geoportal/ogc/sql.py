"""SQL building blocks, one small function per clause (after pg_featureserv).

Identifiers come only from the layer registry and are quoted; every value is a bound
parameter (``$n``) collected in a :class:`Params`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from geoportal.core.area import STORAGE_SRID
from geoportal.core.crs import Crs, output_geometry_sql
from geoportal.registry import Layer, LayerProperty

# Bumped when the encoding of features changes for the same data (2: numbers keep their
# decimal point, rings counter-clockwise, CSV typed), so that no page cached by a client
# (ETag) or built download is served in the old encoding.
ENCODING = 2


@dataclass
class Params:
    """The bound values of one statement, numbered in the order they are added."""

    values: list[Any] = field(default_factory=list)
    _written: dict[int, tuple[object, str]] = field(default_factory=dict, repr=False)

    def add(self, value: Any, cast: str | None = None) -> str:
        """Bind a value and return its placeholder, e.g. ``$3::float8``."""
        self.values.append(value)
        placeholder = f"${len(self.values)}"
        return f"{placeholder}::{cast}" if cast else placeholder

    def once(self, key: object, write: Callable[[], str]) -> str:
        """The SQL ``write`` gives for ``key``, written (and its values bound) once per
        statement however often it is used, e.g. a filter's geometry literal."""
        found = self._written.get(id(key))
        if found is None or found[0] is not key:
            found = (key, write())
            self._written[id(key)] = found
        return found[1]


def ident(name: str) -> str:
    """A quoted SQL identifier (names come from the registry, validated by pattern)."""
    return '"' + name.replace('"', '""') + '"'


def column(layer: Layer, prop: LayerProperty, alias: str = "t") -> str:
    """The qualified column behind a property."""
    return f"{alias}.{ident(prop.column_name)}"


def id_column(layer: Layer, alias: str = "t") -> str:
    """The qualified feature-id column."""
    return f"{alias}.{ident(layer.id_column)}"


def geometry_column(layer: Layer, alias: str = "t") -> str:
    """The qualified geometry column (stored in EPSG:26191)."""
    return f"{alias}.{ident(layer.spatial_column)}"


def table(layer: Layer) -> str:
    """The layer's table, quoted."""
    return ident(layer.table)


def envelope_sql(bbox: tuple[float, float, float, float], crs: Crs, params: Params) -> str:
    """The bbox as a polygon in the storage CRS (the envelope is transformed, not the column).

    It is a scalar subquery so that PostgreSQL computes it once per statement, also under a
    generic plan of a prepared statement.
    """
    x1, y1, x2, y2 = (bbox[1], bbox[0], bbox[3], bbox[2]) if crs.lat_lon else bbox
    corners = ", ".join(params.add(v, "float8") for v in (x1, y1, x2, y2))
    envelope = f"ST_MakeEnvelope({corners}, {crs.srid})"
    if crs.srid == STORAGE_SRID:
        return f"(SELECT {envelope})"
    # Densified so that the edges follow the curved lines of the source CRS.
    step = params.add(max(abs(x2 - x1), abs(y2 - y1)) / 8 or 1.0, "float8")
    return f"(SELECT ST_Transform(ST_Segmentize({envelope}, {step}), {STORAGE_SRID}))"


def bbox_clause(layer: Layer, envelope: str) -> str:
    """Features whose geometry intersects the envelope; the GiST index serves ``&&``."""
    return f"ST_Intersects({geometry_column(layer)}, {envelope})"


def bbox_candidates_clause(layer: Layer, envelope: str) -> str:
    """Features whose bounding box meets the envelope's: answered by the GiST index alone."""
    return f"{geometry_column(layer)} && {envelope}"


def datetime_clause(layer: Layer, start: Any, end: Any, params: Params) -> str | None:
    """Features whose time falls in [start, end]; ``None`` bounds are open."""
    if layer.temporal is None:
        return None
    col = f"t.{ident(layer.temporal.column)}"
    parts = []
    if start is not None:
        parts.append(f"{col} >= {params.add(start)}")
    if end is not None:
        parts.append(f"{col} <= {params.add(end)}")
    return " AND ".join(parts) or f"{col} IS NOT NULL"


def after_id_clause(layer: Layer, after: int, params: Params) -> str:
    """Keyset paging: features after the last id of the previous page."""
    return f"{id_column(layer)} > {params.add(after, 'int8')}"


def where(clauses: list[str]) -> str:
    """A WHERE clause joining the conditions with AND (empty when there are none)."""
    return f"WHERE {' AND '.join(f'({c})' for c in clauses)}" if clauses else ""


def order_by(layer: Layer, sortby: list[tuple[LayerProperty | None, bool]],
             alias: str = "t") -> str:
    """ORDER BY the requested keys then the id, so that pages are stable."""
    keys = []
    for prop, descending in sortby:
        col = id_column(layer, alias) if prop is None else column(layer, prop, alias)
        keys.append(f"{col} {'DESC' if descending else 'ASC'}")
    if not any(prop is None for prop, _ in sortby):
        keys.append(id_column(layer, alias))
    return "ORDER BY " + ", ".join(keys)


def limit_offset(limit: int | None, offset: int, params: Params) -> str:
    """LIMIT/OFFSET with bound values (no LIMIT when streaming a whole layer)."""
    sql = f"LIMIT {params.add(limit, 'int8')}" if limit is not None else ""
    if offset:
        sql += f" OFFSET {params.add(offset, 'int8')}"
    return sql


def literal(text: str) -> str:
    """A SQL string literal for a registry name (never for request input)."""
    return "'" + text.replace("'", "''") + "'"


def json_value(layer: Layer, prop: LayerProperty) -> str:
    """A property's value as JSON text. A whole ``number`` keeps a decimal point (``45.0``,
    not ``45``): clients that type fields from the first features (QGIS 3.22, GDAL without
    a schema) then see a real, not an integer."""
    col = column(layer, prop)
    if prop.type == "number":
        return (f"CASE WHEN abs({col}) < 1e15 AND {col} = trunc({col}) "
                f"THEN {col}::text || '.0' ELSE to_json({col})::text END")
    return f"to_json({col})::text"


def properties_json(layer: Layer, props: list[LayerProperty]) -> str:
    """The ``properties`` object of a feature, assembled by PostgreSQL (compact JSON)."""
    if not props:
        return "'{}'"
    members = " || ',' || ".join(
        f"""'"{p.name}":' || coalesce({json_value(layer, p)}, 'null')"""
        for p in props
    )
    return f"('{{' || {members} || '}}')"


def geojson_sql(layer: Layer, crs: Crs) -> str:
    """A feature's geometry as GeoJSON text in the output CRS and axis order (``null``
    for a layer without geometry)."""
    if not layer.has_geometry:
        return "'null'"
    geom = output_geometry_sql(right_hand_sql(layer), crs)
    return f"coalesce(ST_AsGeoJSON({geom}, {crs.decimals}, 0), 'null')"


def right_hand_sql(layer: Layer) -> str:
    """The geometry with exterior rings counter-clockwise and holes clockwise (RFC 7946
    §3.1.6, JSON-FG), oriented in storage: a projection to CRS84 or 3857 keeps the turn;
    a lat/lon axis order flips the coordinates, not the ring on the ground."""
    if layer.geometry_type is None or "Polygon" not in layer.geometry_type:
        return geometry_column(layer)
    return f"ST_ForcePolygonCCW({geometry_column(layer)})"


def wkt_sql(layer: Layer, crs: Crs) -> str:
    """A feature's geometry as WKT in the output CRS and axis order."""
    geom = output_geometry_sql(geometry_column(layer), crs)
    return f"coalesce(ST_AsText({geom}, {crs.decimals}), '')"


CSV_BARE = frozenset({"integer", "number", "boolean", "date", "datetime"})


def csv_value(layer: Layer, prop: LayerProperty) -> str:
    """A property's value for a CSV cell: an array as its JSON text (``["a","b"]``), which
    keeps elements holding commas or quotes apart; a timestamp in ISO 8601 (``T``, offset
    ``+00:00``) as in the JSON encodings; other values as PostgreSQL writes them."""
    col = column(layer, prop)
    if prop.type == "array":
        return f"to_json({col})::text"
    if prop.type in ("date", "datetime"):  # whatever the session's DateStyle
        return f"to_json({col}) #>> '{{}}'"
    return col


def csv_cell(layer: Layer, prop: LayerProperty) -> str:
    """One property's CSV cell: numbers, booleans and dates bare (a reader types them),
    text quoted."""
    value = csv_value(layer, prop)
    return csv_bare(value) if prop.type in CSV_BARE else csv_field(value)


def csv_bare(value_sql: str) -> str:
    """One CSV cell without quotes (a value that holds no comma, quote or newline)."""
    return f"coalesce(({value_sql})::text, '')"


def csv_field(value_sql: str) -> str:
    """One CSV cell, quoted with doubled quotes (RFC 4180); empty when NULL."""
    return f"coalesce('\"' || replace(({value_sql})::text, '\"', '\"\"') || '\"', '')"
