"""The agency's file: which layer inside it, its CRS and fields, and its features in chunks."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyogrio
import pyogrio.raw
from pyogrio.errors import DataLayerError, DataSourceError

from geoportal.ingest.errors import IngestError

ObjectArray = npt.NDArray[np.object_]


@dataclass(frozen=True)
class SourceInfo:
    """What GDAL says about one layer of the file, before reading its features."""

    path: Path
    layer: str
    driver: str
    crs: str | None
    encoding: str | None
    fields: tuple[str, ...]
    dtypes: tuple[str, ...]
    geometry_type: str
    count: int
    bounds: tuple[float, float, float, float] | None

    def dtype_of(self, field: str) -> str:
        """The numpy dtype pyogrio gives the field."""
        return self.dtypes[self.fields.index(field)]


@dataclass(frozen=True)
class Chunk:
    """A run of consecutive features: their ids in the file, WKB geometries and fields."""

    fids: npt.NDArray[np.int64]
    wkb: ObjectArray
    columns: dict[str, npt.NDArray[Any]]

    def __len__(self) -> int:
        return len(self.fids)


def _layers(path: Path) -> list[str]:
    try:
        listed = pyogrio.list_layers(path)
    except (DataSourceError, DataLayerError, OSError) as exc:
        raise IngestError(f"cannot open {path}: {exc}") from exc
    return [str(row[0]) for row in listed]


def choose_layer(path: Path, wanted: str | None, candidates: Sequence[str]) -> str:
    """The layer to read: the one asked for, the only one, or one named like the target."""
    layers = _layers(path)
    if not layers:
        raise IngestError(f"{path} holds no vector layer")
    if wanted is not None:
        if wanted not in layers:
            raise IngestError(f"{path} has no layer {wanted!r}; it holds: {', '.join(layers)}")
        return wanted
    if len(layers) == 1:
        return layers[0]
    for name in candidates:
        if name in layers:
            return name
    raise IngestError(
        f"{path} holds {len(layers)} layers ({', '.join(layers)}): choose one with --layer-name"
    )


def describe(path: Path, layer: str, encoding: str | None = None) -> SourceInfo:
    """The layer's driver, CRS, fields, geometry type, feature count and bounds."""
    try:
        info = pyogrio.read_info(path, layer=layer, encoding=encoding, force_feature_count=True,
                                 force_total_bounds=True)
    except (DataSourceError, DataLayerError, OSError) as exc:
        raise IngestError(f"cannot read {path} (layer {layer}): {exc}") from exc
    detected = str(info.get("encoding") or "UTF-8")
    if encoding is None and info["driver"] == "ESRI Shapefile" and detected != "UTF-8":
        encoding = detected  # e.g. a .dbf without .cpg: GDAL's guess, ISO-8859-1
    bounds = info.get("total_bounds")
    has_bounds = bounds is not None and all(np.isfinite(b) for b in bounds)
    return SourceInfo(
        path=path,
        layer=layer,
        driver=str(info["driver"]),
        crs=info["crs"],
        encoding=encoding,
        fields=tuple(str(f) for f in info["fields"]),
        dtypes=tuple(str(d) for d in info["dtypes"]),
        geometry_type=str(info["geometry_type"]),
        count=int(info["features"]),
        bounds=tuple(float(b) for b in bounds) if has_bounds else None,  # type: ignore[arg-type]
    )


def read_chunks(source: SourceInfo, fields: Sequence[str], size: int) -> Iterator[Chunk]:
    """The features in file order, ``size`` at a time, through GDAL's Arrow stream."""
    wanted = list(dict.fromkeys(fields))
    try:
        with pyogrio.raw.open_arrow(source.path, layer=source.layer, encoding=source.encoding,
                                    columns=wanted, return_fids=True, batch_size=size,
                                    use_pyarrow=True) as (meta, reader):
            fid_name = meta["fid_column"] or "OGC_FID"
            geometry_name = meta["geometry_name"] or "wkb_geometry"
            for batch in reader:
                if batch.num_rows == 0:
                    continue
                columns = {name: batch.column(name).to_numpy(zero_copy_only=False)
                           for name in wanted}
                yield Chunk(
                    fids=np.asarray(batch.column(fid_name).to_numpy(zero_copy_only=False),
                                    dtype=np.int64),
                    wkb=batch.column(geometry_name).to_numpy(zero_copy_only=False),
                    columns=columns,
                )
    except (DataSourceError, DataLayerError, OSError) as exc:
        raise IngestError(f"cannot read {source.path}: {exc}") from exc
