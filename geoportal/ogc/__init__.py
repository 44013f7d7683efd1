"""OGC API Features, Parts 1–3, on a native fast path (the body is made by PostgreSQL)."""

from geoportal.ogc.extensions import OgcExtension, register_extension
from geoportal.ogc.routes import ITEM_PATHS, ogc_router

__all__ = ["ITEM_PATHS", "OgcExtension", "ogc_router", "register_extension"]
