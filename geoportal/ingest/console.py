"""The terminal side of ``geoportal import``: a progress bar with features/s, a summary."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from geoportal.ingest.importer import READING, ImportSummary


class FeatureRate(ProgressColumn):
    """Features per second, for the reading step."""

    def render(self, task: Task) -> Text:
        """The rate, or nothing for steps that do not count features."""
        speed = task.finished_speed or task.speed
        if task.description != READING or not speed:
            return Text("")
        return Text(f"{speed:>9,.0f} features/s", style="progress.data.speed")


class ImportProgress:
    """A rich progress display fed by the importer's ``progress(step, done, total)``."""

    def __init__(self, console: Console) -> None:
        self.bar = Progress(TextColumn("{task.description:<20}"), BarColumn(),
                            MofNCompleteColumn(), FeatureRate(), TimeElapsedColumn(),
                            console=console)
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> ImportProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def __call__(self, step: str, done: int, total: int) -> None:
        """Advance one step; earlier steps are marked complete."""
        if step not in self.tasks:
            for task in self.bar.tasks:
                if not task.finished and task.total is not None:
                    self.bar.update(task.id, completed=task.total)
            self.tasks[step] = self.bar.add_task(step, total=max(total, 1))
        self.bar.update(self.tasks[step], completed=done, total=max(total, 1))


def summary_table(summary: ImportSummary) -> Table:
    """What the import did, one line per count."""
    title = f"{'Dry run: nothing changed' if summary.dry_run else 'Imported'} — " \
            f"{summary.source} → {summary.layer} ({summary.mode})"
    would = " (would be)" if summary.dry_run else ""
    changes = summary.changes
    table = Table("", "", title=title, show_header=False, title_justify="left")
    table.add_row("source CRS", summary.source_crs)
    table.add_row("read", f"{summary.read:,}")
    table.add_row("loaded", f"{summary.loaded:,}")
    table.add_row("repaired", f"{summary.repaired:,}")
    table.add_row("rejected", f"{summary.rejected:,}")
    table.add_row("outside the AUC area", f"{summary.outside:,} (loaded, reported)")
    table.add_row("matched by", summary.matched_by)
    table.add_row(f"inserted{would}", f"{changes.inserted:,}")
    table.add_row(f"updated{would}", f"{changes.updated:,}")
    table.add_row(f"deleted{would}", f"{changes.deleted:,}")
    table.add_row("unchanged", f"{changes.unchanged:,}")
    table.add_row("rows in the layer", f"{summary.rows_before:,} → {summary.rows_after:,}")
    changeset = "none (nothing changed)" if changes.changeset is None else \
        f"{changes.changeset} by {summary.actor}"
    table.add_row("change-set", changeset)
    table.add_row("time", f"{summary.seconds:.1f} s ({summary.features_per_second:,.0f} "
                  "features/s)")
    if summary.report is not None:
        table.add_row("report", str(summary.report))
    return table
