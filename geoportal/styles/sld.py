"""OGC Styled Layer Descriptor 1.1 (with Symbology Encoding 1.1) from the layer registry.

One ``NamedLayer`` per collection, named by its id (the feature type of the OGC API and of
the downloads), one rule per class with a filter on the categorised property and a rule for
every other value, a text rule for labels, and the layer's minimum zoom as a maximum scale
denominator. Widths are in pixels, as in the registry.
"""

from __future__ import annotations

from collections.abc import Iterable
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
    scale_of_zoom,
)

SLD = "http://www.opengis.net/sld"
SE = "http://www.opengis.net/se"
OGC = "http://www.opengis.net/ogc"
XLINK = "http://www.w3.org/1999/xlink"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA = f"{SLD} http://schemas.opengis.net/sld/1.1.0/StyledLayerDescriptor.xsd"
STYLE_ID = "default"

for prefix, uri in (("sld", SLD), ("se", SE), ("ogc", OGC), ("xlink", XLINK), ("xsi", XSI)):
    ET.register_namespace(prefix, uri)


def _se(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{SE}}}{tag}", attributes)
    if text is not None:
        element.text = text
    return element


def _parameters(parent: ET.Element, **values: str) -> None:
    for name, value in values.items():
        _se(parent, "SvgParameter", value, name=name.replace("_", "-"))


def _equal(parent: ET.Element, name: str, value: str) -> None:
    condition = ET.SubElement(parent, f"{{{OGC}}}PropertyIsEqualTo")
    ET.SubElement(condition, f"{{{OGC}}}PropertyName").text = name
    ET.SubElement(condition, f"{{{OGC}}}Literal").text = value


def _filter(rule: ET.Element, layer: Layer, entry: StyleClass) -> None:
    """The class's filter; for every other value an explicit one (null, or none of the
    classes) rather than ``ElseFilter``, which QGIS 3.22 reads as a rule for everything."""
    by = layer.style.by
    if by is None:
        return
    where = ET.SubElement(rule, f"{{{OGC}}}Filter")
    if entry.value is not None:
        _equal(where, by, entry.value)
        return
    either = ET.SubElement(where, f"{{{OGC}}}Or")
    ET.SubElement(ET.SubElement(either, f"{{{OGC}}}PropertyIsNull"),
                  f"{{{OGC}}}PropertyName").text = by
    values = [c.value for c in layer.style.classes]
    negated = ET.SubElement(either, f"{{{OGC}}}Not")
    parent = ET.SubElement(negated, f"{{{OGC}}}Or") if len(values) > 1 else negated
    for value in values:
        _equal(parent, by, value)


def _scales(rule: ET.Element, layer: Layer) -> None:
    if layer.min_zoom > 0:
        _se(rule, "MaxScaleDenominator", f"{scale_of_zoom(layer.min_zoom):.1f}")


def _symbolizer(rule: ET.Element, layer: Layer, entry: StyleClass) -> None:
    style = layer.style
    width = f"{style.width:g}"
    if layer.polygonal and style.kind != "fill":  # outlined areas (plans, plots)
        _parameters(_se(_se(rule, "PolygonSymbolizer"), "Stroke"), stroke=entry.colour,
                    stroke_width=width, stroke_opacity=f"{style.opacity:g}")
    elif style.kind == "fill":
        symbolizer = _se(rule, "PolygonSymbolizer")
        opacity = HATCHED_FILL_OPACITY if style.hatched else style.opacity
        _parameters(_se(symbolizer, "Fill"), fill=entry.colour, fill_opacity=f"{opacity:g}")
        stroke = _se(symbolizer, "Stroke")
        _parameters(stroke, stroke=outline(style, entry.colour), stroke_width=width)
        if style.hatched:
            _parameters(stroke, stroke_dasharray="3 2")
    elif style.kind == "circle":
        graphic = _se(_se(rule, "PointSymbolizer"), "Graphic")
        mark = _se(graphic, "Mark")
        _se(mark, "WellKnownName", "circle")
        _parameters(_se(mark, "Fill"), fill=entry.colour, fill_opacity=f"{style.opacity:g}")
        _parameters(_se(mark, "Stroke"), stroke=outline(style, HALO_COLOUR))
        _se(graphic, "Size", f"{max(6.0, style.width * 4):g}")
    else:
        if style.outline:
            _parameters(_se(_se(rule, "LineSymbolizer"), "Stroke"), stroke=style.outline,
                        stroke_width=f"{style.width + 2:g}", stroke_opacity=f"{style.opacity:g}")
        _parameters(_se(_se(rule, "LineSymbolizer"), "Stroke"), stroke=entry.colour,
                    stroke_width=width, stroke_opacity=f"{style.opacity:g}")


def _label_rule(style_element: ET.Element, layer: Layer) -> None:
    if layer.style.label is None:
        return
    rule = _se(style_element, "Rule")
    _se(rule, "Name", "labels")
    _scales(rule, layer)
    text = _se(rule, "TextSymbolizer")
    label = _se(text, "Label")
    ET.SubElement(label, f"{{{OGC}}}PropertyName").text = layer.style.label
    _parameters(_se(text, "Font"), font_family="Noto Sans", font_size=str(TEXT_SIZE))
    placement = _se(text, "LabelPlacement")
    if layer.style.kind == "line" and not layer.polygonal:
        _se(placement, "LinePlacement")
    else:
        _se(placement, "PointPlacement")
    halo = _se(text, "Halo")
    _se(halo, "Radius", "1.5")
    _parameters(_se(halo, "Fill"), fill=HALO_COLOUR)
    _parameters(_se(text, "Fill"), fill=LABEL_COLOUR)


def _named_layer(root: ET.Element, layer: Layer) -> None:
    named = ET.SubElement(root, f"{{{SLD}}}NamedLayer")
    _se(named, "Name", layer.id)
    user_style = ET.SubElement(named, f"{{{SLD}}}UserStyle")
    _se(user_style, "Name", STYLE_ID)
    _se(_se(user_style, "Description"), "Title", layer.title)
    feature_style = _se(user_style, "FeatureTypeStyle")
    _se(feature_style, "FeatureTypeName", layer.id)
    for entry in classes(layer):
        rule = _se(feature_style, "Rule")
        _se(rule, "Name", entry.value if entry.value is not None else "autres")
        _se(_se(rule, "Description"), "Title", entry.label)
        _filter(rule, layer, entry)
        _scales(rule, layer)
        _symbolizer(rule, layer, entry)
    _label_rule(feature_style, layer)


def sld_document(layers: Iterable[Layer]) -> bytes:
    """An SLD 1.1 document (UTF-8) with one named layer per collection, in map order."""
    root = ET.Element(f"{{{SLD}}}StyledLayerDescriptor",
                      {"version": "1.1.0", f"{{{XSI}}}schemaLocation": SCHEMA})
    for layer in layers:
        _named_layer(root, layer)
    ET.indent(root)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)
