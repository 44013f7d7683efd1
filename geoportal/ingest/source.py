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
    """The features in file order, ``size`` at a time, geometries as 2D WKB."""
    wanted = list(dict.fromkeys(fields))
    for skip in range(0, max(source.count, 1), size):
        try:
            meta, fids, wkb, data = pyogrio.raw.read(
                source.path, layer=source.layer, encoding=source.encoding, columns=wanted,
                skip_features=skip, max_features=size, return_fids=True, force_2d=True,
            )
        except (DataSourceError, DataLayerError, OSError) as exc:
            raise IngestError(f"cannot read {source.path} after feature {skip}: {exc}") from exc
        names = [str(n) for n in meta["fields"]]
        if len(fids) == 0:
            return
        yield Chunk(fids=np.asarray(fids, dtype=np.int64), wkb=wkb,
                    columns=dict(zip(names, data, strict=True)))
