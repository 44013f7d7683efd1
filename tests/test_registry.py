"""The layer registry validates every layer file and names the file and key of an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from geoportal.registry import RegistryError, load_registry
from geoportal.settings import PROJECT_ROOT

VALID = """
id: things
title: Things
description: Test layer.
table: things
geometry_type: Polygon
license: CC-BY-4.0
properties:
  - {name: code, type: string, title: Code, queryable: true}
"""


def _write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text, encoding="utf-8")


def test_project_layers_include_the_contract_collections() -> None:
    registry = load_registry(PROJECT_ROOT / "layers")
    assert {"parcels", "zoning", "prefectures"} <= set(registry.ids())
    parcels = registry.get("parcels")
    assert parcels is not None and parcels.find_property("ref") is not None
    zoning = registry.get("zoning")
    assert zoning is not None and zoning.find_property("code") is not None


def test_a_valid_file_loads(tmp_path: Path) -> None:
    _write(tmp_path, "things.yml", VALID)
    registry = load_registry(tmp_path)
    layer = registry.get("things")
    assert layer is not None
    assert [p.name for p in layer.queryables] == ["code"]


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (("geometry_type: Polygon", "geometry_type: Blob"), "geometry_type"),
        (("table: things", "table: \"things; DROP TABLE x\""), "table"),
        (("license: CC-BY-4.0", "license: CC-BY-4.0\ncolour: red"), "colour"),
        (("type: string", "type: text"), "properties.0.type"),
    ],
)
def test_an_invalid_file_is_refused_naming_file_and_key(
    tmp_path: Path, change: tuple[str, str], key: str
) -> None:
    _write(tmp_path, "things.yml", VALID.replace(*change))
    with pytest.raises(RegistryError) as error:
        load_registry(tmp_path)
    assert "things.yml" in str(error.value)
    assert key in str(error.value)


def test_id_must_match_file_name(tmp_path: Path) -> None:
    _write(tmp_path, "other.yml", VALID)
    with pytest.raises(RegistryError, match=r"other\.yml"):
        load_registry(tmp_path)


def test_an_empty_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="no layer definitions"):
        load_registry(tmp_path)


def test_broken_yaml_is_reported(tmp_path: Path) -> None:
    _write(tmp_path, "things.yml", "id: [unclosed")
    with pytest.raises(RegistryError, match="not valid YAML"):
        load_registry(tmp_path)
