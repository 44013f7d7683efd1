"""``geoportal import``: load one of the agency's files into a layer, all or nothing.

Read with pyogrio in chunks → geometries reprojected and shaped in Python → binary COPY into
a staging table → invalid, empty and out-of-area geometries found, repaired or rejected in
SQL, set-based → constraints and indexes → one swap (replace) or one INSERT (append).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from geoportal.db.urls import libpq_url
from geoportal.ingest import stage, swap
from geoportal.ingest.checks import (
    broken_rule,
    checks_validity,
    loaded_count,
    repair_geometries,
    report_outside,
    try_checks,
)
from geoportal.ingest.errors import IngestError
from geoportal.ingest.plan import ImportOptions, ImportPlan, Mode, layer_of, make_plan
from geoportal.ingest.report import Report
from geoportal.ingest.rows import Staged, stage_file
from geoportal.ingest.steps import CHECKING, INDEXING, READING, SWAPPING, Progress, silent
from geoportal.ingest.structure import read_structure
from geoportal.registry import LayerRegistry

__all__ = ["CHECKING", "INDEXING", "READING", "SWAPPING", "ImportOptions", "ImportSummary",
           "Mode", "import_file"]


@dataclass(frozen=True)
class ImportSummary:
    """What an import did: features read, loaded, repaired, rejected, outside the area."""

    layer: str
    source: str
    source_crs: str
    mode: Mode
    dry_run: bool
    read: int
    loaded: int
    repaired: int
    rejected: int
    outside: int
    rows_before: int
    rows_after: int
    seconds: float
    report: Path | None

    @property
    def features_per_second(self) -> float:
        """Features read per second, over the whole import."""
        return self.read / self.seconds if self.seconds else 0.0


def _replace(conn: psycopg.Connection[Any], connect: swap.Connect, plan: ImportPlan,
             options: ImportOptions, report: Report, progress: Progress) -> tuple[Staged, int]:
    layer = plan.layer
    stage_name = f"{layer.table[:50]}__import"
    structure = read_structure(conn, layer.table)
    if structure.inbound and plan.mapping.id_field is None:
        # Numbered afresh, the rows would silently change which parent a child points to.
        children = ", ".join(sorted({fk.table for fk in structure.inbound}))
        raise IngestError(
            f"{layer.table} is referenced by {children}: replacing it must keep its ids. Name "
            f"the file's id field in layers/{layer.id}.yml (import: {{id_field: ...}}), or use "
            "--mode append"
        )
    try:
        with conn.transaction():  # created and filled at once: COPY can freeze the rows
            stage.drop(conn, stage_name)
            stage.create_stage(conn, layer.table, stage_name, temporary=False)
            staged = stage_file(conn, plan, options, stage_name, report, progress,
                                freeze=True)
        progress(CHECKING, 0, 2)
        # Optimistic: when the table's own CHECK proves validity, one scan does both.
        proven = checks_validity(structure, layer.spatial_column) and try_checks(
            conn, plan, structure, stage_name)
        with conn.transaction():
            refused = set() if proven else repair_geometries(conn, plan, stage_name, staged,
                                                             report)
            progress(CHECKING, 1, 2)
            report_outside(plan, staged, report, refused)
            loaded = loaded_count(staged, refused)
        progress(CHECKING, 2, 2)
        progress(INDEXING, 0, 1)
        try:
            if not proven:
                with conn.transaction():
                    swap.add_checks(conn, structure, stage_name)
            swap.build_indexes(conn, connect, structure, stage_name)
        except psycopg.errors.IntegrityError as exc:
            raise broken_rule(layer, exc) from exc
        progress(INDEXING, 1, 1)
        if not options.dry_run:
            progress(SWAPPING, 0, 1)
            swap.swap(conn, structure, stage_name)
            progress(SWAPPING, 1, 1)
    finally:
        with conn.transaction():
            stage.drop(conn, stage_name)
    return staged, loaded


def _append(conn: psycopg.Connection[Any], connect: swap.Connect, plan: ImportPlan,
            options: ImportOptions, report: Report, progress: Progress) -> tuple[Staged, int]:
    layer = plan.layer
    stage_name = "geoportal_import_stage"
    tx = conn.transaction(force_rollback=options.dry_run)
    with tx:
        stage.create_stage(conn, layer.table, stage_name, temporary=True)
        staged = stage_file(conn, plan, options, stage_name, report, progress)
        progress(CHECKING, 0, 2)
        refused = repair_geometries(conn, plan, stage_name, staged, report)
        progress(CHECKING, 1, 2)
        report_outside(plan, staged, report, refused)
        progress(CHECKING, 2, 2)
        loaded = loaded_count(staged, refused)
        columns = [f.column for f in plan.mapping.fields] + [layer.spatial_column]
        if plan.mapping.id_field is not None:
            columns.insert(0, layer.id_column)
        progress(INDEXING, 0, 1)
        if plan.mapping.id_field is None:  # rows loaded with explicit ids may lag the sequence
            swap.advance_sequence(conn, layer.table, layer.id_column)
        try:
            conn.execute(sql.SQL(
                "INSERT INTO {target} ({columns}) SELECT {columns} FROM {stage} ORDER BY {id}"
            ).format(target=sql.Identifier(layer.table),
                     columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
                     stage=sql.Identifier(stage_name), id=sql.Identifier(layer.id_column)))
        except psycopg.errors.IntegrityError as exc:
            raise broken_rule(layer, exc) from exc
        progress(INDEXING, 1, 1)
    return staged, loaded


def _connect(database_url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(libpq_url(database_url), autocommit=True,
                           application_name="geoportal import")


def _lock(conn: psycopg.Connection[Any], table: str) -> None:
    row = conn.execute("SELECT pg_try_advisory_lock(hashtext('geoportal import ' || %s))",
                       (table,)).fetchone()
    if not row or not row[0]:
        raise IngestError(f"another import into {table} is running; wait for it to finish")


def _rows_after(options: ImportOptions, before: int, loaded: int) -> int:
    if options.dry_run:
        return before
    return before + loaded if options.mode == "append" else loaded


def import_file(database_url: str, registry: LayerRegistry, layer_id: str, path: Path,
                options: ImportOptions | None = None,
                progress: Progress = silent) -> ImportSummary:
    """Import one file into one layer; on any error the layer is left exactly as it was."""
    options = options or ImportOptions()
    layer = layer_of(registry, layer_id)
    started = time.perf_counter()
    report = Report()
    with _connect(database_url) as conn:
        _lock(conn, layer.table)
        plan = make_plan(conn, registry, layer, path, options)
        before = stage.count(conn, layer.table)
        try:
            run = _append if options.mode == "append" else _replace
            staged, loaded = run(conn, partial(_connect, database_url), plan, options, report,
                                 progress)
        finally:
            if options.report_path is not None:
                report.write(options.report_path)
    counts = report.counts()
    return ImportSummary(
        layer=layer.id,
        source=f"{path.name}" + (f" ({plan.source.layer})" if plan.source.layer != path.stem
                                 else ""),
        source_crs=plan.crs_name,
        mode=options.mode,
        dry_run=options.dry_run,
        read=staged.read,
        loaded=loaded,
        repaired=counts["repaired"],
        rejected=counts["rejected"],
        outside=counts["outside"],
        rows_before=before,
        rows_after=_rows_after(options, before, loaded),
        seconds=time.perf_counter() - started,
        report=options.report_path,
    )
