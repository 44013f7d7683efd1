"""The raster sampler's highest value over a plot, on a small GeoTIFF written with rasterio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import Point, box

from geoportal.core.resources import CHECKOUT
from geoportal.registry import RegistryError, load_registry
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
    return RasterSampler(tmp_path, load_registry(CHECKOUT / "layers").rasters)


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


def test_the_raster_layers_are_declared_in_the_layer_folder() -> None:
    registry = load_registry(CHECKOUT / "layers")
    flood = next(r for r in registry.rasters if r.id == "flood_hazard")
    assert flood.file == "flood_hazard.tif"
    assert flood.classes == {0: "nul", 1: "faible", 2: "moyen", 3: "fort"}
    assert "flood_hazard" not in registry  # not a collection of features
    assert flood.warning(0, "nul", "sur la parcelle") is None
    assert flood.warning(2, "moyen", "sur la parcelle") == (
        "Aléa d'inondation moyen sur la parcelle (classe 2) : le projet doit en tenir compte.")
    assert flood.warning(4, None, "au point demandé") == (
        "Aléa d'inondation fort au point demandé (classe 4) : le projet doit en tenir compte.")


def test_a_raster_layer_with_a_typo_is_refused_naming_the_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "wells.yml").write_text(
        "id: wells\ntitle: Puits\ndescription: Wells.\ntable: wells\ngeometry_type: Point\n"
        "license: ODbL-1.0\nproperties:\n  - {name: name, title: Nom}\n", encoding="utf-8")
    (tmp_path / "noise.yml").write_text(
        "kind: raster\nid: noise\ntitle: Bruit\nfile: noise.tif\nclasses: {0: faible}\n"
        "rules: {warn_from: 1, warning: 'Bruit {loud}'}\n", encoding="utf-8")
    with pytest.raises(RegistryError, match=r"noise\.yml: key 'rules\.warning'"):
        load_registry(tmp_path)
