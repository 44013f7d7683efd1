"""The note's map extract drawn as SVG from the geometries: zones, servitudes, plot, scale."""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import lru_cache
from html import escape
from typing import Any

from pyproj import Transformer

from geoportal.core.area import STORAGE_SRID
from geoportal.rules.note.extract import MapFrame

Ring = list[list[float]]
DEFAULT_ZONE_COLOUR = "#dddddd"
SERVITUDE_COLOURS = {"inondation": "#2171b5", "littoral": "#1d91c0", "aeronautique": "#636363",
                     "patrimoine": "#cb181d", "ligne_electrique": "#e6550d",
                     "voie_ferree": "#252525"}
ENVELOPE_COLOUR = "#1a7f37"


class Canvas:
    """Ground coordinates (EPSG:26191, m) to map millimetres, north up."""

    def __init__(self, frame: MapFrame, width_mm: float, height_mm: float) -> None:
        self.frame = frame
        self.width_mm = width_mm
        self.height_mm = height_mm
        self.k = width_mm / (frame.x1 - frame.x0)

    def xy(self, x: float, y: float) -> tuple[float, float]:
        """Map position of a ground point."""
        return (x - self.frame.x0) * self.k, (self.frame.y1 - y) * self.k

    def ring(self, coordinates: Ring) -> str:
        """An SVG sub-path for a ring or a line."""
        points = [self.xy(x, y) for x, y, *_ in coordinates]
        return "M" + "L".join(f"{px:.2f},{py:.2f}" for px, py in points)

    def path(self, geometry: dict[str, Any] | None) -> str:
        """SVG path data for a GeoJSON geometry (polygons closed, lines open)."""
        if not geometry:
            return ""
        kind = geometry.get("type")
        coords: Any = geometry.get("coordinates") or []
        if kind == "Polygon":
            return "".join(self.ring(r) + "Z" for r in coords)
        if kind == "MultiPolygon":
            return "".join(self.ring(r) + "Z" for polygon in coords for r in polygon)
        if kind == "LineString":
            return self.ring(coords)
        if kind == "MultiLineString":
            return "".join(self.ring(line) for line in coords)
        if kind == "GeometryCollection":
            return "".join(self.path(g) for g in geometry.get("geometries", []))
        return ""


@lru_cache(maxsize=1)
def _grid_transformers() -> tuple[Transformer, Transformer]:
    """Grid to WGS 84 and back, made once per process (pyproj's transformers are
    thread-safe): building them was half the CPU of a note's facts and map."""
    return (Transformer.from_crs(f"EPSG:{STORAGE_SRID}", "EPSG:4326", always_xy=True),
            Transformer.from_crs("EPSG:4326", f"EPSG:{STORAGE_SRID}", always_xy=True))


def true_north_deg(x: float, y: float) -> float:
    """Angle of true north from grid north at a point, clockwise in degrees."""
    to_wgs84, to_grid = _grid_transformers()
    lon, lat = to_wgs84.transform(x, y)
    nx, ny = to_grid.transform(lon, lat + 0.01)
    return math.degrees(math.atan2(nx - x, ny - y))


def nice_length(max_m: float) -> float:
    """The largest 1, 2 or 5 × 10ⁿ metres not over ``max_m``."""
    exponent = math.floor(math.log10(max_m))
    for step in (5, 2, 1):
        if step * 10 ** exponent <= max_m:
            return float(step * 10 ** exponent)
    return float(10 ** exponent)


def _defs(servitude_kinds: Iterable[str]) -> str:
    patterns = []
    for kind in sorted(set(servitude_kinds)):
        colour = SERVITUDE_COLOURS.get(kind, "#2171b5")
        patterns.append(
            f'<pattern id="hatch-{escape(kind)}" patternUnits="userSpaceOnUse" width="2" '
            f'height="2" patternTransform="rotate(45)"><rect width="2" height="2" '
            f'fill="{colour}" fill-opacity="0.08"/><line x1="0" y1="0" x2="0" y2="2" '
            f'stroke="{colour}" stroke-width="0.45"/></pattern>')
    patterns.append(
        '<pattern id="hatch-road" patternUnits="userSpaceOnUse" width="1.6" height="1.6" '
        'patternTransform="rotate(-45)"><rect width="1.6" height="1.6" fill="#fde0ef"/>'
        '<line x1="0" y1="0" x2="0" y2="1.6" stroke="#c51b7d" stroke-width="0.35"/></pattern>')
    patterns.append(
        f'<pattern id="hatch-envelope" patternUnits="userSpaceOnUse" width="1.2" height="1.2" '
        f'patternTransform="rotate(-45)"><line x1="0" y1="0" x2="0" y2="1.2" '
        f'stroke="{ENVELOPE_COLOUR}" stroke-width="0.4"/></pattern>')
    return "<defs>" + "".join(patterns) + "</defs>"


def _label(x: float, y: float, text: str, size: float, colour: str = "#222",
           weight: str = "bold") -> str:
    """A text with a white halo (drawn twice: halo, then text)."""
    common = (f'x="{x:.2f}" y="{y:.2f}" font-size="{size}" font-weight="{weight}" '
              'text-anchor="middle" dominant-baseline="middle" font-family="Noto Sans, '
              'DejaVu Sans, sans-serif"')
    return (f'<text {common} fill="white" stroke="white" stroke-width="{size / 4:.2f}" '
            f'stroke-linejoin="round">{escape(text)}</text>'
            f'<text {common} fill="{colour}">{escape(text)}</text>')


def _plot_label(canvas: Canvas, geometry: dict[str, Any], ref: str) -> str:
    """The plot's reference, just under the plot (above it when there is no room)."""
    points = [canvas.xy(x, y) for x, y in _coordinates(geometry)]
    if not points:
        return ""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x = min(max((min(xs) + max(xs)) / 2, 12), canvas.width_mm - 12)
    y = max(ys) + 3.4 if max(ys) + 5 < canvas.height_mm - 12 else min(ys) - 2.6
    return _label(x, y, ref, 3.0, colour="#b2182b")


def _coordinates(geometry: dict[str, Any]) -> list[tuple[float, float]]:
    coords: Any = geometry.get("coordinates") or []
    kind = geometry.get("type")
    if kind == "Polygon":
        return [(p[0], p[1]) for p in coords[0]]
    if kind == "MultiPolygon":
        return [(p[0], p[1]) for polygon in coords for p in polygon[0]]
    return []


def _north_arrow(canvas: Canvas, angle: float) -> str:
    x, y = canvas.width_mm - 9, 11
    return (f'<g transform="translate({x:.2f},{y:.2f}) rotate({angle:.2f})">'
            '<circle r="6.2" fill="white" fill-opacity="0.85" stroke="#444" '
            'stroke-width="0.2"/>'
            '<path d="M0,-5 L2.2,2.6 L0,1.4 Z" fill="#222"/>'
            '<path d="M0,-5 L-2.2,2.6 L0,1.4 Z" fill="white" stroke="#222" '
            'stroke-width="0.25"/></g>'
            + _label(x, y - 8.6, "N", 3.2))


def _scale_bar(canvas: Canvas) -> str:
    length_m = nice_length(canvas.width_mm * 0.25 / canvas.k)
    bar = length_m * canvas.k
    x, y = 5.0, canvas.height_mm - 6.0
    parts = [f'<rect x="{x - 2:.2f}" y="{y - 5:.2f}" width="{bar + 14:.2f}" height="9.5" '
             'fill="white" fill-opacity="0.85"/>']
    for i in range(4):
        fill = "#222" if i % 2 == 0 else "white"
        parts.append(f'<rect x="{x + i * bar / 4:.2f}" y="{y:.2f}" width="{bar / 4:.2f}" '
                     f'height="1.4" fill="{fill}" stroke="#222" stroke-width="0.2"/>')
    unit_text = f"{length_m:g} m"
    parts.append(_label(x, y - 2.2, "0", 2.4, weight="normal"))
    parts.append(_label(x + bar, y - 2.2, unit_text, 2.4, weight="normal"))
    scale = f"1/{canvas.frame.scale:,}".replace(",", "\u00a0")
    parts.append(_label(x + bar / 2, y + 3.6, f"Échelle {scale}", 2.4, weight="normal"))
    return "".join(parts)


def draw_map(frame: MapFrame, extract: dict[str, Any], plot_ref: str | None,
             zone_colours: dict[str, str], width_mm: float, height_mm: float,
             envelope: dict[str, Any] | None = None) -> str:
    """An SVG map of the plot and its surroundings, ``width_mm`` × ``height_mm``; with the
    buildable ``envelope`` (GeoJSON in EPSG:26191) hatched over the plot."""
    canvas = Canvas(frame, width_mm, height_mm)
    zones = extract.get("zones") or []
    servitudes = extract.get("servitudes") or []
    reservations = extract.get("reservations") or []
    parcels = extract.get("parcels") or []
    roads = extract.get("roads") or []
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width_mm}mm" '
           f'height="{height_mm}mm" viewBox="0 0 {width_mm} {height_mm}" class="map">',
           _defs(s["kind"] for s in servitudes),
           f'<rect width="{width_mm}" height="{height_mm}" fill="#fbfbf8"/>']
    for zone in zones:
        colour = zone_colours.get(zone["code"], DEFAULT_ZONE_COLOUR)
        out.append(f'<path d="{canvas.path(zone["geom"])}" fill="{colour}" fill-opacity="0.55" '
                   'stroke="#555" stroke-width="0.35" fill-rule="evenodd"/>')
    for road in roads:
        width = 2.2 if road["class"] in ("primary", "motorway", "trunk") else 1.4
        out.append(f'<path d="{canvas.path(road["geom"])}" fill="none" stroke="#b5b5b5" '
                   f'stroke-width="{width}" stroke-linecap="round"/>')
    for reservation in reservations:
        road = reservation["kind"] == "voirie"
        fill = "url(#hatch-road)" if road else "#e7298a"
        opacity = "1" if road else "0.25"
        out.append(f'<path d="{canvas.path(reservation["geom"])}" fill="{fill}" '
                   f'fill-opacity="{opacity}" stroke="#980043" stroke-width="0.35" '
                   'stroke-dasharray="1.2,0.6" fill-rule="evenodd"/>')
    for servitude in servitudes:
        colour = SERVITUDE_COLOURS.get(servitude["kind"], "#2171b5")
        out.append(f'<path d="{canvas.path(servitude["geom"])}" '
                   f'fill="url(#hatch-{escape(servitude["kind"])})" stroke="{colour}" '
                   'stroke-width="0.4" stroke-dasharray="2,0.8" fill-rule="evenodd"/>')
    for parcel in parcels:
        if parcel["ref"] != plot_ref:
            out.append(f'<path d="{canvas.path(parcel["geom"])}" fill="none" stroke="#6b4f2a" '
                       'stroke-width="0.25"/>')
    for zone in zones:
        if zone.get("label") and zone["area"] * canvas.k ** 2 > 60:
            lx, ly = canvas.xy(*zone["label"]["coordinates"][:2])
            out.append(_label(lx, ly, zone["code"], 3.6, colour="#333"))
    for parcel in parcels:
        if parcel["ref"] == plot_ref:
            out.append(f'<path d="{canvas.path(parcel["geom"])}" fill="#d7191c" '
                       'fill-opacity="0.18" stroke="#d7191c" stroke-width="0.9" '
                       'stroke-linejoin="round"/>')
            out.append(_plot_label(canvas, parcel["geom"], parcel["ref"]))
    if envelope:
        out.append(f'<path d="{canvas.path(envelope)}" fill="url(#hatch-envelope)" '
                   f'stroke="{ENVELOPE_COLOUR}" stroke-width="0.5" fill-rule="evenodd" '
                   'class="envelope"/>')
    centre_x, centre_y = (frame.x0 + frame.x1) / 2, (frame.y0 + frame.y1) / 2
    out += [_north_arrow(canvas, true_north_deg(centre_x, centre_y)), _scale_bar(canvas),
            f'<rect width="{width_mm}" height="{height_mm}" fill="none" stroke="#333" '
            'stroke-width="0.4"/>', "</svg>"]
    return "".join(out)


def legend_key(fill: str, stroke: str, hatch: str | None = None, stroke_width: float = 0.6,
               opacity: float = 1.0) -> str:
    """A small swatch for the legend: a filled, outlined (and optionally hatched) box."""
    pattern = ""
    paint = fill
    if hatch is not None:
        key_id = f"key-{fill.strip('#')}-{stroke.strip('#')}-{hatch}"
        pattern = (f'<defs><pattern id="{key_id}" '
                   'patternUnits="userSpaceOnUse" width="2" height="2" '
                   f'patternTransform="rotate({hatch})"><rect width="2" height="2" '
                   f'fill="{fill}"/><line x1="0" y1="0" x2="0" y2="2" stroke="{stroke}" '
                   'stroke-width="0.7"/></pattern></defs>')
        paint = f"url(#{key_id})"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="5mm" height="3.2mm" '
            f'viewBox="0 0 5 3.2" class="key">{pattern}<rect x="0.3" y="0.3" width="4.4" '
            f'height="2.6" fill="{paint}" fill-opacity="{opacity}" stroke="{stroke}" '
            f'stroke-width="{stroke_width}"/></svg>')
