"""MapLibre (Mapbox GL, version 8) styles on the service's own vector tiles.

A collection's style reads its own tileset; the map style reads the tile of every layer that
the viewer uses (with label points for polygons). Colours come from the registry: one
``match`` on the categorised property (compared as text, whatever its type in the tiles),
the layer's colour for every other value. No sprite and no glyph server are needed: hatched
layers are drawn with a faint fill and a dashed outline, labels with the client's fonts.
"""

from __future__ import annotations

from typing import Any

from geoportal.core.links import Links
from geoportal.registry import Layer, LayerRegistry
from geoportal.styles.symbology import (
    HALO_COLOUR,
    HATCHED_FILL_OPACITY,
    LABEL_COLOUR,
    TEXT_SIZE,
    classes,
    outline,
)

SOURCE = "geoportal"
TILES_MAXZOOM = 16  # deeper zooms reuse the z16 tiles (15 cm grid), as the viewer does
FONTS = ["Noto Sans Regular", "DejaVu Sans"]
MAX_ZOOM = 22
Paint = dict[str, Any]


def colour_expression(layer: Layer) -> str | list[Any]:
    """The fill or line colour: by class when the layer is categorised."""
    found = classes(layer)
    if len(found) == 1:
        return found[0].colour
    expression: list[Any] = ["match", ["to-string", ["get", layer.style.by]]]
    for entry in found[:-1]:
        expression += [entry.value, entry.colour]
    return [*expression, found[-1].colour]


def _outline_expression(layer: Layer) -> str | list[Any]:
    return layer.style.outline or colour_expression(layer)


def _shapes(layer: Layer, source_layer: str) -> list[dict[str, Any]]:
    style = layer.style
    common: dict[str, Any] = {"source": SOURCE, "source-layer": source_layer,
                              "minzoom": layer.min_zoom}
    if layer.max_zoom < MAX_ZOOM:
        common["maxzoom"] = layer.max_zoom + 1  # MapLibre's bound is exclusive
    colour = colour_expression(layer)
    if style.kind == "fill":
        opacity = HATCHED_FILL_OPACITY if style.hatched else style.opacity
        line: Paint = {"line-color": _outline_expression(layer), "line-width": style.width}
        if style.hatched:
            line["line-dasharray"] = [3, 2]
        return [{"id": f"{layer.id}-fill", "type": "fill", **common,
                 "paint": {"fill-color": colour, "fill-opacity": opacity}},
                {"id": f"{layer.id}-outline", "type": "line", **common, "paint": line}]
    if style.kind == "circle":
        return [{"id": f"{layer.id}-circle", "type": "circle", **common,
                 "paint": {"circle-color": colour, "circle-opacity": style.opacity,
                           "circle-radius": max(3.0, style.width * 2),
                           "circle-stroke-color": outline(style, HALO_COLOUR),
                           "circle-stroke-width": 1}}]
    layers = []
    if style.outline:  # a casing under the line (roads)
        layers.append({"id": f"{layer.id}-casing", "type": "line", **common,
                       "layout": {"line-cap": "round", "line-join": "round"},
                       "paint": {"line-color": style.outline, "line-width": style.width + 2,
                                 "line-opacity": style.opacity}})
    layers.append({"id": f"{layer.id}-line", "type": "line", **common,
                   "layout": {"line-cap": "round", "line-join": "round"},
                   "paint": {"line-color": colour, "line-width": style.width,
                             "line-opacity": style.opacity}})
    return layers


def _label(layer: Layer, source_layer: str) -> list[dict[str, Any]]:
    if layer.style.label is None:
        return []
    on_lines = layer.style.kind == "line" and not layer.polygonal
    layout: dict[str, Any] = {"text-field": ["to-string", ["get", layer.style.label]],
                              "text-font": FONTS, "text-size": TEXT_SIZE}
    if on_lines:
        layout["symbol-placement"] = "line"
    return [{"id": f"{layer.id}-label", "type": "symbol", "source": SOURCE,
             "source-layer": source_layer, "minzoom": layer.min_zoom, "layout": layout,
             "paint": {"text-color": LABEL_COLOUR, "text-halo-color": HALO_COLOUR,
                       "text-halo-width": 1.5}}]


def _source(tiles: str, minzoom: int, attribution: str) -> dict[str, Any]:
    return {"type": "vector", "tiles": [tiles], "minzoom": minzoom,
            "maxzoom": TILES_MAXZOOM, "attribution": attribution}


def collection_style(layer: Layer, links: Links) -> dict[str, Any]:
    """The style of one collection, on its own tiles."""
    tiles = links.url(f"/ogc/collections/{layer.id}/tiles/WebMercatorQuad") + "/{z}/{x}/{y}"
    return {
        "version": 8,
        "name": layer.title,
        "metadata": {"geoportal:collection": layer.id},
        "sources": {SOURCE: _source(tiles, 0, layer.attribution)},
        "layers": [*_shapes(layer, layer.id), *_label(layer, layer.id)],
    }


def map_style(registry: LayerRegistry, links: Links, title: str) -> dict[str, Any]:
    """Every layer in registry order on the tile of the whole dataset, labels on top."""
    tiles = links.url("/ogc/tiles/WebMercatorQuad") + "/{z}/{x}/{y}"
    layers = registry.with_geometry()  # a table of attributes has nothing to draw
    labels = [
        label for layer in layers
        for label in _label(layer, layer.label_layer_id if layer.polygonal else layer.id)]
    attribution = layers[0].attribution if layers else ""
    return {
        "version": 8,
        "name": title,
        "sources": {SOURCE: _source(tiles, 0, attribution)},
        "layers": [{"id": "background", "type": "background",
                    "paint": {"background-color": "#f6f3ec"}},
                   *(shape for layer in layers for shape in _shapes(layer, layer.id)),
                   *labels],
    }
