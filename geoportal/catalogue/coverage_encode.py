"""The cells a coverage request asks for, read with rasterio and encoded as GeoTIFF or
CoverageJSON.

Cells are read at the raster's own grid when the request is aligned on it (GDAL's requests
are: it knows the grid from the domain set), so the values are the stored ones; otherwise
they are resampled to the nearest cell (classes must not be averaged). Samples outside the
raster are nodata.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.io import MemoryFile
from rasterio.windows import Window, from_bounds

from geoportal.catalogue.coverage_grid import RasterGrid
from geoportal.catalogue.coverage_query import COVJSON, CoverageQuery

BLOCK = 256


def output_transform(query: CoverageQuery) -> Affine:
    """Where the returned samples are: the extent divided into width × height cells."""
    left, bottom, right, top = query.extent
    return Affine((right - left) / query.width, 0, left, 0, -(top - bottom) / query.height, top)


def read_cells(grid: RasterGrid, query: CoverageQuery) -> np.ndarray:
    """(bands, height, width) values; nodata outside the raster."""
    with rasterio.open(grid.path) as raster:
        window = from_bounds(*query.extent, transform=raster.transform)
        inside = Window(0, 0, raster.width, raster.height)
        outside = not (window.col_off >= -1e-6 and window.row_off >= -1e-6 and
                       window.col_off + window.width <= inside.width + 1e-6 and
                       window.row_off + window.height <= inside.height + 1e-6)
        fill = grid.nodata if grid.nodata is not None else 0
        cells: np.ndarray = raster.read(
            list(query.bands), window=window, out_shape=(len(query.bands), query.height,
                                                         query.width),
            resampling=Resampling.nearest, boundless=outside,
            fill_value=fill if outside else None)
    return cells


def geotiff(grid: RasterGrid, query: CoverageQuery, cells: np.ndarray) -> bytes:
    """The samples as a GeoTIFF in the raster's CRS, with its nodata, band names and classes."""
    tiled = query.width >= BLOCK and query.height >= BLOCK
    profile: dict[str, Any] = {
        "driver": "GTiff", "width": query.width, "height": query.height,
        "count": len(query.bands), "dtype": grid.dtype, "crs": f"EPSG:{grid.epsg}",
        "transform": output_transform(query), "nodata": grid.nodata, "compress": "deflate",
        **({"tiled": True, "blockxsize": BLOCK, "blockysize": BLOCK} if tiled else {}),
    }
    layer = grid.dataset.layer
    with MemoryFile() as memory:
        with memory.open(**profile) as out:
            out.write(cells)
            for position, band in enumerate(query.bands, start=1):
                out.set_band_description(position, grid.band_names[band - 1])
            out.update_tags(title=layer.title, classes=", ".join(
                f"{value}={name}" for value, name in layer.classes.items()))
        return bytes(memory.read())


def _parameter(grid: RasterGrid, band: int) -> dict[str, Any]:
    layer = grid.dataset.layer
    name = grid.band_names[band - 1]
    parameter: dict[str, Any] = {
        "type": "Parameter",
        "description": {"fr": layer.title, "en": name.replace("_", " ")},
        "observedProperty": {"id": name, "label": {"fr": layer.title}},
    }
    if layer.classes:
        parameter["observedProperty"]["categories"] = [
            {"id": f"{name}:{value}", "label": {"fr": label}}
            for value, label in layer.classes.items()]
        parameter["categoryEncoding"] = {f"{name}:{value}": value for value in layer.classes}
    return parameter


def coveragejson(grid: RasterGrid, query: CoverageQuery, cells: np.ndarray) -> bytes:
    """The samples as CoverageJSON: axes from the first to the last cell centre (so that
    the step is the cell size), nodata as null."""
    transform = output_transform(query)
    left, bottom, right, top = query.extent
    dx, dy = transform.a, -transform.e
    names = [grid.band_names[band - 1] for band in query.bands]
    ranges = {}
    for name, values in zip(names, cells, strict=True):
        flat: list[Any] = values.ravel().tolist()
        if grid.nodata is not None:
            nodata = grid.nodata
            flat = [None if v == nodata else v for v in flat]
        ranges[name] = {"type": "NdArray",
                        "dataType": "integer" if grid.json_type == "integer" else "float",
                        "axisNames": ["y", "x"], "shape": [query.height, query.width],
                        "values": flat}
    document = {
        "type": "Coverage",
        "domain": {
            "type": "Domain", "domainType": "Grid",
            "axes": {"x": {"start": left + dx / 2, "stop": right - dx / 2, "num": query.width},
                     "y": {"start": top - dy / 2, "stop": bottom + dy / 2,
                           "num": query.height}},
            "referencing": [{"coordinates": ["x", "y"],
                             "system": {"type": "ProjectedCRS", "id": grid.crs_uri}}],
        },
        "parameters": {name: _parameter(grid, band)
                       for name, band in zip(names, query.bands, strict=True)},
        "ranges": ranges,
    }
    return orjson.dumps(document)


def encode(grid: RasterGrid, query: CoverageQuery) -> bytes:
    """Read and encode (call in a thread)."""
    cells = read_cells(grid, query)
    if query.encoding == COVJSON:
        return coveragejson(grid, query, cells)
    return geotiff(grid, query, cells)
