"""The layer registry validates every layer file and names the file and key of an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from geoportal.core.resources import CHECKOUT
from geoportal.registry import RegistryError, load_registry

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
    registry = load_registry(CHECKOUT / "layers")
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


def test_project_layers_name_their_features_by_natural_key_and_refer_to_them() -> None:
    registry = load_registry(CHECKOUT / "layers")
    keys = {layer.id: layer.natural_key for layer in registry}
    assert keys["prefectures"] == ["code"] and keys["communes"] == ["code"]
    assert keys["plans"] == ["ref"] and keys["parcels"] == ["ref_norm"]
    assert keys["zoning"] is None
    communes = registry.get("communes")
    assert communes is not None
    prefecture = communes.find_property("prefecture_id")
    assert prefecture is not None and prefecture.source is not None
    assert (prefecture.source.field, prefecture.source.refers_to) == ("prefecture_code",
                                                                      "prefectures")


def test_a_natural_key_beside_an_import_id_field_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, "things.yml", VALID + "natural_key: [code]\nimport: {id_field: id}\n")
    with pytest.raises(RegistryError, match=r"things\.yml.*natural_key and import\.id_field"):
        load_registry(tmp_path)


@pytest.mark.parametrize(("refers_to", "complaint"), [
    ("nowhere", "no layer 'nowhere'"),
    ("things", "layer 'things' needs a natural_key of one column"),
])
def test_a_field_must_refer_to_a_layer_with_a_one_column_natural_key(
    tmp_path: Path, refers_to: str, complaint: str
) -> None:
    _write(tmp_path, "things.yml", VALID)
    _write(tmp_path, "parts.yml", VALID.replace("id: things", "id: parts").replace(
        "table: things", "table: parts") + "  - {name: thing_id, type: integer, title: Chose, "
        f"source: {{field: thing_code, refers_to: {refers_to}}}}}\n")
    with pytest.raises(RegistryError) as refused:
        load_registry(tmp_path)
    assert "parts.yml: key 'properties.1.source.refers_to'" in str(refused.value)
    assert complaint in str(refused.value)
