"""Raster values over a plot or a point (e.g. flood hazard class), read with rasterio."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.features import geometry_mask
from rasterio.windows import Window
from shapely.geometry import Point, mapping
from shapely.geometry.base import BaseGeometry

from geoportal.rules.models import RasterValue
from geoportal.settings import STORAGE_SRID


@dataclass(frozen=True)
class RasterLayer:
    """A raster file of the data folder and the meaning of its classes."""

    name: str
    file: str
    title: str
    classes: dict[int, str]


RASTER_LAYERS: tuple[RasterLayer, ...] = (
    RasterLayer("flood_hazard", "flood_hazard.tif", "Aléa d'inondation",
                {0: "nul", 1: "faible", 2: "moyen", 3: "fort"}),
)


class RasterSampler:
    """Reads raster layers from a folder; dataset handles are opened once and kept."""

    def __init__(self, folder: Path, layers: tuple[RasterLayer, ...] = RASTER_LAYERS) -> None:
        self.folder = folder
        self.layers = layers
        self._lock = threading.Lock()  # a GDAL dataset must not be read by two threads at once
        self._open: dict[str, tuple[float, rasterio.io.DatasetReader]] = {}

    def available(self) -> bool:
        """Whether any of the raster files exists."""
        return any((self.folder / layer.file).is_file() for layer in self.layers)

    def _dataset(self, layer: RasterLayer) -> rasterio.io.DatasetReader | None:
        path = self.folder / layer.file
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return None
        cached = self._open.get(layer.name)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        if cached is not None:
            cached[1].close()
        dataset = rasterio.open(path)
        if dataset.crs is None or dataset.crs.to_epsg() != STORAGE_SRID:
            dataset.close()
            raise ValueError(f"{path}: raster layers must be in EPSG:{STORAGE_SRID}")
        self._open[layer.name] = (mtime, dataset)
        return dataset

    def sample(self, subject: BaseGeometry, location: Point) -> list[RasterValue]:
        """Each layer's value at the location and its highest value over the subject."""
        values = []
        with self._lock:
            for layer in self.layers:
                dataset = self._dataset(layer)
                if dataset is None:
                    continue
                at_point = _value_at(dataset, location)
                highest = at_point if subject.geom_type == "Point" else _max_over(dataset, subject)
                label = layer.classes.get(int(highest)) if highest is not None else None
                values.append(RasterValue(layer=layer.name, title=layer.title,
                                          at_point=at_point, max=highest, label=label))
        return values

    def close(self) -> None:
        """Close the open datasets."""
        with self._lock:
            for _, dataset in self._open.values():
                dataset.close()
            self._open.clear()


def _clean(value: float, nodata: float | None) -> float | None:
    if nodata is not None and value == nodata:
        return None
    return None if math.isnan(value) else float(value)


def _cell_of(dataset: rasterio.io.DatasetReader, x: float, y: float) -> tuple[int, int]:
    """Row and column of the cell holding a point (north-up rasters)."""
    t = dataset.transform
    return math.floor((y - t.f) / t.e), math.floor((x - t.c) / t.a)


def _value_at(dataset: rasterio.io.DatasetReader, point: Point) -> float | None:
    row, col = _cell_of(dataset, point.x, point.y)
    if not (0 <= row < dataset.height and 0 <= col < dataset.width):
        return None
    cell = dataset.read(1, window=Window(col, row, 1, 1))
    return _clean(float(cell[0, 0]), dataset.nodata)


def _max_over(dataset: rasterio.io.DatasetReader, subject: BaseGeometry) -> float | None:
    xmin, ymin, xmax, ymax = subject.bounds
    top, left = _cell_of(dataset, xmin, ymax)
    bottom, right = _cell_of(dataset, xmax, ymin)
    top, left = max(top, 0), max(left, 0)
    bottom, right = min(bottom, dataset.height - 1), min(right, dataset.width - 1)
    if top > bottom or left > right:
        return None  # the subject is outside the raster
    window = Window(left, top, right - left + 1, bottom - top + 1)
    cells = dataset.read(1, window=window, masked=True)
    t = dataset.transform
    transform = Affine(t.a, t.b, t.c + left * t.a, t.d, t.e, t.f + top * t.e)
    inside = geometry_mask([mapping(subject)], out_shape=cells.shape, invert=True,
                           transform=transform, all_touched=True)
    picked = cells[inside & ~np.ma.getmaskarray(cells)]
    picked = picked[~np.isnan(picked)] if picked.dtype.kind == "f" else picked
    return float(picked.max()) if picked.size else None
