"""The wheel carries everything the service needs: an installed copy runs without a checkout."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from setuptools import find_packages

from geoportal.core.resources import CHECKOUT

RESOURCES = {"geoportal.resources", "geoportal.resources.layers",
             "geoportal.resources.migrations", "geoportal.resources.migrations.versions"}


def test_the_package_list_names_every_package_of_the_service() -> None:
    config = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    found = set(find_packages(where=str(CHECKOUT), include=["geoportal", "geoportal.*"]))
    assert listed == found | RESOURCES


@pytest.mark.slow
def test_an_installed_wheel_finds_its_layers_migrations_and_pygeoapi_config(
        tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "-w", str(tmp_path / "dist"), str(CHECKOUT)],
                   check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("geoportal-*.whl"))
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        archive.extractall(site)
    assert "geoportal/resources/layers/parcels.yml" in names
    assert "geoportal/resources/migrations/env.py" in names
    assert "geoportal/resources/pygeoapi-config.yml" in names
    for script in ("roles.sql", "schema.sql", "database.sql", "ha-monitor.sql", "ha-keeper.conf"):
        assert f"geoportal/db/sql/{script}" in names  # read when geoportal.db.cluster is imported
    assert any(n.startswith("geoportal/resources/migrations/versions/0001") for n in names)
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from geoportal.settings import Settings; from geoportal.registry import load_registry;"
        "from geoportal.db.migrate import head_revision; s = Settings();"
        "print(s.layers_dir); print(s.pygeoapi_config); print(len(load_registry(s.layers_dir)));"
        "print(head_revision())"
    )
    out = subprocess.run([sys.executable, "-c", probe, str(site)], check=True,
                         capture_output=True, text=True, cwd=tmp_path).stdout.split()
    layers_dir, pygeoapi_config, layer_count = out[0], out[1], int(out[2])
    assert layers_dir.startswith(str(site)) and pygeoapi_config.startswith(str(site))
    assert layer_count >= 8


def test_mypy_reports_an_import_of_a_module_that_does_not_exist(tmp_path: Path) -> None:
    """Only the untyped third-party packages are let through (an import of a deleted module
    of ours once passed unnoticed while missing imports were ignored everywhere)."""
    probe = tmp_path / "probe.py"
    probe.write_text("import asyncpg\nimport shapely\nimport geoportal.no_such_module\n")
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(CHECKOUT / "pyproject.toml"),
         "--cache-dir", str(tmp_path / "cache"), str(probe)],
        capture_output=True, text=True, timeout=120, cwd=CHECKOUT)
    errors = [line for line in checked.stdout.splitlines() if ": error:" in line]
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert len(errors) == 1 and errors[0].startswith(f"{probe}:3:"), checked.stdout
    assert "geoportal.no_such_module" in errors[0]
