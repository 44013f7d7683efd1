"""Run by the system's python3 (Debian's PyQGIS 3.22, headless): open collections of a running
service through QGIS's OGC API Features provider (OAPIF) and print, as JSON on the last line,
what QGIS knows before downloading any feature: the feature count and the fields' types.

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis_fields_probe.py BASE_URL ID...
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


def main() -> None:
    app = QgsApplication([], False)
    app.initQgis()
    base, collections = sys.argv[1], sys.argv[2:]
    found = {collection: probe(base, collection) for collection in collections}
    print(json.dumps(found))
    app.exitQgis()


if __name__ == "__main__":
    main()
