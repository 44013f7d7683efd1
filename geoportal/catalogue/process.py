"""OGC API Processes: ``parcel-rules``, the very code behind ``/rules``, for other systems."""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path
from typing import Any

import asyncpg
from pydantic import ValidationError
from pygeoapi.process.base import BaseProcessor

from geoportal.catalogue import runtime
from geoportal.core.resources import resource_path
from geoportal.errors import GeoportalError, InvalidParameter, ServiceUnavailable
from geoportal.registry import load_registry
from geoportal.rules.models import RulesQuery
from geoportal.rules.params import (
    RulesParams,
    envelope_in_crs84,
    openapi_parameters,
    params_refused,
    question,
    rules_moment,
)
from geoportal.rules.rasters import RasterSampler
from geoportal.rules.service import lookup

log = logging.getLogger("geoportal")
ONE_QUESTION = ("donnez exactement un de : parcel, lon et lat, x et y (avec crs), geometry",
                "give exactly one of: parcel, lon and lat, x and y (with crs), geometry")
UNAVAILABLE = ("Les règles ne peuvent pas être calculées maintenant ; réessayez dans un instant.",
               "The rules could not be computed now; try again shortly.")

# The process description less its inputs, which process_metadata() adds from the model.
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
    "outputs": {
        "rules": {"title": "The rules that apply",
                  "description": "The /rules answer (JSON).",
                  "schema": {"type": "object", "contentMediaType": "application/json"}},
    },
    "example": {"inputs": {"parcel": "TF 1/C"}},
}


GEOMETRY_INPUT = {"title": "A GeoJSON geometry (CRS84 unless crs says)",
                  "schema": {"type": "object", "contentMediaType": "application/geo+json"},
                  "minOccurs": 0, "maxOccurs": 1}


TITLES = {"parcel": "Référence foncière", "lon": "Longitude (WGS 84)",
          "lat": "Latitude (WGS 84)", "x": "Abscisse (dans crs)", "y": "Ordonnée (dans crs)",
          "crs": "Système de coordonnées", "at": "Date (règles et données à cette date)",
          "with_geometry": "Renvoyer la géométrie de la parcelle",
          "envelope": "Calculer l'enveloppe constructible",
          "envelope-crs": "Système de coordonnées de l'enveloppe"}


@cache
def process_inputs() -> dict[str, Any]:
    """The process inputs, declared once: the query parameters of GET /rules (their model,
    ``rules.params.RulesParams``) — its ``geometry`` flag named ``with_geometry`` here, since
    ``geometry`` is the GeoJSON geometry POST /rules takes. Built on first use, not at import."""
    inputs: dict[str, Any] = {}
    for parameter in openapi_parameters():
        name = "with_geometry" if parameter["name"] == "geometry" else parameter["name"]
        inputs[name] = {"title": TITLES.get(name, name),
                        "description": parameter.get("description", ""),
                        "schema": parameter["schema"], "minOccurs": 0, "maxOccurs": 1}
    inputs["geometry"] = GEOMETRY_INPUT
    return inputs


def process_metadata() -> dict[str, Any]:
    """The process description pygeoapi publishes: the fixed part and the inputs."""
    return {**PROCESS_METADATA, "inputs": process_inputs()}


def rules_query(data: dict[str, Any]) -> RulesQuery:
    """The question the inputs ask, as /rules would ask it (the same parser for a plot or a
    point, the same model as POST /rules for a geometry); 400 when they ask none or several."""
    if not isinstance(data, dict):
        raise InvalidParameter("inputs : un objet JSON est attendu",
                               en="inputs: a JSON object is expected")
    unknown = sorted(set(data) - set(process_inputs()))
    if unknown:
        names = ", ".join(str(name)[:32] for name in unknown[:5])
        raise InvalidParameter(f"entrées inconnues : {names}", en=f"unknown inputs: {names}")
    for flag in ("with_geometry", "envelope"):  # JSON has booleans: no "yes" for true here
        if flag in data and data[flag] is not None and not isinstance(data[flag], bool):
            raise InvalidParameter(f"{flag} : true ou false est attendu",
                                   en=f"{flag}: true or false is expected")
    fields = {("geometry" if k == "with_geometry" else k): v for k, v in data.items()
              if k != "geometry" and v is not None}
    try:
        parsed = RulesParams.model_validate(fields)
    except ValidationError as exc:
        raise params_refused(exc) from None
    geometry = data.get("geometry")
    by_point = parsed.lon is not None or parsed.lat is not None
    by_xy = parsed.x is not None or parsed.y is not None
    if by_point + by_xy + (parsed.parcel is not None) + (geometry is not None) != 1:
        raise InvalidParameter(ONE_QUESTION[0], en=ONE_QUESTION[1])
    at, data_at = rules_moment(parsed.at)
    if geometry is None:
        return question(lon=parsed.lon, lat=parsed.lat, x=parsed.x, y=parsed.y, crs=parsed.crs,
                        parcel=parsed.parcel, at=at, data_at=data_at,
                        with_geometry=parsed.geometry, envelope=parsed.envelope,
                        envelope_crs84=envelope_in_crs84(parsed.envelope_crs))
    if not isinstance(geometry, dict):
        raise InvalidParameter("geometry : une géométrie GeoJSON (objet) est attendue",
                               en="geometry: a GeoJSON geometry (object) is expected")
    return RulesQuery.for_geometry(geometry, parsed.crs or "OGC:CRS84", at=at,
                                   data_at=data_at, with_geometry=parsed.geometry,
                                   envelope=parsed.envelope,
                                   envelope_crs84=envelope_in_crs84(parsed.envelope_crs))


class ParcelRulesProcessor(BaseProcessor):
    """Runs ``geoportal.rules.service.lookup`` (the code of /rules) for OGC API Processes.

    Errors are :class:`GeoportalError` (French, with an English twin); the manager
    (:mod:`geoportal.catalogue.jobs`) tells them in the client's language.
    """

    def __init__(self, processor_def: dict[str, Any]) -> None:
        super().__init__(processor_def, process_metadata())
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
        rasters = service.rasters if service is not None else RasterSampler(
            self.raster_dir, load_registry(resource_path("layers")).rasters)
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
