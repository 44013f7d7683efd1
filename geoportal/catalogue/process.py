"""OGC API Processes: ``parcel-rules``, the very code behind ``/rules``, for other systems."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import asyncpg
from pydantic import ValidationError
from pygeoapi.process.base import BaseProcessor

from geoportal.catalogue import runtime
from geoportal.errors import GeoportalError, InvalidParameter, ServiceUnavailable
from geoportal.rules.models import RulesQuery
from geoportal.rules.params import rules_moment
from geoportal.rules.rasters import RasterSampler
from geoportal.rules.service import lookup

log = logging.getLogger("geoportal")
ONE_QUESTION = ("donnez exactement un de : parcel, lon et lat, x et y (avec crs), geometry",
                "give exactly one of: parcel, lon and lat, x and y (with crs), geometry")
UNAVAILABLE = ("Les règles ne peuvent pas être calculées maintenant ; réessayez dans un instant.",
               "The rules could not be computed now; try again shortly.")

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
        "at": {"title": "Rules in force on this date, from the data as it stood then (a date "
                        "YYYY-MM-DD or an RFC 3339 date-time)",
               "schema": {"type": "string"},
               "minOccurs": 0, "maxOccurs": 1},
        "with_geometry": {"title": "Return the plot's geometry (CRS84)",
                          "schema": {"type": "boolean", "default": False},
                          "minOccurs": 0, "maxOccurs": 1},
        "envelope": {"title": "Compute the plot's buildable envelope (CRS84), as "
                              "/rules?envelope=true",
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


def _number(data: dict[str, Any], name: str) -> float:
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidParameter(f"{name} : un nombre est attendu",
                               en=f"{name}: a number is expected")
    try:
        number = float(value)
    except ValueError:
        raise InvalidParameter(f"{name} : un nombre est attendu",
                               en=f"{name}: a number is expected") from None
    if not math.isfinite(number):
        raise InvalidParameter(f"{name} : un nombre fini est attendu",
                               en=f"{name}: a finite number is expected")
    return number


def _text(data: dict[str, Any], name: str, default: str, longest: int = 64) -> str:
    value = data.get(name)
    if value is None:
        return default
    if not isinstance(value, str) or not value.strip() or len(value) > longest:
        raise InvalidParameter(f"{name} : un texte de 1 à {longest} caractères est attendu",
                               en=f"{name}: a text of 1 to {longest} characters is expected")
    return value


def _options(data: dict[str, Any]) -> dict[str, Any]:
    at = data.get("at")
    if at is not None and not isinstance(at, str):
        raise InvalidParameter("at : une date AAAA-MM-JJ ou une date-heure RFC 3339 est attendue",
                               en="at: a date YYYY-MM-DD or an RFC 3339 date-time is expected")
    day, data_at = rules_moment(at)  # as /rules reads it
    with_geometry = data.get("with_geometry", False)
    if not isinstance(with_geometry, bool):
        raise InvalidParameter("with_geometry : true ou false est attendu",
                               en="with_geometry: true or false is expected")
    envelope = data.get("envelope", False)
    if not isinstance(envelope, bool):
        raise InvalidParameter("envelope : true ou false est attendu",
                               en="envelope: true or false is expected")
    return {"at": day, "data_at": data_at, "with_geometry": with_geometry,
            "envelope": envelope}


def rules_query(data: dict[str, Any]) -> RulesQuery:
    """The question the inputs ask, as /rules would ask it; 400 when they ask none or several."""
    if not isinstance(data, dict):
        raise InvalidParameter("inputs : un objet JSON est attendu",
                               en="inputs: a JSON object is expected")
    unknown = sorted(set(data) - set(PROCESS_METADATA["inputs"]))
    if unknown:
        names = ", ".join(str(name)[:32] for name in unknown[:5])
        raise InvalidParameter(f"entrées inconnues : {names}", en=f"unknown inputs: {names}")
    options = _options(data)
    asked = [name for name in ("parcel", "geometry") if data.get(name) is not None]
    if data.get("lon") is not None or data.get("lat") is not None:
        asked.append("lon/lat")
    if data.get("x") is not None or data.get("y") is not None:
        asked.append("x/y")
    if len(asked) != 1:
        raise InvalidParameter(ONE_QUESTION[0], en=ONE_QUESTION[1])
    if asked == ["parcel"]:
        return RulesQuery.for_parcel(_text(data, "parcel", ""), **options)
    if asked == ["geometry"]:
        if not isinstance(data["geometry"], dict):
            raise InvalidParameter("geometry : une géométrie GeoJSON (objet) est attendue",
                                   en="geometry: a GeoJSON geometry (object) is expected")
        return RulesQuery.for_geometry(data["geometry"], _text(data, "crs", "OGC:CRS84"),
                                       **options)
    if asked == ["lon/lat"]:
        return RulesQuery.at_lonlat(_number(data, "lon"), _number(data, "lat"), **options)
    return RulesQuery.at_xy(_number(data, "x"), _number(data, "y"),
                            _text(data, "crs", "EPSG:26191"), **options)


class ParcelRulesProcessor(BaseProcessor):
    """Runs ``geoportal.rules.service.lookup`` (the code of /rules) for OGC API Processes.

    Errors are :class:`GeoportalError` (French, with an English twin); the manager
    (:mod:`geoportal.catalogue.jobs`) tells them in the client's language.
    """

    def __init__(self, processor_def: dict[str, Any]) -> None:
        super().__init__(processor_def, PROCESS_METADATA)
        self.database_url: str = processor_def["database_url"]
        self.raster_dir = Path(processor_def["raster_dir"])

    def execute(self, data: dict[str, Any], outputs: dict[str, Any] | None = None
                ) -> tuple[str, dict[str, Any]]:
        """The rules answer, as ``{"id": "rules", "value": <the /rules JSON>}``."""
        try:
            query = rules_query(data)
        except (ValueError, TypeError, ValidationError) as exc:  # the model refused a value
            log.info("parcel-rules: unusable inputs: %s", type(exc).__name__)
            raise InvalidParameter("entrées inutilisables : vérifiez leurs types et valeurs",
                                   en="unusable inputs: check their types and values") from exc
        service = runtime.current()
        rasters = service.rasters if service is not None else RasterSampler(self.raster_dir)
        try:
            answer = runtime.run(lambda db: lookup(db, query, rasters=rasters),
                                 self.database_url)
        except GeoportalError:
            raise
        except asyncpg.DataError as exc:  # SQLSTATE 22: a value the inputs carried
            log.info("parcel-rules: data error: %s", type(exc).__name__)
            raise InvalidParameter("une valeur des entrées n'est pas acceptable",
                                   en="a value of the inputs is not acceptable") from exc
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("parcel-rules: database unavailable: %s", type(exc).__name__)
            raise ServiceUnavailable(UNAVAILABLE[0], en=UNAVAILABLE[1]) from exc
        return "application/json", {"id": "rules", "value": answer.model_dump(mode="json")}

    def __repr__(self) -> str:
        return "<ParcelRulesProcessor> parcel-rules"
