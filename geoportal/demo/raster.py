"""A synthetic flood-hazard GeoTIFF: classes by distance to the oueds, 50 m pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.features import rasterize
from shapely.geometry import LineString, Polygon

from geoportal.core.area import STORAGE_CRS
from geoportal.demo.landmarks import AUC_BOUNDS
from geoportal.demo.territory import SYNTHETIC

FLOOD_HAZARD_FILE = "flood_hazard.tif"
PIXEL_M = 50.0
NODATA = 255
# (class, distance from the oued bed in metres), painted from the widest band inwards.
HAZARD_BANDS = ((1, 800.0), (2, 400.0), (3, 150.0))
CLASS_NAMES = "0=nul, 1=faible, 2=moyen, 3=fort"


def pixel_grid() -> Affine:
    """North-up 50 m pixels from the top-left corner of the AUC box."""
    return Affine(PIXEL_M, 0.0, AUC_BOUNDS[0], 0.0, -PIXEL_M, AUC_BOUNDS[3])


def hazard_classes(oueds: list[LineString], land: Polygon) -> np.ndarray:
    """The class of each pixel of the AUC box; the sea is nodata."""
    xmin, ymin, xmax, ymax = AUC_BOUNDS
    width, height = int((xmax - xmin) / PIXEL_M), int((ymax - ymin) / PIXEL_M)
    transform = pixel_grid()
    shapes = [(line.buffer(distance), hazard) for hazard, distance in HAZARD_BANDS
              for line in oueds]
    classes = rasterize(shapes, out_shape=(height, width), transform=transform, fill=0,
                        dtype="uint8")
    on_land = rasterize([(land, 1)], out_shape=(height, width), transform=transform, fill=0,
                        dtype="uint8")
    return np.where(on_land == 1, classes, NODATA).astype(np.uint8)


def write_flood_hazard(raster_dir: Path, oueds: list[LineString], land: Polygon) -> Path:
    """Write ``flood_hazard.tif`` (EPSG:26191, uint8, tiled, deflate) and return its path."""
    raster_dir.mkdir(parents=True, exist_ok=True)
    path = raster_dir / FLOOD_HAZARD_FILE
    classes = hazard_classes(oueds, land)
    profile = {
        "driver": "GTiff", "width": classes.shape[1], "height": classes.shape[0], "count": 1,
        "dtype": "uint8", "crs": STORAGE_CRS, "nodata": NODATA,
        "transform": pixel_grid(),
        "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(classes, 1)
        dataset.update_tags(
            title="Aléa inondation (synthétique)",
            description=(f"Classes d'aléa inondation par distance aux oueds Bouskoura et "
                         f"El Maleh: {CLASS_NAMES}; 255 = mer. {SYNTHETIC}."),
            classes=CLASS_NAMES, synthetic="true",
        )
        dataset.set_band_description(1, "flood_hazard_class")
    return path
