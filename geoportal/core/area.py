"""The agency's territory and the storage CRS every area and overlap is computed in."""

from __future__ import annotations

STORAGE_SRID = 26191
STORAGE_CRS = f"EPSG:{STORAGE_SRID}"  # Merchich / Nord Maroc, metres
# The AUC area: xmin, ymin, xmax, ymax in EPSG:26191 (metres).
AUC_AREA = (270_000.0, 305_000.0, 335_000.0, 360_000.0)
# Where maps open when a layer holds no data yet: longitude/latitude.
AUC_LONLAT = (-8.0, 33.25, -7.1, 33.85)
