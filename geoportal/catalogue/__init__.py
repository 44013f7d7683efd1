"""pygeoapi in the service: the open data catalogue (Records), parcel-rules (Processes), rasters
(Coverages)."""

from geoportal.catalogue.config import render_config
from geoportal.catalogue.mount import mount_pygeoapi

__all__ = ["mount_pygeoapi", "render_config"]
