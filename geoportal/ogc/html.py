"""HTML pages of the OGC API (Jinja2 templates in the package; no CDN)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

Crumbs = list[tuple[str, str | None]]


def cell(value: Any) -> Any:
    """A property's value in a table cell: empty for null, an array's items joined."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join("" if item is None else str(item) for item in value)
    return value


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The template environment, built once on first use."""
    env = Environment(loader=PackageLoader("geoportal.ogc", "templates"),
                      autoescape=select_autoescape(["html"]), auto_reload=False)
    env.filters["cell"] = cell
    return env


def render(template: str, base: str, title: str, crumbs: Crumbs, doc: Any,
           headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    """A page from a template; ``doc`` is the JSON document the page shows."""
    links = doc.get("links", []) if isinstance(doc, dict) else []
    alternates = [link for link in links if link.get("rel") == "alternate"]
    page = environment().get_template(template).render(
        base=base, title=title, crumbs=crumbs, doc=doc, alternates=alternates, **context)
    return HTMLResponse(page, headers=headers)


def crumbs(base: str, *trail: tuple[str, str | None]) -> Crumbs:
    """Breadcrumbs from the landing page."""
    return [("OGC API", f"{base}/ogc?f=html"), *trail]


def _rings(geometry: dict[str, Any]) -> list[list[list[float]]]:
    kind, coords = geometry.get("type"), geometry.get("coordinates")
    if kind == "Polygon":
        return list(coords or [])
    if kind == "MultiPolygon":
        return [ring for polygon in coords or [] for ring in polygon]
    if kind == "LineString":
        return [coords or []]
    if kind == "MultiLineString":
        return list(coords or [])
    return []


def svg_preview(geometries: list[dict[str, Any]], width: int = 640) -> dict[str, Any] | None:
    """SVG paths of polygon and line geometries (lon/lat, y flipped), for a quick look."""
    rings = [ring for g in geometries if g for ring in _rings(g) if ring]
    points = [p for ring in rings for p in ring]
    if not points:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
    w, h = max(x1 - x0, 1e-9), max(y1 - y0, 1e-9)
    scale = 1000 / max(w, h)
    paths = []
    for ring in rings:
        coords = " L".join(f"{(x - x0) * scale:.1f},{(y1 - y) * scale:.1f}" for x, y, *_ in ring)
        paths.append(f"M{coords}")
    view_w, view_h = w * scale, h * scale
    return {"viewbox": f"-10 -10 {view_w + 20:.0f} {view_h + 20:.0f}", "paths": paths,
            "height": min(max(int(width * (view_h + 20) / (view_w + 20)), 80), 420)}
