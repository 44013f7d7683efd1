"""Which question a request asks: the query parameters of ``GET /rules`` and each item of a
batch go through the one parser here, ``question``.

``GET /rules`` parses its parameters in one pydantic step (and is documented from the same
model): FastAPI's per-parameter machinery cost more than the lookup's own Python.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import QueryParams

from geoportal.core.area import STORAGE_SRID
from geoportal.core.crs import crs_name
from geoportal.core.history import AGENCY_TZ, parse_at
from geoportal.errors import InvalidParameter, expected
from geoportal.rules.models import RulesQuery

MAX_REF_LENGTH = 64
MAX_AT_LENGTH = 40
DEFAULT_XY_CRS = "EPSG:26191"
AT_DESCRIPTION = ("Rules in force on this date, read from the data as it stood then: a date "
                  "YYYY-MM-DD (the end of that day in Casablanca; a future date: the rules "
                  "then, on the current data) or an RFC 3339 date-time.")


class RulesParams(BaseModel):
    """Ask by ``lon``/``lat`` (WGS 84), by ``x``/``y``/``crs``, or by ``parcel``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    lon: float | None = Field(default=None, description="Longitude, WGS 84.")
    lat: float | None = Field(default=None, description="Latitude, WGS 84.")
    x: float | None = Field(default=None, description="Easting (or longitude) in `crs`.")
    y: float | None = Field(default=None, description="Northing (or latitude) in `crs`.")
    crs: str | None = Field(default=None, max_length=200,
                            description="CRS of x/y (default EPSG:26191), e.g. EPSG:4326.")
    parcel: str | None = Field(default=None, max_length=MAX_REF_LENGTH,
                               description="Land-title reference, e.g. `TF 12345/C` "
                                           "(spacing and case do not matter).")
    at: str | None = Field(default=None, max_length=MAX_AT_LENGTH, description=AT_DESCRIPTION)
    geometry: bool = Field(default=False, description="Include the plot's geometry (CRS84).")
    envelope: bool = Field(default=False, description=(
        "Include the plot's buildable envelope: the plot minus its zones' setbacks (front: "
        "the boundary facing a road or public space) and the servitudes and reservations that "
        "forbid building, with its area, footprint, heights, floor area and volume."))
    envelope_crs: str | None = Field(
        default=None, alias="envelope-crs", max_length=200,
        description="CRS of the envelope's geometries: CRS84 (default) or EPSG:26191.")


# What each parameter must be, said in both languages when pydantic refuses it.
_EXPECTED: dict[str, tuple[str, str]] = {
    "lon": ("un nombre (degrés)", "a number (degrees)"),
    "lat": ("un nombre (degrés)", "a number (degrees)"),
    "x": ("un nombre", "a number"),
    "y": ("un nombre", "a number"),
    "crs": ("un nom de CRS d'au plus 200 caractères", "a CRS name of at most 200 characters"),
    "parcel": (f"une référence foncière d'au plus {MAX_REF_LENGTH} caractères",
               f"a land-title reference of at most {MAX_REF_LENGTH} characters"),
    "at": ("une date AAAA-MM-JJ (année 1 à 9999) ou une date-heure RFC 3339",
           "a date YYYY-MM-DD (year 1 to 9999) or an RFC 3339 date-time"),
    "geometry": ("true ou false", "true or false"),
    "envelope": ("true ou false", "true or false"),
    "envelope-crs": ("CRS84 ou EPSG:26191", "CRS84 or EPSG:26191"),
}


def params_refused(exc: ValidationError) -> InvalidParameter:
    """What the model refused, said parameter by parameter in both languages."""
    names = list(dict.fromkeys(str(e.get("loc", ("query",))[0]) for e in exc.errors()))
    french = "; ".join(f"{n} : {_EXPECTED.get(n, ('valeur invalide', ''))[0]} attendu"
                       for n in names)
    english = "; ".join(f"{n}: expected {_EXPECTED.get(n, ('', 'a valid value'))[1]}"
                        for n in names)
    return InvalidParameter(french, en=english)


def clean_parcel(ref: str) -> str:
    """A land-title reference as given, trimmed; 400 when empty, too long or unprintable."""
    text = ref.strip()
    if not text or len(text) > MAX_REF_LENGTH or not text.isprintable():
        raise InvalidParameter(
            "parcel : donnez une référence foncière telle que « TF 12345/C » (au plus "
            f"{MAX_REF_LENGTH} caractères imprimables)",
            en="parcel: give a land-title reference such as 'TF 12345/C' (at most "
               f"{MAX_REF_LENGTH} printable characters)")
    return text


def rules_moment(text: str | None, now: dt.datetime | None = None
                 ) -> tuple[dt.date | None, dt.datetime | None]:
    """``at`` of /rules: (the date whose plans in force answer, the moment the data is read
    at or None for the current data); 400 when it is neither a date nor a date-time.

    A date of the past reads the data as it stood at its end in Casablanca; today or a future
    date reads the current data (the rules in force then, as known now). A date-time reads
    the data at that moment (not in the future), with the plans in force on its date.
    """
    if text is None:
        return None, None
    value = text.strip()
    if len(value) == 10 and value[4:5] == "-":
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            day = None
        if day is not None:
            today = (now or dt.datetime.now(dt.UTC)).astimezone(AGENCY_TZ).date()
            return day, (parse_at(value, now) if day < today else None)
    moment = parse_at(value, now)
    return moment.astimezone(AGENCY_TZ).date(), moment


def envelope_in_crs84(crs: str | None) -> bool:
    """Whether the envelope's geometries are asked in CRS84 (else EPSG:26191); 400 for any
    other CRS."""
    if crs is None:
        return True
    try:
        code = crs_name(crs).code
    except InvalidParameter:
        code = 0
    if code not in (4326, STORAGE_SRID):
        raise InvalidParameter(
            "envelope-crs : l'enveloppe est donnée en CRS84 ou en EPSG:26191",
            en="envelope-crs: the envelope is given in CRS84 or in EPSG:26191")
    return code != STORAGE_SRID


def question(*, lon: float | None = None, lat: float | None = None, x: float | None = None,
             y: float | None = None, crs: str | None = None, parcel: str | None = None,
             at: dt.date | None = None, data_at: dt.datetime | None = None,
             with_geometry: bool = False, envelope: bool = False,
             envelope_crs84: bool = True) -> RulesQuery:
    """The one question asked: a point in WGS 84, a point in a CRS, or a plot; 400 when it
    asks none, several, or an unusable one. The CRS is read here (cheaply), not built."""
    options: dict[str, Any] = {"at": at, "data_at": data_at, "with_geometry": with_geometry,
                               "envelope": envelope, "envelope_crs84": envelope_crs84}
    by_lonlat = lon is not None or lat is not None
    by_xy = x is not None or y is not None
    if by_lonlat + by_xy + (parcel is not None) != 1:
        raise InvalidParameter(
            "donnez soit lon et lat, soit x, y (et crs), soit parcel",
            en="give either lon and lat, or x, y (and crs), or parcel")
    if by_lonlat:
        if lon is None or lat is None or crs is not None:
            raise InvalidParameter(
                "lon et lat vont ensemble, en WGS 84 (pour un autre CRS, donnez x, y et crs)",
                en="lon and lat go together, in WGS 84 (use x, y and crs for another CRS)")
        return RulesQuery.at_lonlat(lon, lat, **options)
    if by_xy:
        if x is None or y is None:
            raise InvalidParameter("x et y vont ensemble", en="x and y go together")
        crs = crs or DEFAULT_XY_CRS
        crs_name(crs)  # a malformed name is refused here, before any work
        return RulesQuery.at_xy(x, y, crs, **options)
    return RulesQuery.for_parcel(clean_parcel(expected(parcel, "parcel")), **options)


def parse_rules_params(params: QueryParams) -> RulesQuery:
    """The one question a query string asks; 400 saying what is wrong otherwise."""
    try:
        parsed = RulesParams.model_validate(dict(params))
    except ValidationError as exc:
        raise params_refused(exc) from None
    at, data_at = rules_moment(parsed.at)
    return question(lon=parsed.lon, lat=parsed.lat, x=parsed.x, y=parsed.y, crs=parsed.crs,
                    parcel=parsed.parcel, at=at, data_at=data_at,
                    with_geometry=parsed.geometry, envelope=parsed.envelope,
                    envelope_crs84=envelope_in_crs84(parsed.envelope_crs))


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
