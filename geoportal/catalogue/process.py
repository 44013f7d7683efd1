"""OGC API Processes: ``parcel-rules``, the very code behind ``/rules``, for other systems."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pygeoapi.process.base import BaseProcessor, ProcessorExecuteError

from geoportal.catalogue import runtime
from geoportal.errors import GeoportalError
from geoportal.rules.models import RulesQuery
from geoportal.rules.rasters import RasterSampler
from geoportal.rules.service import lookup

log = logging.getLogger("geoportal")

PROCESS_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "parcel-rules",
    "title": {"fr": "Règles d'urbanisme d'une parcelle", "en": "Planning rules of a plot"},
    "description": {
        "fr": "Les plans, zones (avec leur part de la parcelle), règles, servitudes et "
              "réservations qui s'appliquent à une parcelle (référence foncière), un point ou "
              "une géométrie: la même réponse que /rules.",
        "en": "The plans, zones (with their share of the plot), rules, servitudes and "
              "reservations that apply to a plot (land-title reference), a point or a "
              "geometry: the same answer as /rules.",
    },
    "jobControlOptions": ["sync-execute"],
    "keywords": ["urbanisme", "règlement", "note de renseignement", "parcelle"],
    "links": [{"type": "text/html", "rel": "about", "title": "/rules",
               "href": "/rules", "hreflang": "fr"}],
    "inputs": {
        "parcel": {"title": "Référence foncière", "description": "e.g. TF 12345/C",
                   "schema": {"type": "string", "maxLength": 64},
                   "minOccurs": 0, "maxOccurs": 1},
        "lon": {"title": "Longitude (WGS 84)", "schema": {"type": "number"},
                "minOccurs": 0, "maxOccurs": 1},
        "lat": {"title": "Latitude (WGS 84)", "schema": {"type": "number"},
                "minOccurs": 0, "maxOccurs": 1},
        "x": {"title": "Easting in crs", "schema": {"type": "number"},
              "minOccurs": 0, "maxOccurs": 1},
        "y": {"title": "Northing in crs", "schema": {"type": "number"},
              "minOccurs": 0, "maxOccurs": 1},
        "crs": {"title": "CRS of x/y or of the geometry",
                "schema": {"type": "string", "default": "EPSG:26191"},
                "minOccurs": 0, "maxOccurs": 1},
        "geometry": {"title": "A GeoJSON geometry (CRS84 unless crs says)",
                     "schema": {"type": "object", "contentMediaType": "application/geo+json"},
                     "minOccurs": 0, "maxOccurs": 1},
        "at": {"title": "Rules in force on this date",
               "schema": {"type": "string", "format": "date"},
               "minOccurs": 0, "maxOccurs": 1},
        "with_geometry": {"title": "Return the plot's geometry (CRS84)",
                          "schema": {"type": "boolean", "default": False},
                          "minOccurs": 0, "maxOccurs": 1},
    },
    "outputs": {
        "rules": {"title": "The rules that apply",
                  "description": "The /rules answer (JSON).",
                  "schema": {"type": "object", "contentMediaType": "application/json"}},
    },
    "example": {"inputs": {"parcel": "TF 1/C"}},
}


def rules_query(data: dict[str, Any]) -> RulesQuery:
    """The question the inputs ask, as /rules would ask it; 400 when they ask none or several."""
    at = dt.date.fromisoformat(str(data["at"])) if data.get("at") else None
    options: dict[str, Any] = {"at": at, "with_geometry": bool(data.get("with_geometry"))}
    asked = [name for name in ("parcel", "geometry") if data.get(name) is not None]
    if data.get("lon") is not None or data.get("lat") is not None:
        asked.append("lon/lat")
    if data.get("x") is not None or data.get("y") is not None:
        asked.append("x/y")
    if len(asked) != 1:
        raise ProcessorExecuteError(user_msg="give exactly one of: parcel, lon and lat, "
                                             "x and y (with crs), geometry")
    if asked == ["parcel"]:
        return RulesQuery.for_parcel(str(data["parcel"]), **options)
    if asked == ["geometry"]:
        return RulesQuery.for_geometry(data["geometry"], str(data.get("crs") or "OGC:CRS84"),
                                       **options)
    if asked == ["lon/lat"]:
        return RulesQuery.at_lonlat(float(data["lon"]), float(data["lat"]), **options)
    return RulesQuery.at_xy(float(data["x"]), float(data["y"]),
                            str(data.get("crs") or "EPSG:26191"), **options)


class ParcelRulesProcessor(BaseProcessor):
    """Runs ``geoportal.rules.service.lookup`` (the code of /rules) for OGC API Processes."""

    def __init__(self, processor_def: dict[str, Any]) -> None:
        super().__init__(processor_def, PROCESS_METADATA)
        self.database_url: str = processor_def["database_url"]
        self.raster_dir = Path(processor_def["raster_dir"])

    def execute(self, data: dict[str, Any], outputs: dict[str, Any] | None = None
                ) -> tuple[str, dict[str, Any]]:
        """The rules answer, as ``{"id": "rules", "value": <the /rules JSON>}``."""
        try:
            query = rules_query(data)
        except (ValueError, TypeError, ValidationError) as exc:
            raise ProcessorExecuteError(user_msg=f"unusable inputs: {exc}") from exc
        service = runtime.current()
        rasters = service.rasters if service is not None else RasterSampler(self.raster_dir)
        try:
            answer = runtime.run(lambda db: lookup(db, query, rasters=rasters),
                                 self.database_url)
        except GeoportalError as exc:
            raise ProcessorExecuteError(user_msg=exc.message) from exc
        except Exception as exc:  # database down or timeout: logged, not told
            log.exception("parcel-rules process failed", exc_info=exc)
            raise ProcessorExecuteError(user_msg="The rules could not be computed now.") from exc
        return "application/json", {"id": "rules", "value": answer.model_dump(mode="json")}

    def __repr__(self) -> str:
        return "<ParcelRulesProcessor> parcel-rules"
