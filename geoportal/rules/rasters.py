"""Raster values over a plot or a point (e.g. flood hazard class), read with rasterio."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import WindowError
from rasterio.features import geometry_mask
from rasterio.windows import Window, from_bounds
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


def _value_at(dataset: rasterio.io.DatasetReader, point: Point) -> float | None:
    row, col = dataset.index(point.x, point.y)
    if not (0 <= row < dataset.height and 0 <= col < dataset.width):
        return None
    cell = dataset.read(1, window=Window(col, row, 1, 1))
    return _clean(float(cell[0, 0]), dataset.nodata)


def _max_over(dataset: rasterio.io.DatasetReader, subject: BaseGeometry) -> float | None:
    window = from_bounds(*subject.bounds, transform=dataset.transform)
    window = window.round_offsets(op="floor").round_lengths(op="ceil")
    full = Window(0, 0, dataset.width, dataset.height)
    try:
        window = window.intersection(full)
    except WindowError:  # the subject is outside the raster
        return None
    window = Window(window.col_off, window.row_off, max(1, window.width + 1),
                    max(1, window.height + 1)).intersection(full)
    cells = dataset.read(1, window=window, masked=True)
    inside = geometry_mask([mapping(subject)], out_shape=cells.shape, invert=True,
                           transform=dataset.window_transform(window), all_touched=True)
    picked = cells[inside & ~np.ma.getmaskarray(cells)]
    picked = picked[~np.isnan(picked)] if picked.dtype.kind == "f" else picked
    return float(picked.max()) if picked.size else None
