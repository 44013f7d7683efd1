"""The staff back-office: the queue, a request with its draft answer, attachments, actions,
and the dashboard. Pages for browsers (session cookie), JSON for programs (bearer)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import quote

import asyncpg
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from geoportal.core.auth import Identity
from geoportal.errors import GeoportalError, InvalidParameter, NotFound
from geoportal.renseignement import service, stats, store
from geoportal.renseignement.charts import bar_chart
from geoportal.renseignement.common import (
    base_url,
    form_of,
    is_form,
    is_json,
    language,
    pools,
    room_of,
)
from geoportal.renseignement.labels import OPEN_STATUSES, STATUSES
from geoportal.renseignement.pages import age_days, render, wants_html
from geoportal.renseignement.staff import session_csrf, staff_page
from geoportal.renseignement.workflow import TRANSITIONS, allowed_actions
from geoportal.rules import RulesAnswer

router = APIRouter(prefix="/renseignement", tags=["e-renseignement (staff)"])
RequestId = Annotated[int, Path(ge=1, le=2**62, description="The request's internal id.")]
NO_STORE = {"Cache-Control": "no-store"}
ROUTE_ACTIONS = {"take": "taken", "ask": "piece_requested", "observe": "observation",
                 "refuse": "refused", "approve": "approved"}


def _queue_filter(status: str, commune: str | None, min_age_days: int | None
                  ) -> store.QueueFilter:
    if status == "open":
        statuses: tuple[str, ...] = OPEN_STATUSES
    elif status in STATUSES:
        statuses = (status,)
    else:
        raise InvalidParameter(f"status : « open » ou l'un de {', '.join(STATUSES)}.",
                               en=f"status: 'open' or one of {', '.join(STATUSES)}.")
    return store.QueueFilter(statuses, commune or None, min_age_days)


def _row_json(row: asyncpg.Record) -> dict[str, Any]:
    return {key: (value.isoformat() if isinstance(value, dt.datetime) else value)
            for key, value in dict(row).items()}


@router.get("/admin", summary="The queue of requests (staff)")
async def queue_page(
    request: Request,
    status: Annotated[str, Query(max_length=32, description="open, or a status")] = "open",
    commune: Annotated[str | None, Query(max_length=16)] = None,
    min_age_days: Annotated[int | None, Query(ge=0, le=3650)] = None,
) -> Response:
    """Requests oldest first, with their age and due date (overdue ones marked)."""
    identity = await staff_page(request)
    if isinstance(identity, Response):
        return identity
    wanted = _queue_filter(status, commune, min_age_days)
    _, write_pool = pools(request)
    rows = await store.queue(write_pool, wanted)
    if not wants_html(request):
        return JSONResponse({"requests": [_row_json(r) for r in rows]}, headers=NO_STORE)
    return render("queue.html", rows=rows, communes=await store.communes(write_pool),
                  chosen={"status": status, "commune": commune, "min_age_days": min_age_days},
                  identity=identity, csrf=session_csrf(request))


async def _request_or_404(pool: asyncpg.Pool, request_id: int) -> asyncpg.Record:
    row = await store.request_by_id(pool, request_id)
    if row is None:
        raise NotFound(f"Aucune demande n'a le numéro interne {request_id}.",
                       en=f"No request has the internal id {request_id}.")
    return row


def _links(row: asyncpg.Record) -> tuple[str | None, str | None]:
    """The note (map extract) of the plot on the request's date, or the outline on the map."""
    day = row["as_of"].astimezone(service.AGENCY_TZ).date().isoformat()
    if row["parcel_ref"]:
        return f"/rules/note?parcel={quote(row['parcel_ref'])}&date={day}", None
    outline = row["outline_lonlat"]
    if outline:
        lon, lat = outline["coordinates"][0][0][0]
        return None, f"/#18/{lat:.6f}/{lon:.6f}"
    return None, None


async def request_view(request: Request, identity: Identity, request_id: int,
                       error: str | None = None, status_code: int = 200) -> Response:
    """A request's page for staff (HTML, or JSON), with an action's refusal when given."""
    read_pool, write_pool = pools(request)
    row = await _request_or_404(write_pool, request_id)
    draft = await service.draft(read_pool, row)
    events = await store.events(write_pool, request_id)
    pieces = await store.attachments(write_pool, request_id)
    note = await store.issued_note(write_pool, request_id) if row["status"] == "issued" \
        else None
    if not wants_html(request):
        document = _row_json(row)
        document.pop("outline_lonlat", None)
        return JSONResponse({
            **document, "events": [_row_json(e) for e in events],
            "attachments": [_row_json(p) for p in pieces],
            "note": _row_json(note) if note is not None else None,
            "draft": draft.model_dump(mode="json") if isinstance(draft, RulesAnswer) else None,
            "actions": allowed_actions(row["status"], identity.role)}, headers=NO_STORE)
    note_url, map_url = _links(row)
    now = dt.datetime.now(dt.UTC)
    return render(
        "request.html", status_code, request=row, events=events, attachments=pieces,
        draft=draft if isinstance(draft, RulesAnswer) else None,
        draft_error=draft.text(language(request)) if isinstance(draft, GeoportalError) else None,
        note_url=note_url, map_url=map_url, age=age_days(row["submitted_at"], now),
        overdue=now > row["due_at"] and row["status"] in OPEN_STATUSES,
        actions=allowed_actions(row["status"], identity.role), identity=identity,
        csrf=session_csrf(request), error=error, note=note)


@router.get("/admin/requests/{request_id}", summary="One request, with its draft (staff)")
async def request_page(request: Request, request_id: RequestId) -> Response:
    """The request, the automatic draft (the rules on the request's date), the attachments,
    the history and the actions the caller may take."""
    identity = await staff_page(request)
    if isinstance(identity, Response):
        return identity
    return await request_view(request, identity, request_id)


@router.get("/admin/requests/{request_id}/attachments/{attachment_id}",
            summary="Download an attachment (staff)")
async def download(request: Request, request_id: RequestId,
                   attachment_id: Annotated[int, Path(ge=1, le=2**62)]) -> Response:
    """The file as uploaded (its type checked by content at upload)."""
    identity = await staff_page(request)
    if isinstance(identity, Response):
        return identity
    _, write_pool = pools(request)
    piece = await store.attachment(write_pool, request_id, attachment_id)
    if piece is None:
        raise NotFound("Pièce jointe introuvable.", en="Attachment not found.")
    try:
        data = room_of(request).blobs.read(piece["sha256"])
    except FileNotFoundError:
        raise NotFound("Le fichier de cette pièce jointe manque sur le serveur.",
                       en="The file of this attachment is missing on the server.") from None
    name = quote(piece["filename"])
    return Response(data, media_type=piece["media_type"], headers={
        **NO_STORE, "Content-Disposition": f"attachment; filename*=UTF-8''{name}"})


async def _action_text(request: Request, field: str) -> str | None:
    if is_form(request):
        value = (await form_of(request)).get(field)
        return value if isinstance(value, str) else None
    if is_json(request):
        try:
            document = await request.json()
        except ValueError:
            raise InvalidParameter("Le corps n'est pas du JSON valide.",
                                   en="The body is not valid JSON.") from None
        value = document.get(field) if isinstance(document, dict) else None
        return value if isinstance(value, str) else None
    return None


async def _act(request: Request, request_id: int, route: str) -> Response:
    name = ROUTE_ACTIONS[route]
    identity = await staff_page(request, TRANSITIONS[name].roles)
    if isinstance(identity, Response):
        return identity
    field = service.TEXT_LIMITS.get(name, ("", 0))[0]
    text = await _action_text(request, field) if field else None
    _, write_pool = pools(request)
    try:
        after = await service.act(write_pool, request_id,
                                  service.Action(name, identity.actor, text), base_url(request))
    except GeoportalError as exc:
        if not wants_html(request) or exc.status_code == 404:
            raise
        return await request_view(request, identity, request_id,
                                   error=exc.text(language(request)),
                                   status_code=exc.status_code)
    if wants_html(request):
        return RedirectResponse(f"/renseignement/admin/requests/{request_id}",
                                status_code=303)
    return JSONResponse({"id": request_id, "action": name, "status": after},
                        headers=NO_STORE)


CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "Not allowed in the request's status"}}


@router.post("/admin/requests/{request_id}/take", summary="Take for review (staff)",
             responses=CONFLICT)
async def take(request: Request, request_id: RequestId) -> Response:
    """submitted → under_review, assigned to the caller."""
    return await _act(request, request_id, "take")


@router.post("/admin/requests/{request_id}/ask", summary="Ask for a missing piece (staff)",
             responses=CONFLICT)
async def ask(request: Request, request_id: RequestId) -> Response:
    """under_review → waiting_requester; ``message`` (form or JSON) is mailed to the
    requester with a tracking link where the piece is uploaded."""
    return await _act(request, request_id, "ask")


@router.post("/admin/requests/{request_id}/observe", summary="Add an observation (staff)",
             responses=CONFLICT)
async def observe(request: Request, request_id: RequestId) -> Response:
    """``text`` (form or JSON), to appear on the note; the status does not change."""
    return await _act(request, request_id, "observe")


@router.post("/admin/requests/{request_id}/refuse", summary="Refuse (staff)",
             responses=CONFLICT)
async def refuse(request: Request, request_id: RequestId) -> Response:
    """→ refused, with ``reason`` (form or JSON), mailed to the requester."""
    return await _act(request, request_id, "refuse")


@router.post("/admin/requests/{request_id}/approve", summary="Approve for signature (staff)",
             responses=CONFLICT)
async def approve(request: Request, request_id: RequestId) -> Response:
    """under_review → ready_to_sign."""
    return await _act(request, request_id, "approve")


@router.get("/stats", summary="Dashboard of requests (staff)")
async def dashboard(request: Request) -> Response:
    """Requests per week and commune, issued vs refused, processing times, overdue count."""
    identity = await staff_page(request)
    if isinstance(identity, Response):
        return identity
    _, write_pool = pools(request)
    figures = await stats.compute(write_pool)
    if not wants_html(request):
        return JSONResponse(figures.as_json(), headers=NO_STORE)
    charts = {
        "weeks": bar_chart(figures.per_week, "Demandes par semaine", label_width=110),
        "communes": bar_chart(figures.per_commune, "Demandes par commune"),
        "outcomes": bar_chart([("Délivrées", figures.issued), ("Refusées", figures.refused),
                               ("En cours", figures.open)], "Issue des demandes",
                              colours=("#1e7a3c", "#b3261e", "#0b5c8a")),
    }
    return render("stats.html", stats=figures, charts=charts, identity=identity,
                  csrf=session_csrf(request))
