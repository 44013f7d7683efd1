"""Run by the system's python3 (Debian's PyQGIS, headless): open collections of a running
service in QGIS and apply their QML and SLD styles; print what QGIS made of them as JSON.

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis_styles_probe.py BASE_URL FOLDER ID...

For each collection id: the layer opened through QGIS's OGC API Features provider (OAPIF)
and through a GeoJSON download (ogr); the QML and the SLD read from FOLDER (fetched by the
test) applied to them.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from qgis.core import (  # type: ignore[import-not-found]
    QgsApplication,
    QgsCategorizedSymbolRenderer,
    QgsRuleBasedRenderer,
    QgsVectorLayer,
)


def _renderer(layer: Any) -> dict[str, Any]:
    renderer = layer.renderer()
    found: dict[str, Any] = {"type": renderer.type()}
    if isinstance(renderer, QgsCategorizedSymbolRenderer):
        found["attribute"] = renderer.classAttribute()
        found["categories"] = [
            {"value": category.value(), "label": category.label(),
             "colour": category.symbol().symbolLayer(
                 category.symbol().symbolLayerCount() - 1).color().name()}
            for category in renderer.categories()]
    elif isinstance(renderer, QgsRuleBasedRenderer):  # what QGIS makes of an SLD
        found["rules"] = [
            {"label": rule.label(), "filter": rule.filterExpression(),
             "else": rule.isElse(), "colour": rule.symbol().symbolLayer(
                 rule.symbol().symbolLayerCount() - 1).color().name() if rule.symbol() else None}
            for rule in renderer.rootRule().descendants()]
    else:
        symbol = renderer.symbol()
        last = symbol.symbolLayer(symbol.symbolLayerCount() - 1)
        found["colour"] = last.color().name()
        if hasattr(last, "brushStyle"):
            found["stroke"] = last.strokeColor().name()
            found["brush"] = int(last.brushStyle())  # 0: no fill, an outline only
        found["symbol"] = int(symbol.type())
    found["labels"] = bool(layer.labelsEnabled())
    if layer.labelsEnabled():
        found["label_field"] = layer.labeling().settings().fieldName
    found["scale_based"] = layer.hasScaleBasedVisibility()
    return found


def probe(base: str, folder: str, collection: str) -> dict[str, Any]:
    """What QGIS makes of one collection and its styles."""
    api = QgsVectorLayer(f"url='{base}/ogc' typename='{collection}'", collection, "OAPIF")
    download = QgsVectorLayer(f"/vsicurl/{base}/opendata/{collection}.geojson", collection,
                              "ogr")
    result: dict[str, Any] = {"valid": [api.isValid(), download.isValid()]}
    message, loaded = api.loadNamedStyle(f"{folder}/{collection}.qml")
    result["qml"] = {"loaded": loaded, "message": message, **_renderer(api)}
    message, loaded = download.loadNamedStyle(f"{folder}/{collection}.qml")
    result["qml_on_download"] = {"loaded": loaded, **_renderer(download)}
    sld = QgsVectorLayer(f"/vsicurl/{base}/opendata/{collection}.geojson", collection, "ogr")
    message, loaded = sld.loadSldStyle(f"{folder}/{collection}.sld")
    result["sld"] = {"loaded": loaded, "message": message, **_renderer(sld)}
    return result


def main() -> None:
    """Probe every collection named on the command line."""
    base, folder, *collections = sys.argv[1:]
    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], False)
    app.initQgis()
    try:
        print(json.dumps({c: probe(base, folder, c) for c in collections}))
    finally:
        app.exitQgis()


if __name__ == "__main__":
    main()
