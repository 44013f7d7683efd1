"""Build the note (answer + map extract) and render it as HTML (Jinja2) or PDF (WeasyPrint).

Same data, same document: the reference number comes from the plot and the data version,
the only date is the note's date (explicit, or today), and the PDF carries no timestamp
other than that date and a file identifier derived from the reference. A note taken ``at``
a moment reads the data as it stood then, so it is the same bytes whenever it is asked
again, whatever was edited since.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

import asyncpg
import jinja2

from geoportal import __version__
from geoportal.core.refs import ref_norm
from geoportal.errors import ServiceUnavailable, expected
from geoportal.registry import LayerRegistry
from geoportal.rules import french
from geoportal.rules.envelope import METHOD_SHORT
from geoportal.rules.models import RulesAnswer, RulesQuery
from geoportal.rules.note import htmltree
from geoportal.rules.note.extract import MapFrame, fetch_extract
from geoportal.rules.note.svgmap import (
    DEFAULT_ZONE_COLOUR,
    ENVELOPE_COLOUR,
    SERVITUDE_COLOURS,
    draw_map,
    legend_key,
)
from geoportal.rules.rasters import RasterSampler
from geoportal.rules.service import agency_today, answer_day, lookup

_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)
MAP_WIDTH_MM = 174.0
MAP_HEIGHT_MM = 96.0
T = TypeVar("T")


@dataclass(frozen=True)
class NoteStyle:
    """Colours and labels shared with the web map (from the layer registry)."""

    zone_colours: dict[str, str] = field(default_factory=dict)
    servitude_labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_registry(cls, registry: LayerRegistry) -> NoteStyle:
        """The zoning colours and servitude labels of the published layers."""
        zoning, servitudes = registry.get("zoning"), registry.get("servitudes")
        return cls(
            zone_colours={c.value: c.color for c in zoning.style.classes} if zoning else {},
            servitude_labels={c.value: c.label for c in servitudes.style.classes}
            if servitudes else {},
        )


@dataclass(frozen=True)
class Note:
    """Everything the note shows."""

    reference: str
    date: dt.date
    answer: RulesAnswer
    frame: MapFrame
    map_svg: str
    legend: list[tuple[str, str]]
    style: NoteStyle


def legend_for(answer: RulesAnswer, style: NoteStyle,
               subject: str | None = None) -> list[tuple[str, str]]:
    """Swatches and labels of what the map shows; ``subject`` names the plot (default: its
    land-title reference)."""
    plot = expected(answer.plot, "the note's plot")
    entries = [(legend_key("#f6d1d1", "#d7191c", stroke_width=1.0),
                subject or f"Parcelle {plot.ref}")]
    for zone in answer.zones:
        colour = style.zone_colours.get(zone.code, DEFAULT_ZONE_COLOUR)
        entries.append((legend_key(colour, "#555", opacity=0.55),
                        f"Zone {zone.code} – {zone.label}"))
    for kind in sorted({s.kind for s in answer.servitudes}):
        colour = SERVITUDE_COLOURS.get(kind, "#2171b5")
        entries.append((legend_key("#ffffff", colour, hatch="45"),
                        style.servitude_labels.get(kind, f"Servitude ({kind})")))
    if answer.reservations:
        entries.append((legend_key("#e7298a", "#980043", opacity=0.25),
                        "Réservation pour équipement public"))
    if answer.planned_roads:
        entries.append((legend_key("#fde0ef", "#c51b7d", hatch="-45"), "Voie projetée"))
    if answer.envelope is not None and answer.envelope.buildable:
        entries.append((legend_key("#ffffff", ENVELOPE_COLOUR, hatch="-45"),
                        "Emprise constructible (enveloppe)"))
    return entries


def envelope_geometry(answer: RulesAnswer) -> dict[str, Any] | None:
    """The envelope to hatch on the map (EPSG:26191), when there is one."""
    envelope = answer.envelope
    return envelope.geometry if envelope is not None and envelope.buildable else None


def note_reference(parcel_ref: str, data_version: str) -> str:
    """A reference number that depends only on the plot and the data version."""
    normalised = ref_norm(parcel_ref)
    digest = hashlib.sha256(f"{normalised}|{data_version}".encode()).hexdigest()
    return f"NRU-{digest[:10].upper()}"


async def build_note(db: asyncpg.Pool | asyncpg.Connection, parcel: str,
                     date: dt.date | None, rasters: RasterSampler | None,
                     style: NoteStyle | None = None,
                     data_at: dt.datetime | None = None) -> Note:
    """The note about a registered plot, dated ``date`` (default: the day of ``data_at``, or
    today), rules of that date, from the data as it stood at ``data_at`` (default: now)."""
    day = date or (answer_day(data_at) if data_at is not None else agency_today())
    answer = await lookup(db, RulesQuery.for_parcel(parcel, at=day, data_at=data_at,
                                                    envelope=True, envelope_crs84=False),
                          rasters=rasters, today=answer_day(data_at))
    plot_ref = expected(expected(answer.plot, "the note's plot").ref, "the plot's reference")
    plan_refs = [p.ref for p in answer.plans if p.applies]
    frame, extract = await fetch_extract(db, plot_ref, plan_refs, MAP_WIDTH_MM,
                                         MAP_HEIGHT_MM, data_at)
    style = style or NoteStyle()
    svg = draw_map(frame, extract, plot_ref, style.zone_colours, MAP_WIDTH_MM,
                   MAP_HEIGHT_MM, envelope_geometry(answer))
    return Note(reference=note_reference(plot_ref, answer.data_version), date=day,
                answer=answer, frame=frame, map_svg=svg, legend=legend_for(answer, style),
                style=style)


def _levels(value: int | None) -> str:
    return "–" if value is None else ("RDC" if value == 0 else f"R+{value}")


def _metres(value: float | None) -> str:
    return "–" if value is None else f"{french.number(value, 2 if value % 1 else 0)}\u00a0m"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The note's Jinja2 environment and filters (other notes extend its template)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("geoportal.rules.note", "templates"),
        autoescape=jinja2.select_autoescape(["html"]), undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )
    env.filters.update(
        area=lambda v: "–" if v is None else french.area(v),
        pct=lambda v: "–" if v is None else french.percent(v),
        number=lambda v, d=2: "–" if v is None else french.number(v, d),
        coef=french.coefficient, fdate=lambda d: "–" if d is None else french.date(d),
        levels=_levels, metres=_metres,
    )
    env.globals["envelope_method"] = METHOD_SHORT
    env.tests["startingwith"] = lambda value, prefix: str(value).startswith(str(prefix))
    return env


def to_html(note: Note) -> str:
    """The note as a standalone HTML page (A4, print styles included)."""
    return environment().get_template("note.html").render(
        note=note, answer=note.answer, version=__version__)


# One render at a time, in its own thread (fontconfig is not thread-safe, and a render is
# seconds of CPU that must not hold the event loop); a few more may wait, others are refused.
# Every WeasyPrint render of the process goes through it (the signed notes too).
_PDF_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="geoportal-pdf")
PDF_WAITING_MAX = 4
_pdf_pending = 0


@lru_cache(maxsize=1)
def _font_config() -> Any:
    """One WeasyPrint font configuration for every render of the process: Pango's font map
    and its caches (fontconfig matches, glyph metrics) stay warm from one PDF to the next
    instead of being built again for each (a fifth of a note's render). Renders are serial
    (the PDF worker thread, or one batch process each), as fontconfig needs."""
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


PDF_DEFLATE_LEVEL = 6


class _Deflate:
    """pydyf's ``zlib`` seen through a fixed compression level: pydyf deflates every stream
    (pages, font subsets, object streams) at level 9, a twentieth of a note's render for
    1.4% fewer bytes than zlib's default level 6 (the same streams, the same bytes for the
    same note)."""

    compress = staticmethod(zlib.compress)

    @staticmethod
    def compressobj(level: int = PDF_DEFLATE_LEVEL, *args: Any, **kwargs: Any) -> Any:
        return zlib.compressobj(PDF_DEFLATE_LEVEL, *args, **kwargs)


@lru_cache(maxsize=1)
def _deflate_level() -> None:
    """pydyf writes its streams at ``PDF_DEFLATE_LEVEL`` (once per process, before a PDF)."""
    import pydyf

    pydyf.zlib = _Deflate


@lru_cache(maxsize=8)
def _stylesheet(css: str) -> Any:
    """A page's stylesheet parsed (selectors compiled) once per process: the official notes
    all share one."""
    from weasyprint import CSS

    return CSS(string=css, font_config=_font_config())


def pdf_bytes(html: str, identifier: bytes) -> bytes:
    """Render HTML to PDF with WeasyPrint (blocking: call it in the PDF worker); a tagged PDF
    (structure tree, reading order, language) that screen readers can follow.

    The page's ``<style>`` element is given to WeasyPrint as an already parsed stylesheet
    (the same cascade, the same bytes)."""
    _deflate_level()
    stylesheets = []
    style = _STYLE.search(html)
    if style is not None:
        stylesheets.append(_stylesheet(style.group(1)))
        html = html[:style.start()] + html[style.end():]
    pdf: bytes = htmltree.weasyprint_html(html).write_pdf(pdf_identifier=identifier, pdf_tags=True,
                                             font_config=_font_config(),
                                             stylesheets=stylesheets)
    return pdf


async def in_pdf_worker(busy: ServiceUnavailable, job: Callable[..., T], *args: Any) -> T:
    """``job(*args)`` run in the PDF worker thread; ``busy`` (503) when too many wait."""
    global _pdf_pending
    if _pdf_pending > PDF_WAITING_MAX:
        raise busy
    _pdf_pending += 1
    try:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_PDF_WORKER, job, *args)
    finally:
        _pdf_pending -= 1


async def to_pdf(note: Note) -> bytes:
    """The note as PDF, rendered in the PDF worker thread; 503 when too many are waiting."""
    identifier = hashlib.md5(  # noqa: S324 - a file identifier, not security
        f"{note.reference}|{note.date.isoformat()}".encode()).hexdigest().encode()
    busy = ServiceUnavailable(
        "Trop de notes PDF sont en préparation ; réessayez dans un instant (ou demandez "
        "la note en HTML : f=html).",
        en="Too many PDF notes are being prepared; try again shortly (or ask for the "
           "HTML note: f=html).")
    return await in_pdf_worker(busy, pdf_bytes, to_html(note), identifier)
