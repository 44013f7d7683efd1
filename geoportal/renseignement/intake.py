"""What a request says, read from JSON or from a form (multipart), checked field by field;
every mistake is a 4xx in French (English on ``Accept-Language: en``)."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.datastructures import FormData, UploadFile

from geoportal.errors import InvalidBody, PayloadTooLarge
from geoportal.renseignement.files import MAX_PIECES, Piece, checked_piece
from geoportal.renseignement.labels import Capacity, PieceKind

EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
                   r"[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+")
ID_NUMBER = re.compile(r"[A-Za-z0-9-]{4,32}")
PHONE = re.compile(r"\+?[0-9 ().-]{6,32}")
PIECE_FIELDS: tuple[PieceKind, ...] = ("ownership", "plan", "mandate", "other")
TEXT_FIELDS = ("parcel", "outline_crs", "requester_name", "requester_id_number",
               "requester_email", "requester_phone", "capacity", "purpose", "language")


class RequesterIn(BaseModel):
    """Who asks."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200, description="Full name.")
    id_number: str = Field(min_length=1, max_length=32,
                           description="National identity card (CIN) or residence permit number.")
    email: str = Field(min_length=3, max_length=254, description="Where mail is sent.")
    phone: str | None = Field(default=None, max_length=32)


class AttachmentIn(BaseModel):
    """A piece sent in JSON: its kind and its bytes in base64."""

    model_config = ConfigDict(extra="forbid")

    kind: PieceKind
    filename: str | None = Field(default=None, max_length=255)
    content_base64: str


class RequestIn(BaseModel):
    """A request for the note: ``parcel`` (land-title or requisition number) or ``outline``
    (a GeoJSON geometry or feature, in ``outline_crs``, default EPSG:26191 — or CRS84 for
    longitude/latitude without a ``crs`` member)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    parcel: str | None = Field(default=None, min_length=1, max_length=64,
                               description="Land-title reference (TF 12345/C) or requisition.")
    outline: dict[str, Any] | None = Field(default=None, description="A surveyed outline.")
    outline_crs: str | None = Field(default=None, max_length=100)
    requester: RequesterIn
    capacity: Capacity
    purpose: str = Field(min_length=1, max_length=2000)
    language: Literal["fr", "ar", "en"] = "fr"
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=MAX_PIECES)


@dataclass(frozen=True)
class Submission:
    """A request read and checked, its outline file and pieces still to be used."""

    fields: RequestIn
    outline_file: bytes | None  # GeoJSON, zipped Shapefile or DXF, as uploaded
    outline_filename: str | None
    pieces: list[Piece]


FIELD_NAMES: dict[str, tuple[str, str]] = {
    "parcel": ("référence foncière", "land-title reference"),
    "outline": ("contour", "outline"),
    "outline_crs": ("système de coordonnées du contour", "outline coordinate system"),
    "requester": ("demandeur", "requester"),
    "requester.name": ("nom du demandeur", "requester's name"),
    "requester.id_number": ("numéro de CIN", "identity card number"),
    "requester.email": ("adresse électronique", "e-mail address"),
    "requester.phone": ("téléphone", "phone"),
    "capacity": ("qualité du demandeur (owner, mandated, notary, architect, other)",
                 "capacity (owner, mandated, notary, architect, other)"),
    "purpose": ("objet de la demande", "purpose"),
    "language": ("langue (fr, ar, en)", "language (fr, ar, en)"),
    "attachments": ("pièces jointes", "attachments"),
}


def _field(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if not isinstance(p, int)]
    while parts and ".".join(parts) not in FIELD_NAMES:
        parts.pop()
    return ".".join(parts) or "body"


def _refused(exc: ValidationError) -> InvalidBody:
    names = list(dict.fromkeys(_field(tuple(e.get("loc", ()))) for e in exc.errors()))
    french = "; ".join(FIELD_NAMES.get(n, (n, n))[0] for n in names)
    english = "; ".join(FIELD_NAMES.get(n, (n, n))[1] for n in names)
    return InvalidBody(f"Demande incomplète ou invalide — à vérifier : {french}.",
                       en=f"Incomplete or invalid request — check: {english}.")


def _checked(fields: RequestIn) -> RequestIn:
    person = fields.requester
    if not EMAIL.fullmatch(person.email):
        raise InvalidBody("Adresse électronique invalide.", en="Invalid e-mail address.")
    if not ID_NUMBER.fullmatch(person.id_number):
        raise InvalidBody("Numéro de CIN invalide (lettres et chiffres, 4 à 32).",
                          en="Invalid identity card number (letters and digits, 4 to 32).")
    if person.phone and not PHONE.fullmatch(person.phone):
        raise InvalidBody("Numéro de téléphone invalide.", en="Invalid phone number.")
    if "\n" in person.name or "\r" in person.name:
        raise InvalidBody("Le nom tient sur une ligne.", en="The name is one line.")
    return fields


def _subject(fields: RequestIn, has_outline_file: bool) -> None:
    given = [fields.parcel is not None, fields.outline is not None or has_outline_file]
    if given.count(True) != 1:
        raise InvalidBody(
            "Indiquez soit la référence foncière (ou le numéro de réquisition), soit un contour "
            "levé (GeoJSON, Shapefile zippé ou DXF), l'un des deux seulement.",
            en="Give either the land-title (or requisition) reference or a surveyed outline "
               "(GeoJSON, zipped Shapefile or DXF), only one of them.")


def from_json(body: bytes, max_piece_bytes: int) -> Submission:
    """A request sent as JSON (attachments in base64)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidBody("Le corps de la requête n'est pas du JSON valide.",
                          en="The request body is not valid JSON.") from None
    try:
        fields = RequestIn.model_validate(document)
    except ValidationError as exc:
        raise _refused(exc) from None
    _subject(fields, has_outline_file=False)
    pieces = [checked_piece(a.kind, a.filename, _decoded(a.content_base64, max_piece_bytes),
                            max_piece_bytes) for a in fields.attachments]
    outline = orjson.dumps(fields.outline) if fields.outline is not None else None
    return Submission(_checked(fields), outline, None, pieces)


def _decoded(text: str, max_bytes: int) -> bytes:
    if len(text) > (max_bytes * 4) // 3 + 8:
        raise PayloadTooLarge(f"Pièce jointe : plus de {max_bytes // 1000} ko.",
                              en=f"Attachment: over {max_bytes // 1000} kB.")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidBody("Pièce jointe : content_base64 n'est pas du base64.",
                          en="Attachment: content_base64 is not base64.") from None


async def _read_upload(upload: UploadFile, max_bytes: int) -> bytes:
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"Fichier « {upload.filename} » : plus de {max_bytes // 1000} ko.",
                              en=f"File '{upload.filename}': over {max_bytes // 1000} kB.")
    return data


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if value is None or isinstance(value, UploadFile):
        return None
    return value.strip() or None


async def pieces_from_form(form: FormData, max_piece_bytes: int) -> list[Piece]:
    """The pieces of a form: one file field per kind (repeatable), empty ones ignored."""
    pieces: list[Piece] = []
    for kind in PIECE_FIELDS:
        for upload in form.getlist(kind):
            if not isinstance(upload, UploadFile) or (not upload.filename and not upload.size):
                continue
            data = await _read_upload(upload, max_piece_bytes)
            if data:
                pieces.append(checked_piece(kind, upload.filename, data, max_piece_bytes))
    if len(pieces) > MAX_PIECES:
        raise InvalidBody(f"Au plus {MAX_PIECES} pièces jointes.",
                          en=f"At most {MAX_PIECES} attachments.")
    return pieces


async def from_form(form: FormData, max_piece_bytes: int, max_outline_bytes: int
                    ) -> Submission:
    """A request sent as a form (the page's, or a notary's software in multipart)."""
    outline_upload = form.get("outline")
    outline_file: bytes | None = None
    outline_name: str | None = None
    if isinstance(outline_upload, UploadFile) and (outline_upload.filename or outline_upload.size):
        outline_file = await _read_upload(outline_upload, max_outline_bytes) or None
        outline_name = outline_upload.filename
    requester_text = _text(form, "requester")
    requester: Any = {"name": _text(form, "requester_name"),
                      "id_number": _text(form, "requester_id_number"),
                      "email": _text(form, "requester_email"),
                      "phone": _text(form, "requester_phone")}
    if requester_text:  # software may send the requester as one JSON field
        try:
            requester = orjson.loads(requester_text)
        except orjson.JSONDecodeError:
            raise InvalidBody("requester : JSON invalide.", en="requester: invalid JSON.") \
                from None
    document = {"parcel": _text(form, "parcel"), "outline_crs": _text(form, "outline_crs"),
                "requester": requester, "capacity": _text(form, "capacity"),
                "purpose": _text(form, "purpose"), "language": _text(form, "language") or "fr"}
    try:
        fields = RequestIn.model_validate(document)
    except ValidationError as exc:
        raise _refused(exc) from None
    _subject(fields, has_outline_file=outline_file is not None)
    pieces = await pieces_from_form(form, max_piece_bytes)
    return Submission(_checked(fields), outline_file, outline_name, pieces)
