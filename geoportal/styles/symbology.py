"""What every style encoding needs of a layer's registry style: its classes (the categorised
values and their colours, then the colour of every other value), widths, scales, labels."""

from __future__ import annotations

from dataclasses import dataclass

from geoportal.registry import Layer
from geoportal.registry.models import LayerStyle

# OGC's scale denominator of zoom 0 in WebMercatorQuad (256-pixel tiles of 0.28 mm).
ZOOM0_SCALE = 559_082_264.028_717_8
LABEL_COLOUR = "#2f2b3a"
HALO_COLOUR = "#ffffff"
TEXT_SIZE = 12
HATCHED_FILL_OPACITY = 0.12  # as the viewer: a faint fill under the hatching


@dataclass(frozen=True)
class StyleClass:
    """One rule: the value it matches (``None``: every other value), its label and colour."""

    value: str | None
    label: str
    colour: str


def classes(layer: Layer) -> list[StyleClass]:
    """The categorised classes in legend order, then the default; or the single class."""
    style = layer.style
    if style.by is None or not style.classes:
        return [StyleClass(None, layer.title, style.color)]
    return [*(StyleClass(entry.value, entry.label, entry.color) for entry in style.classes),
            StyleClass(None, "Autres valeurs", style.color)]


def outline(style: LayerStyle, colour: str) -> str:
    """The colour of a polygon's outline (or a line's casing)."""
    return style.outline or colour


def scale_of_zoom(zoom: int) -> float:
    """The scale denominator of a WebMercatorQuad zoom level."""
    return ZOOM0_SCALE / 2**zoom


def rgb(colour: str) -> tuple[int, int, int]:
    """``#aabbcc`` → (170, 187, 204)."""
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)
