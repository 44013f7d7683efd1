"""The statements of an edit: lock, check, write — the written feature rendered by PostgreSQL.

Identifiers come from the layer registry or the catalogue (``TableInfo``) and are quoted;
every value of the request is a bound parameter. Writes return the new feature already
encoded as GeoJSON in CRS84 (the canonical representation, the one ``"v<version>"`` names).
"""

from __future__ import annotations

from typing import Any

from geoportal.core.area import AUC_AREA, STORAGE_SRID
from geoportal.core.crs import WGS84_LON_LAT, to_storage_sql
from geoportal.core.formats import GEOJSON
from geoportal.db.catalog import ConstraintInfo, TableInfo
from geoportal.errors import expected
from geoportal.ogc import sql
from geoportal.ogc.edit_body import Edit, GeometryInput
from geoportal.ogc.query import Statement, feature_sql
from geoportal.ogc.sql import Params
from geoportal.registry import Layer, LayerProperty

CASTS = {"string": "text", "integer": "int8", "number": "float8", "boolean": "bool",
         "date": "date", "datetime": "timestamptz"}
ARRAY_CASTS = {"int2": "int8[]", "int4": "int8[]", "int8": "int8[]", "float4": "float8[]",
               "float8": "float8[]", "numeric": "float8[]"}


def cast(layer: Layer, info: TableInfo, prop: LayerProperty) -> str:
    """The type a property's value is bound as (the column's assignment cast does the rest)."""
    if prop.type != "array":
        return CASTS[prop.type]
    column = info.columns.get(prop.column_name)
    element = column.type_name.removeprefix("_") if column else "text"
    return ARRAY_CASTS.get(element, "text[]")


def geometry_sql(layer: Layer, geometry: GeometryInput, params: Params) -> str:
    """The body's geometry in the storage CRS, made multi where the layer holds multis."""
    parsed = f"ST_Force2D(ST_GeomFromGeoJSON({params.add(geometry.geojson, 'text')}))"
    if geometry.crs.is_storage:
        stored = f"ST_SetSRID({parsed}, {STORAGE_SRID})"
    else:
        stored = to_storage_sql(str(geometry.crs.srid), geometry.crs.lat_lon, parsed)
    return f"ST_Multi({stored})" if str(layer.geometry_type).startswith("Multi") else stored


def _rendered(layer: Layer) -> str:
    """The written row (CTE ``t``) as (id, version, GeoJSON feature as bytea)."""
    if layer.geometry_type is None:  # a table of properties alone (zone_rules)
        feature = (f"""'{{"type":"Feature","id":' || {sql.id_column(layer)}"""
                   f""" || ',"geometry":null,"properties":' """
                   f"""|| {sql.properties_json(layer, list(layer.properties))} || '}}'""")
    else:
        feature = feature_sql(layer, GEOJSON, WGS84_LON_LAT, list(layer.properties))
    return (f"SELECT {sql.id_column(layer)} AS id, t.version AS version, "
            f"convert_to({feature}, 'UTF8') AS feature FROM t")


def _stamped(layer: Layer, info: TableInfo) -> list[LayerProperty]:
    """Read-only properties the database fills with a default (``now()``): renewed on change."""
    return [p for p in layer.properties if p.read_only
            and (c := info.columns.get(p.column_name)) is not None
            and c.has_default and not c.generated]


def lock_statement(layer: Layer, fid: int, columns: list[str], delete: bool) -> Statement:
    """The feature's version and ``columns``, its row locked until the edit commits."""
    selected = "".join(f", t.{sql.ident(c)}" for c in columns)
    strength = "UPDATE" if delete else "NO KEY UPDATE"  # no key change: inserts may go on
    return Statement(f"SELECT t.version{selected} FROM {sql.table(layer)} t "
                     f"WHERE {sql.id_column(layer)} = $1::int8 FOR {strength}", [fid])


def check_statement(layer: Layer, geometry: GeometryInput | None,
                    references: list[tuple[ConstraintInfo, list[tuple[Any, str]]]]
                    ) -> Statement:
    """One row: the geometry's diagnostics (valid, reason, empty, inside the agency's area)
    and, per reference, whether the referenced row exists (``ref_<n>``)."""
    params = Params()
    columns: list[str] = []
    source = ""
    if geometry is not None:
        area = ", ".join(str(v) for v in AUC_AREA)
        source = f" FROM (SELECT {geometry_sql(layer, geometry, params)} AS geom) g"
        columns += ["ST_IsValid(g.geom) AS valid", "ST_IsValidReason(g.geom) AS reason",
                    "ST_IsEmpty(g.geom) AS empty",
                    f"g.geom @ ST_MakeEnvelope({area}, {STORAGE_SRID}) AS inside"]
    for index, (constraint, values) in enumerate(references):
        ref_table = expected(constraint.ref_table, "a foreign key's table")
        conditions = " AND ".join(
            f"r.{sql.ident(ref)} = {params.add(value, kind)}"
            for ref, (value, kind) in zip(constraint.ref_columns, values, strict=True))
        columns.append(f"EXISTS (SELECT 1 FROM {sql.ident(ref_table)} r "
                       f"WHERE {conditions}) AS ref_{index}")
    return Statement(f"SELECT {', '.join(columns)}{source}", params.values)


def allowed_values_statement(constraint: ConstraintInfo, column: str,
                             known: list[tuple[str, Any, str]]) -> Statement:
    """The values ``column`` of the referenced table takes where the other referenced
    columns have the ``known`` values (a composite reference's valid choices), at most 100."""
    ref_table = expected(constraint.ref_table, "a foreign key's table")
    params = Params()
    conditions = [f"r.{sql.ident(ref)} = {params.add(value, kind)}" for ref, value, kind in known]
    text = (f"SELECT DISTINCT r.{sql.ident(column)}::text FROM {sql.ident(ref_table)} r "
            f"{sql.where(conditions)} ORDER BY 1 LIMIT 100")
    return Statement(text, params.values)


def insert_statement(layer: Layer, info: TableInfo, edit: Edit) -> Statement:
    """INSERT the new feature (the id from the table's sequence), returning it rendered."""
    params = Params()
    columns: list[str] = []
    values: list[str] = []
    for name, value in edit.properties.items():
        prop = expected(layer.find_property(name), f"property {name!r}")  # read_edit checked
        columns.append(sql.ident(prop.column_name))
        values.append(params.add(value, cast(layer, info, prop)))
    if edit.geometry is not None:
        columns.append(sql.ident(layer.spatial_column))
        values.append(geometry_sql(layer, edit.geometry, params))
    target = f"({', '.join(columns)}) VALUES ({', '.join(values)})" if columns \
        else "DEFAULT VALUES"
    text = (f"WITH t AS (INSERT INTO {sql.table(layer)} {target} RETURNING *) "
            f"{_rendered(layer)}")
    return Statement(text, params.values)


def update_statement(layer: Layer, info: TableInfo, fid: int, edit: Edit, replace: bool
                     ) -> Statement:
    """UPDATE the feature: every property when ``replace`` (those not given get their
    default), else only those given; returning it rendered."""
    params = Params()
    where = f"{sql.id_column(layer, sql.table(layer))} = {params.add(fid, 'int8')}"
    assignments: list[str] = []
    for prop in layer.properties:
        if prop.read_only:
            continue
        if prop.name in edit.properties:
            value = params.add(edit.properties[prop.name], cast(layer, info, prop))
        elif replace:
            value = "DEFAULT"
        else:
            continue
        assignments.append(f"{sql.ident(prop.column_name)} = {value}")
    assignments += [f"{sql.ident(p.column_name)} = DEFAULT" for p in _stamped(layer, info)]
    if edit.geometry_given and edit.geometry is not None:
        assignments.append(f"{sql.ident(layer.spatial_column)} = "
                           f"{geometry_sql(layer, edit.geometry, params)}")
    if not assignments:  # an empty patch still makes a new version
        assignments.append(f"{sql.ident(layer.id_column)} = {sql.ident(layer.id_column)}")
    text = (f"WITH t AS (UPDATE {sql.table(layer)} SET {', '.join(assignments)} "
            f"WHERE {where} RETURNING *) {_rendered(layer)}")
    return Statement(text, params.values)


def delete_statement(layer: Layer, fid: int) -> Statement:
    """DELETE the feature (its last version goes to the history table)."""
    return Statement(f"DELETE FROM {sql.table(layer)} WHERE {sql.ident(layer.id_column)} "
                     f"= $1::int8", [fid])


def inbound_statement(layer: Layer, info: TableInfo, fid: int) -> Statement | None:
    """Per table referencing this one, how many of its rows reference the feature (counted
    up to 1,000); None when no table references this one."""
    inbound = info.inbound
    if not inbound:
        return None
    counts = []
    for constraint in inbound:
        match = " AND ".join(f"c.{sql.ident(col)} = t.{sql.ident(ref)}"
                             for col, ref in zip(constraint.columns, constraint.ref_columns,
                                                 strict=True))
        counts.append(f"(SELECT count(*) FROM (SELECT 1 FROM {sql.ident(constraint.table)} c "
                      f"WHERE {match} LIMIT 1000) x)")
    return Statement(f"SELECT {', '.join(counts)} FROM {sql.table(layer)} t "
                     f"WHERE {sql.id_column(layer)} = $1::int8", [fid])
