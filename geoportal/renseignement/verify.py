"""Verifying an issued note: ``/verify/{number}`` (public), and the requester's download.

The public page says whether a number was issued, when, for which plot, its status (valid,
superseded by a later note, revoked with its reason) and the SHA-256 of the signed PDF;
uploading a PDF there says whether it is exactly the issued one. Nothing personal is shown
beyond the requester's initials. The notes are read through the write pool: the read-only
role of public reads cannot see the e-renseignement tables at all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
from functools import lru_cache
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import asyncpg
import jinja2
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from geoportal.core.formats import HTML, JSON, Format, negotiate
from geoportal.core.links import Links
from geoportal.deps import SettingsDep, get_write_pool
from geoportal.errors import InvalidBody, NotFound, PayloadTooLarge
from geoportal.renseignement.document import initials, moment_text
from geoportal.rules import french

router = APIRouter(tags=["renseignement"])
NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
CHUNK = 64 * 1024
Status = Literal["valid", "superseded", "revoked"]

NOTE = """
SELECT n.number, n.issued_at, n.status, n.status_reason, n.sha256, n.data_version,
       n.document->'subject' AS subject, n.document->'requester'->>'name' AS requester,
       n.document->'signatory'->>'name' AS signatory, n.document->>'template' AS template,
       s.number AS superseded_by, s.issued_at AS superseded_at,
       (SELECT max(e.at) FROM nru_events e WHERE e.request_id = n.request_id
          AND e.action = 'revoked' AND e.detail->>'note' = n.number) AS revoked_at
FROM nru_notes n LEFT JOIN nru_notes s ON s.id = n.superseded_by
WHERE n.number = $1"""
# Any private link of the request opens its notes: the first one (acknowledgement) or a
# later one (nru_links: a piece asked for, the refusal, the note issued). Hashes only.
DOWNLOAD = """
SELECT n.pdf, n.sha256, n.document
FROM nru_notes n JOIN nru_requests r ON r.id = n.request_id
WHERE n.number = $1
  AND (r.token_hash = $2 OR EXISTS (SELECT 1 FROM nru_links l
                                    WHERE l.token_hash = $2 AND l.request_id = r.id))"""
REQUESTER_PDF = "/renseignement/notes/{number}.pdf"
REQUESTER_JSON = "/renseignement/notes/{number}.json"


class Plot(BaseModel):
    """The plot as the note names it (public facts only)."""

    ref: str | None = Field(description="Land-title reference; null for a surveyed outline.")
    label: str
    area_m2: float
    commune: str | None
    prefecture: str


class Verification(BaseModel):
    """What ``GET /verify/{number}`` says about a note."""

    number: str
    genuine: bool = Field(description="A note was issued under this number by the agency.")
    status: Status
    status_text: str
    issued_at: dt.datetime
    plot: Plot
    requester_initials: str
    signatory: str
    sha256: str = Field(description="SHA-256 of the signed PDF, as issued.")
    data_version: str
    superseded_by: str | None = None
    revoked_at: dt.datetime | None = None
    revocation_reason: str | None = None
    links: list[dict[str, str]]


class UploadCheck(BaseModel):
    """What ``POST /verify/{number}`` says about an uploaded PDF."""

    number: str
    identical: bool = Field(description="The file is byte for byte the issued PDF.")
    verdict: str
    uploaded_sha256: str
    uploaded_bytes: int
    issued_sha256: str
    status: Status
    note: Verification


def _unknown(number: str) -> NotFound:
    return NotFound(
        f"Aucune note n'a été délivrée sous le numéro {number!r} : un document qui le porte "
        "n'est pas authentique.",
        en=f"No note was issued under the number {number!r}: a document bearing it is not "
           "genuine.")


def _clean_number(number: str) -> str:
    if not NUMBER.fullmatch(number):
        raise _unknown(number[:64])
    return number


def status_text(row: asyncpg.Record) -> str:
    """The note's status in a French sentence."""
    if row["status"] == "superseded":
        when = f" du {french.date(row['superseded_at'].date())}" if row["superseded_at"] else ""
        return f"Remplacée par la note n° {row['superseded_by']}{when}."
    if row["status"] == "revoked":
        when = f" le {moment_text(row['revoked_at'])}" if row["revoked_at"] else ""
        return f"Révoquée{when}. Motif : {row['status_reason']}"
    return "En vigueur : c'est la dernière note délivrée pour ce terrain."


def _as_dict(value: Any) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(value) if isinstance(value, str) else value
    return decoded


async def find_note(pool: asyncpg.Pool, number: str, links: Links) -> Verification:
    """The public facts of the note issued under ``number`` (404 when none was)."""
    row = await pool.fetchrow(NOTE, _clean_number(number))
    if row is None:
        raise _unknown(number)
    subject = _as_dict(row["subject"])
    path = f"/verify/{row['number']}"
    return Verification(
        number=row["number"], genuine=True, status=row["status"], status_text=status_text(row),
        issued_at=row["issued_at"],
        plot=Plot(ref=subject.get("ref"), label=subject["label"], area_m2=subject["area_m2"],
                  commune=subject.get("commune"), prefecture=subject["prefecture"]),
        requester_initials=initials(row["requester"]),
        signatory=row["signatory"], sha256=row["sha256"], data_version=row["data_version"],
        superseded_by=row["superseded_by"], revoked_at=row["revoked_at"],
        revocation_reason=row["status_reason"] if row["status"] == "revoked" else None,
        links=links.alternates(path, JSON, (JSON, HTML)))


def verdict(note: Verification, identical: bool) -> str:
    """What the upload check concludes, in French."""
    if not identical:
        return ("Ce fichier n'est pas la note délivrée sous ce numéro : son empreinte diffère "
                "(document modifié, ou autre document).")
    if note.status == "valid":
        return "Document authentique : identique à la note délivrée, qui est en vigueur."
    if note.status == "superseded":
        return (f"Document authentique, mais remplacé par la note n° {note.superseded_by} : "
                "il n'est plus en vigueur.")
    return f"Document authentique, mais révoqué : il n'a plus de valeur. {note.status_text}"


@lru_cache(maxsize=1)
def _pages() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("geoportal.renseignement", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
        lstrip_blocks=True)
    env.filters.update(moment=moment_text, area=french.area)
    return env


def _page(note: Verification, check: UploadCheck | None, status: int = 200) -> HTMLResponse:
    html = _pages().get_template("verify.html").render(note=note, check=check)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-cache"})


def _json(model: BaseModel) -> Response:
    return Response(model.model_dump_json(), media_type="application/json",
                    headers={"Cache-Control": "no-cache"})


def _format(request: Request) -> Format:
    return negotiate(request, (HTML, JSON))


@router.get("/verify/{number}", summary="Is this note genuine, and still valid?",
            response_model=Verification, response_class=HTMLResponse,
            responses={200: {"content": {"application/json": {}}},
                       404: {"description": "No note was issued under this number"}})
async def verify_note(request: Request, number: str, settings: SettingsDep) -> Response:
    """The public verification page of an issued note (HTML, or JSON with ``f=json`` or
    ``Accept: application/json``)."""
    fmt = _format(request)
    try:
        note = await find_note(get_write_pool(request), number,
                               Links.for_request(request, settings))
    except NotFound as exc:
        if fmt is JSON:
            raise
        # A person who scanned or typed a number reads a page, not an error document.
        html = _pages().get_template("verify_unknown.html").render(number=number[:64],
                                                                    message=exc.message)
        return HTMLResponse(html, status_code=404, headers={"Cache-Control": "no-cache"})
    return _json(note) if fmt is JSON else _page(note, None)


async def _read_upload(request: Request, limit: int) -> tuple[str, int]:
    """SHA-256 and size of the uploaded file (multipart field ``file``)."""
    try:
        form = await request.form(max_files=1, max_fields=4)
    except Exception as exc:  # malformed multipart: say so, never the parser's text
        raise InvalidBody("Envoyez le PDF en multipart/form-data, champ « file ».",
                          en="Send the PDF as multipart/form-data, field 'file'.") from exc
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InvalidBody("Envoyez le PDF en multipart/form-data, champ « file ».",
                          en="Send the PDF as multipart/form-data, field 'file'.")
    digest, size = hashlib.sha256(), 0
    while chunk := await upload.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Le fichier dépasse {limit:,} octets.".replace(",", " "),
                                  en=f"The file is over {limit:,} bytes.")
        digest.update(chunk)
    await upload.close()
    if size == 0:
        raise InvalidBody("Le fichier envoyé est vide.", en="The uploaded file is empty.")
    return digest.hexdigest(), size


@router.post("/verify/{number}", summary="Is this PDF exactly the issued note?",
             response_model=UploadCheck, response_class=HTMLResponse,
             responses={200: {"content": {"application/json": {}}},
                        404: {"description": "No note was issued under this number"},
                        413: {"description": "File too large"}},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "multipart/form-data": {"schema": {
                     "type": "object", "required": ["file"],
                     "properties": {"file": {"type": "string", "format": "binary"}}}}}}})
async def verify_upload(request: Request, number: str, settings: SettingsDep) -> Response:
    """Compare an uploaded PDF with the issued one (SHA-256 of the bytes)."""
    fmt = _format(request)
    note = await find_note(get_write_pool(request), number, Links.for_request(request, settings))
    sha256, size = await _read_upload(request, settings.verify_max_upload_bytes)
    identical = hmac.compare_digest(sha256, note.sha256)
    check = UploadCheck(number=note.number, identical=identical,
                        verdict=verdict(note, identical), uploaded_sha256=sha256,
                        uploaded_bytes=size, issued_sha256=note.sha256, status=note.status,
                        note=note)
    return _json(check) if fmt is JSON else _page(note, check)


def requester_links(base: str, number: str, token: str) -> dict[str, str]:
    """The requester's links to a note: the signed PDF and its JSON twin (with the token of
    one of the request's private links), and the public verification page."""
    root, query = base.rstrip("/"), urlencode({"token": token})
    return {"pdf": f"{root}{REQUESTER_PDF.format(number=number)}?{query}",
            "json": f"{root}{REQUESTER_JSON.format(number=number)}?{query}",
            "verify": f"{root}/verify/{number}"}


Token = Annotated[str, Query(min_length=16, max_length=256,
                             description="A private tracking token of the request.")]


async def _requester_copy(request: Request, number: str, token: str) -> asyncpg.Record:
    hashed = hashlib.sha256(token.encode()).hexdigest()
    row = await get_write_pool(request).fetchrow(DOWNLOAD, _clean_number(number), hashed)
    if row is None:
        raise NotFound("Aucune note ne correspond à ce numéro et à ce lien de suivi.",
                       en="No note matches this number and tracking link.")
    return row


PRIVATE = {"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"}


@router.get("/renseignement/notes/{number}.pdf", summary="The signed note (requester)",
            response_class=Response,
            responses={200: {"content": {"application/pdf": {}}},
                       404: {"description": "Unknown number, or wrong tracking token"}})
async def requester_pdf(request: Request, number: str, token: Token) -> Response:
    """The signed PDF, for whoever holds the request's tracking link."""
    row = await _requester_copy(request, number, token)
    return Response(bytes(row["pdf"]), media_type="application/pdf", headers={
        **PRIVATE, "ETag": f'"{row["sha256"]}"',
        "Content-Disposition": f'attachment; filename="{number}.pdf"'})


@router.get("/renseignement/notes/{number}.json", summary="The note's JSON twin (requester)",
            responses={404: {"description": "Unknown number, or wrong tracking token"}})
async def requester_json(request: Request, number: str, token: Token) -> Response:
    """The note's content as structured data, with the SHA-256 of the signed PDF."""
    row = await _requester_copy(request, number, token)
    document = row["document"]
    body = document if isinstance(document, str) else json.dumps(document, ensure_ascii=False)
    return Response(body, media_type="application/json", headers=PRIVATE)

