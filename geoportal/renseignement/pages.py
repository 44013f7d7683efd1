"""The room's HTML: Jinja2 templates (autoescaped), its stylesheet, and content negotiation."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from geoportal.renseignement import labels

HERE = Path(__file__).parent
AGENCY_TZ = ZoneInfo("Africa/Casablanca")
STATIC_PATH = "/renseignement/static"


def wants_html(request: Request) -> bool:
    """Whether the client prefers a page to JSON (browsers; ``?f=json`` forces JSON)."""
    chosen = request.query_params.get("f")
    if chosen in ("json", "html"):
        return chosen == "html"
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept.split(",")[0]


def _local(moment: dt.datetime | None, with_time: bool = False) -> str:
    if moment is None:
        return "—"
    local = moment.astimezone(AGENCY_TZ)
    return local.strftime("%d/%m/%Y %H:%M" if with_time else "%d/%m/%Y")


DETAIL_NAMES = {"message": "message", "reason": "motif", "text": "observation",
                "pieces": "pièces", "kind": "courriel"}
MAIL_KINDS = {"acknowledgement": "accusé de réception", "piece_requested": "pièce demandée",
              "refused": "refus", "digest": "synthèse des retards",
              "note_issued": "note délivrée"}


def detail_text(detail: dict[str, Any]) -> str:
    """An event's detail in words (pieces by name or kind, mails by kind)."""
    parts = []
    for key, value in detail.items():
        if isinstance(value, list):
            shown = ", ".join(str(v.get("filename") or v.get("kind")) if isinstance(v, dict)
                              else labels.PIECES.get(str(v), (str(v),))[0] for v in value)
        elif key == "kind":
            shown = MAIL_KINDS.get(str(value), str(value))
        else:
            shown = str(value)
        parts.append(f"{DETAIL_NAMES.get(key, key)} : {shown}")
    return " · ".join(parts)


def age_days(moment: dt.datetime, now: dt.datetime | None = None) -> int:
    """Whole days since ``moment``."""
    return int(((now or dt.datetime.now(dt.UTC)) - moment).total_seconds() // 86400)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The templates, loaded once, HTML-escaped by default."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                             autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["detail"] = detail_text
    env.filters["date"] = _local
    env.filters["datetime"] = lambda moment: _local(moment, with_time=True)
    env.globals.update(labels=labels, static=STATIC_PATH, age_days=age_days,
                       status_fr=labels.status_fr, status_ar=labels.status_ar)
    return env


def render(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page of the room, never cached (it may hold personal data)."""
    html = environment().get_template(name).render(**context)
    return HTMLResponse(html, status_code=status_code,
                        headers={"Cache-Control": "no-store"})
