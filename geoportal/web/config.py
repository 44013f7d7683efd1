"""The viewer's configuration, generated from the layer registry and the settings."""

from __future__ import annotations

from typing import Any

from geoportal.core.area import STORAGE_CRS
from geoportal.core.extent import Bounds
from geoportal.registry import Layer, LayerRegistry
from geoportal.settings import Settings

# Merchich / Nord Maroc for proj4js, with the EPSG:1166 shift to WGS 84 (about 7 m).
NORD_MAROC_PROJ4 = (
    "+proj=lcc +lat_1=33.3 +lat_0=33.3 +lon_0=-5.4 +k_0=0.999625769 +x_0=500000 +y_0=300000"
    " +a=6378249.2 +b=6356515 +towgs84=31,146,47,0,0,0,0 +units=m +no_defs"
)
# Layers the base map is drawn from (land, boundaries, roads), when the registry has them.
BASE_ROLES = {"land": "prefectures", "districts": "communes", "roads": "roads"}
HIDDEN_AT_START = {"plans"}
TILES_MAXZOOM = 16  # deeper zooms reuse the z16 tiles (their grid is 15 cm there)


def layer_entry(layer: Layer) -> dict[str, Any]:
    """What the viewer needs of a layer: names, zooms, style and legend."""
    label = layer.style.label
    return {
        "id": layer.id,
        "title": layer.title,
        "title_ar": layer.title_ar,
        "geometry_type": layer.geometry_type,
        "min_zoom": layer.min_zoom,
        "max_zoom": layer.max_zoom,
        "style": layer.style.model_dump(mode="json"),
        "label_layer": layer.label_layer_id if label and layer.polygonal else None,
        "visible": layer.id not in HIDDEN_AT_START,
        "base": layer.id in BASE_ROLES.values(),
        "attribution": layer.attribution,
    }


def viewer_config(registry: LayerRegistry, settings: Settings, bounds: Bounds) -> dict[str, Any]:
    """The configuration document the page loads first (``/web/config.json``)."""
    return {
        "title": "Géoportail de l'Agence urbaine de Casablanca",
        "tiles": "ogc/tiles/WebMercatorQuad/{z}/{x}/{y}",
        "tiles_maxzoom": TILES_MAXZOOM,
        "bounds": list(bounds),
        "basemap_url": settings.basemap_url,
        "base": {role: layer_id for role, layer_id in BASE_ROLES.items() if layer_id in registry},
        "layers": [layer_entry(layer) for layer in registry.with_geometry()],  # map layers
        "endpoints": {"rules": "rules", "note": "rules/note", "search": "search",
                      "neighbours": "rules/neighbours"},
        "crs": {"code": STORAGE_CRS, "title": "Merchich / Nord Maroc", "proj4": NORD_MAROC_PROJ4},
    }
