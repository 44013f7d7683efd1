"""The file's CRS and the transformation to storage (EPSG:26191), never a ballpark one."""

from __future__ import annotations

from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from pyproj.transformer import AreaOfInterest

from geoportal.core.area import AUC_AREA, STORAGE_CRS
from geoportal.ingest.errors import IngestError
from geoportal.ingest.source import SourceInfo

# The AUC area, in storage metres and in degrees (DOMAIN.md).
AUC_BOUNDS = AUC_AREA
AUC_LONLAT = AreaOfInterest(west_lon_degree=-7.95, south_lat_degree=33.2,
                            east_lon_degree=-7.1, north_lat_degree=33.8)
LIKELY_CRS = f"{STORAGE_CRS} (Merchich / Nord Maroc)"


def _looks_like_storage(bounds: tuple[float, float, float, float]) -> bool:
    west, south, east, north = bounds
    return 200_000 <= west <= east <= 400_000 and 250_000 <= south <= north <= 420_000


def _looks_like_degrees(bounds: tuple[float, float, float, float]) -> bool:
    west, south, east, north = bounds
    return -180 <= west <= east <= 180 and -90 <= south <= north <= 90


def missing_crs_message(source: SourceInfo) -> str:
    """Why a file without CRS is refused, naming the CRS it most likely uses."""
    hint = ""
    if source.bounds is not None and _looks_like_degrees(source.bounds):
        hint = " Its coordinates look like longitude/latitude: then pass --crs EPSG:4326."
    elif source.bounds is not None and _looks_like_storage(source.bounds):
        hint = f" Its coordinates look like {LIKELY_CRS}."
    return (
        f"{source.path.name} has no CRS (no .prj, or one GDAL cannot read). The agency's files "
        f"are usually in {LIKELY_CRS}: pass --crs EPSG:26191 if that is right.{hint}"
    )


def source_crs(source: SourceInfo, override: str | None) -> CRS:
    """The CRS of the coordinates: ``--crs`` when given, else the file's own."""
    text = override or source.crs
    if text is None:
        raise IngestError(missing_crs_message(source))
    try:
        return CRS.from_user_input(text)
    except CRSError as exc:
        raise IngestError(f"{text!r} is not a CRS PROJ knows (e.g. EPSG:26191)") from exc


def to_storage(crs: CRS) -> Transformer | None:
    """The transformation to EPSG:26191 (None when already there); refuses a ballpark one."""
    storage = CRS.from_user_input(STORAGE_CRS)
    if crs.equals(storage, ignore_axis_order=True):
        return None
    transformer = Transformer.from_crs(crs, storage, always_xy=True, area_of_interest=AUC_LONLAT)
    if "ballpark" in transformer.description.lower():
        raise IngestError(
            f"PROJ has no accurate transformation from {crs.to_string()} to {STORAGE_CRS} "
            f"(it offers: {transformer.description}); convert the file first"
        )
    return transformer
