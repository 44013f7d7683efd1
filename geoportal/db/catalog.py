"""What a layer's table is made of, read from the catalogue once per table and app: columns
(type, length, nullability, defaults, generation) and constraints, for checking edits before
they are written and naming the field when the database refuses one anyway.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class ColumnInfo:
    """One column: its base type (``int4``, ``varchar``, ``_text``…) and what fills it."""

    name: str
    type_name: str
    max_length: int | None
    nullable: bool
    has_default: bool
    generated: bool


@dataclass(frozen=True)
class ConstraintInfo:
    """A primary key, unique, check or foreign key constraint on or towards the table.

    ``table``/``columns`` are the constrained side; for a foreign key ``ref_table`` and
    ``ref_columns`` the referenced side (in the same order).
    """

    name: str
    kind: str  # p, u, c, f
    table: str
    columns: tuple[str, ...]
    ref_table: str | None
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class TableInfo:
    """A table as the catalogue describes it."""

    table: str
    columns: dict[str, ColumnInfo]
    constraints: tuple[ConstraintInfo, ...]
    generated_from: dict[str, tuple[str, ...]]  # generated column → the columns it reads

    def constraint(self, name: str | None) -> ConstraintInfo | None:
        """The constraint of that name, if it concerns this table."""
        return next((c for c in self.constraints if c.name == name), None)

    @property
    def foreign_keys(self) -> list[ConstraintInfo]:
        """The table's own references to other tables."""
        return [c for c in self.constraints if c.kind == "f" and c.table == self.table]

    @property
    def inbound(self) -> list[ConstraintInfo]:
        """Other tables' references to this one."""
        return [c for c in self.constraints if c.kind == "f" and c.table != self.table
                and c.ref_table == self.table]


COLUMNS_SQL = """
SELECT a.attname, t.typname,
       CASE WHEN t.typname IN ('varchar', 'bpchar') AND a.atttypmod > 4
            THEN a.atttypmod - 4 END,
       NOT a.attnotnull, a.atthasdef, a.attgenerated <> ''
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

CONSTRAINTS_SQL = """
SELECT c.conname, c.contype::text, own.relname,
       ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(num, pos)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num
             ORDER BY k.pos),
       ref.relname,
       ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(num, pos)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num
             ORDER BY k.pos)
FROM pg_constraint c
JOIN pg_class own ON own.oid = c.conrelid
LEFT JOIN pg_class ref ON ref.oid = c.confrelid
WHERE (c.conrelid = $1 OR c.confrelid = $1) AND c.contype IN ('p', 'u', 'c', 'f')
ORDER BY c.conname
"""

# A generated column's expression (pg_attrdef) depends on the columns it reads.
GENERATED_SQL = """
SELECT g.attname, array_agg(b.attname ORDER BY b.attnum)
FROM pg_attrdef ad
JOIN pg_attribute g ON g.attrelid = ad.adrelid AND g.attnum = ad.adnum
JOIN pg_depend d ON d.classid = 'pg_attrdef'::regclass AND d.objid = ad.oid
JOIN pg_attribute b ON b.attrelid = d.refobjid AND b.attnum = d.refobjsubid
WHERE ad.adrelid = $1 AND g.attgenerated <> '' AND d.refobjid = $1
  AND d.refobjsubid <> ad.adnum AND d.deptype = 'n'
GROUP BY g.attname
"""


async def table_info(conn: asyncpg.Connection | asyncpg.Pool, table: str) -> TableInfo:
    """The table's columns and constraints (the table must exist: it is a registry layer's)."""
    oid = await conn.fetchval("SELECT to_regclass($1)::oid", table)
    if oid is None:
        raise LookupError(f"table {table} does not exist: run `geoportal migrate`")
    columns = {r[0]: ColumnInfo(r[0], r[1], r[2], r[3], r[4], r[5])
               for r in await conn.fetch(COLUMNS_SQL, oid)}
    constraints = tuple(ConstraintInfo(r[0], r[1], r[2], tuple(r[3]), r[4], tuple(r[5] or ()))
                        for r in await conn.fetch(CONSTRAINTS_SQL, oid))
    generated = {r[0]: tuple(r[1]) for r in await conn.fetch(GENERATED_SQL, oid)}
    return TableInfo(table, columns, constraints, generated)


class TableCatalog:
    """Tables described once per app (the schema changes only with a migration and restart)."""

    def __init__(self) -> None:
        self._tables: dict[str, TableInfo] = {}
        self._lock = asyncio.Lock()

    async def get(self, pool: asyncpg.Pool, table: str) -> TableInfo:
        """The table's description, read on first use."""
        info = self._tables.get(table)
        if info is not None:
            return info
        async with self._lock:
            info = self._tables.get(table)
            if info is None:
                info = self._tables[table] = await table_info(pool, table)
            return info
