"""The query parameters of ``GET /rules``, parsed in one pydantic step (and documented from
the same model): FastAPI's per-parameter machinery cost more than the lookup's own Python."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import QueryParams

from geoportal.errors import InvalidParameter
from geoportal.rules.models import RulesQuery


class RulesParams(BaseModel):
    """Ask by ``lon``/``lat`` (WGS 84), by ``x``/``y``/``crs``, or by ``parcel``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    lon: float | None = Field(default=None, description="Longitude, WGS 84.")
    lat: float | None = Field(default=None, description="Latitude, WGS 84.")
    x: float | None = Field(default=None, description="Easting (or longitude) in `crs`.")
    y: float | None = Field(default=None, description="Northing (or latitude) in `crs`.")
    crs: str | None = Field(default=None, max_length=200,
                            description="CRS of x/y (default EPSG:26191), e.g. EPSG:4326.")
    parcel: str | None = Field(default=None, max_length=64,
                               description="Land-title reference, e.g. `TF 12345/C` "
                                           "(spacing and case do not matter).")
    at: dt.date | None = Field(default=None,
                               description="Rules in force on this date (YYYY-MM-DD).")
    geometry: bool = Field(default=False, description="Include the plot's geometry (CRS84).")


def _problem(error: Any) -> str:
    where = ".".join(str(part) for part in error.get("loc", ())) or "query"
    return f"{where}: {error.get('msg', 'invalid')}"


def parse_rules_params(params: QueryParams) -> RulesQuery:
    """The one question a query string asks; 400 saying what is wrong otherwise."""
    try:
        parsed = RulesParams.model_validate(dict(params))
    except ValidationError as exc:
        raise InvalidParameter("; ".join(_problem(e) for e in exc.errors())) from None
    options: dict[str, Any] = {"at": parsed.at, "with_geometry": parsed.geometry}
    forms = [parsed.lon is not None or parsed.lat is not None,
             parsed.x is not None or parsed.y is not None, parsed.parcel is not None]
    if sum(forms) != 1:
        raise InvalidParameter("give either lon and lat, or x, y (and crs), or parcel")
    if forms[0]:
        if parsed.lon is None or parsed.lat is None or parsed.crs is not None:
            raise InvalidParameter("lon and lat go together, in WGS 84 (use x, y and crs for "
                                   "another CRS)")
        return RulesQuery.at_lonlat(parsed.lon, parsed.lat, **options)
    if forms[1]:
        if parsed.x is None or parsed.y is None:
            raise InvalidParameter("x and y go together")
        return RulesQuery.at_xy(parsed.x, parsed.y, parsed.crs or "EPSG:26191", **options)
    assert parsed.parcel is not None
    return RulesQuery.for_parcel(parsed.parcel, **options)


def openapi_parameters() -> list[dict[str, Any]]:
    """The OpenAPI description of the query parameters, from the model."""
    schema = RulesParams.model_json_schema()
    parameters = []
    for name, field in schema["properties"].items():
        description = field.pop("description", None)
        field.pop("title", None)
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": False,
                                     "schema": field}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters
