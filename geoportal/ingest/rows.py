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
from geoportal.ingest.checks import broken_rule
from geoportal.ingest.errors import IngestError
from geoportal.ingest.geometry import reproject, to_storage_ewkb
from geoportal.ingest.mapping import Mapping, convert
from geoportal.ingest.mapping import value_problems as find_value_problems
from geoportal.ingest.plan import ImportOptions, ImportPlan
from geoportal.ingest.report import Report
from geoportal.ingest.source import Chunk, read_chunks
from geoportal.ingest.steps import READING, Progress


@dataclass
class Staged:
    """Bookkeeping while staging: which staging id came from which feature of the file."""

    ids: list[npt.NDArray[np.int64]] = field(default_factory=list)
    fids: list[npt.NDArray[np.int64]] = field(default_factory=list)
    outside: list[tuple[int, str | None]] = field(default_factory=list)
    read: int = 0
    staged: int = 0

    def fid_of(self) -> dict[int, int]:
        """Staging id → feature id in the file."""
        if not self.ids:
            return {}
        return dict(zip(np.concatenate(self.ids).tolist(), np.concatenate(self.fids).tolist(),
                        strict=True))


def _rows(plan: ImportPlan, options: ImportOptions, report: Report, staged: Staged,
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
        for index in geometry.outside(ewkb, plan.shape.family, plan.area):
            key = None if keys is None or keys[index] is None else str(keys[index])
            staged.outside.append((int(ids[index]), key))
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


def stage_file(conn: psycopg.Connection[Any], plan: ImportPlan, options: ImportOptions,
               stage_name: str, report: Report, progress: Progress,
               freeze: bool = False) -> Staged:
    """Every feature of the file COPYed into the staging table; the bookkeeping."""
    staged = Staged()
    layer, mapping = plan.layer, plan.mapping
    columns = [layer.id_column, *(f.column for f in mapping.fields), layer.spatial_column]
    types = [plan.id_type, *(f.pg_type for f in mapping.fields), "bytea"]
    progress(READING, 0, plan.source.count)
    rows = _rows(plan, options, report, staged, progress)
    try:
        stage.copy_rows(conn, stage_name, columns, types, rows, freeze)
    except psycopg.errors.IntegrityError as exc:
        raise broken_rule(layer, exc) from exc
    return staged
