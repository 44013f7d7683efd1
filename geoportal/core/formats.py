"""Output formats and their negotiation (``f=`` first, then the ``Accept`` header)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from geoportal.errors import InvalidParameter


@dataclass(frozen=True)
class Format:
    """One encoding: its ``f=`` name, media type and a title for links."""

    name: str
    media_type: str
    title: str


JSON = Format("json", "application/json", "JSON")
GEOJSON = Format("json", "application/geo+json", "GeoJSON")
HTML = Format("html", "text/html", "HTML")
JSONFG = Format("jsonfg", "application/vnd.ogc.fg+json", "JSON-FG")
JSONSEQ = Format("jsonseq", "application/geo+json-seq", "GeoJSON text sequence")
CSV = Format("csv", "text/csv", "CSV (WKT geometry)")
OPENAPI = Format("json", "application/vnd.oai.openapi+json;version=3.0", "OpenAPI 3.0")
SCHEMA = Format("json", "application/schema+json", "JSON Schema")

METADATA = (JSON, HTML)
FEATURES = (GEOJSON, HTML, JSONFG, JSONSEQ, CSV)
FEATURE = (GEOJSON, HTML, JSONFG)
STREAMING = (JSONSEQ, CSV)
_ALIASES = {"geojson": "json", "application/json": "json", "fg-json": "jsonfg",
            "geojsonseq": "jsonseq", "text/html": "html"}


def negotiate(request: Request, offered: tuple[Format, ...]) -> Format:
    """The format asked with ``f=``, else the best match of ``Accept``, else the first."""
    asked = request.query_params.get("f")
    if asked is not None:
        name = _ALIASES.get(asked.lower(), asked.lower())
        for fmt in offered:
            if fmt.name == name:
                return fmt
        names = ", ".join(dict.fromkeys(f.name for f in offered))
        raise InvalidParameter(f"f : {asked!r} n'est pas proposé ici ; choix : {names}",
                               en=f"f: {asked!r} is not offered here; use one of {names}")
    return _from_accept(request.headers.get("accept", ""), offered)


def _from_accept(header: str, offered: tuple[Format, ...]) -> Format:
    ranges: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        media, *options = (p.strip() for p in part.split(";"))
        quality = 1.0
        for option in options:
            if option.startswith("q="):
                try:
                    quality = float(option[2:])
                except ValueError:
                    quality = 0.0
        if media:
            ranges.append((-quality, position, media.lower()))
    for _, _, media in sorted(ranges):
        for fmt in offered:
            base = fmt.media_type.split(";")[0]
            if media in (base, fmt.media_type) or (media == "application/json"
                                                   and base.endswith("json")):
                return fmt
        if media in ("*/*", "application/*"):
            return offered[0]
    return offered[0]
