"""The raster datasets (GeoTIFF) of the open data: the registry's raster layers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from geoportal.registry import LayerRegistry, RasterLayer


@dataclass(frozen=True)
class RasterDataset:
    """A raster file of the data folder, published as a coverage and as a download."""

    layer: RasterLayer

    @property
    def id(self) -> str:
        """The dataset id, e.g. ``flood-hazard``."""
        return self.layer.id.replace("_", "-")

    @property
    def title(self) -> str:
        """Its title."""
        return self.layer.title

    @property
    def description(self) -> str:
        """What its pixel values mean."""
        classes = ", ".join(f"{value} = {name}" for value, name in self.layer.classes.items())
        return (f"{self.layer.title}, raster en EPSG:26191 (GeoTIFF). Classes : {classes}. "
                "Données de démonstration : synthétiques.")

    @property
    def license(self) -> str:
        """Its license identifier."""
        return self.layer.license

    @property
    def keywords(self) -> list[str]:
        """Keywords for the catalogue."""
        return ["raster", "aléa", *self.layer.title.lower().split()]

    def path(self, folder: Path) -> Path:
        """Where the file is."""
        return folder / self.layer.file


def raster_datasets(registry: LayerRegistry) -> tuple[RasterDataset, ...]:
    """The registry's raster layers, as datasets."""
    return tuple(RasterDataset(layer) for layer in registry.rasters)


def raster(registry: LayerRegistry, dataset_id: str) -> RasterDataset | None:
    """The raster dataset with that id."""
    return next((r for r in raster_datasets(registry) if r.id == dataset_id), None)
