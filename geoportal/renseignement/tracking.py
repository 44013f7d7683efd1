"""What the requester sees of a request: status in French and Arabic, dates, due date and
the public history (no staff names, no internal notes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import asyncpg
from fastapi.responses import HTMLResponse

from geoportal.renseignement.labels import ACTIONS, PUBLIC_ACTIONS, status_ar, status_fr
from geoportal.renseignement.pages import age_days, render
from geoportal.settings import Settings

PUBLIC_TEXT = {"piece_requested": "message", "refused": "reason"}  # shown to the requester


def public_history(events: Sequence[asyncpg.Record]) -> list[dict[str, Any]]:
    """The events the requester may see, with the text addressed to them."""
    history = []
    for event in events:
        if event["action"] not in PUBLIC_ACTIONS:
            continue
        text_key = PUBLIC_TEXT.get(event["action"])
        history.append({"at": event["at"], "action": event["action"],
                        "label": ACTIONS[event["action"]],
                        "status": event["status_after"],
                        "text": event["detail"].get(text_key) if text_key else None})
    return history


def _asked(history: list[dict[str, Any]]) -> str | None:
    asked = [e["text"] for e in history if e["action"] == "piece_requested"]
    return asked[-1] if asked else None


def note_document(note: asyncpg.Record, links: dict[str, str]) -> dict[str, Any]:
    """The issued note as the requester sees it: number, status, hash, download links."""
    return {"number": note["number"], "status": note["status"],
            "issued_at": note["issued_at"].isoformat(), "sha256": note["sha256"],
            "links": links}


def tracking_document(request: asyncpg.Record, events: Sequence[asyncpg.Record],
                      settings: Settings, note: asyncpg.Record | None = None,
                      note_links: dict[str, str] | None = None) -> dict[str, Any]:
    """The tracking page as JSON (with the issued note's links once there is one)."""
    now = dt.datetime.now(dt.UTC)
    history = public_history(events)
    return {
        "number": request["number"], "status": request["status"],
        "status_fr": status_fr(request["status"]), "status_ar": status_ar(request["status"]),
        "parcel": request["parcel_ref"], "commune": request["commune_fr"],
        "submitted_at": request["submitted_at"].isoformat(),
        "due_at": request["due_at"].isoformat(), "target_days": settings.nru_target_days,
        "age_days": age_days(request["submitted_at"], now),
        "overdue": now > request["due_at"] and request["status"] not in ("issued", "refused"),
        "piece_requested": _asked(history) if request["status"] == "waiting_requester"
        else None,
        "history": [{**e, "at": e["at"].isoformat()} for e in history],
        "note": note_document(note, note_links or {}) if note is not None else None,
    }


def tracking_page(request: asyncpg.Record, events: Sequence[asyncpg.Record], token: str,
                  settings: Settings, notice: str | None = None, error: str | None = None,
                  status_code: int = 200, note: asyncpg.Record | None = None,
                  note_links: dict[str, str] | None = None) -> HTMLResponse:
    """The tracking page (HTML), with the upload form when a piece is asked for and the
    download links once the note is issued."""
    now = dt.datetime.now(dt.UTC)
    history = public_history(events)
    return render(
        "tracking.html", status_code, request=request, token=token, history=history,
        asked=_asked(history), age=age_days(request["submitted_at"], now),
        overdue=now > request["due_at"] and request["status"] not in ("issued", "refused"),
        target_days=settings.nru_target_days, notice=notice, error=error, note=note,
        note_links=note_links)
