"""Moved to geoportal.core.links; kept while the rooms move over."""

from geoportal.core.links import Link, Links, replace_params

__all__ = ["Link", "Links", "replace_params"]
