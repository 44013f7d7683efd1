"""The official note's content as data (``NoteDocument``), read as of the request's moment,
and its HTML and unsigned PDF, built on the informational note's template.

The document is everything the note shows; the HTML and the unsigned PDF are functions of it
alone (fonts and software aside), so the JSON twin stored with the signed PDF re-renders the
same bytes later. The PDF's own dates are the issue time and its file identifier derives from
the number and that time: the same document always gives the same unsigned PDF.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

import asyncpg
import jinja2
import segno
from pydantic import BaseModel, ConfigDict

from geoportal import __version__
from geoportal.rules import french
from geoportal.rules.models import RulesAnswer, RulesQuery
from geoportal.rules.note import render
from geoportal.rules.note.extract import MapFrame, fetch_extract, fetch_extract_around
from geoportal.rules.note.svgmap import draw_map
from geoportal.rules.rasters import RasterSampler
from geoportal.rules.service import lookup

AGENCY_TZ = ZoneInfo("Africa/Casablanca")
TemplateKind = Literal["approved", "under_study", "no_plan"]
CAPACITY_LABELS = {"owner": "Propriétaire", "mandated": "Mandataire du propriétaire",
                   "notary": "Notaire", "architect": "Architecte", "other": "Autre qualité"}
OUTLINE_LABEL = "Terrain levé"
TEMPLATES: dict[TemplateKind, tuple[str, str]] = {
    "approved": (
        "Document d'urbanisme approuvé",
        "Le terrain relève d'un document d'urbanisme approuvé : les règles ci-dessous sont "
        "celles qui s'appliquent à la date des données de la présente note."),
    "under_study": (
        "Document d'urbanisme en cours d'étude",
        "Le terrain relève d'un document d'urbanisme qui n'est pas encore approuvé (à l'étude "
        "ou en enquête publique). Les dispositions du projet sont communiquées au "
        "propriétaire ou à son mandataire à titre d'information ; elles peuvent changer "
        "jusqu'à l'approbation et ne sont pas opposables."),
    "no_plan": (
        "Aucun document d'urbanisme approuvé",
        "Aucun plan d'aménagement approuvé ne couvre le terrain à la date des données de la "
        "présente note : les règles générales de construction s'appliquent."),
}
NO_RIGHTS = (
    "La présente note ne crée aucun droit. Elle énonce les règles d'urbanisme en vigueur à "
    "la date indiquée, d'après les documents d'urbanisme et les données de l'Agence dans la "
    "version citée ; elle ne vaut ni autorisation de construire ou de lotir, ni titre de "
    "propriété, et ne préjuge pas des avis des autres administrations.")


class Document(BaseModel):
    """Base of the document's parts: frozen, and strict about what they hold."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Subject(Document):
    """The plot the note is about: a land title, or an outline surveyed and uploaded."""

    kind: Literal["parcel", "outline"]
    ref: str | None
    label: str
    area_m2: float
    prefecture: str
    commune: str | None
    lon: float
    lat: float


class Requester(Document):
    """Who asked, and in what capacity (shown on the note, never on the public page)."""

    name: str
    capacity: str
    capacity_label: str


def initials(name: str) -> str:
    """``M. A.`` for ``Mohamed Alaoui``: all the public verification page shows of a person."""
    return " ".join(f"{part[0].upper()}." for part in name.split() if part[:1].isalpha())


class Observation(Document):
    """An observation the agency's staff added to the note."""

    text: str
    at: dt.datetime | None = None


class Signatory(Document):
    """Who signs for the agency, and the certificate the signature is made with."""

    name: str
    title: str
    certificate_subject: str
    certificate_sha256: str


class MapExtract(Document):
    """The map extract as drawn (SVG, EPSG:26191 frame) and its legend."""

    scale: int
    frame: tuple[float, float, float, float]
    svg: str
    legend: list[tuple[str, str]]


class NoteDocument(Document):
    """Everything the official note shows: its number, request, plot, rules, signatory."""

    model_config = ConfigDict(frozen=True, extra="ignore")  # the twin also holds the PDF's hash

    type: Literal["note-de-renseignement-urbanistique"] = "note-de-renseignement-urbanistique"
    number: str
    issued_at: dt.datetime
    as_of: dt.datetime
    submitted_at: dt.datetime
    data_version: str
    template: TemplateKind
    verify_url: str
    software: str
    subject: Subject
    requester: Requester
    purpose: str
    observations: list[Observation]
    signatory: Signatory
    servitude_labels: dict[str, str]
    map: MapExtract
    answer: RulesAnswer


@dataclass(frozen=True)
class NoteRequest:
    """What the note needs from the request (``nru_requests``)."""

    id: int
    number: str
    parcel_ref: str | None
    outline: dict[str, Any] | None  # GeoJSON in EPSG:26191
    requester_name: str
    capacity: str
    purpose: str
    as_of: dt.datetime
    submitted_at: dt.datetime

    @property
    def outline_bounds(self) -> tuple[float, float, float, float]:
        """Bounds of the surveyed outline (x0, y0, x1, y1)."""
        assert self.outline is not None
        xs, ys = [], []
        for polygon in self.outline["coordinates"]:
            for ring in polygon:
                xs += [p[0] for p in ring]
                ys += [p[1] for p in ring]
        return min(xs), min(ys), max(xs), max(ys)


@dataclass(frozen=True)
class Issuance:
    """The issue's own facts: when, by whom, with which certificate, where it is verified."""

    issued_at: dt.datetime
    signatory: Signatory
    verify_url: str
    observations: list[Observation] = field(default_factory=list)


def local_day(moment: dt.datetime) -> dt.date:
    """The date of a moment in Casablanca."""
    return moment.astimezone(AGENCY_TZ).date()


def template_for(answer: RulesAnswer) -> TemplateKind:
    """The agency's template for the plan's status: approved, under study, or none."""
    if any(plan.applies for plan in answer.plans):
        return "approved"
    if answer.study_zones or any(p.situation in ("à l'étude", "non encore approuvé")
                                 for p in answer.plans):
        return "under_study"
    return "no_plan"


def rules_query(request: NoteRequest) -> RulesQuery:
    """The rules question of the request, for the rules in force on the request's date.

    The data is read as it is now until the rules service reads the layers as of a moment;
    then ``request.as_of`` goes here (see the README's "Signed notes and verification").
    """
    day = local_day(request.as_of)
    # the envelope in EPSG:26191, as the map extract draws it
    options = {"at": day, "data_at": request.as_of, "envelope": True, "envelope_crs84": False}
    if request.outline is not None:
        return RulesQuery.for_geometry(request.outline, "EPSG:26191", **options)
    assert request.parcel_ref is not None
    return RulesQuery.for_parcel(request.parcel_ref, **options)


def subject_of(request: NoteRequest, answer: RulesAnswer) -> Subject:
    """The plot as the note names it."""
    assert answer.plot is not None
    admin = answer.admin
    if request.outline is not None:
        kind: Literal["parcel", "outline"] = "outline"
        ref, label = None, OUTLINE_LABEL
    else:
        kind, ref, label = "parcel", answer.plot.ref, f"Parcelle {answer.plot.ref}"
    return Subject(kind=kind, ref=ref, label=label, area_m2=answer.plot.area_m2,
                   prefecture=admin.prefecture.name_fr,
                   commune=admin.commune.name_fr if admin.commune else None,
                   lon=round(answer.location.lon, 6), lat=round(answer.location.lat, 6))


async def build_document(db: asyncpg.Pool | asyncpg.Connection, request: NoteRequest,
                         issuance: Issuance, *, style: render.NoteStyle,
                         rasters: RasterSampler | None = None) -> NoteDocument:
    """The note's content: the rules answer and map extract for the request's plot as of its
    moment, with the request, the observations and the signatory."""
    answer = await lookup(db, rules_query(request), rasters=rasters,
                          today=local_day(issuance.issued_at))
    subject = subject_of(request, answer)
    plan_refs = [p.ref for p in answer.plans if p.applies]
    frame, svg = await _map(db, request, answer, plan_refs, subject, style)
    kinds = {s.kind for s in answer.servitudes}
    return NoteDocument(
        number=request.number, issued_at=issuance.issued_at, as_of=request.as_of,
        submitted_at=request.submitted_at, data_version=answer.data_version,
        template=template_for(answer), verify_url=issuance.verify_url, software=__version__,
        subject=subject,
        requester=Requester(name=request.requester_name, capacity=request.capacity,
                            capacity_label=CAPACITY_LABELS.get(request.capacity,
                                                               request.capacity)),
        purpose=request.purpose, observations=issuance.observations,
        signatory=issuance.signatory,
        servitude_labels={k: v for k, v in style.servitude_labels.items() if k in kinds},
        map=MapExtract(scale=frame.scale, frame=(frame.x0, frame.y0, frame.x1, frame.y1),
                       svg=svg, legend=render.legend_for(answer, style, subject.label)),
        answer=answer)


async def _map(db: asyncpg.Pool | asyncpg.Connection, request: NoteRequest,
               answer: RulesAnswer, plan_refs: list[str], subject: Subject,
               style: render.NoteStyle) -> tuple[MapFrame, str]:
    width, height = render.MAP_WIDTH_MM, render.MAP_HEIGHT_MM
    if request.outline is None:
        assert answer.plot is not None and answer.plot.ref is not None
        frame, extract = await fetch_extract(db, answer.plot.ref, plan_refs, width, height,
                                             request.as_of)
        plot_label = answer.plot.ref
    else:  # the surveyed outline is drawn as the plot, under its own label
        frame, extract = await fetch_extract_around(db, request.outline_bounds, plan_refs,
                                                    width, height, request.as_of)
        extract["parcels"] = [*(extract.get("parcels") or []),
                              {"ref": subject.label, "geom": request.outline}]
        plot_label = subject.label
    return frame, draw_map(frame, extract, plot_label, style.zone_colours, width, height,
                           render.envelope_geometry(answer))


# --- rendering --------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    base = render.environment()
    loader = jinja2.ChoiceLoader([jinja2.PackageLoader("geoportal.renseignement", "templates"),
                                  base.loader or jinja2.DictLoader({})])
    return base.overlay(loader=loader)


def moment_text(moment: dt.datetime) -> str:
    """``7 décembre 2026 à 10 h 21`` (Casablanca time)."""
    local = moment.astimezone(AGENCY_TZ)
    nbsp = french.NBSP
    return f"{french.date(local.date())} à {local.hour}{nbsp}h{nbsp}{local.minute:02d}"


def qr_data_uri(url: str) -> str:
    """The verification URL as a QR code (error correction M, no border): a PNG data URI of
    four pixels per module, which the note scales without smoothing (``image-rendering:
    pixelated``), so the modules stay sharp squares. One image the PDF draws on every page,
    where an SVG code was a path WeasyPrint parsed and drew again on each page (a tenth of a
    note's render)."""
    return str(segno.make(url, error="m", micro=False).png_data_uri(scale=4, border=0))


def w3c(moment: dt.datetime) -> str:
    """A UTC date-time as the PDF metadata reads it (``2026-12-07T10:21:05Z``)."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_note(document: NoteDocument) -> render.Note:
    """The informational note's view of the document, for the shared template."""
    x0, y0, x1, y1 = document.map.frame
    return render.Note(reference=document.number, date=local_day(document.issued_at),
                       answer=document.answer,
                       frame=MapFrame(x0, y0, x1, y1, document.map.scale),
                       map_svg=document.map.svg, legend=document.map.legend,
                       style=render.NoteStyle(servitude_labels=document.servitude_labels))


def to_html(document: NoteDocument) -> str:
    """The official note as a standalone HTML page (A4), the same for the same document."""
    title, statement = TEMPLATES[document.template]
    return _environment().get_template("official_note.html").render(
        note=as_note(document), answer=document.answer, version=document.software,
        doc=document, template_title=title, template_statement=statement,
        no_rights=NO_RIGHTS, issued_text=moment_text(document.issued_at),
        as_of_text=moment_text(document.as_of),
        submitted_text=french.date(local_day(document.submitted_at)),
        pdf_date=w3c(document.issued_at), qr=qr_data_uri(document.verify_url))


def pdf_identifier(document: NoteDocument) -> bytes:
    """The PDF's file identifier: from the number and the issue time only."""
    seed = f"{document.number}|{w3c(document.issued_at)}".encode()
    return hashlib.md5(seed).hexdigest().encode()  # noqa: S324 - an identifier, not security


def unsigned_pdf(document: NoteDocument) -> bytes:
    """The note as PDF before its signature (blocking: run it in the PDF worker)."""
    return render.pdf_bytes(to_html(document), pdf_identifier(document))


def twin(document: NoteDocument, sha256: str) -> dict[str, Any]:
    """The JSON twin: the document's content, and the hash of the signed PDF it goes with."""
    content: dict[str, Any] = json.loads(document.model_dump_json())
    content["pdf"] = {"sha256": sha256, "media_type": "application/pdf",
                      "signature": "PAdES B-B (ETSI.CAdES.detached), SHA-256"}
    return content
