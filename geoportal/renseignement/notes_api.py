"""HTTP routes of the issued notes: signing and revoking (staff), verification and the
requester's download (``verify``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from geoportal.core.auth import Identity, require_role
from geoportal.core.links import Links
from geoportal.deps import RegistryDep, SettingsDep, get_write_pool
from geoportal.errors import GeoportalError, InvalidBody, NotFound
from geoportal.renseignement import verify
from geoportal.renseignement.admin import request_view
from geoportal.renseignement.common import (
    form_of,
    inline_schema,
    is_form,
    is_json,
    language,
    unsupported_body,
)
from geoportal.renseignement.issue import (
    Issuer,
    SignatoryName,
    issue_note,
    revoke_note,
    unavailable_key,
)
from geoportal.renseignement.pages import wants_html
from geoportal.renseignement.signing import KeySource
from geoportal.renseignement.signing_keys import SigningKeyError
from geoportal.rules.note.render import NoteStyle
from geoportal.rules.routes import rasters_of

router = APIRouter(tags=["renseignement"])
router.include_router(verify.router)
Signataire = Annotated[Identity, Depends(require_role("signataire"))]
Staff = Annotated[Identity, Depends(require_role("instructeur", "signataire"))]


class SignBody(BaseModel):
    """How the signatory is named on the note (default: the account's name)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=120)
    title: str | None = Field(default=None, min_length=1, max_length=120,
                              description="e.g. « Le Directeur de l'Agence urbaine ».")
    observations: list[Annotated[str, Field(min_length=1, max_length=2000)]] = Field(
        default_factory=list, max_length=20,
        description="Observations added to the note now (recorded on the request too).")


SIGN_FORM_FIELDS = ("name", "title", "observation")
SIGN_BODY = {"requestBody": {"required": False, "content": {
    "application/json": {"schema": inline_schema(SignBody.model_json_schema())},
    "application/x-www-form-urlencoded": {"schema": {
        "type": "object", "description": "The back-office's form (session cookie and "
        "csrf_token); empty fields are left out.",
        "properties": {"name": {"type": "string", "maxLength": 120},
                       "title": {"type": "string", "maxLength": 120},
                       "observation": {"type": "string", "maxLength": 2000},
                       "csrf_token": {"type": "string"}}}}}}}


def _refused(exc: ValidationError | None) -> InvalidBody:
    names = sorted({str(e["loc"][0]) for e in exc.errors() if e.get("loc")}) if exc else []
    fields = ", ".join(names) or "JSON"
    return InvalidBody(f"Signature : corps invalide — à vérifier : {fields}.",
                       en=f"Signature: invalid body — check: {fields}.")


async def _sign_body(request: Request) -> SignBody:
    """How to name the signatory: the back-office's form (blank fields left out) or JSON;
    no body at all keeps the defaults. 422 for a malformed one."""
    document: Any
    if is_form(request):
        form = await form_of(request)
        document = {name: value.strip() for name in SIGN_FORM_FIELDS
                    if isinstance(value := form.get(name), str) and value.strip()}
        if "observation" in document:
            document["observations"] = [document.pop("observation")]
    else:
        raw = await request.body()
        if not raw.strip():
            return SignBody()
        if not is_json(request):
            raise unsupported_body()
        try:
            document = json.loads(raw)
        except ValueError:
            raise _refused(None) from None
    try:
        return SignBody.model_validate(document if document is not None else {})
    except ValidationError as exc:
        raise _refused(exc) from None


class RevokeBody(BaseModel):
    """Why the note is revoked (shown on the public verification page)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)


def _issuer(request: Request, settings: SettingsDep, registry: RegistryDep) -> Issuer:
    try:
        key = KeySource.from_settings(settings)
    except SigningKeyError as exc:
        raise unavailable_key(exc) from exc
    return Issuer(key=key, public_base=Links.for_request(request, settings).base,
                  style=NoteStyle.from_registry(registry), rasters=rasters_of(request))


@router.post("/renseignement/admin/requests/{request_id}/sign", status_code=201,
             summary="Sign and issue the note of a request ready to sign",
             openapi_extra=SIGN_BODY,
             responses={303: {"description": "A browser is sent back to the request's page"},
                        403: {"description": "Not a signatory, or no anti-CSRF token"},
                        409: {"description": "The request is not ready to sign"},
                        422: {"description": "Malformed body"},
                        503: {"description": "Signing key unusable, or too busy"}})
async def sign_request(request: Request,
                       request_id: Annotated[int, Path(ge=1, le=2**62)],
                       identity: Signataire,
                       issuer: Annotated[Issuer, Depends(_issuer)]) -> Response:
    """Render the note as of the request's date, sign it (PAdES), store it, supersede the
    plot's earlier notes, mark the request issued and queue the requester's mail with the
    download link. JSON in, 201 JSON out; the back-office's form (session cookie and its
    anti-CSRF token) is sent back to the request's page (303), which shows the note."""
    browser = wants_html(request)
    try:
        body = await _sign_body(request)
        note = await issue_note(get_write_pool(request), request_id, identity, issuer,
                                SignatoryName(body.name, body.title), body.observations)
    except GeoportalError as exc:
        if not browser or exc.status_code == 404:
            raise
        return await request_view(request, identity, request_id,
                                  error=exc.text(language(request)),
                                  status_code=exc.status_code)
    if browser:
        return RedirectResponse(f"/renseignement/admin/requests/{request_id}#note",
                                status_code=303)
    base = Links(issuer.public_base)
    verify_url = issuer.verify_url(note.number)
    return JSONResponse(status_code=201, headers={"Location": verify_url}, content={
        "number": note.number, "sha256": note.sha256, "issued_at": note.issued_at.isoformat(),
        "superseded": note.superseded, "links": [
            {"rel": "verify", "type": "text/html", "href": verify_url},
            {"rel": "alternate", "type": "application/json", "href": f"{verify_url}?f=json"},
            {"rel": "enclosure", "type": "application/pdf",
             "href": base.url(f"/renseignement/admin/notes/{note.number}.pdf")},
        ]})


@router.post("/renseignement/admin/notes/{number}/revoke", summary="Revoke an issued note",
             responses={404: {"description": "Unknown note"},
                        409: {"description": "Already revoked"}})
async def revoke(request: Request, number: str, identity: Signataire,
                 body: RevokeBody) -> JSONResponse:
    """Revoke a note with a reason: the verification page says so from now on."""
    async with get_write_pool(request).acquire() as conn:
        revoked = await revoke_note(conn, number, body.reason, identity.actor)
    return JSONResponse({"number": revoked.number, "status": "revoked",
                         "reason": revoked.reason})


@router.get("/renseignement/admin/notes/{number}.pdf", summary="The signed note (staff)",
            response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
async def staff_pdf(request: Request, number: str, identity: Staff) -> Response:
    """The signed PDF as issued, for the agency's staff."""
    row = await get_write_pool(request).fetchrow(
        "SELECT pdf, sha256 FROM nru_notes WHERE number = $1", number)
    if row is None:
        raise NotFound(f"Aucune note n'a le numéro {number!r}.",
                       en=f"No note has the number {number!r}.")
    return Response(bytes(row["pdf"]), media_type="application/pdf", headers={
        "Cache-Control": "private, no-store", "ETag": f'"{row["sha256"]}"',
        "Content-Disposition": f'attachment; filename="{number}.pdf"'})
