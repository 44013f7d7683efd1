"""Make a loaded staging table the layer's table: constraints, indexes, then one swap.

Until the swap commits, the service keeps reading the old table (its readers never wait on
the load); the swap itself holds the table's lock only for a few catalogue changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
from psycopg import sql

from geoportal.ingest.errors import IngestError
from geoportal.ingest.structure import Index, Structure, read_structure

Ident = sql.Identifier
LOCK_TIMEOUT = "30s"
Connect = Callable[[], psycopg.Connection[Any]]


def temporary_name(name: str) -> str:
    """The name an index of the staging table carries until the swap."""
    return f"{name[:56]}__new"


def _deferral(definition: str | None) -> str:
    found = re.search(r"(NOT )?DEFERRABLE( INITIALLY (DEFERRED|IMMEDIATE))?$", definition or "")
    return f" {found.group(0)}" if found else ""


def add_checks(conn: psycopg.Connection[Any], structure: Structure, stage: str) -> None:
    """The live table's CHECK and outgoing FOREIGN KEY constraints, validated on the stage."""
    for constraint in (*structure.checks, *structure.foreign_keys):
        conn.execute(sql.SQL("ALTER TABLE {stage} ADD CONSTRAINT {name} {definition}").format(
            stage=Ident(stage), name=Ident(constraint.name),
            definition=sql.SQL(constraint.definition)))


def _index_statement(index: Index, stage: str) -> sql.Composed:
    return sql.SQL("CREATE {unique} INDEX {name} ON {stage} USING {using}").format(
        unique=sql.SQL("UNIQUE" if index.unique else ""),
        name=Ident(temporary_name(index.name)), stage=Ident(stage), using=sql.SQL(index.using))


def _key_constraint(conn: psycopg.Connection[Any], index: Index, stage: str) -> None:
    temporary = Ident(temporary_name(index.name))
    if index.constraint_type == "x":
        conn.execute(sql.SQL("ALTER TABLE {stage} ADD CONSTRAINT {name} {definition}").format(
            stage=Ident(stage), name=temporary, definition=sql.SQL(index.constraint_def or "")))
    elif index.constraint_type in ("p", "u"):
        kind = "PRIMARY KEY" if index.constraint_type == "p" else "UNIQUE"
        conn.execute(sql.SQL(
            "ALTER TABLE {stage} ADD CONSTRAINT {name} {kind} USING INDEX {name}{deferral}"
        ).format(stage=Ident(stage), name=temporary, kind=sql.SQL(kind),
                 deferral=sql.SQL(_deferral(index.constraint_def))))


def _cost(index: Index) -> int:
    # Spatial indexes take a few times longer to build than B-trees.
    return 1 if index.using.startswith("btree") else 3


def _build_share(connect: Connect, statements: list[sql.Composed]) -> None:
    with connect() as conn:
        for statement in statements:
            conn.execute(statement)


def build_indexes(conn: psycopg.Connection[Any], connect: Connect, structure: Structure,
                  stage: str, workers: int = 2) -> None:
    """The live table's indexes built on the loaded stage, in parallel; then keys and stats."""
    shares: list[list[sql.Composed]] = [[] for _ in range(max(1, workers))]
    loads = [0] * len(shares)
    for index in sorted(structure.indexes, key=_cost, reverse=True):
        if index.constraint_type == "x":
            continue
        lightest = loads.index(min(loads))
        shares[lightest].append(_index_statement(index, stage))
        loads[lightest] += _cost(index)
    with ThreadPoolExecutor(len(shares)) as pool:
        for done in [pool.submit(_build_share, connect, share) for share in shares if share]:
            done.result()
    with conn.transaction():
        for index in structure.indexes:
            _key_constraint(conn, index, stage)
        conn.execute(sql.SQL("ANALYZE {stage}").format(stage=Ident(stage)))


def _same_shape(before: Structure, now: Structure) -> bool:
    return (before.indexes, before.checks, before.foreign_keys) == (
        now.indexes, now.checks, now.foreign_keys)


def _restore(conn: psycopg.Connection[Any], structure: Structure) -> None:
    table = Ident(structure.table)
    for index in structure.indexes:
        temporary = Ident(temporary_name(index.name))
        if index.constraint:
            conn.execute(sql.SQL("ALTER TABLE {t} RENAME CONSTRAINT {old} TO {new}").format(
                t=table, old=temporary, new=Ident(index.constraint)))
        else:
            conn.execute(sql.SQL("ALTER INDEX {old} RENAME TO {new}").format(
                old=temporary, new=Ident(index.name)))
    for constraint in structure.self_references:
        conn.execute(sql.SQL("ALTER TABLE {t} ADD CONSTRAINT {name} {definition}").format(
            t=table, name=Ident(constraint.name), definition=sql.SQL(constraint.definition)))
    for trigger in structure.triggers:
        conn.execute(sql.SQL(trigger))
    for grantee, privilege in structure.grants:
        conn.execute(sql.SQL("GRANT {privilege} ON TABLE {t} TO {grantee}").format(
            privilege=sql.SQL(privilege), t=table, grantee=sql.SQL(grantee)))
    conn.execute(sql.SQL("ALTER TABLE {t} OWNER TO {owner}").format(
        t=table, owner=sql.SQL(structure.owner)))
    if structure.reloptions:
        conn.execute(sql.SQL("ALTER TABLE {t} SET ({options})").format(
            t=table, options=sql.SQL(", ").join(sql.SQL(o) for o in structure.reloptions)))
    if structure.comment is not None:
        conn.execute(sql.SQL("COMMENT ON TABLE {t} IS {c}").format(
            t=table, c=sql.Literal(structure.comment)))


def _restore_inbound(conn: psycopg.Connection[Any], structure: Structure) -> None:
    for fk in structure.inbound:
        try:
            with conn.transaction():
                conn.execute(sql.SQL("ALTER TABLE {child} ADD CONSTRAINT {name} {d}").format(
                    child=sql.SQL(fk.table), name=Ident(fk.name), d=sql.SQL(fk.definition)))
        except psycopg.errors.ForeignKeyViolation as exc:
            detail = exc.diag.message_detail or ""
            raise IngestError(
                f"{fk.table} still references rows of {structure.table} that the file does not "
                f"have ({fk.name}: {detail}); keep their ids (import.id_field) or update "
                f"{fk.table} first"
            ) from exc


def advance_sequence(conn: psycopg.Connection[Any], table: str, column: str) -> None:
    """Make the column's sequence (if any) hand out ids above every id in the table."""
    conn.execute(sql.SQL(
        "SELECT setval(s.seq, greatest((SELECT max({c}) FROM {t}),"
        " pg_sequence_last_value(s.seq), 1))"
        " FROM (SELECT pg_get_serial_sequence({name}, {col})::regclass AS seq) s"
        " WHERE s.seq IS NOT NULL"
    ).format(c=Ident(column), t=Ident(table), name=sql.Literal(Ident(table).as_string(conn)),
             col=sql.Literal(column)))


def _advance_sequences(conn: psycopg.Connection[Any], structure: Structure) -> None:
    columns = [c for c, _ in structure.owned_sequences] + list(structure.identity_columns)
    for column in columns:
        advance_sequence(conn, structure.table, column)


def swap(conn: psycopg.Connection[Any], before: Structure, stage: str) -> None:
    """In one transaction: drop the live table and give its name and dependants to the stage."""
    table = Ident(before.table)
    with conn.transaction():
        conn.execute(sql.SQL("SET LOCAL lock_timeout = {t}").format(t=sql.Literal(LOCK_TIMEOUT)))
        conn.execute(sql.SQL("LOCK TABLE {t} IN ACCESS EXCLUSIVE MODE").format(t=table))
        now = read_structure(conn, before.table)
        if not _same_shape(before, now):
            raise IngestError(f"table {before.table} changed during the import; run it again")
        if now.dependent_views:
            raise IngestError(
                f"views depend on {now.table} ({', '.join(now.dependent_views)}): a replacing "
                "import would drop them; drop them first, or use --mode append"
            )
        for fk in now.inbound:
            conn.execute(sql.SQL("ALTER TABLE {child} DROP CONSTRAINT {name}").format(
                child=sql.SQL(fk.table), name=Ident(fk.name)))
        for column, sequence in now.owned_sequences:
            conn.execute(sql.SQL("ALTER SEQUENCE {seq} OWNED BY {stage}.{col}").format(
                seq=sql.SQL(sequence), stage=Ident(stage), col=Ident(column)))
        conn.execute(sql.SQL("DROP TABLE {t}").format(t=table))
        conn.execute(sql.SQL("ALTER TABLE {stage} RENAME TO {t}").format(
            stage=Ident(stage), t=table))
        _restore(conn, now)
        _restore_inbound(conn, now)
        _advance_sequences(conn, now)
        bump_version(conn, now.table)


def bump_version(conn: psycopg.Connection[Any], table: str) -> None:
    """Tell caches and notes that the layer changed (the trigger does it for row changes)."""
    conn.execute("UPDATE layer_versions SET version = version + 1, updated_at = now()"
                 " WHERE table_name = %s", (table,))
