"""QGIS layer styles (QML) from the layer registry, as QGIS 3.22 writes them.

A categorised renderer on the registry's ``by`` property (one category per class, then every
other value in the layer's colour), else a single symbol; simple labels on ``label``; the
layer's minimum zoom as the scale past which it is hidden. Symbol options are written both
as ``Option`` maps (QGIS ≥ 3.10) and ``prop`` elements (older releases); widths in pixels.
"""

from __future__ import annotations

from xml.etree import ElementTree as ET

from geoportal.registry import Layer
from geoportal.styles.symbology import (
    HALO_COLOUR,
    HATCHED_FILL_OPACITY,
    LABEL_COLOUR,
    TEXT_SIZE,
    StyleClass,
    classes,
    outline,
    rgb,
    scale_of_zoom,
)

VERSION = "3.22.0-Białowieża"
DOCTYPE = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
# By geometry: QGIS's geometry type code, its symbol type, and the label placement
# (QgsPalLayerSettings: around the point, along the line, over the centroid).
GEOMETRIES = {"point": ("0", "marker", "0"), "line": ("1", "line", "2"),
              "polygon": ("2", "fill", "1")}


def geometry_of(layer: Layer) -> str:
    """``point``, ``line`` or ``polygon``."""
    if layer.polygonal:
        return "polygon"
    return "line" if "Line" in (layer.geometry_type or "") else "point"


def qgis_colour(colour: str, opacity: float = 1.0) -> str:
    """``#aabbcc`` → ``170,187,204,255`` (alpha from the opacity)."""
    red, green, blue = rgb(colour)
    return f"{red},{green},{blue},{round(opacity * 255)}"


def _symbol_layer(symbol: ET.Element, kind: str, **options: str) -> None:
    layer = ET.SubElement(symbol, "layer", {"class": kind, "pass": "0", "locked": "0",
                                            "enabled": "1"})
    option_map = ET.SubElement(layer, "Option", type="Map")
    for name, value in options.items():
        ET.SubElement(option_map, "Option", name=name, value=value, type="QString")
    for name, value in options.items():
        ET.SubElement(layer, "prop", k=name, v=value)


def _symbol(parent: ET.Element, name: str, layer: Layer, entry: StyleClass) -> None:
    style = layer.style
    geometry = geometry_of(layer)
    symbol = ET.SubElement(parent, "symbol", name=name, type=GEOMETRIES[geometry][1],
                           alpha="1", clip_to_extent="1", force_rhr="0")
    width = f"{style.width:g}"
    edge = qgis_colour(outline(style, entry.colour))
    if geometry == "polygon" and style.kind != "fill":  # outlined areas (plans, plots)
        _symbol_layer(symbol, "SimpleFill", style="no", color=qgis_colour(entry.colour, 0),
                      outline_style="solid",
                      outline_color=qgis_colour(entry.colour, style.opacity),
                      outline_width=width, outline_width_unit="Pixel")
    elif geometry == "polygon" and style.hatched:
        _symbol_layer(symbol, "SimpleFill", style="solid", outline_style="no",
                      color=qgis_colour(entry.colour, HATCHED_FILL_OPACITY))
        _symbol_layer(symbol, "SimpleFill", style="b_diagonal", color=qgis_colour(entry.colour),
                      outline_color=edge, outline_style="dash", outline_width=width,
                      outline_width_unit="Pixel")
    elif geometry == "polygon":
        _symbol_layer(symbol, "SimpleFill", style="solid",
                      color=qgis_colour(entry.colour, style.opacity), outline_color=edge,
                      outline_style="solid", outline_width=width, outline_width_unit="Pixel")
    elif geometry == "point":
        _symbol_layer(symbol, "SimpleMarker", name="circle",
                      color=qgis_colour(entry.colour, style.opacity),
                      outline_color=qgis_colour(outline(style, HALO_COLOUR)),
                      size=f"{max(6.0, style.width * 4):g}", size_unit="Pixel")
    else:
        if style.outline:  # a casing under the line (roads)
            _symbol_layer(symbol, "SimpleLine",
                          line_color=qgis_colour(style.outline, style.opacity),
                          line_width=f"{style.width + 2:g}", line_width_unit="Pixel",
                          capstyle="round", joinstyle="round")
        _symbol_layer(symbol, "SimpleLine", line_color=qgis_colour(entry.colour, style.opacity),
                      line_width=width, line_width_unit="Pixel", capstyle="round",
                      joinstyle="round")


def _renderer(root: ET.Element, layer: Layer) -> None:
    found = classes(layer)
    categorised = len(found) > 1
    renderer = ET.SubElement(root, "renderer-v2", {
        "type": "categorizedSymbol" if categorised else "singleSymbol", "symbollevels": "0",
        "forceraster": "0", "enableorderby": "0", **({"attr": layer.style.by or ""}
                                                     if categorised else {})})
    if categorised:
        categories = ET.SubElement(renderer, "categories")
        for index, entry in enumerate(found):
            ET.SubElement(categories, "category", value=entry.value or "", label=entry.label,
                          symbol=str(index), render="true")
    symbols = ET.SubElement(renderer, "symbols")
    for index, entry in enumerate(found):
        _symbol(symbols, str(index), layer, entry)


def _labeling(root: ET.Element, layer: Layer) -> None:
    label = layer.style.label
    if label is None:
        return
    settings = ET.SubElement(ET.SubElement(root, "labeling", type="simple"), "settings",
                             calloutType="simple")
    text = ET.SubElement(settings, "text-style", fieldName=label, isExpression="0",
                         fontFamily="Noto Sans", fontSize=f"{TEXT_SIZE * 0.75:g}",
                         fontSizeUnit="Point", textColor=qgis_colour(LABEL_COLOUR),
                         textOpacity="1")
    ET.SubElement(text, "text-buffer", bufferDraw="1", bufferSize="1", bufferSizeUnits="MM",
                  bufferColor=qgis_colour(HALO_COLOUR), bufferOpacity="1")
    ET.SubElement(settings, "placement", placement=GEOMETRIES[geometry_of(layer)][2])


def collection_qml(layer: Layer) -> bytes:
    """The collection's style as a QGIS QML document (UTF-8)."""
    scaled = layer.min_zoom > 0
    root = ET.Element("qgis", {
        "version": VERSION, "styleCategories": "Symbology|Labeling|Rendering",
        "hasScaleBasedVisibilityFlag": "1" if scaled else "0",
        "minScale": f"{scale_of_zoom(layer.min_zoom):.0f}" if scaled else "0",
        "maxScale": "0", "labelsEnabled": "1" if layer.style.label else "0"})
    _renderer(root, layer)
    _labeling(root, layer)
    ET.SubElement(root, "layerGeometryType").text = GEOMETRIES[geometry_of(layer)][0]
    ET.indent(root)
    return DOCTYPE.encode() + ET.tostring(root, encoding="unicode").encode() + b"\n"
