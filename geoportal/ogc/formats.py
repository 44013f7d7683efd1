"""Moved to geoportal.core.formats; kept while the rooms move over."""

from geoportal.core.formats import (
    CSV,
    FEATURE,
    FEATURES,
    GEOJSON,
    HTML,
    JSON,
    JSONFG,
    JSONSEQ,
    METADATA,
    OPENAPI,
    SCHEMA,
    STREAMING,
    Format,
    negotiate,
)

__all__ = ["CSV", "FEATURE", "FEATURES", "GEOJSON", "HTML", "JSON", "JSONFG", "JSONSEQ",
           "METADATA", "OPENAPI", "SCHEMA", "STREAMING", "Format", "negotiate"]
