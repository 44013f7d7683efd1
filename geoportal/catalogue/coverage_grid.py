"""A raster file as a coverage sees it: its grid in the storage CRS, its band, its extents.

Read once per version of the file (its size and modification time), off the event loop.
The CRS84 extent is the raster's bounds through the datum shift (EPSG:1166 for Merchich),
densified along the edges so that it holds every cell.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

import rasterio
from affine import Affine
from pyproj import CRS
from rasterio.warp import transform_bounds

from geoportal.opendata.rasters import RasterDataset

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EDGE_POINTS = 101  # points per edge when the bounds are carried to CRS84
DATA_TYPES = {  # numpy dtype → (OGC data type, JSON Schema type)
    "uint8": ("unsignedByte", "integer"), "int8": ("signedByte", "integer"),
    "uint16": ("unsignedShort", "integer"), "int16": ("signedShort", "integer"),
    "uint32": ("unsignedInt", "integer"), "int32": ("signedInt", "integer"),
    "float32": ("float32", "number"), "float64": ("double", "number"),
}


@dataclass(frozen=True)
class RasterGrid:
    """The grid of a raster file: size, cell size, bounds and band, in its own CRS."""

    dataset: RasterDataset
    path: Path
    version: str  # size and modification time: a new file is another version
    width: int
    height: int
    transform: Affine
    epsg: int
    axis_labels: tuple[str, str]  # the CRS's abbreviations, easting first (X, Y)
    bounds: tuple[float, float, float, float]  # left, bottom, right, top
    lonlat: tuple[float, float, float, float]  # in CRS84, holding every cell
    dtype: str
    nodata: float | None
    band_names: tuple[str, ...]

    @property
    def crs_uri(self) -> str:
        """The OGC URI of the raster's CRS."""
        return f"http://www.opengis.net/def/crs/EPSG/0/{self.epsg}"

    @property
    def resolution(self) -> tuple[float, float]:
        """Cell width and height, positive, in CRS units."""
        return abs(self.transform.a), abs(self.transform.e)

    @property
    def ogc_type(self) -> str:
        """The OGC data type of the cells (``unsignedByte``…)."""
        return DATA_TYPES.get(self.dtype, ("double", "number"))[0]

    @property
    def json_type(self) -> str:
        """``integer`` or ``number``."""
        return DATA_TYPES.get(self.dtype, ("double", "number"))[1]

    def band_index(self, name: str) -> int | None:
        """The 1-based index of a band named by its name or its number."""
        if name in self.band_names:
            return self.band_names.index(name) + 1
        if name.isdigit() and 1 <= int(name) <= len(self.band_names):
            return int(name)
        return None


def _axis_labels(crs: CRS) -> tuple[str, str]:
    labels = [axis.abbrev or axis.name for axis in crs.axis_info[:2]]
    if crs.axis_info and crs.axis_info[0].direction in ("north", "south"):
        labels.reverse()  # easting first, as the cells are stored
    return labels[0], labels[1]


def read_grid(dataset: RasterDataset, folder: Path) -> RasterGrid:
    """The grid of the dataset's file (``OSError`` when the file is missing)."""
    path = dataset.path(folder)
    status = path.stat()
    with rasterio.open(path) as raster:
        epsg = raster.crs.to_epsg() if raster.crs else None
        if epsg is None or raster.transform.b or raster.transform.d:
            raise ValueError(f"{path}: a north-up raster in an EPSG CRS is expected")
        bounds = (raster.bounds.left, raster.bounds.bottom, raster.bounds.right,
                  raster.bounds.top)
        lonlat = transform_bounds(raster.crs, "OGC:CRS84", *bounds, densify_pts=EDGE_POINTS)
        names = tuple(name or str(i) for i, name in enumerate(raster.descriptions, start=1))
        return RasterGrid(
            dataset=dataset, path=path, version=f"{status.st_size}-{status.st_mtime_ns}",
            width=raster.width, height=raster.height, transform=raster.transform, epsg=epsg,
            axis_labels=_axis_labels(CRS.from_epsg(epsg)), bounds=bounds,
            lonlat=_outward(lonlat), dtype=raster.dtypes[0], nodata=raster.nodata,
            band_names=names)


def _outward(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """Rounded outwards to 1e-7° (1 cm), so that the box still holds the cells."""
    w, s, e, n = box
    return (math.floor(w * 1e7) / 1e7, math.floor(s * 1e7) / 1e7,
            math.ceil(e * 1e7) / 1e7, math.ceil(n * 1e7) / 1e7)


class Grids:
    """The grids of the raster files, re-read when a file changes (one per process)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._grids: dict[str, RasterGrid] = {}
        self._lock = threading.Lock()

    def get(self, dataset: RasterDataset) -> RasterGrid:
        """The dataset's grid as its file is now (call in a thread: it may read the file)."""
        status = dataset.path(self.folder).stat()
        version = f"{status.st_size}-{status.st_mtime_ns}"
        with self._lock:
            grid = self._grids.get(dataset.id)
            if grid is None or grid.version != version:
                grid = self._grids[dataset.id] = read_grid(dataset, self.folder)
            return grid
