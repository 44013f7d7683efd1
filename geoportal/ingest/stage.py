"""The staging table: created like the layer's table, filled by COPY, checked in SQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from geoportal.ingest.geometry import StorageShape

Ident = sql.Identifier


@dataclass(frozen=True)
class Finding:
    """A staged feature whose geometry is invalid, empty or outside the area."""

    id: int
    key: str | None
    empty: bool
    reason: str | None
    area: float | None


def create_stage(conn: psycopg.Connection[Any], target: str, stage: str,
                 temporary: bool) -> None:
    """A table shaped like the target (columns, defaults, generated columns), no constraints."""
    conn.execute(sql.SQL(
        "CREATE {temp} TABLE {stage} (LIKE {target} INCLUDING DEFAULTS INCLUDING GENERATED"
        " INCLUDING IDENTITY INCLUDING STORAGE INCLUDING COMPRESSION INCLUDING COMMENTS)"
        " {on_commit}"
    ).format(temp=sql.SQL("TEMPORARY" if temporary else ""), stage=Ident(stage),
             target=Ident(target),
             on_commit=sql.SQL("ON COMMIT DROP" if temporary else "")))


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


def delete(conn: psycopg.Connection[Any], stage: str, id_column: str,
           ids: Sequence[int]) -> None:
    """Drop refused features from the staging table."""
    if ids:
        conn.execute(sql.SQL("DELETE FROM {stage} WHERE {id} = ANY(%s)").format(
            stage=Ident(stage), id=Ident(id_column)), (list(ids),))


def count(conn: psycopg.Connection[Any], table: str) -> int:
    """The number of rows of a table."""
    row = conn.execute(sql.SQL("SELECT count(*) FROM {t}").format(t=Ident(table))).fetchone()
    return int(row[0]) if row else 0


def drop(conn: psycopg.Connection[Any], table: str) -> None:
    """Drop a staging table if it is there."""
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {t}").format(t=Ident(table)))
