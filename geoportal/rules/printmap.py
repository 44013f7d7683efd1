"""``GET /print``: the map of the viewer's current view as an A4/A3 PDF at a chosen scale.

Drawn like the note's extract: one SQL statement reads every chosen layer clipped to the
frame (simplified to a fifth of a millimetre on paper) as GeoJSON in EPSG:26191, Python draws
it as SVG with the layer registry's styles, WeasyPrint makes the page, with its legend,
scale bar, north arrow, date and data version. A print is heavy work: it runs in the heavy
lane (``core/admission.py``), and the PDF in the note's single PDF worker.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import dataclass
from html import escape
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pyproj import Transformer

from geoportal import __version__
from geoportal.core.admission import admission_of, client_of
from geoportal.core.area import STORAGE_CRS, STORAGE_SRID
from geoportal.core.history import as_of, parse_at
from geoportal.core.sql import ident as quote
from geoportal.core.versions import data_version
from geoportal.deps import PoolDep, RegistryDep
from geoportal.errors import InvalidParameter, ServiceUnavailable
from geoportal.registry import Layer, LayerRegistry
from geoportal.rules import french
from geoportal.rules.note.extract import MapFrame
from geoportal.rules.note.render import in_pdf_worker, pdf_bytes
from geoportal.rules.note.svgmap import Canvas, _north_arrow, _scale_bar, true_north_deg
from geoportal.rules.service import answer_day

router = APIRouter(tags=["rules"])

Paper = Literal["A4", "A3"]
PAPER_MM: dict[str, tuple[float, float]] = {"A4": (297.0, 210.0), "A3": (420.0, 297.0)}
MARGIN_MM, LEGEND_MM, HEAD_MM = 10.0, 64.0, 28.0  # HEAD_MM: the header and its spacing
MIN_SCALE, MAX_SCALE = 200, 50_000
SIMPLIFY_MM = 0.2
OGC_PIXEL_M = 0.00028
MERCATOR_RES_Z0 = 156_543.03392  # metres per pixel at zoom 0 on the equator
DEFAULT_LAYERS = ("prefectures", "communes", "zoning", "servitudes", "reservations", "roads",
                  "parcels")


@dataclass(frozen=True)
class PrintRequest:
    """What to print: centre (EPSG:26191), scale, paper, layers and moment."""

    x: float
    y: float
    scale: int
    paper: Paper
    layers: tuple[Layer, ...]
    at: dt.datetime | None

    @property
    def map_mm(self) -> tuple[float, float]:
        """Width and height of the map on the page (landscape, legend on the right)."""
        width, height = PAPER_MM[self.paper]
        return width - 2 * MARGIN_MM - LEGEND_MM, height - 2 * MARGIN_MM - HEAD_MM

    @property
    def frame(self) -> MapFrame:
        """The ground rectangle printed."""
        width, height = self.map_mm
        half_w, half_h = width * self.scale / 2000, height * self.scale / 2000
        return MapFrame(self.x - half_w, self.y - half_h, self.x + half_w, self.y + half_h,
                        self.scale)


def legible_at(layer: Layer, scale: int, lat: float) -> bool:
    """Whether the viewer would draw the layer at the zoom matching this printed scale."""
    resolution = scale * OGC_PIXEL_M
    zoom = math.log2(MERCATOR_RES_Z0 * math.cos(math.radians(lat)) / resolution)
    return zoom >= layer.min_zoom


def chosen_layers(registry: LayerRegistry, names: str | None) -> tuple[Layer, ...]:
    """The layers to print, in the registry's drawing order (400 for an unknown one)."""
    wanted = [n.strip() for n in (names or ",".join(DEFAULT_LAYERS)).split(",") if n.strip()]
    unknown = [n for n in wanted if (layer := registry.get(n)) is None or not layer.has_geometry]
    if unknown:
        listed = ", ".join(unknown)
        raise InvalidParameter(f"layers : couche(s) inconnue(s) ou sans géométrie : {listed}",
                               en=f"layers: unknown layer(s) or without geometry: {listed}")
    return tuple(layer for layer in registry.with_geometry() if layer.id in wanted)


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``west,south,east,north`` in WGS 84 degrees."""
    try:
        west, south, east, north = (float(v) for v in text.split(","))
    except ValueError:
        raise InvalidParameter(
            "bbox : quatre nombres attendus (ouest,sud,est,nord en degrés WGS 84)",
            en="bbox: four numbers expected (west,south,east,north in WGS 84 degrees)") \
            from None
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise InvalidParameter("bbox : l'emprise est hors des bornes ou inversée",
                               en="bbox: the extent is out of bounds or inverted")
    return west, south, east, north


def layer_sql(layer: Layer, at: str | None) -> str:
    """A JSON array of the layer's features in the frame ($1-$4), simplified by $5."""
    geom = quote(layer.spatial_column)
    by = f"{quote(layer.style.by)}::text" if layer.style.by else "NULL"
    return (  # identifiers from the registry, quoted; values bound
        f"(SELECT json_agg(json_build_object('v', {by}, 'g', ST_AsGeoJSON("  # noqa: S608
        f"ST_SimplifyPreserveTopology(ST_Intersection({geom}, f.b), $5), 1)::json))"
        f" FROM {as_of(layer.table, at)} t WHERE {geom} && f.b)")


def print_sql(layers: tuple[Layer, ...], at: str | None) -> str:
    """One statement: every layer's features clipped to the frame, as one JSON object."""
    # Layer ids are registry identifiers ([a-z_][a-z0-9_]*), safe as SQL string literals.
    members = ", ".join(f"'{layer.id}', {layer_sql(layer, at)}" for layer in layers)
    return (f"WITH f AS (SELECT ST_MakeEnvelope($1, $2, $3, $4, {STORAGE_SRID}) AS b)"  # noqa: S608
            f" SELECT json_build_object({members}) FROM f")


def colour_of(layer: Layer, value: str | None) -> str:
    """The registry colour of a feature (its class, or the layer's)."""
    for entry in layer.style.classes:
        if entry.value == value:
            return entry.color
    return layer.style.color


def draw_layer(canvas: Canvas, layer: Layer, features: list[dict[str, Any]]) -> str:
    """SVG of one layer's features, styled as on the web map."""
    style, out = layer.style, []
    for feature in features:
        path = canvas.path(feature["g"])
        if not path:
            continue
        colour = colour_of(layer, feature["v"])
        if style.kind == "fill":
            opacity = 0.15 if style.hatched else max(style.opacity, 0.35)
            out.append(f'<path d="{path}" fill="{colour}" fill-opacity="{opacity:.2f}" '
                       f'stroke="{style.outline or colour}" stroke-width="0.25" '
                       'fill-rule="evenodd"/>')
        elif style.kind == "line":
            dash = ' stroke-dasharray="2,1"' if layer.id == "plans" else ""
            width = max(style.width * 0.3, 0.3)
            if _is_light(colour):  # a white road: a grey casing under it, as on the map
                out.append(f'<path d="{path}" fill="none" stroke="#9a8d78" '
                           f'stroke-width="{width + 0.4:.2f}" stroke-linecap="round"/>')
            out.append(f'<path d="{path}" fill="none" stroke="{colour}" '
                       f'stroke-width="{width:.2f}"{dash} stroke-linecap="round"/>')
        else:
            for x, y, *_ in _points(feature["g"]):
                px, py = canvas.xy(x, y)
                out.append(f'<circle cx="{px:.2f}" cy="{py:.2f}" r="0.8" fill="{colour}"/>')
    return "".join(out)


def _is_light(colour: str) -> bool:
    red, green, blue = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return min(red, green, blue) > 0xE0


def _points(geometry: dict[str, Any]) -> list[list[float]]:
    if geometry.get("type") == "Point":
        return [geometry["coordinates"]]
    if geometry.get("type") == "MultiPoint":
        return list(geometry["coordinates"])
    return []


def draw_print_map(job: PrintRequest, found: dict[str, Any]) -> str:
    """The SVG map: layers bottom-up, north arrow, scale bar, frame."""
    width, height = job.map_mm
    frame = job.frame
    canvas = Canvas(frame, width, height)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}mm" height="{height}mm" '
           f'viewBox="0 0 {width} {height}" class="map" role="img" '
           'aria-label="Carte imprimée">',
           f'<rect width="{width}" height="{height}" fill="#f6f3ec"/>']
    for layer in job.layers:
        out.append(draw_layer(canvas, layer, found.get(layer.id) or []))
    out += [_north_arrow(canvas, true_north_deg(job.x, job.y)), _scale_bar(canvas),
            f'<rect width="{width}" height="{height}" fill="none" stroke="#333" '
            'stroke-width="0.4"/>', "</svg>"]
    return "".join(out)


def legend_html(job: PrintRequest, found: dict[str, Any]) -> str:
    """The legend: each printed layer with features in the frame, and its classes there."""
    parts = []
    for layer in reversed(job.layers):
        features = found.get(layer.id) or []
        if not features:
            continue
        present = {f["v"] for f in features}
        entries = [(c.color, c.label) for c in layer.style.classes if c.value in present]
        rows = "".join(f'<li>{_swatch(layer, colour)}<span>{escape(label)}</span></li>'
                       for colour, label in entries)
        head = "" if entries else _swatch(layer, layer.style.color)
        parts.append(f'<section><h3>{head}{escape(layer.title)}</h3>'
                     f'{f"<ul>{rows}</ul>" if rows else ""}</section>')
    return "".join(parts) or "<p>Aucune donnée dans ce cadre.</p>"


def _swatch(layer: Layer, colour: str) -> str:
    if layer.style.kind == "line":
        return f'<span class="key line" style="background:{colour}"></span>'
    return f'<span class="key" style="background:{colour};border-color:{colour}"></span>'


PAGE_CSS = """
@page {{ size: {paper} landscape; margin: {margin}mm; }}
body {{ font-family: "Noto Sans", "DejaVu Sans", sans-serif; font-size: 8.5pt; color: #1f2430;
       margin: 0; }}
header {{ height: {head}mm; box-sizing: border-box; display: flex;
         justify-content: space-between; align-items: start;
         border-bottom: 0.4mm solid #0b5c8a; margin-bottom: 2mm; }}
h1 {{ font-size: 14pt; margin: 0 0 1mm; color: #08466a; }}
header p {{ margin: 0; }}
.sheet {{ display: flex; gap: 4mm; }}
aside {{ width: {legend}mm; }}
aside h2 {{ font-size: 10pt; margin: 0 0 2mm; }}
aside h3 {{ font-size: 8.5pt; margin: 2mm 0 1mm; display: flex; align-items: center; gap: 1.5mm; }}
aside ul {{ list-style: none; margin: 0; padding: 0 0 0 1mm; }}
aside li {{ display: flex; align-items: center; gap: 1.5mm; margin: 0.6mm 0; font-size: 7.5pt; }}
.key {{ display: inline-block; width: 5mm; height: 3mm; border: 0.3mm solid; opacity: 0.8; }}
.key.line {{ height: 1.2mm; border: 0.2mm solid #6b7280; }}
.facts {{ margin-top: 4mm; font-size: 7.5pt; color: #5d6472; }}
.facts p {{ margin: 0 0 1mm; }}
"""


def page_html(job: PrintRequest, svg: str, legend: str, day: dt.date, version: str) -> str:
    """The printed page (French)."""
    css = PAGE_CSS.format(paper=job.paper, margin=MARGIN_MM, head=HEAD_MM - 10,
                          legend=LEGEND_MM - 4)
    scale = f"1/{job.scale:,}".replace(",", "\u00a0")
    moment = (f"Données telles qu'au {french.date(day)}" if job.at is not None
              else f"Données au {french.date(day)}")
    return f"""<!doctype html><html lang="fr"><head><meta charset="utf-8">
<title>Carte — Géoportail de l'Agence urbaine de Casablanca</title><style>{css}</style></head>
<body><header><div><h1>Géoportail de l'Agence urbaine de Casablanca</h1>
<p>Extrait de carte au {escape(scale)} · format {job.paper}</p></div>
<div><p>{escape(moment)}</p><p>Version des données : {escape(version)}</p></div></header>
<div class="sheet">{svg}<aside><h2>Légende</h2>{legend}
<div class="facts"><p>Projection : Merchich / Nord Maroc ({STORAGE_CRS}).</p>
<p>Centre : X {job.x:,.0f} m · Y {job.y:,.0f} m.</p>
<p>Document d'information sans valeur de renseignement officiel. Géoportail {__version__}.</p>
</div></aside></div></body></html>"""


async def fetch_layers(pool: asyncpg.Pool, job: PrintRequest) -> dict[str, Any]:
    """Every chosen layer's features in the frame (GeoJSON in EPSG:26191)."""
    if not job.layers:
        return {}
    frame = job.frame
    tolerance = job.scale * SIMPLIFY_MM / 1000
    values: list[Any] = [frame.x0, frame.y0, frame.x1, frame.y1, tolerance]
    if job.at is not None:
        values.append(job.at)
    value = await pool.fetchval(print_sql(job.layers, "$6" if job.at else None), *values)
    found: dict[str, Any] = json.loads(value) if isinstance(value, str) else value
    return found


_TO_LOCAL = Transformer.from_crs("EPSG:4326", STORAGE_CRS, always_xy=True)


@router.get("/print", summary="The map of a view as a PDF (A4 or A3, at a scale)",
            response_class=Response,
            responses={200: {"content": {"application/pdf": {}}},
                       400: {"description": "Unusable parameters"},
                       503: {"description": "Too many prints or PDFs under way"}})
async def print_map(
    request: Request, pool: PoolDep, registry: RegistryDep,
    bbox: Annotated[str, Query(max_length=200, description=(
        "The view: west,south,east,north in WGS 84 degrees; the print is centred on it."))],
    scale: Annotated[int, Query(ge=MIN_SCALE, le=MAX_SCALE, description=(
        "Printed scale 1/n."))] = 5_000,
    size: Annotated[Paper, Query(description="Paper size (landscape).")] = "A4",
    layers: Annotated[str | None, Query(max_length=500, description=(
        "Comma-separated layer ids (default: the map's)."))] = None,
    at: Annotated[str | None, Query(max_length=64, description=(
        "The data as it stood at this moment (a date or an RFC 3339 date-time)."))] = None,
) -> Response:
    """A landscape PDF of the view with legend, scale bar, north arrow, date, data version."""
    west, south, east, north = parse_bbox(bbox)
    moment = parse_at(at) if at is not None else None
    lon, lat = (west + east) / 2, (south + north) / 2
    x, y = _TO_LOCAL.transform(lon, lat)
    shown = tuple(layer for layer in chosen_layers(registry, layers)
                  if legible_at(layer, scale, lat))
    job = PrintRequest(x, y, scale, size, shown, moment)
    async with admission_of(request).heavy(client_of(request)):
        found = await fetch_layers(pool, job)
        version = await data_version(pool, moment)
    day = answer_day(moment)
    html = page_html(job, draw_print_map(job, found), legend_html(job, found), day, version)
    identifier = hashlib.md5(  # noqa: S324 - a file identifier, not security
        f"{bbox}|{scale}|{size}|{layers}|{version}".encode()).hexdigest().encode()
    busy = ServiceUnavailable("Trop de PDF sont en préparation ; réessayez dans un instant.",
                              en="Too many PDFs are being prepared; try again shortly.")
    pdf = await in_pdf_worker(busy, pdf_bytes, html, identifier)
    filename = f"carte-1-{scale}-{size}.pdf"
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{filename}"',
                             "Cache-Control": "no-cache"})
