"""From the file's fields to the table's columns, as the layer definition says.

Each property of the layer whose column can be written is read from its ``source.field``
(or a field of the same name); its type is checked against ``source.type`` and the column.
Every problem is listed at once, so that one run tells the agency everything to fix.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg

from geoportal.ingest.errors import IngestError
from geoportal.ingest.source import SourceInfo
from geoportal.registry import Layer, LayerRegistry

TEXT_TYPES = {"text", "varchar", "bpchar", "citext"}
INTEGER_TYPES = {"int2", "int4", "int8"}
NUMBER_TYPES = {"float4", "float8", "numeric"} | INTEGER_TYPES
# Which numpy kinds a file field may have, per property type of the layer definition.
ACCEPTS = {
    "string": {"O", "U", "i", "u"},
    "integer": {"i", "u", "f"},
    "number": {"i", "u", "f"},
    "boolean": {"b", "i", "u"},
    "date": {"M"},
    "datetime": {"M"},
}
COLUMN_KIND = {**dict.fromkeys(TEXT_TYPES, "string"), **dict.fromkeys(INTEGER_TYPES, "integer"),
               "float4": "number", "float8": "number", "numeric": "number", "bool": "boolean",
               "date": "date", "timestamp": "datetime", "timestamptz": "datetime"}
KIND_NAMES = {"O": "string", "U": "string", "i": "integer", "u": "integer", "f": "number",
              "b": "boolean", "M": "date/time"}


@dataclass(frozen=True)
class Column:
    """A column of the layer's table, as the database describes it."""

    name: str
    pg_type: str
    nullable: bool
    has_default: bool
    generated: bool
    max_length: int | None

    @property
    def required(self) -> bool:
        """A value must come from the file."""
        return not self.nullable and not self.has_default and not self.generated


@dataclass(frozen=True)
class Reference:
    """A column filled from another layer's natural key (e.g. a préfecture by its code)."""

    layer: str
    table: str
    key: str
    id_column: str


@dataclass(frozen=True)
class FieldMap:
    """One column filled from one field of the file (directly, or through a reference)."""

    column: str
    field: str
    pg_type: str
    kind: str
    required: bool
    max_length: int | None
    reference: Reference | None = None

    @property
    def stage_column(self) -> str:
        """The staging column the field is copied into (the key, for a reference)."""
        return self.column if self.reference is None else f"{self.column[:50]}__key"


@dataclass(frozen=True)
class Mapping:
    """How the file's fields fill the table. Columns not listed take their default in a new
    feature, and keep their value in a changed one unless they are ``renewed``."""

    fields: tuple[FieldMap, ...]
    id_field: FieldMap | None
    renewed: tuple[str, ...] = ()  # columns with a default (e.g. updated_at = now())

    @property
    def source_fields(self) -> list[str]:
        """Every field to read from the file."""
        chosen = [f.field for f in self.fields]
        return chosen + ([self.id_field.field] if self.id_field else [])

    @property
    def references(self) -> list[FieldMap]:
        """The fields that give another layer's natural key."""
        return [f for f in self.fields if f.reference is not None]


COLUMNS_SQL = """
SELECT column_name, udt_name, is_nullable = 'YES', column_default IS NOT NULL,
       is_generated = 'ALWAYS' OR is_identity = 'YES' AND identity_generation = 'ALWAYS',
       character_maximum_length
FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = %s
ORDER BY ordinal_position
"""


def table_columns(conn: psycopg.Connection[Any], table: str) -> dict[str, Column]:
    """The columns of a table in the current schema."""
    rows = conn.execute(COLUMNS_SQL, (table,)).fetchall()
    if not rows:
        raise IngestError(f"table {table} does not exist: run `geoportal migrate`")
    return {r[0]: Column(r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows}


def find_field(source: SourceInfo, name: str) -> str | None:
    """The file's field for a name: exact, then any case, then cut to 10 (dBase) characters."""
    if name in source.fields:
        return name
    lowered = {f.lower(): f for f in source.fields}
    for candidate in (name.lower(), name[:10].lower()):
        if candidate in lowered:
            return lowered[candidate]
    return None


def _field_problem(source: SourceInfo, field: str, wanted: str, prop: str) -> str | None:
    kind = np.dtype(source.dtype_of(field)).kind
    if kind in ACCEPTS[wanted]:
        return None
    found = KIND_NAMES.get(kind, source.dtype_of(field))
    return f"{field} is {found} in the file, but property {prop} needs {wanted}"


def referred_keys(conn: psycopg.Connection[Any], registry: LayerRegistry,
                  layer: Layer) -> dict[str, tuple[Reference, Column]]:
    """Per property given by another layer's natural key: that layer and its key column."""
    found: dict[str, tuple[Reference, Column]] = {}
    for prop in layer.properties:
        name = prop.source.refers_to if prop.source else None
        if name is None:
            continue
        other = registry.get(name)
        if other is None or not other.natural_key:  # the registry loader refuses both
            raise IngestError(f"layers/{layer.id}.yml: {prop.name} refers to {name!r}, "
                              "which is not a layer with a natural key")
        key = other.natural_key[0]
        columns = table_columns(conn, other.table)
        if key not in columns:
            raise IngestError(f"layers/{other.id}.yml: natural key {key} is not a column of "
                              f"table {other.table}")
        found[prop.name] = (Reference(other.id, other.table, key, other.id_column),
                            columns[key])
    return found


def plan_mapping(layer: Layer, columns: dict[str, Column], source: SourceInfo,
                 referred: dict[str, tuple[Reference, Column]] | None = None) -> Mapping:
    """The mapping, or an error listing every missing or mistyped field."""
    missing: list[str] = []
    mistyped: list[str] = []
    chosen: list[FieldMap] = []
    renewed: list[str] = []
    covered = {layer.id_column, layer.spatial_column}
    for prop in layer.properties:
        column = columns.get(prop.column_name)
        if column is None or column.generated:
            continue
        covered.add(column.name)
        wanted = prop.source.field if prop.source else prop.name
        reference, key_column = (referred or {}).get(prop.name, (None, column))
        kind = COLUMN_KIND.get(key_column.pg_type)
        field = find_field(source, wanted)
        required = column.required or prop.required
        if field is None:
            if required:
                missing.append(f"{wanted} (property {prop.name}, {prop.title})")
            elif column.has_default:  # e.g. updated_at = now(): renewed on a change
                renewed.append(column.name)
            continue
        if kind is None or kind == "array":
            mistyped.append(f"property {prop.name}: column type {key_column.pg_type} not "
                            "importable")
            continue
        declared = prop.source.type if prop.source and prop.source.type else kind
        for expected in dict.fromkeys((declared, kind)):
            problem = _field_problem(source, field, expected, prop.name)
            if problem:
                mistyped.append(problem)
                break
        chosen.append(FieldMap(column.name, field, key_column.pg_type, kind, required,
                               key_column.max_length, reference))
    for column in columns.values():
        if column.required and column.name not in covered:
            missing.append(f"column {column.name} of table {layer.table}: no property maps it")
    id_field = _id_field(layer, columns, source, mistyped)
    if missing or mistyped:
        lines = [f"{source.path.name} does not fit layer {layer.id} (layers/{layer.id}.yml):"]
        lines += [f"  missing field: {m}" for m in missing]
        lines += [f"  mistyped field: {m}" for m in mistyped]
        lines.append(f"  the file has: {', '.join(source.fields) or 'no fields'}")
        raise IngestError("\n".join(lines))
    return Mapping(tuple(chosen), id_field, tuple(renewed))


def _id_field(layer: Layer, columns: dict[str, Column], source: SourceInfo,
              mistyped: list[str]) -> FieldMap | None:
    name = layer.ingest.id_field
    field = None if name is None else find_field(source, name)
    if field is None:  # then the layer is replaced whole
        return None
    column = columns[layer.id_column]
    problem = _field_problem(source, field, "integer", layer.id_column)
    if problem:
        mistyped.append(problem)
    return FieldMap(column.name, field, column.pg_type, "integer", True, None)


def _is_missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def convert(values: npt.NDArray[Any], target: FieldMap) -> list[Any]:
    """The column's values for COPY: NaN and empty become NULL, numbers fit their type."""
    raw = values.tolist()
    kind = values.dtype.kind
    if target.kind == "string":
        # pyogrio gives text fields as str or None already; numbers are spelled out.
        return raw if kind in "OU" else [None if _is_missing(v) else str(v) for v in raw]
    if kind in "iub" and target.kind in ("integer", "number"):
        return raw
    if target.kind == "integer" and kind == "f":
        return [None if _is_missing(v) else int(v) if float(v).is_integer() else v for v in raw]
    if target.kind == "datetime":
        return [v.replace(tzinfo=dt.UTC) if isinstance(v, dt.datetime) and v.tzinfo is None
                else v for v in raw]
    if target.kind == "date":
        return [v.date() if isinstance(v, dt.datetime) else v for v in raw]
    if target.kind == "boolean":
        return [None if v is None else bool(v) for v in raw]
    return [None if _is_missing(v) else v for v in raw]


def value_problems(column: Sequence[Any], target: FieldMap, fids: Sequence[int]) -> list[str]:
    """Values that the column cannot hold: NULL where required, too long, not an integer."""
    suspects: list[int] = []
    if target.required and None in column:
        suspects += [i for i, v in enumerate(column) if v is None]
    if target.kind == "integer" and any(isinstance(v, float) for v in column):
        suspects += [i for i, v in enumerate(column) if isinstance(v, float)]
    if target.max_length is not None and target.kind == "string":
        limit = target.max_length
        if max((len(v) for v in column if v is not None), default=0) > limit:
            suspects += [i for i, v in enumerate(column) if v is not None and len(v) > limit]
    problems = []
    for i in sorted(set(suspects))[:10]:
        value = column[i]
        if value is None:
            problems.append(f"feature {fids[i]}: {target.field} is empty")
        elif isinstance(value, float):
            problems.append(f"feature {fids[i]}: {target.field}={value} is not an integer")
        else:
            problems.append(f"feature {fids[i]}: {target.field} is longer than "
                            f"{target.max_length} characters")
    return problems
