"""The open data catalogue as a document: each dataset, its license, size and downloads.

The ``/opendata`` page and the OGC API Records catalogue (pygeoapi) both describe the
datasets from here, so that they always agree with the layer registry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geoportal.core.links import Links
from geoportal.opendata.datasets import LayerStats, human_size
from geoportal.opendata.formats import (
    CRS_CHOICES,
    DOWNLOADS,
    GEOTIFF,
    LICENSE_EXT,
    TABLE_DOWNLOADS,
)
from geoportal.opendata.licenses import license_of
from geoportal.opendata.rasters import RasterDataset, raster_datasets
from geoportal.registry import Layer, LayerRegistry

CRS_TITLES = {"CRS84": "longitude/latitude WGS 84", "EPSG:26191": "Merchich / Nord Maroc"}


def download_href(links: Links, dataset_id: str, ext: str, crs_label: str | None) -> str:
    """The URL of one download; CRS84 is the default and needs no parameter."""
    params = {"crs": crs_label} if crs_label and crs_label != "CRS84" else {}
    return links.url(f"/opendata/{dataset_id}.{ext}", params)


def download_name(dataset_id: str, ext: str, crs_label: str) -> str:
    """The file name a download is saved under (``parcels-26191.gpkg`` in EPSG:26191)."""
    return f"{dataset_id}{'-26191' if crs_label == 'EPSG:26191' else ''}.{ext}"


def _license(identifier: str) -> dict[str, Any]:
    terms = license_of(identifier)
    return {"id": terms.id, "title": terms.title, "url": terms.url}


def layer_downloads(layer: Layer, links: Links) -> list[dict[str, Any]]:
    """A layer's files: every format in each CRS; a table without geometry once each."""
    if not layer.has_geometry:
        return [{"href": download_href(links, layer.id, d.ext, None), "type": d.media_type,
                 "title": d.title, "format": d.title, "crs": None,
                 "filename": f"{layer.id}.{d.ext}"} for d in TABLE_DOWNLOADS]
    return [
        {"href": download_href(links, layer.id, d.ext, label), "type": d.media_type,
         "title": f"{d.title} ({label})", "format": d.title, "crs": label,
         "filename": download_name(layer.id, d.ext, label)}
        for label in CRS_CHOICES for d in DOWNLOADS
    ]


def layer_document(layer: Layer, stats: LayerStats | None, links: Links) -> dict[str, Any]:
    """One vector dataset: what it is, its terms, its size and its download links."""
    downloads = layer_downloads(layer, links)
    return {
        "id": layer.id,
        "kind": "vector",
        "title": layer.title,
        "title_ar": layer.title_ar,
        "description": layer.description,
        "keywords": list(layer.keywords),
        "license": _license(layer.license),
        "attribution": layer.attribution,
        "geometryType": layer.geometry_type,
        "updated": stats.updated.isoformat() if stats and stats.updated else None,
        "version": stats.version if stats else None,
        "features": stats.features if stats else None,
        "estimatedBytes": stats.estimated_bytes if stats else None,
        "estimatedSize": human_size(stats.estimated_bytes if stats else None),
        "downloads": downloads,
        "links": [
            {"rel": "license", "href": links.url(f"/opendata/{layer.id}.{LICENSE_EXT}"),
             "type": "text/plain", "title": "License file"},
            {"rel": "collection", "href": links.url(f"/ogc/collections/{layer.id}"),
             "type": "application/json", "title": "OGC API Features collection"},
        ],
    }


@dataclass(frozen=True)
class RasterFile:
    """A raster dataset with its file's size and date, when the file is there."""

    dataset: RasterDataset
    size: int | None
    modified: float | None

    @classmethod
    def look(cls, dataset: RasterDataset, folder: Path) -> RasterFile:
        """The dataset's file as it is now in ``folder``."""
        try:
            status = dataset.path(folder).stat()
        except OSError:
            return cls(dataset, None, None)
        return cls(dataset, status.st_size, status.st_mtime)


def raster_document(raster: RasterFile, links: Links) -> dict[str, Any]:
    """One raster dataset: its GeoTIFF download and its OGC API Coverages link."""
    dataset = raster.dataset
    updated = None if raster.modified is None else dt.datetime.fromtimestamp(
        raster.modified, dt.UTC).isoformat()
    downloads = [] if raster.size is None else [
        {"href": links.url(f"/opendata/{dataset.id}.{GEOTIFF.ext}"), "type": GEOTIFF.media_type,
         "title": f"{GEOTIFF.title} (EPSG:26191)", "format": GEOTIFF.title, "crs": "EPSG:26191"}]
    return {
        "id": dataset.id,
        "kind": "raster",
        "title": dataset.title,
        "title_ar": None,
        "description": dataset.description,
        "keywords": dataset.keywords,
        "license": _license(dataset.license),
        "attribution": "Agence urbaine de Casablanca (données de démonstration synthétiques)",
        "geometryType": None,
        "updated": updated,
        "version": None,
        "features": None,
        "estimatedBytes": raster.size,
        "estimatedSize": human_size(raster.size),
        "downloads": downloads,
        "links": [
            {"rel": "license", "href": links.url(f"/opendata/{dataset.id}.{LICENSE_EXT}"),
             "type": "text/plain", "title": "License file"},
            {"rel": "coverage", "href": links.url(f"/pygeoapi/collections/{dataset.id}/coverage"),
             "type": "image/tiff; application=geotiff", "title": "OGC API Coverages"},
        ],
    }


def catalogue_document(registry: LayerRegistry, stats: dict[str, LayerStats],
                       raster_folder: Path, links: Links) -> dict[str, Any]:
    """Every dataset: the registry's layers in map order, then the rasters."""
    datasets = [layer_document(layer, stats.get(layer.id), links) for layer in registry]
    datasets += [raster_document(RasterFile.look(r, raster_folder), links)
                 for r in raster_datasets(registry)]
    return {
        "title": "Données ouvertes — Agence urbaine de Casablanca",
        "datasets": datasets,
        "crs": {label: CRS_TITLES[label] for label in CRS_CHOICES},
        "links": [
            {"rel": "self", "href": links.url("/opendata", {"f": "json"}),
             "type": "application/json", "title": "This catalogue as JSON"},
            {"rel": "alternate", "href": links.url("/opendata"), "type": "text/html",
             "title": "This catalogue as HTML"},
            {"rel": "search", "href": links.url("/pygeoapi/collections/catalogue/items"),
             "type": "application/geo+json", "title": "OGC API Records catalogue"},
        ],
    }
