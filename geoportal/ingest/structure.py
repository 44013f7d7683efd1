"""What a layer's table is made of, read from the catalogue, so that a copy can replace it.

A replacing import builds a new table beside the live one, loads and checks it, gives it the
live table's indexes, constraints, triggers, grants and sequences, and swaps the two in one
short transaction. Identifiers come from the layer registry or from the catalogue itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

INDEX_DEF = re.compile(
    r'^CREATE (?P<unique>UNIQUE )?INDEX (?:"(?:[^"]|"")+"|\S+) ON (?:ONLY )?'
    r'(?:"(?:[^"]|"")+"|\S+) USING (?P<rest>.+)$'
)


@dataclass(frozen=True)
class Index:
    """An index of the table, and the constraint it backs (primary key, unique) if any."""

    name: str
    unique: bool
    using: str
    constraint: str | None
    constraint_type: str | None
    constraint_def: str | None


@dataclass(frozen=True)
class Constraint:
    """A CHECK or FOREIGN KEY constraint, as ``pg_get_constraintdef`` spells it."""

    name: str
    definition: str


@dataclass(frozen=True)
class Inbound:
    """A foreign key of another table that references this one."""

    table: str
    name: str
    definition: str


@dataclass(frozen=True)
class Structure:
    """Everything a replacement table needs to become the layer's table."""

    table: str
    oid: int
    owner: str
    indexes: tuple[Index, ...]
    checks: tuple[Constraint, ...]
    foreign_keys: tuple[Constraint, ...]
    self_references: tuple[Constraint, ...]
    inbound: tuple[Inbound, ...]
    triggers: tuple[str, ...]
    grants: tuple[tuple[str, str], ...]
    owned_sequences: tuple[tuple[str, str], ...]
    identity_columns: tuple[str, ...]
    reloptions: tuple[str, ...]
    comment: str | None
    dependent_views: tuple[str, ...]


def _rows(conn: psycopg.Connection[Any], query: str, oid: int) -> list[tuple[Any, ...]]:
    return conn.execute(query, (oid,)).fetchall()


INDEXES_SQL = """
SELECT i.relname, pg_get_indexdef(i.oid), c.conname, c.contype::text, pg_get_constraintdef(c.oid)
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.conrelid = x.indrelid
                          AND c.contype IN ('p', 'u', 'x')
WHERE x.indrelid = %s ORDER BY c.contype = 'p' DESC, i.relname
"""
CONSTRAINTS_SQL = """
SELECT conname, pg_get_constraintdef(oid), contype::text, confrelid = conrelid
FROM pg_constraint WHERE conrelid = %s AND contype IN ('c', 'f') ORDER BY conname
"""
INBOUND_SQL = """
SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
FROM pg_constraint WHERE confrelid = %s AND conrelid <> confrelid AND contype = 'f'
ORDER BY 1, 2
"""
TRIGGERS_SQL = """
SELECT pg_get_triggerdef(oid) FROM pg_trigger
WHERE tgrelid = %s AND NOT tgisinternal ORDER BY tgname
"""
GRANTS_SQL = """
SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END, a.privilege_type
FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a LEFT JOIN pg_roles r ON r.oid = a.grantee
WHERE c.oid = %s AND a.grantee <> c.relowner ORDER BY 1, 2
"""
SEQUENCES_SQL = """
SELECT a.attname, s.oid::regclass::text, d.deptype::text
FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE d.refobjid = %s AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
ORDER BY a.attnum
"""
VIEWS_SQL = """
SELECT DISTINCT v.oid::regclass::text
FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid JOIN pg_class v ON v.oid = r.ev_class
WHERE d.refobjid = %s AND d.classid = 'pg_rewrite'::regclass AND v.oid <> d.refobjid
"""
TABLE_SQL = """
SELECT c.oid, quote_ident(pg_get_userbyid(c.relowner)), coalesce(c.reloptions, '{}'),
       obj_description(c.oid, 'pg_class')
FROM pg_class c WHERE c.oid = to_regclass(%s)
"""


def read_structure(conn: psycopg.Connection[Any], table: str) -> Structure:
    """The table's indexes, constraints, triggers, grants, sequences and dependants."""
    found = conn.execute(TABLE_SQL, (sql.Identifier(table).as_string(conn),)).fetchone()
    if found is None or found[0] is None:
        raise LookupError(f"table {table} does not exist")
    oid, owner, reloptions, comment = found
    indexes = []
    for name, definition, conname, contype, condef in _rows(conn, INDEXES_SQL, oid):
        match = INDEX_DEF.match(definition)
        if match is None:
            raise ValueError(f"cannot read the definition of index {name}: {definition}")
        indexes.append(Index(name, bool(match["unique"]), match["rest"], conname, contype,
                             condef))
    constraints = _rows(conn, CONSTRAINTS_SQL, oid)
    sequences = _rows(conn, SEQUENCES_SQL, oid)
    return Structure(
        table=table,
        oid=oid,
        owner=owner,
        indexes=tuple(indexes),
        checks=tuple(Constraint(n, d) for n, d, t, _ in constraints if t == "c"),
        foreign_keys=tuple(Constraint(n, d) for n, d, t, s in constraints if t == "f" and not s),
        self_references=tuple(Constraint(n, d) for n, d, t, s in constraints if t == "f" and s),
        inbound=tuple(Inbound(*row) for row in _rows(conn, INBOUND_SQL, oid)),
        triggers=tuple(r[0] for r in _rows(conn, TRIGGERS_SQL, oid)),
        grants=tuple((r[0], r[1]) for r in _rows(conn, GRANTS_SQL, oid)),
        owned_sequences=tuple((r[0], r[1]) for r in sequences if r[2] == "a"),
        identity_columns=tuple(r[0] for r in sequences if r[2] == "i"),
        reloptions=tuple(reloptions),
        comment=comment,
        dependent_views=tuple(r[0] for r in _rows(conn, VIEWS_SQL, oid)),
    )
