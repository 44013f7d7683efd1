"""The public side: the request form and API, the tracking page and the piece upload."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from geoportal.core.admission import client_of
from geoportal.deps import get_settings
from geoportal.errors import GeoportalError
from geoportal.renseignement import service, store
from geoportal.renseignement.common import (
    base_url,
    form_of,
    inline_schema,
    is_form,
    is_json,
    language,
    pools,
    room_of,
    unsupported_body,
)
from geoportal.renseignement.files import checked_piece
from geoportal.renseignement.intake import (
    PIECE_FIELDS,
    TEXT_FIELDS,
    RequestIn,
    Submission,
    from_form,
    from_json,
    pieces_from_form,
)
from geoportal.renseignement.pages import age_days, render, wants_html
from geoportal.renseignement.tracking import tracking_document, tracking_page
from geoportal.renseignement.verify import requester_links
from geoportal.settings import Settings

router = APIRouter(prefix="/renseignement", tags=["e-renseignement"])
Token = Annotated[str, Path(description="The private token of the tracking link.",
                            max_length=128)]
MULTIPART: dict[str, Any] = {"type": "object", "required": ["requester_name", "requester_id_number",
                                            "requester_email", "capacity", "purpose"],
             "properties": {
                 "parcel": {"type": "string", "maxLength": 64},
                 "outline": {"type": "string", "format": "binary",
                             "description": "GeoJSON, zipped Shapefile or DXF"},
                 "outline_crs": {"type": "string", "maxLength": 100},
                 "requester_name": {"type": "string", "maxLength": 200},
                 "requester_id_number": {"type": "string", "maxLength": 32},
                 "requester_email": {"type": "string", "maxLength": 254},
                 "requester_phone": {"type": "string", "maxLength": 32},
                 "capacity": {"type": "string",
                              "enum": ["owner", "mandated", "notary", "architect", "other"]},
                 "purpose": {"type": "string", "maxLength": 2000},
                 "language": {"type": "string", "enum": ["fr", "ar", "en"]},
                 **{kind: {"type": "string", "format": "binary",
                           "description": "PDF, JPEG or PNG"} for kind in PIECE_FIELDS}}}
REQUEST_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": inline_schema(RequestIn.model_json_schema())},
    "multipart/form-data": {"schema": MULTIPART}}}}


def _form_page(settings: Settings, status_code: int = 200, error: str | None = None,
               values: dict[str, Any] | None = None,
               headers: dict[str, str] | None = None) -> Response:
    response = render("form.html", status_code, target_days=settings.nru_target_days,
                      max_kb=settings.nru_attachment_max_bytes // 1000, error=error,
                      values=values or {})
    response.headers.update(headers or {})
    return response


@router.get("", include_in_schema=False)
async def request_form(request: Request) -> Response:
    """The form to ask for a note (French, with Arabic labels); ``?parcel=`` fills it in
    (the web map's panel links here with the plot it shows)."""
    parcel = request.query_params.get("parcel", "")[:64]
    return _form_page(get_settings(request), values={"parcel": parcel})


async def _submission(request: Request, settings: Settings) -> Submission:
    if is_json(request):
        return from_json(await request.body(), settings.nru_attachment_max_bytes)
    if is_form(request):
        return await from_form(await form_of(request), settings.nru_attachment_max_bytes,
                               settings.nru_outline_max_bytes)
    raise unsupported_body()


async def _typed_values(request: Request) -> dict[str, Any]:
    if not is_form(request):
        return {}
    form = await form_of(request)
    return {name: value for name in TEXT_FIELDS
            if isinstance(value := form.get(name), str)}


@router.post("/requests", status_code=201, summary="Ask for a note de renseignement",
             openapi_extra=REQUEST_BODY,
             responses={201: {"description": "The request's number and private tracking link"},
                        404: {"description": "Unknown tracking link"},
                        422: {"description": "Unusable request (unknown plot, outline outside "
                                             "the area, capacity not allowed…)"},
                        429: {"description": "Too many requests from this address"}})
async def create_request(request: Request) -> Response:
    """A request for the official note: the plot (``parcel``) or a surveyed outline, the
    requester, capacity, purpose and pieces. Answered once committed: the number and the
    private tracking link (also sent by e-mail)."""
    settings = get_settings(request)
    read_pool, write_pool = pools(request)
    try:
        submission = await _submission(request, settings)
        receipt = await service.submit(read_pool, write_pool, room_of(request), submission,
                                       client_of(request), base_url(request))
    except GeoportalError as exc:
        if not wants_html(request):
            raise
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
        return _form_page(settings, exc.status_code, exc.text(language(request)),
                          await _typed_values(request), headers)
    if wants_html(request):
        return render("confirmation.html", 201, receipt=receipt)
    return JSONResponse({
        "number": receipt.number, "status": receipt.status,
        "tracking_url": receipt.tracking_url, "submitted_at": receipt.submitted_at.isoformat(),
        "due_at": receipt.due_at.isoformat(), "plan_approved": receipt.plan_approved,
    }, status_code=201, headers={"Location": receipt.tracking_url, "Cache-Control": "no-store"})


@router.get("/suivi/{token}", summary="Follow a request (private link)",
            responses={404: {"description": "Unknown tracking link"}})
async def track(request: Request, token: Token) -> Response:
    """The request's status (French and Arabic), dates, due date and history; once the
    note is issued, its download links (PDF and JSON) and its verification page."""
    _, write_pool = pools(request)
    row = await service.by_token(write_pool, token)
    events = await store.events(write_pool, row["id"])
    note = await store.issued_note(write_pool, row["id"]) if row["status"] == "issued" \
        else None
    settings = get_settings(request)
    html = wants_html(request)
    links = requester_links("" if html else base_url(request), note["number"], token) \
        if note is not None else None
    if html:
        notice = "Pièce reçue : la demande repart en instruction." \
            if request.query_params.get("depose") == "1" else None
        return tracking_page(row, events, token, settings, notice=notice, note=note,
                             note_links=links)
    return JSONResponse(tracking_document(row, events, settings, note, links),
                        headers={"Cache-Control": "no-store"})


@router.post("/suivi/{token}/pieces", summary="Upload the piece the agency asked for",
             responses={404: {"description": "Unknown tracking link"},
                        409: {"description": "No piece is asked for now"}})
async def upload_piece(request: Request, token: Token) -> Response:
    """Multipart: ``kind`` and ``file``, or one file field per kind (ownership, plan, mandate,
    other). The request goes back to review."""
    settings = get_settings(request)
    _, write_pool = pools(request)
    try:
        if not is_form(request):
            raise unsupported_body()
        form = await form_of(request)
        pieces = await pieces_from_form(form, settings.nru_attachment_max_bytes)
        upload, kind = form.get("file"), form.get("kind") or "other"
        if isinstance(upload, UploadFile) and isinstance(kind, str):
            data = await upload.read(settings.nru_attachment_max_bytes + 1)
            pieces.append(checked_piece(kind, upload.filename, data,
                                        settings.nru_attachment_max_bytes))
        row = await service.receive_pieces(write_pool, room_of(request), token, pieces)
    except GeoportalError as exc:
        if not wants_html(request) or exc.status_code == 404:
            raise
        row = await service.by_token(write_pool, token)
        events = await store.events(write_pool, row["id"])
        return tracking_page(row, events, token, settings, error=exc.text(language(request)),
                             status_code=exc.status_code)
    if wants_html(request):
        return RedirectResponse(f"/renseignement/suivi/{token}?depose=1", status_code=303)
    return JSONResponse({"number": row["number"], "status": "under_review",
                         "age_days": age_days(row["submitted_at"])},
                        headers={"Cache-Control": "no-store"})
