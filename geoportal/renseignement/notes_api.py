"""HTTP routes of the issued notes: signing and revoking (staff), verification and the
requester's download (``verify``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from geoportal.core.auth import Identity, require_role
from geoportal.core.links import Links
from geoportal.deps import RegistryDep, SettingsDep, get_write_pool
from geoportal.errors import NotFound
from geoportal.renseignement import verify
from geoportal.renseignement.issue import (
    Issuer,
    SignatoryName,
    issue_note,
    revoke_note,
    unavailable_key,
)
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
             responses={403: {"description": "Not a signatory"},
                        409: {"description": "The request is not ready to sign"},
                        503: {"description": "Signing key unusable, or too busy"}})
async def sign_request(request: Request, request_id: int, identity: Signataire,
                       issuer: Annotated[Issuer, Depends(_issuer)],
                       body: Annotated[SignBody | None, Body()] = None) -> JSONResponse:
    """Render the note as of the request's date, sign it (PAdES), store it, supersede the
    plot's earlier notes and mark the request issued."""
    body = body or SignBody()
    note = await issue_note(get_write_pool(request), request_id, identity, issuer,
                            SignatoryName(body.name, body.title), body.observations)
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
