"""Raster values over a plot or a point (e.g. flood hazard class), read with rasterio.

The raster layers are declared in ``layers/`` (``kind: raster``, see the registry).

A raster small enough (``IN_MEMORY_CELLS``) is read whole once, off the event loop, and
sampled in memory afterwards: a lookup then costs microseconds, not a GDAL read. Larger
rasters are read by window from a dataset handle kept open, in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
import rasterio.errors
import shapely
from affine import Affine
from rasterio.features import geometry_mask
from rasterio.windows import Window
from shapely.geometry import Point, mapping
from shapely.geometry.base import BaseGeometry

from geoportal.core.area import STORAGE_SRID
from geoportal.errors import expected
from geoportal.registry import RasterLayer
from geoportal.rules.models import RasterValue

log = logging.getLogger("geoportal")
IN_MEMORY_CELLS = 16_000_000
"""Rasters up to this many cells (16 MB of bytes) are kept in memory."""
RECHECK_SECONDS = 1.0
"""How often the files are checked for a new version."""
SHAPELY_CELLS = 4_096
"""Windows up to this many cells are tested cell by cell with shapely; larger ones rasterised."""


class Grid:
    """One open raster: its grid, and its cells in memory or a dataset to read them from."""

    def __init__(self, dataset: rasterio.io.DatasetReader, mtime: float) -> None:
        if dataset.crs is None or dataset.crs.to_epsg() != STORAGE_SRID:
            dataset.close()
            raise ValueError(f"{dataset.name}: raster layers must be in EPSG:{STORAGE_SRID}")
        self.mtime = mtime
        self.transform: Affine = dataset.transform
        self.width, self.height = dataset.width, dataset.height
        self.nodata = dataset.nodata
        self.cells: np.ndarray | None = None
        self.dataset: rasterio.io.DatasetReader | None = dataset
        if self.width * self.height <= IN_MEMORY_CELLS:
            self.cells = dataset.read(1)
            dataset.close()
            self.dataset = None
        self._lock = threading.Lock()  # a GDAL dataset must not be read by two threads at once

    @property
    def in_memory(self) -> bool:
        """Whether sampling needs no I/O."""
        return self.cells is not None

    def cell_of(self, x: float, y: float) -> tuple[int, int]:
        """Row and column of the cell holding a point (north-up rasters)."""
        t = self.transform
        return math.floor((y - t.f) / t.e), math.floor((x - t.c) / t.a)

    def read(self, row: int, col: int, height: int, width: int) -> np.ndarray:
        """The cells of a window inside the raster."""
        if self.cells is not None:
            return self.cells[row:row + height, col:col + width]
        dataset = expected(self.dataset, "the raster's cells or dataset")
        with self._lock:
            block: np.ndarray = dataset.read(1, window=Window(col, row, width, height))
        return block

    def close(self) -> None:
        """Release the dataset handle, if any."""
        if self.dataset is not None:
            self.dataset.close()

    def value_at(self, point: Point) -> float | None:
        """The cell value under a point."""
        row, col = self.cell_of(point.x, point.y)
        if not (0 <= row < self.height and 0 <= col < self.width):
            return None
        return self._clean(self.read(row, col, 1, 1).ravel())

    def max_over(self, subject: BaseGeometry) -> float | None:
        """The highest value of the cells the subject touches."""
        xmin, ymin, xmax, ymax = subject.bounds
        top, left = self.cell_of(xmin, ymax)
        bottom, right = self.cell_of(xmax, ymin)
        inside = top >= 0 and left >= 0 and bottom < self.height and right < self.width
        top, left = max(top, 0), max(left, 0)
        bottom, right = min(bottom, self.height - 1), min(right, self.width - 1)
        if top > bottom or left > right:
            return None  # the subject is outside the raster
        block = self.read(top, left, bottom - top + 1, right - left + 1)
        if inside and (block.size == 1 or bool((block == block.flat[0]).all())):
            # The subject touches at least one cell of its bounding block: when the whole
            # block holds one value (the usual case for a plot), that value is the answer.
            return self._clean(block.ravel()[:1])
        return self._clean(block[self._touched(subject, top, left, block.shape)])

    def _touched(self, subject: BaseGeometry, top: int, left: int,
                 shape: tuple[int, ...]) -> np.ndarray:
        t = self.transform
        if shape[0] * shape[1] > SHAPELY_CELLS:
            window = Affine(t.a, t.b, t.c + left * t.a, t.d, t.e, t.f + top * t.e)
            mask: np.ndarray = geometry_mask([mapping(subject)], out_shape=shape, invert=True,
                                             transform=window, all_touched=True)
            return mask
        rows, cols = np.indices(shape)
        x0 = t.c + (left + cols) * t.a
        y0 = t.f + (top + rows) * t.e
        boxes = shapely.box(x0, y0 + t.e, x0 + t.a, y0)
        shapely.prepare(subject)
        touched: np.ndarray = shapely.intersects(boxes, subject)
        return touched

    def _clean(self, values: np.ndarray) -> float | None:
        if self.nodata is not None:
            values = values[values != self.nodata]
        if values.dtype.kind == "f":
            values = values[~np.isnan(values)]
        return float(values.max()) if values.size else None


class RasterSampler:
    """Reads the raster layers (the registry's ``kind: raster``) from a folder; grids are
    opened once and reopened on change. One per application (``core.services``)."""

    def __init__(self, folder: Path, layers: Sequence[RasterLayer]) -> None:
        self.folder = folder
        self.layers = tuple(layers)
        self._grids: dict[str, Grid] = {}
        self._open_lock = threading.Lock()
        self._checked_at = -math.inf

    def available(self) -> bool:
        """Whether any of the raster files exists (as of the last check)."""
        if time.monotonic() - self._checked_at < RECHECK_SECONDS:
            return bool(self._grids)
        return any((self.folder / layer.file).is_file() for layer in self.layers)

    def _refresh(self) -> None:
        """Open the layers present, reopen the changed ones (checked at most once a second)."""
        now = time.monotonic()
        if now - self._checked_at < RECHECK_SECONDS:
            return
        with self._open_lock:
            for layer in self.layers:
                path = self.folder / layer.file
                try:
                    mtime = path.stat().st_mtime
                except OSError:
                    old = self._grids.pop(layer.id, None)
                    if old is not None:
                        old.close()
                    continue
                grid = self._grids.get(layer.id)
                if grid is None or grid.mtime != mtime:
                    if grid is not None:
                        grid.close()
                        del self._grids[layer.id]
                    try:
                        self._grids[layer.id] = Grid(rasterio.open(path), mtime)
                    except (rasterio.errors.RasterioError, ValueError) as exc:
                        log.error("raster layer %s unusable: %s", path, exc)
            self._checked_at = now

    def _ready(self) -> bool:
        """Whether sampling now needs no I/O (files checked recently, cells in memory)."""
        fresh = time.monotonic() - self._checked_at < RECHECK_SECONDS
        return fresh and all(grid.in_memory for grid in self._grids.values())

    def sample(self, subject: BaseGeometry, location: Point) -> list[RasterValue]:
        """Each layer's value at the location and its highest value over the subject."""
        self._refresh()
        values = []
        for layer in self.layers:
            grid = self._grids.get(layer.id)
            if grid is None:
                continue
            at_point = grid.value_at(location)
            highest = at_point if isinstance(subject, Point) else grid.max_over(subject)
            label = layer.classes.get(int(highest)) if highest is not None else None
            values.append(RasterValue(layer=layer.id, title=layer.title,
                                      at_point=at_point, max=highest, label=label))
        return values

    async def sample_async(self, subject: BaseGeometry, location: Point) -> list[RasterValue]:
        """``sample`` without blocking the event loop: in place when the cells are in memory,
        in a worker thread when files must be opened or read."""
        if self._ready():
            return self.sample(subject, location)
        return await asyncio.to_thread(self.sample, subject, location)

    def close(self) -> None:
        """Close the open datasets."""
        for grid in self._grids.values():
            grid.close()
        self._grids.clear()
        self._checked_at = -math.inf
