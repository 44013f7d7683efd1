"""Checks on the staging table: invalid, empty and out-of-area geometries; broken rules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import psycopg

from geoportal.ingest import stage, swap
from geoportal.ingest.errors import IngestError
from geoportal.ingest.plan import ImportPlan
from geoportal.ingest.report import Report
from geoportal.ingest.structure import Structure
from geoportal.registry import Layer

if TYPE_CHECKING:
    from geoportal.ingest.rows import Staged


def repair_geometries(conn: psycopg.Connection[Any], plan: ImportPlan, stage_name: str,
                      staged: Staged, report: Report) -> set[int]:
    """Empty and invalid geometries rejected or repaired, per the layer's policy; refused."""
    layer = plan.layer
    id_column, geom = layer.id_column, layer.spatial_column
    key = plan.key.column if plan.key else None
    findings = stage.invalid_or_empty(conn, stage_name, id_column, geom, key)
    if not findings:
        return set()
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
    return set(refused)


def report_outside(plan: ImportPlan, staged: Staged, report: Report, refused: set[int]) -> None:
    """Features outside the AUC area are reported; all of them outside means a wrong CRS."""
    outside = [(i, key) for i, key in staged.outside if i not in refused]
    if not outside:
        return
    remaining = staged.staged - len(refused)
    if len(outside) == remaining:
        raise IngestError(
            f"none of the {remaining} features lies in the AUC area: is the CRS right? "
            f"(read as {plan.crs_name}; the agency's files are usually EPSG:26191)"
        )
    fid = staged.fid_of()
    for staged_id, key_value in outside:
        report.add(fid[staged_id], key_value, "outside", "outside the AUC area")


def checks_validity(structure: Structure, geom: str) -> bool:
    """The table has a CHECK constraint on the validity of its geometry column."""
    return any("st_isvalid" in c.definition.lower() and geom in c.definition
               for c in structure.checks)


def broken_rule(layer: Layer, exc: psycopg.errors.IntegrityError) -> IngestError:
    """The refusal for a file that breaks a rule of the table, in the agency's terms."""
    detail = exc.diag.message_detail or ""
    what = {
        psycopg.errors.UniqueViolation: "the file repeats a value that must be unique",
        psycopg.errors.ForeignKeyViolation: "the file references rows that do not exist",
        psycopg.errors.NotNullViolation: "the file leaves a required value empty",
        psycopg.errors.CheckViolation: "the file breaks a rule of the table",
    }.get(type(exc), "the file breaks a rule of the table")
    constraint = exc.diag.constraint_name or exc.diag.column_name or ""
    return IngestError(f"{layer.id}: {what} ({constraint}) {detail}".strip())


def try_checks(conn: psycopg.Connection[Any], plan: ImportPlan, structure: Structure,
               stage_name: str) -> bool:
    """Add the table's constraints to the stage; False when a CHECK fails (to repair)."""
    try:
        with conn.transaction():
            swap.add_checks(conn, structure, stage_name)
    except psycopg.errors.CheckViolation:
        return False
    except psycopg.errors.IntegrityError as exc:
        raise broken_rule(plan.layer, exc) from exc
    return True


def loaded_count(staged: Staged, refused: set[int]) -> int:
    """The features left to load; none left is a refusal."""
    loaded = staged.staged - len(refused)
    if loaded <= 0:
        raise IngestError("no feature is left to load: see the report for why")
    return loaded
