"""``geoportal import``: load one of the agency's files into a layer, all or nothing.

Read with pyogrio in chunks → geometries reprojected and shaped in Python → binary COPY into
a staging table → invalid, empty and out-of-area geometries found, repaired or rejected in
SQL, set-based → constraints and indexes → one swap (replace) or one INSERT (append).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg import sql
from pyproj import Transformer

from geoportal.db.urls import libpq_url
from geoportal.ingest import stage, swap
from geoportal.ingest.crs import source_crs, to_storage
from geoportal.ingest.errors import IngestError
from geoportal.ingest.geometry import StorageShape, reproject, to_storage_ewkb
from geoportal.ingest.mapping import FieldMap, Mapping, convert, plan_mapping, table_columns
from geoportal.ingest.mapping import value_problems as find_value_problems
from geoportal.ingest.report import Report
from geoportal.ingest.source import Chunk, SourceInfo, choose_layer, describe, read_chunks
from geoportal.ingest.structure import Structure, read_structure
from geoportal.registry import Layer, LayerRegistry

Progress = Callable[[str, int, int], None]
Mode = Literal["replace", "append"]
READING = "reading"
CHECKING = "checking geometries"
INDEXING = "building indexes"
SWAPPING = "swapping"


def silent(step: str, done: int, total: int) -> None:
    """A progress callback that says nothing."""


@dataclass(frozen=True)
class ImportOptions:
    """What the command line asks for."""

    mode: Mode = "replace"
    crs: str | None = None
    encoding: str | None = None
    layer_name: str | None = None
    dry_run: bool = False
    report_path: Path | None = None
    chunk_size: int = 100_000


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


@dataclass
class _Staged:
    """Bookkeeping while staging: which staging id came from which feature of the file."""

    ids: list[npt.NDArray[np.int64]] = field(default_factory=list)
    fids: list[npt.NDArray[np.int64]] = field(default_factory=list)
    read: int = 0
    staged: int = 0

    def fid_of(self) -> dict[int, int]:
        """Staging id → feature id in the file."""
        if not self.ids:
            return {}
        return dict(zip(np.concatenate(self.ids).tolist(), np.concatenate(self.fids).tolist(),
                        strict=True))


@dataclass(frozen=True)
class _Plan:
    """Everything decided before reading: layer, file, CRS, mapping, storage shape."""

    layer: Layer
    source: SourceInfo
    crs_name: str
    mapping: Mapping
    shape: StorageShape
    key: FieldMap | None
    id_type: str
    area: tuple[str, str] | None
    transformer: Transformer | None


def _layer(registry: LayerRegistry, layer_id: str) -> Layer:
    layer = registry.get(layer_id)
    if layer is None:
        raise IngestError(f"unknown layer {layer_id!r}; layers: {', '.join(registry.ids())}")
    return layer


def _storage_shape(conn: psycopg.Connection[Any], layer: Layer) -> StorageShape:
    row = conn.execute(
        "SELECT type, srid FROM geometry_columns WHERE f_table_schema = current_schema()"
        " AND f_table_name = %s AND f_geometry_column = %s",
        (layer.table, layer.geometry_column),
    ).fetchone()
    if row is None:
        raise IngestError(f"table {layer.table} has no geometry column {layer.geometry_column}")
    return StorageShape.from_column(row[0], int(row[1]))


def _area(registry: LayerRegistry, layer: Layer) -> tuple[str, str] | None:
    prefectures = registry.get("prefectures")
    if prefectures is None or prefectures.table == layer.table:
        return None
    return prefectures.table, prefectures.geometry_column


def _plan(conn: psycopg.Connection[Any], registry: LayerRegistry, layer: Layer, path: Path,
          options: ImportOptions) -> _Plan:
    if not path.exists():
        raise IngestError(f"{path}: no such file")
    name = choose_layer(path, options.layer_name, [layer.id, layer.table])
    source = describe(path, name, options.encoding)
    crs = source_crs(source, options.crs)
    columns = table_columns(conn, layer.table)
    mapping = plan_mapping(layer, columns, source)
    key = mapping.fields[0] if mapping.fields else None  # names the feature in the report
    crs_name = crs.to_string() if crs.to_epsg() is None else f"EPSG:{crs.to_epsg()}"
    return _Plan(layer, source, crs_name, mapping, _storage_shape(conn, layer), key,
                 columns[layer.id_column].pg_type, _area(registry, layer), to_storage(crs))


def _rows(plan: _Plan, options: ImportOptions, report: Report, staged: _Staged,
          progress: Progress) -> Iterator[Sequence[object]]:
    """The staging rows, chunk by chunk: id, mapped values, EWKB geometry."""
    transformer = plan.transformer
    mapping = plan.mapping
    for chunk in read_chunks(plan.source, mapping.source_fields, options.chunk_size):
        values = _values(chunk, mapping)
        ids = _ids(chunk, mapping, staged.read)
        wkb, failed = (chunk.wkb, []) if transformer is None else reproject(chunk.wkb,
                                                                            transformer)
        ewkb, issues = to_storage_ewkb(wkb, plan.shape)
        keys = values[plan.key.column] if plan.key else None
        unmovable = set(failed)
        for issue in issues:
            reason = "could not be transformed to EPSG:26191" if issue.index in unmovable \
                else issue.reason
            key = None if keys is None or keys[issue.index] is None else str(keys[issue.index])
            report.add(int(chunk.fids[issue.index]), key, issue.status, reason)
        keep = np.array([g is not None for g in ewkb], dtype=bool)
        staged.ids.append(ids[keep])
        staged.fids.append(chunk.fids[keep])
        staged.read += len(chunk)
        staged.staged += int(keep.sum())
        columns = [values[f.column] for f in mapping.fields]
        yield from itertools.compress(zip(ids.tolist(), *columns, ewkb, strict=True),
                                      keep.tolist())
        progress(READING, staged.read, plan.source.count)


def _values(chunk: Chunk, mapping: Mapping) -> dict[str, list[Any]]:
    values: dict[str, list[Any]] = {}
    problems: list[str] = []
    fids = chunk.fids.tolist()
    for target in mapping.fields:
        values[target.column] = convert(chunk.columns[target.field], target)
        problems += find_value_problems(values[target.column], target, fids)
    if problems:
        raise IngestError("values the layer cannot hold:\n  " + "\n  ".join(problems[:10]))
    return values


def _ids(chunk: Chunk, mapping: Mapping, already: int) -> npt.NDArray[np.int64]:
    if mapping.id_field is None:
        return np.arange(already + 1, already + len(chunk) + 1, dtype=np.int64)
    raw = convert(chunk.columns[mapping.id_field.field], mapping.id_field)
    problems = find_value_problems(raw, mapping.id_field, chunk.fids.tolist())
    if problems:
        raise IngestError("feature ids the layer cannot hold:\n  " + "\n  ".join(problems))
    return np.asarray(raw, dtype=np.int64)


def _stage_file(conn: psycopg.Connection[Any], plan: _Plan, options: ImportOptions,
                stage_name: str, report: Report, progress: Progress) -> _Staged:
    staged = _Staged()
    layer, mapping = plan.layer, plan.mapping
    columns = [layer.id_column, *(f.column for f in mapping.fields), layer.geometry_column]
    types = [plan.id_type, *(f.pg_type for f in mapping.fields), "bytea"]
    progress(READING, 0, plan.source.count)
    rows = _rows(plan, options, report, staged, progress)
    try:
        stage.copy_rows(conn, stage_name, columns, types, rows)
    except psycopg.errors.IntegrityError as exc:
        raise _broken_rule(layer, exc) from exc
    return staged


def _repair_geometries(conn: psycopg.Connection[Any], plan: _Plan, stage_name: str,
                       staged: _Staged, report: Report) -> int:
    """Empty and invalid geometries rejected or repaired, per the layer's policy; refused."""
    layer = plan.layer
    id_column, geom = layer.id_column, layer.geometry_column
    key = plan.key.column if plan.key else None
    findings = stage.invalid_or_empty(conn, stage_name, id_column, geom, key)
    if not findings:
        return 0
    fid = staged.fid_of()
    refused: list[int] = []
    broken = [f for f in findings if not f.empty]
    for finding in findings:
        if finding.empty:
            refused.append(finding.id)
            report.add(fid[finding.id], finding.key, "rejected", "empty geometry")
    if layer.ingest.invalid == "reject":
        for finding in broken:
            refused.append(finding.id)
            report.add(fid[finding.id], finding.key, "rejected", f"invalid: {finding.reason}")
    else:
        areas = stage.repair(conn, stage_name, id_column, geom, plan.shape,
                             [f.id for f in broken])
        for finding in broken:
            after = areas.get(finding.id)
            if after is None:
                refused.append(finding.id)
                report.add(fid[finding.id], finding.key, "rejected",
                           f"invalid: {finding.reason}; nothing left once repaired")
            else:
                change = "" if finding.area is None else \
                    f" (area {finding.area:.2f} → {after:.2f} m²)"
                report.add(fid[finding.id], finding.key, "repaired",
                           f"invalid: {finding.reason}; made valid{change}")
    stage.delete(conn, stage_name, id_column, refused)
    return len(refused)


def _report_outside(conn: psycopg.Connection[Any], plan: _Plan, stage_name: str,
                    staged: _Staged, report: Report, remaining: int) -> None:
    """Features outside the AUC area are reported; all of them outside means a wrong CRS."""
    layer = plan.layer
    key = plan.key.column if plan.key else None
    outside = stage.outside_area(conn, stage_name, layer.id_column, layer.geometry_column, key,
                                 plan.area, plan.shape.family)
    if not outside:
        return
    if len(outside) == remaining:
        raise IngestError(
            f"none of the {remaining} features lies in the AUC area: is the CRS right? "
            f"(read as {plan.crs_name}; the agency's files are usually EPSG:26191)"
        )
    fid = staged.fid_of()
    for staged_id, key_value in outside:
        report.add(fid[staged_id], key_value, "outside", "outside the AUC area")


def _checks_validity(structure: Structure, geom: str) -> bool:
    """The table has a CHECK constraint on the validity of its geometry column."""
    return any("st_isvalid" in c.definition.lower() and geom in c.definition
               for c in structure.checks)


def _broken_rule(layer: Layer, exc: psycopg.errors.IntegrityError) -> IngestError:
    detail = exc.diag.message_detail or ""
    what = {
        psycopg.errors.UniqueViolation: "the file repeats a value that must be unique",
        psycopg.errors.ForeignKeyViolation: "the file references rows that do not exist",
        psycopg.errors.NotNullViolation: "the file leaves a required value empty",
        psycopg.errors.CheckViolation: "the file breaks a rule of the table",
    }.get(type(exc), "the file breaks a rule of the table")
    constraint = exc.diag.constraint_name or exc.diag.column_name or ""
    return IngestError(f"{layer.id}: {what} ({constraint}) {detail}".strip())


def _replace(conn: psycopg.Connection[Any], connect: swap.Connect, plan: _Plan,
             options: ImportOptions, report: Report, progress: Progress) -> tuple[_Staged, int]:
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
    with conn.transaction():
        stage.drop(conn, stage_name)
        stage.create_stage(conn, layer.table, stage_name, temporary=False)
    try:
        with conn.transaction():
            staged = _stage_file(conn, plan, options, stage_name, report, progress)
        progress(CHECKING, 0, 2)
        # Optimistic: when the table's own CHECK proves validity, one scan does both.
        proven = _checks_validity(structure, layer.geometry_column) and _try_checks(
            conn, plan, structure, stage_name)
        with conn.transaction():
            refused = 0 if proven else _repair_geometries(conn, plan, stage_name, staged,
                                                          report)
            progress(CHECKING, 1, 2)
            _report_outside(conn, plan, stage_name, staged, report, staged.staged - refused)
            loaded = _loaded(conn, stage_name)
        progress(CHECKING, 2, 2)
        progress(INDEXING, 0, 1)
        try:
            if not proven:
                with conn.transaction():
                    swap.add_checks(conn, structure, stage_name)
            swap.build_indexes(conn, connect, structure, stage_name)
        except psycopg.errors.IntegrityError as exc:
            raise _broken_rule(layer, exc) from exc
        progress(INDEXING, 1, 1)
        if not options.dry_run:
            progress(SWAPPING, 0, 1)
            swap.swap(conn, structure, stage_name)
            progress(SWAPPING, 1, 1)
    finally:
        with conn.transaction():
            stage.drop(conn, stage_name)
    return staged, loaded


def _try_checks(conn: psycopg.Connection[Any], plan: _Plan, structure: Structure,
                stage_name: str) -> bool:
    """Add the table's constraints to the stage; False when a CHECK fails (to repair)."""
    try:
        with conn.transaction():
            swap.add_checks(conn, structure, stage_name)
    except psycopg.errors.CheckViolation:
        return False
    except psycopg.errors.IntegrityError as exc:
        raise _broken_rule(plan.layer, exc) from exc
    return True


def _append(conn: psycopg.Connection[Any], connect: swap.Connect, plan: _Plan,
            options: ImportOptions, report: Report, progress: Progress) -> tuple[_Staged, int]:
    layer = plan.layer
    stage_name = "geoportal_import_stage"
    tx = conn.transaction(force_rollback=options.dry_run)
    with tx:
        stage.create_stage(conn, layer.table, stage_name, temporary=True)
        staged = _stage_file(conn, plan, options, stage_name, report, progress)
        progress(CHECKING, 0, 2)
        refused = _repair_geometries(conn, plan, stage_name, staged, report)
        progress(CHECKING, 1, 2)
        _report_outside(conn, plan, stage_name, staged, report, staged.staged - refused)
        progress(CHECKING, 2, 2)
        loaded = _loaded(conn, stage_name)
        columns = [f.column for f in plan.mapping.fields] + [layer.geometry_column]
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
            raise _broken_rule(layer, exc) from exc
        progress(INDEXING, 1, 1)
    return staged, loaded


def _loaded(conn: psycopg.Connection[Any], stage_name: str) -> int:
    loaded = stage.count(conn, stage_name)
    if loaded == 0:
        raise IngestError("no feature is left to load: see the report for why")
    return loaded


def _connect(database_url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(libpq_url(database_url), autocommit=True,
                           application_name="geoportal import")


def _lock(conn: psycopg.Connection[Any], table: str) -> None:
    row = conn.execute("SELECT pg_try_advisory_lock(hashtext('geoportal import ' || %s))",
                       (table,)).fetchone()
    if not row or not row[0]:
        raise IngestError(f"another import into {table} is running; wait for it to finish")


def import_file(database_url: str, registry: LayerRegistry, layer_id: str, path: Path,
                options: ImportOptions | None = None,
                progress: Progress = silent) -> ImportSummary:
    """Import one file into one layer; on any error the layer is left exactly as it was."""
    options = options or ImportOptions()
    layer = _layer(registry, layer_id)
    started = time.perf_counter()
    report = Report()
    with _connect(database_url) as conn:
        _lock(conn, layer.table)
        plan = _plan(conn, registry, layer, path, options)
        before = stage.count(conn, layer.table)
        try:
            run = _append if options.mode == "append" else _replace
            staged, loaded = run(conn, partial(_connect, database_url), plan, options, report,
                                 progress)
        finally:
            if options.report_path is not None:
                report.write(options.report_path)
        after = stage.count(conn, layer.table)
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
        rows_after=after,
        seconds=time.perf_counter() - started,
        report=options.report_path,
    )
