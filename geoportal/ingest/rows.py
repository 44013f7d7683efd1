"""Staging rows: the file read in chunks, values converted, geometries shaped, then COPY."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg

from geoportal.ingest import geometry, stage
from geoportal.ingest.errors import IngestError, broken_rule
from geoportal.ingest.geometry import reproject, to_storage_ewkb
from geoportal.ingest.mapping import FieldMap, Mapping, convert
from geoportal.ingest.mapping import value_problems as find_value_problems
from geoportal.ingest.plan import ImportOptions, ImportPlan
from geoportal.ingest.report import Report
from geoportal.ingest.source import Chunk, read_chunks
from geoportal.ingest.stage import FILE_ID, REJECTED
from geoportal.ingest.steps import READING, Progress


@dataclass
class Staged:
    """Bookkeeping while staging: which staging id came from which feature of the file, and
    which were refused for their geometry before reaching the database (staged without)."""

    ids: list[npt.NDArray[np.int64]] = field(default_factory=list)
    fids: list[npt.NDArray[np.int64]] = field(default_factory=list)
    outside: list[tuple[int, str | None]] = field(default_factory=list)
    refused: set[int] = field(default_factory=set)
    read: int = 0

    def fid_of(self) -> dict[int, int]:
        """Staging id → feature id in the file."""
        if not self.ids:
            return {}
        return dict(zip(np.concatenate(self.ids).tolist(), np.concatenate(self.fids).tolist(),
                        strict=True))


def _rows(plan: ImportPlan, options: ImportOptions, report: Report, staged: Staged,
          progress: Progress) -> Iterator[Sequence[object]]:
    """The staging rows, chunk by chunk: staging id, file id (if any), values, EWKB,
    refused."""
    transformer = plan.transformer
    mapping = plan.mapping
    for chunk in read_chunks(plan.source, mapping.source_fields, options.chunk_size):
        values = _values(chunk, mapping)
        ids = np.arange(staged.read + 1, staged.read + len(chunk) + 1, dtype=np.int64)
        file_ids = [] if mapping.id_field is None else [_file_ids(chunk, mapping.id_field)]
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
        for index in geometry.outside(ewkb, plan.shape.family, plan.area):
            key = None if keys is None or keys[index] is None else str(keys[index])
            staged.outside.append((int(ids[index]), key))
        refused = [g is None for g in ewkb]
        staged.ids.append(ids)
        staged.fids.append(chunk.fids)
        staged.refused.update(itertools.compress(ids.tolist(), refused))
        staged.read += len(chunk)
        columns = [values[f.column] for f in mapping.fields]
        yield from zip(ids.tolist(), *file_ids, *columns, ewkb, refused, strict=True)
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


def _file_ids(chunk: Chunk, id_field: FieldMap) -> list[Any]:
    raw = convert(chunk.columns[id_field.field], id_field)
    problems = find_value_problems(raw, id_field, chunk.fids.tolist())
    if problems:
        raise IngestError("feature ids the layer cannot hold:\n  " + "\n  ".join(problems))
    return raw


def stage_file(conn: psycopg.Connection[Any], plan: ImportPlan, options: ImportOptions,
               stage_name: str, report: Report, progress: Progress) -> Staged:
    """Every feature of the file COPYed into the staging table (made in this transaction,
    so the rows are written frozen); the bookkeeping."""
    staged = Staged()
    layer, mapping = plan.layer, plan.mapping
    columns = [layer.id_column, *([FILE_ID] if mapping.id_field else []),
               *(f.stage_column for f in mapping.fields), layer.spatial_column, REJECTED]
    types = [plan.id_type, *(["int8"] if mapping.id_field else []),
             *(f.pg_type for f in mapping.fields), "bytea", "bool"]
    progress(READING, 0, plan.source.count)
    rows = _rows(plan, options, report, staged, progress)
    try:
        stage.copy_rows(conn, stage_name, columns, types, rows, freeze=True)
    except psycopg.errors.IntegrityError as exc:
        raise broken_rule(layer, exc) from exc
    return staged
