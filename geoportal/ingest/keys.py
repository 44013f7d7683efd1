"""How an import pairs the file's features with the layer's: by natural key, by id, or not.

A layer with a ``natural_key`` (layers/*.yml) is matched on it: a préfecture by its code, a
plot by its land-title reference as the table normalises it. A layer without one is matched
on its ids when the file carries them (``import.id_field``), else replaced whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import psycopg
from psycopg import sql

from geoportal.ingest.errors import IngestError
from geoportal.ingest.mapping import Column, Mapping
from geoportal.ingest.stage import FILE_ID
from geoportal.registry import Layer

Ident = sql.Identifier

UNIQUE_SQL = """
SELECT array_agg(a.attname::text ORDER BY a.attname)
FROM pg_index x JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = ANY(x.indkey)
WHERE x.indrelid = to_regclass(%s) AND x.indisunique AND x.indpred IS NULL
  AND x.indexprs IS NULL
GROUP BY x.indexrelid
"""


@dataclass(frozen=True)
class Matching:
    """How staged features find their feature in the layer."""

    kind: Literal["natural_key", "id", "none"]
    columns: tuple[str, ...]  # the natural key's columns, or the stage's file-id column

    def describe(self) -> str:
        """In a word or two, for the summary."""
        if self.kind == "natural_key":
            return f"natural key ({', '.join(self.columns)})"
        return "id" if self.kind == "id" else "none (the layer is replaced whole)"

    def label(self, alias: str, id_column: str) -> sql.Composable:
        """How a feature of the layer is named in messages: its natural key, else its id."""
        if self.kind != "natural_key":
            return sql.SQL("'#' || {a}.{id}").format(a=Ident(alias), id=Ident(id_column))
        return sql.SQL("concat_ws(' / ', {parts})").format(parts=sql.SQL(", ").join(
            sql.SQL("{a}.{c}::text").format(a=Ident(alias), c=Ident(c)) for c in self.columns))

    def condition(self, id_column: str) -> sql.Composable:
        """The join of the stage ``s`` with the layer's table ``t``."""
        if self.kind == "id":
            return sql.SQL("t.{id} = s.{file_id}").format(id=Ident(id_column),
                                                          file_id=Ident(FILE_ID))
        return sql.SQL(" AND ").join(sql.SQL("t.{c} = s.{c}").format(c=Ident(c))
                                     for c in self.columns)


def _unique_column_sets(conn: psycopg.Connection[Any], table: str) -> list[set[str]]:
    rows = conn.execute(UNIQUE_SQL, (Ident(table).as_string(conn),)).fetchall()
    return [set(r[0]) for r in rows]


def matching_of(conn: psycopg.Connection[Any], layer: Layer, mapping: Mapping,
                columns: dict[str, Column]) -> Matching:
    """The layer's matching, checked against its table and the file's fields."""
    if layer.natural_key is None:
        if mapping.id_field is not None:
            return Matching("id", (FILE_ID,))
        return Matching("none", ())
    key = tuple(layer.natural_key)
    where = f"layers/{layer.id}.yml: natural_key {list(key)}"
    unknown = [c for c in key if c not in columns]
    if unknown:
        raise IngestError(f"{where} : {', '.join(unknown)} n'est pas une colonne de la table "
                          f"{layer.table}",
                          en=f"{where}: {', '.join(unknown)} is not a column of table "
                             f"{layer.table}")
    if set(key) not in _unique_column_sets(conn, layer.table):
        raise IngestError(f"{where} : aucun index unique de la table {layer.table} ne porte "
                          "exactement ces colonnes",
                          en=f"{where}: no unique index of table {layer.table} is on exactly "
                             "these columns")
    given = {f.column for f in mapping.fields}
    absent = [c for c in key if c not in given and not columns[c].generated]
    if absent:
        raise IngestError(f"{where} : le fichier ne donne pas {', '.join(absent)}, qui nomme "
                          "chaque entité",
                          en=f"{where}: the file does not give {', '.join(absent)}, which "
                             "names each feature")
    return Matching("natural_key", key)


def refuse_duplicates(conn: psycopg.Connection[Any], matching: Matching, stage: str,
                      id_column: str, fid_of: dict[int, int]) -> None:
    """The file must name each feature once; otherwise every repeated name is listed."""
    if matching.kind == "none":
        return
    label = sql.SQL("concat_ws(' / ', {parts})").format(parts=sql.SQL(", ").join(
        sql.SQL("{c}::text").format(c=Ident(c)) for c in matching.columns))
    repeated = conn.execute(sql.SQL(
        "SELECT {label}, array_agg({id} ORDER BY {id}) FROM {stage} GROUP BY {key}"
        " HAVING count(*) > 1 ORDER BY min({id}) LIMIT 10"
    ).format(label=label, id=Ident(id_column), stage=Ident(stage),
             key=sql.SQL(", ").join(map(Ident, matching.columns)))).fetchall()
    if not repeated:
        return
    lines = [f"{name}: " + ", ".join(str(fid_of.get(i, i)) for i in ids)
             for name, ids in repeated]
    what = "id" if matching.kind == "id" else ", ".join(matching.columns)
    listing = "\n  ".join(lines)
    raise IngestError(
        f"le fichier répète une valeur qui doit être unique ({what}) ; rien n'a changé. "
        f"Valeurs répétées, et les entités du fichier qui les portent :\n  {listing}",
        en=f"the file repeats a value that must be unique ({what}); nothing changed. "
           f"Repeated values, and the features of the file that carry them:\n  {listing}")
