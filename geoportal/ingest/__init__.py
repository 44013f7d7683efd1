"""Importing the agency's files (Shapefile, GeoPackage, GeoJSON, FlatGeobuf) into a layer."""

from geoportal.ingest.errors import IngestError
from geoportal.ingest.importer import ImportOptions, ImportSummary, import_file

__all__ = ["ImportOptions", "ImportSummary", "IngestError", "import_file"]
