"""Checks on the staging table: invalid, empty and out-of-area geometries."""

from __future__ import annotations

from typing import Any

import psycopg

from geoportal.ingest import stage
from geoportal.ingest.errors import IngestError
from geoportal.ingest.plan import ImportPlan
from geoportal.ingest.report import Report
from geoportal.ingest.rows import Staged


def repair_geometries(conn: psycopg.Connection[Any], plan: ImportPlan, stage_name: str,
                      staged: Staged, report: Report) -> set[int]:
    """Empty and invalid geometries rejected or repaired, per the layer's policy; all the
    staging ids refused for their geometry."""
    layer = plan.layer
    id_column, geom = layer.id_column, layer.spatial_column
    key = plan.key.stage_column if plan.key else None
    findings = stage.invalid_or_empty(conn, stage_name, id_column, geom, key)
    if not findings:
        return set(staged.refused)
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
    stage.reject(conn, stage_name, id_column, refused)
    return staged.refused | set(refused)


def report_outside(plan: ImportPlan, staged: Staged, report: Report, refused: set[int]) -> None:
    """Features outside the AUC area are reported; all of them outside means a wrong CRS."""
    outside = [(i, key) for i, key in staged.outside if i not in refused]
    if not outside:
        return
    remaining = staged.read - len(refused)
    if len(outside) == remaining:
        raise IngestError(
            f"none of the {remaining} features lies in the AUC area: is the CRS right? "
            f"(read as {plan.crs_name}; the agency's files are usually EPSG:26191)"
        )
    fid = staged.fid_of()
    for staged_id, key_value in outside:
        report.add(fid[staged_id], key_value, "outside", "outside the AUC area")


def loaded_count(staged: Staged, refused: set[int]) -> int:
    """The features left to load; none left is a refusal."""
    loaded = staged.read - len(refused)
    if loaded <= 0:
        raise IngestError("no feature is left to load: see the report for why")
    return loaded
