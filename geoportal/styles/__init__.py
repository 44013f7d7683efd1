"""OGC API Styles from the layer registry: a MapLibre style, an SLD 1.1 and a QGIS QML per
collection, and one map style of every layer."""

from geoportal.styles.extension import styles_extension
from geoportal.styles.routes import router

__all__ = ["router", "styles_extension"]
