"""Open data: the ``/opendata`` catalogue page and whole-layer downloads."""

from geoportal.opendata.extension import opendata_extension
from geoportal.opendata.routes import router

__all__ = ["opendata_extension", "router"]
