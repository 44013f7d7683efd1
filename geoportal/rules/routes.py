"""HTTP routes of ``/rules``: the lookup (GET by point or reference, POST by geometry),
the batch, the note de renseignement urbanistique and what changed between two moments.

An answer about a moment of the past (``at``) has a strong ETag and, once the moment is
settled, is cached for a year: it will never change."""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, Response

from geoportal.core.admission import admission_of, client_of
from geoportal.core.caching import body_etag, not_modified
from geoportal.core.history import IMMUTABLE, parse_at, settled
from geoportal.core.i18n import preferred_language
from geoportal.core.routing import DirectRoute, include_tried_first
from geoportal.core.services import services_of
from geoportal.deps import PoolDep, RegistryDep, SettingsDep, get_pool
from geoportal.errors import GeoportalError, InvalidParameter
from geoportal.rules import changes as rules_changes
from geoportal.rules import neighbours, printmap
from geoportal.rules.models import BatchAnswer, BatchRequest, RulesAnswer, RulesQuery
from geoportal.rules.params import (
    AT_DESCRIPTION,
    MAX_AT_LENGTH,
    envelope_in_crs84,
    openapi_parameters,
    parse_rules_params,
    rules_moment,
)
from geoportal.rules.rasters import RasterSampler
from geoportal.rules.service import lookup, lookup_batch

LIGHT_BATCH = 20  # a few plots are a lookup; more go through the heavy lane
router = APIRouter(prefix="/rules", tags=["rules"])

JSON = "application/json"
GEOJSON_EXAMPLE = {"type": "Polygon", "coordinates": [[
    [-7.6321, 33.5921], [-7.6315, 33.5921], [-7.6315, 33.5926], [-7.6321, 33.5926],
    [-7.6321, 33.5921]]]}
At = Annotated[str | None, Query(max_length=MAX_AT_LENGTH, description=AT_DESCRIPTION)]
WithGeometry = Annotated[bool, Query(alias="geometry",
                                     description="Include the plot's geometry (CRS84).")]


def rasters_of(request: Request) -> RasterSampler:
    """The app's one raster sampler (built in create_app; handles kept between requests)."""
    return services_of(request).get(RasterSampler)


def _json(model: RulesAnswer | BatchAnswer, request: Request | None = None) -> Response:
    headers = {"Cache-Control": "no-cache", "X-Data-Version": model.data_version}
    body = model.model_dump_json()
    if model.data_at is None or request is None:
        return Response(body, media_type=JSON, headers=headers)
    return past_response(request, body.encode(), JSON, model.data_at, headers)


def past_response(request: Request, body: bytes, media_type: str, moment: dt.datetime,
                  headers: dict[str, str] | None = None) -> Response:
    """An answer about a moment of the past: the same bytes whenever asked, so a strong ETag
    of the body (304 on a match), cached for a year once the moment is settled."""
    etag = body_etag(body)
    headers = {**(headers or {}), "ETag": etag,
               "Cache-Control": IMMUTABLE if settled(moment) else "no-cache"}
    if not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


async def rules_at(request: Request) -> Response:
    """The plot at a point (WGS 84 or any CRS) or by its land-title reference: its plans,
    zones with their shares, rules, servitudes, reservations, figures and warnings."""
    # Parameters and app state are read directly: this is the hot path.
    query = parse_rules_params(request.query_params)
    answer = await lookup(get_pool(request), query, rasters=rasters_of(request))
    return _json(answer, request)


# The hot path, declared once: FastAPI documents it and applies the router's dependencies,
# DirectRoute serves it without FastAPI's layers while it has none (see core.routing).
router.add_api_route("", rules_at, methods=["GET"], route_class_override=DirectRoute,
                     response_model=RulesAnswer, summary="What rules apply here",
                     openapi_extra={"parameters": openapi_parameters()},
                     responses={400: {"description": "Unusable parameters"},
                                404: {"description": "Unknown plot, or outside the AUC area"}})


@router.post("", response_model=RulesAnswer, summary="What rules apply to a geometry",
             responses={422: {"description": "Invalid GeoJSON or geometry"},
                        404: {"description": "Outside the AUC area"}})
async def rules_for_geometry(
    request: Request, pool: PoolDep, settings: SettingsDep,
    geometry: Annotated[dict[str, Any], Body(
        description="A GeoJSON Polygon, MultiPolygon or Point (or a Feature holding one), in "
                    "CRS84 unless `crs` says otherwise; coordinates easting first.",
        openapi_examples={"surveyed plot": {"value": GEOJSON_EXAMPLE}})],
    crs: Annotated[str, Query(description="CRS of the coordinates.")] = "OGC:CRS84",
    at: At = None, with_geometry: WithGeometry = False,
    envelope: Annotated[bool, Query(description="Include the buildable envelope.")] = False,
    envelope_crs: Annotated[str | None, Query(
        alias="envelope-crs", max_length=200,
        description="CRS of the envelope's geometries: CRS84 (default) or EPSG:26191.")] = None,
) -> Response:
    """The rules that apply to a submitted geometry, e.g. a surveyed plot not registered."""
    day, data_at = rules_moment(at)
    query = RulesQuery.for_geometry(geometry, crs, at=day, data_at=data_at,
                                    with_geometry=with_geometry, envelope=envelope,
                                    envelope_crs84=envelope_in_crs84(envelope_crs))
    return _json(await lookup(pool, query, rasters=rasters_of(request)), request)


@router.post("/batch", response_model=BatchAnswer, summary="Rules for many plots or points",
             responses={400: {"description": "More CRS than a batch may use"},
                        413: {"description": "More items than the batch limit"}})
async def rules_batch(request: Request, pool: PoolDep, settings: SettingsDep,
                      batch: BatchRequest) -> Response:
    """Up to 1,000 plots (``parcel``) or points (``lon``/``lat`` or ``x``/``y``/``crs``, at
    most 8 different CRS); each result holds its answer or its own error, in the order
    asked."""
    day, data_at = rules_moment(batch.at)
    heavy = len(batch.items) > LIGHT_BATCH
    slot = await admission_of(request).acquire(client_of(request)) if heavy else None
    try:
        answer = await lookup_batch(pool, batch.items, at=day, data_at=data_at,
                                    rasters=rasters_of(request),
                                    language=preferred_language(request.headers.get(
                                        "accept-language")), envelope=batch.envelope)
    finally:
        if slot is not None:
            slot.release()
    return _json(answer, request)


@router.get("/neighbours", response_model=neighbours.NeighbourEnvelopes,
            summary="The buildable envelopes of the plots around a plot",
            responses={400: {"description": "Unusable parameters"},
                       404: {"description": "Unknown plot"}})
async def rules_neighbours(
    request: Request, pool: PoolDep,
    parcel: Annotated[str, Query(description="Land-title reference of the plot.",
                                 max_length=64)],
    distance: Annotated[float, Query(
        ge=0, le=neighbours.MAX_DISTANCE_M,
        description="The neighbours are the plots within this distance of the plot, in "
                    "EPSG:26191 metres (0: the plots that touch it).")
    ] = neighbours.DEFAULT_DISTANCE_M,
    limit: Annotated[int, Query(ge=1, le=neighbours.MAX_LIMIT,
                                description="At most this many neighbours, nearest first.")
                     ] = neighbours.DEFAULT_LIMIT,
    at: At = None,
) -> Response:
    """Each neighbour's buildable envelope (CRS84), its maximum height and levels, as
    ``/rules?parcel=…&envelope=true`` gives them: a GeoJSON FeatureCollection, nearest
    first, for the viewer's 3D scene."""
    day, data_at = rules_moment(at)
    slot = (await admission_of(request).acquire(client_of(request))
            if limit > LIGHT_BATCH else None)
    try:
        answer = await neighbours.neighbour_envelopes(pool, parcel, distance_m=distance,
                                                      limit=limit, at=day, data_at=data_at)
    finally:
        if slot is not None:
            slot.release()
    headers = {"Cache-Control": "no-cache", "X-Data-Version": answer.data_version}
    body = answer.model_dump_json().encode()
    media_type = "application/geo+json"
    if data_at is None:
        return Response(body, media_type=media_type, headers=headers)
    return past_response(request, body, media_type, data_at, headers)


@router.get("/note", summary="Note de renseignement urbanistique (HTML or PDF)",
            response_class=HTMLResponse,
            responses={200: {"content": {"application/pdf": {}}}})
async def rules_note(
    request: Request, pool: PoolDep, settings: SettingsDep, registry: RegistryDep,
    parcel: Annotated[str, Query(description="Land-title reference.", max_length=64)],
    f: Annotated[Literal["html", "pdf"], Query(description="Format.")] = "html",
    date: Annotated[dt.date | None, Query(
        description="Date of the note, and of the rules in force (default: today, or the "
                    "day of `at`).")] = None,
    at: Annotated[str | None, Query(max_length=MAX_AT_LENGTH, description=(
        "The data as it stood at this moment: a date (its end in Casablanca) or an RFC 3339 "
        "date-time, not in the future. The same plot and `at` give the same note, "
        "whatever was edited since."))] = None,
) -> Response:
    """A printable A4 note about one registered plot, in French."""
    from geoportal.rules.note import render

    try:
        data_at = parse_at(at) if at is not None else None
        note = await render.build_note(pool, parcel, date, rasters_of(request),
                                       render.NoteStyle.from_registry(registry), data_at)
    except GeoportalError as error:
        wants_page = "text/html" in request.headers.get("accept", "")
        if f != "html" or error.status_code >= 500 or not wants_page:
            raise
        return note_error_page(request, error)  # a browser: a person followed a link
    if f == "pdf":
        pdf = await render.to_pdf(note)
        filename = f"{note.reference}.pdf"
        headers = {"Content-Disposition": f'inline; filename="{filename}"'}
        if data_at is not None:
            return past_response(request, pdf, "application/pdf", data_at, headers)
        return Response(pdf, media_type="application/pdf", headers=headers)
    page = render.to_html(note)
    if data_at is not None:
        return past_response(request, page.encode(), "text/html; charset=utf-8", data_at)
    return HTMLResponse(page)


def note_error_page(request: Request, error: GeoportalError) -> HTMLResponse:
    """Why the note cannot be given, as a small page in French (English if preferred)."""
    language = preferred_language(request.headers.get("accept-language"))
    english = language == "en"
    title = "The note cannot be given" if english else "La note ne peut pas être délivrée"
    back = "Back to the map" if english else "Revenir à la carte"
    page = (f'<!doctype html><html lang="{"en" if english else "fr"}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title}</title></head><body><main><h1>{title}</h1>"
            f'<p role="alert">{escape(error.text(language))}</p>'
            f'<p><a href="../">{back}</a></p></main></body></html>')
    return HTMLResponse(page, status_code=error.status_code,
                        headers={**error.headers(), "Cache-Control": "no-cache"})


@router.get("/changes", response_model=rules_changes.RulesChanges,
            summary="What changed for a plot between two moments",
            responses={400: {"description": "Unusable moments (from after to, future...)"},
                       404: {"description": "Unknown plot at both moments"}})
async def rules_changes_between(
    request: Request, pool: PoolDep,
    parcel: Annotated[str, Query(description="Land-title reference.", max_length=64)],
    start: Annotated[str, Query(alias="from", max_length=MAX_AT_LENGTH, description=(
        "The first moment: a date YYYY-MM-DD (its end in Casablanca) or an RFC 3339 "
        "date-time."))],
    end: Annotated[str | None, Query(alias="to", max_length=MAX_AT_LENGTH, description=(
        "The second moment (default: now), not before `from`."))] = None,
) -> Response:
    """The answer of /rules at both moments compared: zones and their shares, each zone's
    rules, plans, servitudes, reservations, the plot itself; in words (French, English), with
    the data versions of both moments and the change-sets that touched the layers under the
    plot in between."""
    first = _moment_param(start, "from")
    second = _moment_param(end, "to") if end is not None else None
    answer = await rules_changes.rules_changes(pool, parcel, first, second)
    body = rules_changes.dumps(answer).encode()
    if second is not None:
        return past_response(request, body, JSON, second)
    return Response(body, media_type=JSON, headers={"Cache-Control": "no-cache"})


def _moment_param(value: str, name: str) -> dt.datetime:
    """A moment parameter, its errors naming it (``parse_at`` speaks of ``at``)."""
    try:
        return parse_at(value)
    except InvalidParameter as exc:
        raise InvalidParameter(exc.message.replace("at=", f"{name}=", 1),
                               en=exc.en.replace("at=", f"{name}=", 1)) from None


def install(app: FastAPI) -> None:
    """Mount ``/rules`` (GET /rules is a ``DirectRoute``: one declaration, the fast path),
    tried before the other routes for ``/rules`` itself, the most frequent point question
    (FastAPI walked every included router before it: 2,257 Python calls a lookup, 957 once
    tried first)."""
    include_tried_first(app, router, "", r"/rules$")
    app.include_router(printmap.router)
