"""Load and validate ``layers/*.yml`` at start-up; errors name the file and the key."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import yaml
from pydantic import ValidationError

from geoportal.registry.models import Layer, RasterLayer


class RegistryError(ValueError):
    """A layer definition is invalid; the message names the file and the key."""


class LayerRegistry:
    """The published layers, by id, in map order. The only source of table names for SQL.

    Iterating gives the feature layers (tables); ``rasters`` holds the raster layers.
    """

    def __init__(self, layers: list[Layer], rasters: Sequence[RasterLayer] = ()) -> None:
        self._layers = {layer.id: layer for layer in sorted(layers, key=lambda x: x.order)}
        self.rasters: tuple[RasterLayer, ...] = tuple(sorted(rasters, key=lambda r: r.id))

    def __iter__(self) -> Iterator[Layer]:
        return iter(self._layers.values())

    def __len__(self) -> int:
        return len(self._layers)

    def __contains__(self, layer_id: object) -> bool:
        return layer_id in self._layers

    def get(self, layer_id: str) -> Layer | None:
        """The layer with that id, or None."""
        return self._layers.get(layer_id)

    def ids(self) -> list[str]:
        """Every layer id, in map order."""
        return list(self._layers)

    def with_geometry(self) -> list[Layer]:
        """The layers whose features have a geometry (maps, tiles), in map order."""
        return [layer for layer in self._layers.values() if layer.has_geometry]


def _location(error: dict[str, object]) -> str:
    return ".".join(str(part) for part in error["loc"]) or "(top level)"  # type: ignore[attr-defined]


def load_layer(path: Path) -> Layer:
    """One feature layer's file, validated."""
    layer = load_definition(path)
    if not isinstance(layer, Layer):
        raise RegistryError(f"{path}: key 'kind' is 'raster': not a layer of features")
    return layer


def load_definition(path: Path) -> Layer | RasterLayer:
    """One layer file, validated: a feature layer, or a raster layer (``kind: raster``)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RegistryError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise RegistryError(f"{path}: expected a mapping of keys, got {type(raw).__name__}")
    model: type[Layer] | type[RasterLayer] = RasterLayer if raw.get("kind") == "raster" else Layer
    try:
        layer = model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"key '{_location(dict(e))}': {e['msg']}" for e in exc.errors()
        )
        raise RegistryError(f"{path}: {problems}") from exc
    if layer.id != path.stem:
        raise RegistryError(f"{path}: key 'id' is {layer.id!r} but the file is {path.name}")
    return layer


def _check_references(folder: Path, layers: list[Layer]) -> None:
    """A field that refers to another layer names one whose natural key is one column."""
    by_id = {layer.id: layer for layer in layers}
    for layer in layers:
        for index, prop in enumerate(layer.properties):
            target = prop.source.refers_to if prop.source else None
            if target is None:
                continue
            where = f"{folder / layer.id}.yml: key 'properties.{index}.source.refers_to'"
            other = by_id.get(target)
            if other is None:
                raise RegistryError(f"{where}: no layer {target!r}")
            if other.natural_key is None or len(other.natural_key) != 1:
                raise RegistryError(f"{where}: layer {target!r} needs a natural_key of one "
                                    "column to be referred to")


def load_registry(folder: Path) -> LayerRegistry:
    """Every ``*.yml`` in the folder, validated; an error stops start-up."""
    files = sorted(folder.glob("*.yml"))
    if not files:
        raise RegistryError(f"{folder}: no layer definitions (*.yml) found")
    definitions = [load_definition(path) for path in files]
    layers = [d for d in definitions if isinstance(d, Layer)]
    _check_references(folder, layers)
    return LayerRegistry(layers, [d for d in definitions if isinstance(d, RasterLayer)])
