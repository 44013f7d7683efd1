"""pygeoapi's configuration is generated from the layer registry and resolved from settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from geoportal.app import create_app
from geoportal.catalogue import render_config
from geoportal.catalogue.config import CATALOGUE_ID, PROCESS_ID, load_config, substitute
from geoportal.core.resources import CHECKOUT
from geoportal.registry import load_registry
from geoportal.settings import Settings

REGISTRY = load_registry(CHECKOUT / "layers")


def test_the_committed_config_is_the_one_generated_from_the_registry() -> None:
    committed = (CHECKOUT / "pygeoapi-config.yml").read_text(encoding="utf-8")
    assert committed == render_config(REGISTRY), "run `geoportal pygeoapi-config`"
    check = subprocess.run([sys.executable, "-m", "geoportal.cli", "pygeoapi-config", "--check"],
                           capture_output=True, text=True, timeout=60, cwd=CHECKOUT)
    assert check.returncode == 0, check.stderr


def test_a_new_layer_changes_the_generated_config(tmp_path: Path) -> None:
    folder = tmp_path / "layers"
    folder.mkdir()
    for path in (CHECKOUT / "layers").glob("*.yml"):
        (folder / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "wells.yml").write_text(
        "id: wells\ntitle: Puits\ndescription: Wells.\ntable: wells\ngeometry_type: Point\n"
        "license: ODbL-1.0\nkeywords: [eau souterraine]\nproperties:\n"
        "  - {name: name, title: Nom}\n", encoding="utf-8")

    generated = yaml.safe_load(render_config(load_registry(folder)))

    catalogue = generated["resources"][CATALOGUE_ID]
    assert "eau souterraine" in catalogue["keywords"]
    assert {"type": "text/html", "rel": "related", "title": "Puits: open data",
            "href": "${GEOPORTAL_PUBLIC_URL:-http://127.0.0.1:8000}/opendata#wells"} \
        in catalogue["links"]


def test_variables_come_from_the_settings_and_the_environment(tmp_path: Path) -> None:
    rasters = tmp_path / "rasters"
    rasters.mkdir()
    (rasters / "flood_hazard.tif").write_bytes(b"not read here")
    settings = Settings(database_url="postgresql://u:secret@db.example:5432/gp",
                        data_dir=rasters, public_url="https://geoportail.example/")

    config = load_config(settings, load_registry(settings.layers_dir))

    assert config["server"]["url"] == "https://geoportail.example/pygeoapi"
    provider = config["resources"][CATALOGUE_ID]["providers"][0]
    assert provider["database_url"] == "postgresql://u:secret@db.example:5432/gp"
    assert provider["data"] == str(CHECKOUT / "layers")
    coverage = config["resources"]["flood-hazard"]["providers"][0]
    assert coverage["data"] == f"{rasters}/flood_hazard.tif"
    assert config["resources"][PROCESS_ID]["processor"]["raster_dir"] == str(rasters)


def test_a_missing_raster_leaves_its_coverage_out_and_the_rest_served(tmp_path: Path) -> None:
    settings = Settings(database_url="postgresql://u@h/db", data_dir=tmp_path / "none")

    config = load_config(settings, load_registry(settings.layers_dir), "http://127.0.0.1:9999")

    assert "flood-hazard" not in config["resources"]
    assert {CATALOGUE_ID, PROCESS_ID} <= set(config["resources"])
    assert config["server"]["url"] == "http://127.0.0.1:9999/pygeoapi"


def test_substitution_uses_defaults_and_names_what_is_missing() -> None:
    tree = {"a": "${ONE}/x", "b": ["${TWO:-two}"], "c": 3}
    assert substitute(tree, {"ONE": "1"}) == {"a": "1/x", "b": ["two"], "c": 3}
    assert substitute(tree, {"ONE": "1", "TWO": ""}) == {"a": "1/x", "b": ["two"], "c": 3}
    with pytest.raises(KeyError, match="ONE"):
        substitute(tree, {})


def test_the_service_starts_without_pygeoapi_when_its_config_is_missing(
    database_url: str, tmp_path: Path
) -> None:
    settings = Settings(database_url=database_url, pygeoapi_config=tmp_path / "missing.yml")
    with TestClient(create_app(settings)) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/pygeoapi/").status_code == 404
        assert client.get("/opendata", params={"f": "json"}).status_code == 200


def test_the_process_inputs_are_the_rules_parameters_built_on_first_use_not_at_import() -> None:
    from geoportal.catalogue.process import process_metadata, rules_query
    from geoportal.errors import InvalidParameter
    from geoportal.rules.params import openapi_parameters

    imported = subprocess.run(
        [sys.executable, "-c", "from geoportal.catalogue import process; "
         "print('inputs' in process.PROCESS_METADATA, process.process_inputs.cache_info().misses)"],
        capture_output=True, text=True, timeout=60, cwd=CHECKOUT, check=True)
    assert imported.stdout.split() == ["False", "0"], "inputs built while importing"
    names = {"with_geometry" if p["name"] == "geometry" else p["name"]
             for p in openapi_parameters()}
    assert set(process_metadata()["inputs"]) == names | {"geometry"}
    assert {"parcel", "lon", "lat", "at", "envelope"} <= names
    with pytest.raises(InvalidParameter, match="entrées inconnues : wells"):
        rules_query({"parcel": "TF 1/C", "wells": 1})
