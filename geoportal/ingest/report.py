"""The import report: every feature that was repaired, rejected or lies outside the area."""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Status = Literal["repaired", "rejected", "outside"]
COLUMNS = ("feature", "key", "status", "reason")


@dataclass(frozen=True)
class ReportEntry:
    """One feature of the file (its id in the file), what happened to it, and why."""

    feature: int
    key: str | None
    status: Status
    reason: str


class Report:
    """The entries of one import, written as CSV (UTF-8 with BOM, for spreadsheets)."""

    def __init__(self) -> None:
        self.entries: list[ReportEntry] = []

    def add(self, feature: int, key: str | None, status: Status, reason: str) -> None:
        """Note what happened to one feature."""
        self.entries.append(ReportEntry(feature, key, status, reason))

    def counts(self) -> Counter[str]:
        """How many features per status."""
        return Counter(e.status for e in self.entries)

    def write(self, path: Path) -> Path:
        """Write the report, sorted by feature; the file is written even when empty."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8-sig", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(COLUMNS)
            for e in sorted(self.entries, key=lambda e: (e.feature, e.status)):
                writer.writerow((e.feature, e.key or "", e.status, e.reason))
        return path
