"""OGC API Records: the open data catalogue, one record per dataset, from the registry.

A pygeoapi record provider. Records are made from the same descriptions as the
``/opendata`` page (:mod:`geoportal.opendata.catalogue`), with live counts and dates.
"""

from __future__ import annotations

import logging
import unicodedata
from functools import partial
from pathlib import Path
from typing import Any

from pygeoapi.provider.base import (
    BaseProvider,
    ProviderConnectionError,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
)

from geoportal.catalogue import runtime
from geoportal.core.links import Links
from geoportal.opendata.catalogue import RasterFile, layer_document, raster_document
from geoportal.opendata.datasets import LayerStats, cached_stats, layer_stats
from geoportal.opendata.rasters import raster_datasets
from geoportal.registry import LayerRegistry, RegistryError, load_registry

log = logging.getLogger("geoportal")
RECORD_CORE = "http://www.opengis.net/spec/ogcapi-records-1/1.0/req/record-core"
FIELDS: dict[str, dict[str, str]] = {
    "type": {"type": "string"},
    "kind": {"type": "string"},
    "title": {"type": "string"},
    "description": {"type": "string"},
    "license": {"type": "string"},
    "updated": {"type": "string", "format": "date-time"},
}


def _folded(text: str) -> str:
    """Lower case without accents, for search (Médiouna = mediouna)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _polygon(bbox: tuple[float, float, float, float] | None) -> dict[str, Any] | None:
    if bbox is None:
        return None
    w, s, e, n = bbox
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def to_record(document: dict[str, Any], bbox: tuple[float, float, float, float] | None
              ) -> dict[str, Any]:
    """An OGC API Records record (a GeoJSON feature) from a dataset's description."""
    links = [{"rel": "enclosure", "href": d["href"], "type": d["type"], "title": d["title"]}
             for d in document["downloads"]]
    links += document["links"]
    formats = list(dict.fromkeys(d["format"] for d in document["downloads"]))
    properties = {
        "type": "dataset",
        "kind": document["kind"],
        "title": document["title"],
        "title_ar": document["title_ar"],
        "description": document["description"],
        "keywords": document["keywords"],
        "language": {"code": "fr"},
        "license": document["license"]["id"],
        "rights": document["attribution"],
        "updated": document["updated"],
        "features": document["features"],
        "formats": [{"name": name} for name in formats],
    }
    return {"id": document["id"], "type": "Feature", "conformsTo": [RECORD_CORE],
            "time": None if not document["updated"] else {"timestamp": document["updated"]},
            "geometry": _polygon(bbox), "properties": properties, "links": links}


def _text(record: dict[str, Any]) -> str:
    p = record["properties"]
    return _folded(" ".join([record["id"], p["title"], p["title_ar"] or "", p["description"],
                             " ".join(p["keywords"])]))


def _overlaps(record: dict[str, Any], bbox: list[float]) -> bool:
    geometry = record["geometry"]
    if geometry is None:
        return False
    ring = geometry["coordinates"][0]
    w, s, e, n = ring[0][0], ring[0][1], ring[2][0], ring[2][1]
    return not (e < bbox[0] or w > bbox[2] or n < bbox[1] or s > bbox[3])


def _in_time(record: dict[str, Any], interval: str) -> bool:
    updated = record["properties"]["updated"]
    if updated is None:
        return False
    start, _, end = interval.partition("/")
    if not _:
        return updated[:len(start)] == start
    return (start in ("", "..") or updated >= start) and (end in ("", "..") or updated <= end)


def _sort_key(name: str, record: dict[str, Any]) -> str:
    return str(record["properties"].get(name) or "")


def _matches(record: dict[str, Any], value: str, name: str) -> bool:
    found = record["properties"].get(name)
    if isinstance(found, list):
        return value in found
    return str(found) == str(value)


class CatalogueProvider(BaseProvider):
    """The catalogue of the published datasets (pygeoapi ``record`` provider)."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        self.database_url: str = provider_def["database_url"]
        self.raster_dir = Path(provider_def["raster_dir"])
        self.links = Links(str(provider_def.get("public_url", "")).rstrip("/"))
        self._fields = dict(FIELDS)

    def get_fields(self) -> dict[str, dict[str, str]]:
        """The queryable properties of a record."""
        return dict(FIELDS)

    def _registry(self) -> LayerRegistry:
        service = runtime.current()
        if service is not None:
            return service.registry
        try:
            return load_registry(Path(self.data))
        except RegistryError as exc:
            raise ProviderConnectionError(str(exc)) from exc

    def records(self) -> list[dict[str, Any]]:
        """Every record: the registry's layers in map order, then the rasters."""
        registry = self._registry()
        stats = self._stats(registry)
        found = [to_record(layer_document(layer, stats.get(layer.id), self.links),
                           stats[layer.id].bbox if layer.id in stats else None)
                 for layer in registry]
        found += [to_record(raster_document(RasterFile.look(r, self.raster_dir), self.links),
                            None) for r in raster_datasets(registry)]
        return found

    def _stats(self, registry: LayerRegistry) -> dict[str, LayerStats]:
        service = runtime.current()
        try:
            if service is not None and service.pool is not None:
                state, pool = service.state, service.pool
                return runtime.run(lambda _: cached_stats(state, pool, registry),
                                   self.database_url)[1]
            return runtime.run(lambda db: layer_stats(db, registry), self.database_url)
        except (OSError, TimeoutError) as exc:
            log.error("catalogue: database unreachable: %s", type(exc).__name__)
            raise ProviderConnectionError("The database is not reachable.") from exc

    def query(self, offset: int = 0, limit: int = 10, resulttype: str = "results",
              bbox: list[float] | None = None, datetime_: str | None = None,
              properties: list[tuple[str, str]] | None = None,
              sortby: list[dict[str, str]] | None = None,
              select_properties: list[str] | None = None, skip_geometry: bool = False,
              q: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """Records matching every criterion: full text ``q``, bbox, time, properties."""
        found = self.records()
        if q:
            terms = [_folded(t) for t in str(q).replace(",", " ").split()]
            found = [r for r in found if all(t in _text(r) for t in terms)]
        if bbox:
            found = [r for r in found if _overlaps(r, list(bbox))]
        if datetime_:
            found = [r for r in found if _in_time(r, str(datetime_))]
        for name, value in properties or []:
            if name not in FIELDS and name != "keywords":
                raise ProviderInvalidQueryError(f"{name} is not a queryable of the catalogue")
            found = [r for r in found if _matches(r, value, name)]
        for order in reversed(sortby or []):
            found.sort(key=partial(_sort_key, order["property"]),
                       reverse=order.get("order") == "-")
        page = [] if resulttype == "hits" else found[offset:offset + limit]
        if skip_geometry:
            page = [{**r, "geometry": None} for r in page]
        if select_properties:
            page = [{**r, "properties": {k: v for k, v in r["properties"].items()
                                         if k in select_properties}} for r in page]
        return {"type": "FeatureCollection", "features": page, "numberMatched": len(found),
                "numberReturned": len(page)}

    def get(self, identifier: str, **kwargs: Any) -> dict[str, Any]:
        """One record by dataset id."""
        for record in self.records():
            if record["id"] == identifier:
                return record
        raise ProviderItemNotFoundError(f"no dataset {identifier!r} in the catalogue")

    def __repr__(self) -> str:
        return "<CatalogueProvider> geoportal layer registry"
