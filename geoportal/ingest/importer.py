"""``geoportal import``: bring one of the agency's files into a layer, with its history.

Read with pyogrio in chunks → geometries reprojected and shaped in Python → binary COPY into
a temporary staging table → invalid, empty and out-of-area geometries found, repaired or
rejected, references resolved and keys checked, in SQL, set-based → the difference applied
to the layer in one transaction under the importer's name (``apply``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from geoportal.db.urls import libpq_url
from geoportal.ingest import keys, references, stage
from geoportal.ingest.apply import Changes, apply_changes
from geoportal.ingest.checks import loaded_count, repair_geometries, report_outside
from geoportal.ingest.errors import IngestError
from geoportal.ingest.plan import ImportOptions, ImportPlan, Mode, actor_of, layer_of, make_plan
from geoportal.ingest.report import Report
from geoportal.ingest.rows import Staged, stage_file
from geoportal.ingest.steps import APPLYING, CHECKING, READING, Progress, silent
from geoportal.registry import LayerRegistry

__all__ = ["APPLYING", "CHECKING", "READING", "ImportOptions", "ImportSummary", "Mode",
           "import_file"]
STAGE = "geoportal_import_stage"
TEMP_BUFFERS = "128MB"


@dataclass(frozen=True)
class ImportSummary:
    """What an import did: features read, loaded, repaired, rejected, outside the area, and
    the layer's features inserted, updated, deleted and left unchanged, in which change-set."""

    layer: str
    source: str
    source_crs: str
    mode: Mode
    matched_by: str
    actor: str
    dry_run: bool
    read: int
    loaded: int
    repaired: int
    rejected: int
    outside: int
    changes: Changes
    rows_before: int
    rows_after: int
    seconds: float
    report: Path | None

    @property
    def features_per_second(self) -> float:
        """Features read per second, over the whole import."""
        return self.read / self.seconds if self.seconds else 0.0


def _stage_and_check(conn: psycopg.Connection[Any], plan: ImportPlan, options: ImportOptions,
                     report: Report, progress: Progress) -> tuple[Staged, int]:
    """The file in the stage, checked: geometries, area, references, keys."""
    with conn.transaction():  # created and filled at once: COPY can freeze the rows
        stage.create_stage(conn, plan.layer.table, STAGE, _extra_columns(conn, plan))
        staged = stage_file(conn, plan, options, STAGE, report, progress)
    progress(CHECKING, 0, 2)
    with conn.transaction():
        refused = repair_geometries(conn, plan, STAGE, staged, report)
        progress(CHECKING, 1, 2)
        report_outside(plan, staged, report, refused)
        loaded = loaded_count(staged, refused)
        fid_of = staged.fid_of()
        id_column = plan.layer.id_column
        references.resolve(conn, STAGE, id_column, plan.mapping.references, fid_of)
        keys.refuse_duplicates(conn, plan.matching, STAGE, id_column, fid_of)
        stage.analyze(conn, STAGE)
    progress(CHECKING, 2, 2)
    return staged, loaded


def _extra_columns(conn: psycopg.Connection[Any], plan: ImportPlan) -> list[tuple[str, str]]:
    """The stage's columns beyond the layer's: file id, match, and referring keys."""
    id_type = stage.column_type(conn, plan.layer.table, plan.layer.id_column)
    extra = [(stage.TARGET_ID, id_type), (stage.CHANGED, "boolean NOT NULL DEFAULT false"),
             (stage.REJECTED, "boolean NOT NULL")]
    if plan.mapping.id_field is not None:
        extra.append((stage.FILE_ID, "bigint"))
    for field in plan.mapping.references:
        assert field.reference is not None
        extra.append((field.stage_column, stage.column_type(conn, field.reference.table,
                                                            field.reference.key)))
    return extra


def _connect(database_url: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(libpq_url(database_url), autocommit=True,
                           application_name="geoportal import")
    conn.execute(f"SET temp_buffers = '{TEMP_BUFFERS}'")  # the stage is a temporary table
    return conn


@contextmanager
def _only_import(conn: psycopg.Connection[Any], table: str) -> Iterator[None]:
    """One import at a time per table; released at once after (not when the session ends)."""
    key = f"geoportal import {table}"
    row = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()
    if not row or not row[0]:
        raise IngestError(f"un autre import dans {table} est en cours ; attendez qu'il finisse",
                          en=f"another import into {table} is running; wait for it to finish")
    try:
        yield
    finally:
        if not conn.closed and not conn.broken:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))


def import_file(database_url: str, registry: LayerRegistry, layer_id: str, path: Path,
                options: ImportOptions, progress: Progress = silent) -> ImportSummary:
    """Import one file into one layer; on any error the layer is left exactly as it was."""
    actor = actor_of(options.user)
    layer = layer_of(registry, layer_id)
    started = time.perf_counter()
    report = Report()
    with _connect(database_url) as conn, _only_import(conn, layer.table):
        plan = make_plan(conn, registry, layer, path, options)
        before = stage.count(conn, layer.table)
        try:
            staged, loaded = _stage_and_check(conn, plan, options, report, progress)
            changes = apply_changes(conn, plan, STAGE, options.mode, actor, options.comment,
                                    options.dry_run, progress)
        finally:  # the stage is temporary: it goes with the connection
            if options.report_path is not None:
                report.write(options.report_path)
    counts = report.counts()
    return ImportSummary(
        layer=layer.id,
        source=f"{path.name}" + (f" ({plan.source.layer})" if plan.source.layer != path.stem
                                 else ""),
        source_crs=plan.crs_name,
        mode=options.mode,
        matched_by=plan.matching.describe(),
        actor=actor,
        dry_run=options.dry_run,
        read=staged.read,
        loaded=loaded,
        repaired=counts["repaired"],
        rejected=counts["rejected"],
        outside=counts["outside"],
        changes=changes,
        rows_before=before,
        rows_after=before if options.dry_run else before + changes.inserted - changes.deleted,
        seconds=time.perf_counter() - started,
        report=options.report_path,
    )
