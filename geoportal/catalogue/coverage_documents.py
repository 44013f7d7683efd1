"""The documents describing a coverage: its collection, domain set, range type and schema.

The collection carries its domain set and range type itself, so that GDAL's OGCAPI driver
learns the grid (size, cell size, CRS, axis labels) and the band's data type from one
request, and asks for blocks aligned on the stored cells.
"""

from __future__ import annotations

from typing import Any

from geoportal.catalogue.coverage_grid import CRS84, RasterGrid
from geoportal.catalogue.coverage_query import COVJSON, GTIFF, MEDIA_TYPES

REL = "http://www.opengis.net/def/rel/ogc/1.0"
# GDAL 3.6 recognises the data type of a field by this compact form only (it fails to strip
# the prefix of the full URI http://www.opengis.net/def/dataType/OGC/0/…).
DATA_TYPE_PREFIX = "ogcType:"
DATA_TYPE_URI = "http://www.opengis.net/def/dataType/OGC/0/"
INDEX_2D = "http://www.opengis.net/def/crs/OGC/0/Index2D"


def domainset(grid: RasterGrid) -> dict[str, Any]:
    """The grid (CIS 1.1 JSON): regular axes from cell edge to cell edge."""
    left, bottom, right, top = grid.bounds
    xres, yres = grid.resolution
    x, y = grid.axis_labels
    return {
        "type": "DomainSet",
        "generalGrid": {
            "type": "GeneralGridCoverage",
            "srsName": grid.crs_uri,
            "axisLabels": [x, y],
            "axis": [
                {"type": "RegularAxis", "axisLabel": x, "lowerBound": left, "upperBound": right,
                 "uomLabel": "m", "resolution": xres},
                {"type": "RegularAxis", "axisLabel": y, "lowerBound": bottom,
                 "upperBound": top, "uomLabel": "m", "resolution": yres},
            ],
            "gridLimits": {
                "type": "GridLimits", "srsName": INDEX_2D, "axisLabels": ["i", "j"],
                "axis": [
                    {"type": "IndexAxis", "axisLabel": "i", "lowerBound": 0,
                     "upperBound": grid.width - 1},
                    {"type": "IndexAxis", "axisLabel": "j", "lowerBound": 0,
                     "upperBound": grid.height - 1},
                ],
            },
        },
    }


def rangetype(grid: RasterGrid) -> dict[str, Any]:
    """The band(s) (SWE Common DataRecord): name, data type, nodata, classes."""
    layer = grid.dataset.layer
    fields = []
    for name in grid.band_names:
        field: dict[str, Any] = {
            "type": "Category" if layer.classes else "Quantity", "id": name, "name": name,
            "definition": DATA_TYPE_PREFIX + grid.ogc_type, "label": layer.title,
            "description": _classes_text(grid),
        }
        if grid.nodata is not None:
            field["nilValues"] = [{"reason": "http://www.opengis.net/def/nil/OGC/0/missing",
                                   "value": _number(grid.nodata)}]
        fields.append(field)
    return {"type": "DataRecord", "@context": {"ogcType": DATA_TYPE_URI}, "field": fields}


def schema(grid: RasterGrid, self_url: str) -> dict[str, Any]:
    """The fields (bands) as a JSON Schema, as OGC API Coverages and Common Part 2 describe."""
    layer = grid.dataset.layer
    properties = {}
    for sequence, name in enumerate(grid.band_names, start=1):
        field: dict[str, Any] = {
            "title": layer.title, "description": _classes_text(grid), "type": grid.json_type,
            "x-ogc-propertySeq": sequence,
            "x-ogc-definition": DATA_TYPE_URI + grid.ogc_type,
        }
        if layer.classes:
            field["oneOf"] = [{"const": value, "title": label}
                              for value, label in layer.classes.items()]
        if grid.nodata is not None:
            field["x-ogc-nilValues"] = [_number(grid.nodata)]
        properties[name] = field
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": self_url,
            "title": layer.title, "type": "object", "properties": properties}


def collection(grid: RasterGrid, base: str) -> dict[str, Any]:
    """The coverage's collection (OGC API Common Part 2 and Coverages)."""
    dataset = grid.dataset
    here = f"{base}/pygeoapi/collections/{dataset.id}"
    left, bottom, right, top = grid.bounds
    xres, yres = grid.resolution
    return {
        "id": dataset.id,
        "title": dataset.title,
        "description": dataset.description,
        "keywords": list(dict.fromkeys(dataset.keywords)),
        "dataType": "coverage",
        "extent": {"spatial": {
            "bbox": [list(grid.lonlat)], "crs": CRS84,
            "storageCrsBbox": [[left, bottom, right, top]],
            "grid": [{"cellsCount": grid.width, "resolution": xres},
                     {"cellsCount": grid.height, "resolution": yres}],
        }},
        "crs": [grid.crs_uri, CRS84],
        "storageCrs": grid.crs_uri,
        "domainset": domainset(grid),
        "rangetype": rangetype(grid),
        "links": [
            {"rel": "self", "type": "application/json", "href": f"{here}?f=json",
             "title": "Cette collection (JSON)"},
            {"rel": "alternate", "type": "text/html", "href": f"{here}?f=html",
             "title": "Cette collection (HTML)"},
            {"rel": f"{REL}/coverage", "type": MEDIA_TYPES[GTIFF],
             "href": f"{here}/coverage?f=GTiff", "title": "La couverture en GeoTIFF"},
            {"rel": f"{REL}/coverage", "type": MEDIA_TYPES[COVJSON],
             "href": f"{here}/coverage?f=json", "title": "La couverture en CoverageJSON"},
            {"rel": f"{REL}/coverage-domainset", "type": "application/json",
             "href": f"{here}/coverage/domainset?f=json", "title": "Domain set"},
            {"rel": f"{REL}/coverage-rangetype", "type": "application/json",
             "href": f"{here}/coverage/rangetype?f=json", "title": "Range type"},
            {"rel": f"{REL}/schema", "type": "application/schema+json",
             "href": f"{here}/schema?f=json", "title": "Bandes (JSON Schema)"},
            {"rel": "license", "type": "text/plain",
             "href": f"{base}/opendata/{dataset.id}.license.txt", "title": dataset.license},
            {"rel": "enclosure", "type": MEDIA_TYPES[GTIFF],
             "href": f"{base}/opendata/{dataset.id}.tif", "title": "Le fichier GeoTIFF"},
            {"rel": "root", "type": "application/json", "href": f"{base}/pygeoapi/?f=json",
             "title": "pygeoapi"},
        ],
    }


def _classes_text(grid: RasterGrid) -> str:
    classes = ", ".join(f"{v} = {name}" for v, name in grid.dataset.layer.classes.items())
    nodata = f"; {_number(grid.nodata)} = sans donnée" if grid.nodata is not None else ""
    return f"Classes : {classes}{nodata}" if classes else f"Valeurs{nodata}"


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value
