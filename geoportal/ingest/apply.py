"""The difference between the stage and the layer, applied in one transaction, set-based.

Matched features keep their ids and are updated only when a column the file gives, or the
geometry, differs (so a re-import of the same file writes no history); new ones are
inserted; in ``replace`` mode, features absent from the file are deleted, unless another
table still references them. The history triggers record every change with the importer's
identity in one change-set. Readers are never blocked: only the changed rows are locked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from geoportal.ingest import references, stage
from geoportal.ingest.errors import IngestError, broken_rule
from geoportal.ingest.keys import Matching
from geoportal.ingest.plan import ImportPlan, Mode
from geoportal.ingest.stage import CHANGED, FILE_ID, REJECTED, TARGET_ID
from geoportal.ingest.steps import APPLYING, Progress

Ident = sql.Identifier
LOCK_TIMEOUT = "30s"
IDENTITY_SQL = ("SELECT set_config('geoportal.actor', %s, true),"
                " set_config('geoportal.source', 'import', true),"
                " set_config('geoportal.comment', %s, true)")


@dataclass(frozen=True)
class Changes:
    """What the import did to the layer (or would do, in a dry run), and its change-set."""

    inserted: int
    updated: int
    deleted: int
    unchanged: int
    changeset: int | None


@dataclass(frozen=True)
class Target:
    """The layer's table and the stage, with the columns the file gives."""

    table: str
    id_column: str
    stage: str
    columns: tuple[str, ...]  # given by the file, geometry last
    renewed: tuple[str, ...]  # take their default again when a feature changes

    def names(self, alias: str | None = None) -> sql.Composable:
        """The given columns, qualified by ``alias`` if any."""
        return sql.SQL(", ").join(Ident(alias, c) if alias else Ident(c) for c in self.columns)


def _target(plan: ImportPlan, stage_name: str) -> Target:
    layer = plan.layer
    columns = (*(f.column for f in plan.mapping.fields), layer.spatial_column)
    return Target(layer.table, layer.id_column, stage_name, columns, plan.mapping.renewed)


def _match(conn: psycopg.Connection[Any], target: Target, matching: Matching) -> None:
    """Each staged feature gets the id of the feature it replaces, and whether it differs."""
    conn.execute(sql.SQL(
        "UPDATE {stage} s SET {target_id} = t.{id}, {changed} = ({old}) IS DISTINCT FROM ({new})"
        " FROM {table} t WHERE {condition}"
    ).format(stage=Ident(target.stage), target_id=Ident(TARGET_ID), id=Ident(target.id_column),
             changed=Ident(CHANGED), old=target.names("t"), new=target.names("s"),
             table=Ident(target.table),
             condition=matching.condition(target.id_column)))
    stage.analyze(conn, target.stage)  # the joins below depend on the matches


def _planned(conn: psycopg.Connection[Any], target: Target) -> tuple[int, int, int]:
    """Staged features to insert, to update, and matched (rejected ones keep theirs)."""
    row = conn.execute(sql.SQL(
        "SELECT count(*) FILTER (WHERE {target_id} IS NULL AND NOT {rejected}),"
        " count(*) FILTER (WHERE {changed} AND NOT {rejected}), count({target_id}) FROM {stage}"
    ).format(target_id=Ident(TARGET_ID), changed=Ident(CHANGED), rejected=Ident(REJECTED),
             stage=Ident(target.stage))).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def _doomed(target: Target) -> sql.Composable:
    return sql.SQL("NOT EXISTS (SELECT 1 FROM {stage} s WHERE s.{target_id} = t.{id})").format(
        stage=Ident(target.stage), target_id=Ident(TARGET_ID), id=Ident(target.id_column))


def _lock_doomed(conn: psycopg.Connection[Any], target: Target, lock: bool) -> int:
    """How many features are absent from the file; ``lock`` them (FOR UPDATE)."""
    row = conn.execute(sql.SQL(
        "SELECT count(*) FROM (SELECT 1 FROM {table} t WHERE {doomed} {lock}) doomed"
    ).format(table=Ident(target.table), doomed=_doomed(target),
             lock=sql.SQL("FOR UPDATE OF t" if lock else ""))).fetchone()
    return int(row[0]) if row else 0


def _delete(conn: psycopg.Connection[Any], target: Target) -> int:
    return conn.execute(sql.SQL("DELETE FROM {table} t WHERE {doomed}").format(
        table=Ident(target.table), doomed=_doomed(target))).rowcount


def _update(conn: psycopg.Connection[Any], target: Target) -> int:
    given = [sql.SQL("{c} = s.{c}").format(c=Ident(c)) for c in target.columns]
    renewed = [sql.SQL("{c} = DEFAULT").format(c=Ident(c)) for c in target.renewed]
    return conn.execute(sql.SQL(
        "UPDATE {table} t SET {assignments} FROM {stage} s"
        " WHERE s.{target_id} = t.{id} AND s.{changed} AND NOT s.{rejected}"
    ).format(table=Ident(target.table), assignments=sql.SQL(", ").join(given + renewed),
             stage=Ident(target.stage), target_id=Ident(TARGET_ID), id=Ident(target.id_column),
             changed=Ident(CHANGED), rejected=Ident(REJECTED))).rowcount


def advance_sequence(conn: psycopg.Connection[Any], table: str, column: str) -> None:
    """Make the column's sequence (if any) hand out ids above every id in the table."""
    conn.execute(sql.SQL(
        "SELECT setval(s.seq, greatest((SELECT max({c}) FROM {t}),"
        " pg_sequence_last_value(s.seq), 1))"
        " FROM (SELECT pg_get_serial_sequence({name}, {col})::regclass AS seq) s"
        " WHERE s.seq IS NOT NULL"
    ).format(c=Ident(column), t=Ident(table), name=sql.Literal(Ident(table).as_string(conn)),
             col=sql.Literal(column)))


def _insert(conn: psycopg.Connection[Any], target: Target, matching: Matching) -> int:
    """New features: fresh ids, or the file's ids when the layer is matched on them."""
    with_ids = matching.kind == "id"
    advance_sequence(conn, target.table, target.id_column)  # rows loaded with explicit ids
    inserted = conn.execute(sql.SQL(
        "INSERT INTO {table} ({columns}{id_given}) SELECT {values}{file_id} FROM {stage} s"
        " WHERE s.{target_id} IS NULL AND NOT s.{rejected} ORDER BY s.{id}"
    ).format(table=Ident(target.table), columns=target.names(),
             id_given=sql.SQL(", {}").format(Ident(target.id_column)) if with_ids
             else sql.SQL(""), id=Ident(target.id_column),
             values=target.names("s"),
             file_id=sql.SQL(", s.{}").format(Ident(FILE_ID)) if with_ids else sql.SQL(""),
             stage=Ident(target.stage), target_id=Ident(TARGET_ID),
             rejected=Ident(REJECTED))).rowcount
    if with_ids:
        advance_sequence(conn, target.table, target.id_column)
    return inserted


def _apply(conn: psycopg.Connection[Any], plan: ImportPlan, target: Target, mode: Mode,
           dry_run: bool, progress: Progress) -> Changes:
    if plan.matching.kind != "none":
        _match(conn, target, plan.matching)
    to_insert, to_update, matched = _planned(conn, target)
    inbound = [] if mode == "append" else references.inbound(conn, target.table)
    # Locked only when other tables may refer to them: then nothing new can, until commit.
    doomed = 0 if mode == "append" else _lock_doomed(conn, target,
                                                      lock=bool(inbound) and not dry_run)
    if doomed and inbound:
        references.refuse_if_referenced(conn, plan.layer, target.stage, plan.matching, inbound)
    progress(APPLYING, 1, 4)
    if dry_run:
        return Changes(to_insert, to_update, doomed, matched - to_update, None)
    deleted = _delete(conn, target) if doomed else 0
    progress(APPLYING, 2, 4)
    updated = _update(conn, target) if to_update else 0
    progress(APPLYING, 3, 4)
    inserted = _insert(conn, target, plan.matching) if to_insert else 0
    changeset = None
    if deleted or updated or inserted:  # the triggers made it on the first change
        row = conn.execute("SELECT geoportal_changeset()").fetchone()
        changeset = int(row[0]) if row else None
    progress(APPLYING, 4, 4)
    return Changes(inserted, updated, deleted, matched - updated, changeset)


def apply_changes(conn: psycopg.Connection[Any], plan: ImportPlan, stage_name: str, mode: Mode,
                  actor: str, comment: str | None, dry_run: bool,
                  progress: Progress) -> Changes:
    """Match, check, then delete, update and insert in one transaction (none in a dry run)."""
    target = _target(plan, stage_name)
    progress(APPLYING, 0, 4)
    try:
        with conn.transaction(force_rollback=dry_run):
            conn.execute(IDENTITY_SQL, (actor, comment or ""))
            conn.execute(sql.SQL("SET LOCAL lock_timeout = {t}").format(
                t=sql.Literal(LOCK_TIMEOUT)))
            return _apply(conn, plan, target, mode, dry_run, progress)
    except psycopg.errors.IntegrityError as exc:
        raise broken_rule(plan.layer, exc) from exc
    except psycopg.errors.LockNotAvailable as exc:
        raise IngestError(
            f"{plan.layer.id} : des entités sont modifiées ailleurs depuis plus de "
            f"{LOCK_TIMEOUT} ; rien n'a changé, relancez l'import",
            en=f"{plan.layer.id}: features have been edited elsewhere for more than "
               f"{LOCK_TIMEOUT}; nothing changed, run the import again") from exc
