"""Run by the system's python3 (Debian's PyQGIS 3.22, headless): open collections of a running
service through QGIS's OGC API Features provider (OAPIF) and print, as JSON on the last line,
what QGIS knows before downloading any feature: the feature count and the fields' types;
for the collections named by ``--read``, it then reads every feature and gives, per field,
how many values are set and the Python types QGIS returns them as.

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis_fields_probe.py BASE_URL ID...
        [--read ID...]
"""

from __future__ import annotations

import json
import sys
from typing import Any

from qgis.core import QgsApplication, QgsVectorLayer  # type: ignore[import-not-found]


def probe(base: str, collection: str) -> dict[str, Any]:
    """The count and field types QGIS gives one collection."""
    layer = QgsVectorLayer(f"url='{base}/ogc' typename='{collection}'", collection, "OAPIF")
    return {"valid": layer.isValid(), "count": layer.featureCount(),
            "fields": {field.name(): field.typeName() for field in layer.fields()}}


def read(base: str, collection: str) -> dict[str, Any]:
    """Every feature through QGIS: the number read and, per field, its values' types."""
    layer = QgsVectorLayer(f"url='{base}/ogc' typename='{collection}'", collection, "OAPIF")
    names = [field.name() for field in layer.fields()]
    features = 0
    values: dict[str, dict[str, int]] = {name: {} for name in names}
    for feature in layer.getFeatures():
        features += 1
        for name, value in zip(names, feature.attributes(), strict=True):
            if value is not None and not (hasattr(value, "isNull") and value.isNull()):
                kind = type(value).__name__
                values[name][kind] = values[name].get(kind, 0) + 1
    return {"features": features, "values": values}


def main() -> None:
    app = QgsApplication([], False)
    app.initQgis()
    args = sys.argv[1:]
    to_read = args[args.index("--read") + 1:] if "--read" in args else []
    base, collections = args[0], args[1:len(args) - len(to_read) - (1 if to_read else 0)]
    found: dict[str, Any] = {collection: probe(base, collection) for collection in collections}
    for collection in to_read:
        found[collection]["read"] = read(base, collection)
    print(json.dumps(found))
    app.exitQgis()


if __name__ == "__main__":
    main()
