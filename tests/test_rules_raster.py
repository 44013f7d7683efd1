"""The raster sampler's highest value over a plot, on a small GeoTIFF written with rasterio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import Point, box

from geoportal.rules.rasters import RasterSampler

# 10 m cells from (1000, 2000) down-right; class 2 in one 20 m x 20 m square, 0 elsewhere.
ORIGIN_X, ORIGIN_Y, CELL = 1000.0, 2000.0, 10.0


@pytest.fixture()
def sampler(tmp_path: Path) -> RasterSampler:
    data = np.zeros((10, 10), dtype="uint8")
    data[2:4, 5:7] = 2
    data[9, 9] = 255
    with rasterio.open(tmp_path / "flood_hazard.tif", "w", driver="GTiff", width=10, height=10,
                       count=1, dtype="uint8", crs="EPSG:26191", nodata=255,
                       transform=from_origin(ORIGIN_X, ORIGIN_Y, CELL, CELL)) as out:
        out.write(data, 1)
    return RasterSampler(tmp_path)


def _max(sampler: RasterSampler, xmin: float, ymin: float, xmax: float, ymax: float) -> float:
    plot = box(xmin, ymin, xmax, ymax)
    [value] = sampler.sample(plot, plot.centroid)
    assert value.max is not None
    return value.max


def test_a_plot_inside_one_class_gets_that_class(sampler: RasterSampler) -> None:
    assert _max(sampler, 1001, 1901, 1019, 1919) == 0.0
    assert _max(sampler, 1051, 1961, 1069, 1979) == 2.0


def test_a_plot_touching_a_higher_cell_gets_the_higher_class(sampler: RasterSampler) -> None:
    assert _max(sampler, 1041, 1961, 1052, 1969) == 2.0


def test_a_plot_whose_box_but_not_shape_reaches_a_higher_cell_keeps_its_class(
    sampler: RasterSampler,
) -> None:
    # An L-shaped plot around the flooded square's corner cell, never touching it.
    l_shape = box(1041, 1941, 1049, 1969).union(box(1041, 1941, 1069, 1949))
    [value] = sampler.sample(l_shape, Point(1045, 1945))
    assert value.max == 0.0


def test_nodata_cells_are_ignored(sampler: RasterSampler) -> None:
    assert _max(sampler, 1081, 1901, 1099, 1919) == 0.0
