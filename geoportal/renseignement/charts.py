"""Bar charts drawn on the server as SVG (no script, no library): text is escaped."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

BAR_COLOUR = "#0b5c8a"


def bar_chart(bars: Sequence[tuple[str, float]], title: str, width: int = 720,
              bar_height: int = 22, label_width: int = 200, colours: Sequence[str] = ()
              ) -> Markup:
    """Horizontal bars, one per (label, value), with the value written at the bar's end."""
    gap = 6
    height = max(1, len(bars)) * (bar_height + gap) + gap
    peak = max((value for _, value in bars), default=0) or 1
    room = width - label_width - 60
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>']
    for index, (label, value) in enumerate(bars):
        y = gap + index * (bar_height + gap)
        length = room * value / peak
        colour = colours[index % len(colours)] if colours else BAR_COLOUR
        shown = f"{value:g}"
        parts.append(
            f'<text x="{label_width - 8}" y="{y + bar_height * 0.7:.1f}" text-anchor="end" '
            f'font-size="13" fill="#1d2733">{escape(label)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_height}" '
            f'fill="{colour}"><title>{escape(label)} : {shown}</title></rect>'
            f'<text x="{label_width + length + 6:.1f}" y="{y + bar_height * 0.7:.1f}" '
            f'font-size="13" fill="#1d2733" class="value">{shown}</text>')
    if not bars:
        parts.append(f'<text x="10" y="{height - 8}" font-size="13" fill="#5b6775">'
                     'Aucune donnée</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped
