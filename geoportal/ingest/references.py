"""References between layers, both ways.

Outwards: a file names a feature of another layer by its natural key (a commune its
préfecture by code, a zone its plan by reference); the stage gets that feature's id.
Inwards: a feature the import would delete may still be referenced by another table (a plan
by its zones, rules and reservations); then the import is refused with the list, since the
foreign keys would otherwise cascade the deletion to them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from geoportal.ingest.errors import IngestError
from geoportal.ingest.keys import Matching
from geoportal.ingest.mapping import FieldMap
from geoportal.ingest.stage import TARGET_ID
from geoportal.registry import Layer

Ident = sql.Identifier
SHOWN = 20  # features listed in a refusal; the rest are counted

INBOUND_SQL = """
SELECT n.nspname::text, r.relname::text,
       array(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(num, i)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num ORDER BY k.i),
       array(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(num, i)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num ORDER BY k.i)
FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid
JOIN pg_namespace n ON n.oid = r.relnamespace
WHERE c.confrelid = to_regclass(%s) AND c.contype = 'f'
ORDER BY r.relname, c.conname
"""


@dataclass(frozen=True)
class Inbound:
    """A foreign key of another table (or of this one) onto the layer's table."""

    schema: str
    table: str
    columns: tuple[str, ...]
    referenced: tuple[str, ...]


def resolve(conn: psycopg.Connection[Any], stage: str, id_column: str, fields: list[FieldMap],
            fid_of: dict[int, int]) -> None:
    """Each referring field's natural keys turned into ids; unknown keys are all refused."""
    for field in fields:
        reference = field.reference
        if reference is None:
            continue
        key, column = Ident(field.stage_column), Ident(field.column)
        other = sql.SQL("{t}.{k}").format(t=Ident(reference.table), k=Ident(reference.key))
        unknown = conn.execute(sql.SQL(
            "SELECT s.{id}, s.{key}::text FROM {stage} s WHERE s.{key} IS NOT NULL AND NOT EXISTS"
            " (SELECT 1 FROM {table} WHERE {other} = s.{key}) ORDER BY s.{id} LIMIT 10"
        ).format(id=Ident(id_column), key=key, stage=Ident(stage), table=Ident(reference.table),
                 other=other)).fetchall()
        if unknown:
            lines = "\n  ".join(f"{fid_of.get(i, i)} : {field.field}={value!r}"
                                for i, value in unknown)
            what = f"{reference.layer} ({reference.table}.{reference.key})"
            raise IngestError(
                f"des entités du fichier renvoient à des {what} qui n'existent pas ; rien n'a "
                f"changé. Entités du fichier et valeurs inconnues :\n  {lines}",
                en=f"features of the file refer to {what} that do not exist; nothing "
                   f"changed. Features of the file and unknown values:\n  {lines}")
        conn.execute(sql.SQL(
            "UPDATE {stage} s SET {column} = {table}.{id} FROM {table} WHERE {other} = s.{key}"
        ).format(stage=Ident(stage), column=column, table=Ident(reference.table),
                 id=Ident(reference.id_column), other=other, key=key))


def inbound(conn: psycopg.Connection[Any], table: str) -> list[Inbound]:
    """The foreign keys that reference the table, from the catalogue."""
    rows = conn.execute(INBOUND_SQL, (Ident(table).as_string(conn),)).fetchall()
    return [Inbound(r[0], r[1], tuple(r[2]), tuple(r[3])) for r in rows]


def _doomed(stage: str, layer: Layer, alias: str) -> sql.Composable:
    """Rows of the layer's table (``alias``) that no staged feature keeps."""
    return sql.SQL("NOT EXISTS (SELECT 1 FROM {stage} WHERE {stage}.{target} = {a}.{id})").format(
        stage=Ident(stage), target=Ident(TARGET_ID), a=Ident(alias), id=Ident(layer.id_column))


def _referenced(conn: psycopg.Connection[Any], layer: Layer, stage: str, matching: Matching,
                fk: Inbound) -> list[tuple[str, int]]:
    join = sql.SQL(" AND ").join(sql.SQL("c.{a} = t.{b}").format(a=Ident(a), b=Ident(b))
                                 for a, b in zip(fk.columns, fk.referenced, strict=True))
    kept_child = sql.SQL(" AND NOT ({d})").format(d=_doomed(stage, layer, "c")) \
        if fk.table == layer.table else sql.SQL("")
    query = sql.SQL(
        "SELECT {label}, count(*) FROM {table} t JOIN {child} c ON {join}"
        " WHERE {doomed}{kept_child} GROUP BY t.{id} ORDER BY 1 LIMIT 1000"
    ).format(label=matching.label("t", layer.id_column), table=Ident(layer.table),
             child=Ident(fk.schema, fk.table), join=join, doomed=_doomed(stage, layer, "t"),
             kept_child=kept_child, id=Ident(layer.id_column))
    return [(str(r[0]), int(r[1])) for r in conn.execute(query).fetchall()]


def refuse_if_referenced(conn: psycopg.Connection[Any], layer: Layer, stage: str,
                         matching: Matching, foreign_keys: list[Inbound]) -> None:
    """Refuse, listing them, when features to delete are still referenced elsewhere."""
    by_feature: dict[str, list[str]] = defaultdict(list)
    for fk in foreign_keys:
        for name, count in _referenced(conn, layer, stage, matching, fk):
            by_feature[name].append(f"{fk.table} ({count})")
    if not by_feature:
        return
    names = sorted(by_feature)
    lines = [f"{name} : {', '.join(by_feature[name])}" for name in names[:SHOWN]]
    lines_en = [f"{name}: {', '.join(by_feature[name])}" for name in names[:SHOWN]]
    more = len(names) - SHOWN
    if more > 0:
        lines.append(f"… et {more} autres")
        lines_en.append(f"… and {more} more")
    listing, listing_en = "\n  ".join(lines), "\n  ".join(lines_en)
    raise IngestError(
        f"import refusé, rien n'a changé : {len(names)} entité(s) de {layer.id} absente(s) du "
        "fichier sont encore référencées (entité : table qui y renvoie (nombre)) :\n  "
        f"{listing}\nGardez-les dans le fichier, ou supprimez ou rattachez d'abord ce qui y "
        "renvoie.",
        en=f"import refused, nothing changed: {len(names)} feature(s) of {layer.id} missing "
           "from the file are still referenced (feature: table referring to it (count)):\n  "
           f"{listing_en}\nKeep them in the file, or first delete or reassign what refers to "
           "them.")
