"""Moved to geoportal.core.extent; kept while the rooms move over."""

from geoportal.core.extent import Extent, ExtentCache, extent_sql

__all__ = ["Extent", "ExtentCache", "extent_sql"]
