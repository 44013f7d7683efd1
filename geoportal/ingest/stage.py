"""The staging table: a temporary copy of the layer's shape, filled by COPY, checked in SQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from geoportal.ingest.geometry import StorageShape

Ident = sql.Identifier
# The stage's own columns, beside the layer's.
FILE_ID = "import_file_id"  # the file's id, when the layer is matched on ids
TARGET_ID = "import_target_id"  # the id of the layer's feature the staged one replaces
CHANGED = "import_changed"  # whether that feature differs from the staged one
REJECTED = "import_rejected"  # its geometry was refused: the layer keeps its feature as is


@dataclass(frozen=True)
class Finding:
    """A staged feature whose geometry is invalid, empty or outside the area."""

    id: int
    key: str | None
    empty: bool
    reason: str | None
    area: float | None


def create_stage(conn: psycopg.Connection[Any], target: str, stage: str,
                 extra: Sequence[tuple[str, str]]) -> None:
    """A temporary table with the target's columns (generated ones computed alike, so a
    normalised key is there to match on) and no constraint: the file's values are checked
    before, and the target's rules when the changes are applied; plus ``extra`` (name, SQL
    type) columns."""
    conn.execute(sql.SQL("CREATE TEMPORARY TABLE {stage} (LIKE {target} INCLUDING GENERATED)")
                 .format(stage=Ident(stage), target=Ident(target)))
    required = conn.execute(
        "SELECT attname::text FROM pg_attribute WHERE attrelid = to_regclass(%s)"
        " AND attnum > 0 AND attnotnull AND NOT attisdropped ORDER BY attnum",
        (Ident(stage).as_string(conn),)).fetchall()
    changes = [sql.SQL("ALTER COLUMN {c} DROP NOT NULL").format(c=Ident(r[0])) for r in required]
    changes += [sql.SQL("ADD COLUMN {c} {t}").format(c=Ident(c), t=sql.SQL(t)) for c, t in extra]
    if changes:
        conn.execute(sql.SQL("ALTER TABLE {stage} {changes}").format(
            stage=Ident(stage), changes=sql.SQL(", ").join(changes)))


def column_type(conn: psycopg.Connection[Any], table: str, column: str) -> str:
    """A column's SQL type as the catalogue spells it (e.g. ``character varying(16)``)."""
    row = conn.execute(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
        " WHERE attrelid = to_regclass(%s) AND attname = %s AND NOT attisdropped",
        (Ident(table).as_string(conn), column)).fetchone()
    if row is None:
        raise LookupError(f"table {table} has no column {column}")
    return str(row[0])


def copy_rows(conn: psycopg.Connection[Any], stage: str, columns: Sequence[str],
              pg_types: Sequence[str], rows: Iterable[Sequence[object]],
              freeze: bool = False) -> None:
    """Binary COPY of rows (geometry last, as EWKB bytes) into the staging table.

    ``freeze`` (the table was created in this transaction) writes the rows frozen, so that
    the scans that follow need not set their hint bits.
    """
    statement = sql.SQL("COPY {stage} ({columns}) FROM STDIN (FORMAT BINARY{freeze})").format(
        stage=Ident(stage), columns=sql.SQL(", ").join(map(Ident, columns)),
        freeze=sql.SQL(", FREEZE" if freeze else ""))
    with conn.cursor() as cur, cur.copy(statement) as copy:
        copy.set_types(list(pg_types))
        for row in rows:
            copy.write_row(row)


def invalid_or_empty(conn: psycopg.Connection[Any], stage: str, id_column: str, geom: str,
                     key: str | None) -> list[Finding]:
    """Features whose geometry is empty or not valid (OGC rules), with GEOS's reason."""
    query = sql.SQL(
        "SELECT {id}, {key}, ST_IsEmpty({geom}), "
        " CASE WHEN NOT ST_IsEmpty({geom}) THEN ST_IsValidReason({geom}) END,"
        " CASE WHEN ST_Dimension({geom}) = 2 THEN ST_Area({geom}) END"
        " FROM {stage} WHERE ST_IsEmpty({geom}) OR NOT ST_IsValid({geom}) ORDER BY {id}"
    ).format(id=Ident(id_column), key=Ident(key) if key else sql.SQL("NULL"),
             geom=Ident(geom), stage=Ident(stage))
    return [Finding(int(r[0]), None if r[1] is None else str(r[1]), bool(r[2]), r[3], r[4])
            for r in conn.execute(query).fetchall()]


def repair(conn: psycopg.Connection[Any], stage: str, id_column: str, geom: str,
           shape: StorageShape, ids: Sequence[int]) -> dict[int, float | None]:
    """ST_MakeValid, keeping only the layer's kind of geometry; the new area per id."""
    if not ids:
        return {}
    shaped = sql.SQL("ST_CollectionExtract(ST_MakeValid({geom}), {family})").format(
        geom=Ident(geom), family=sql.Literal(shape.family))
    if shape.multi:
        shaped = sql.SQL("ST_Multi({inner})").format(inner=shaped)
    query = sql.SQL(
        "UPDATE {stage} SET {geom} = {shaped} WHERE {id} = ANY(%s)"
        " RETURNING {id}, CASE WHEN ST_IsEmpty({geom}) THEN NULL"
        " WHEN ST_Dimension({geom}) = 2 THEN ST_Area({geom}) ELSE 0 END"
    ).format(stage=Ident(stage), geom=Ident(geom), shaped=shaped, id=Ident(id_column))
    return {int(r[0]): r[1] for r in conn.execute(query, (list(ids),)).fetchall()}


def reject(conn: psycopg.Connection[Any], stage: str, id_column: str,
           ids: Sequence[int]) -> None:
    """Mark features whose geometry was refused: neither inserted nor updated."""
    if ids:
        conn.execute(sql.SQL("UPDATE {stage} SET {rejected} = true WHERE {id} = ANY(%s)").format(
            stage=Ident(stage), rejected=Ident(REJECTED), id=Ident(id_column)), (list(ids),))


def analyze(conn: psycopg.Connection[Any], stage: str) -> None:
    """Fresh statistics, so that the joins with the layer's table are planned well."""
    conn.execute(sql.SQL("ANALYZE {stage}").format(stage=Ident(stage)))


def count(conn: psycopg.Connection[Any], table: str) -> int:
    """The number of rows of a table."""
    row = conn.execute(sql.SQL("SELECT count(*) FROM {t}").format(t=Ident(table))).fetchone()
    return int(row[0]) if row else 0
