"""The ``geoportal`` command answers for the database and the layer registry."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from geoportal.cli import cli
from geoportal.db.urls import resolve_database_url
from geoportal.settings import Settings

runner = CliRunner()


def test_db_url_prints_the_configured_database() -> None:
    result = runner.invoke(cli, ["db", "url"])
    assert result.exit_code == 0
    assert result.stdout.strip() == resolve_database_url(Settings())


def test_db_status_says_running() -> None:
    result = runner.invoke(cli, ["db", "status"])
    assert result.exit_code == 0
    assert "running" in result.stdout or "external database" in result.stdout


def test_layers_lists_the_registry() -> None:
    result = runner.invoke(cli, ["layers"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for layer_id in ("parcels", "zoning", "prefectures"):
        assert layer_id in result.stdout


def test_a_broken_registry_is_reported_without_a_traceback(tmp_path: Path) -> None:
    folder = tmp_path
    (folder / "bad.yml").write_text("id: bad\n")
    result = runner.invoke(cli, ["layers"], env={"GEOPORTAL_LAYERS_DIR": str(folder)})
    assert result.exit_code == 1
    assert "bad.yml" in result.output
    assert "Traceback" not in result.output
