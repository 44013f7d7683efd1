"""Everything decided before reading a feature: layer, file layer, CRS, field mapping."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import psycopg
import shapely
from psycopg import sql
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from geoportal.ingest.crs import AUC_BOUNDS, source_crs, to_storage
from geoportal.ingest.errors import IngestError
from geoportal.ingest.geometry import StorageShape
from geoportal.ingest.keys import Matching, matching_of
from geoportal.ingest.mapping import (
    FieldMap,
    Mapping,
    plan_mapping,
    referred_keys,
    table_columns,
)
from geoportal.ingest.source import SourceInfo, choose_layer, describe
from geoportal.registry import Layer, LayerRegistry

Mode = Literal["replace", "append"]
ACTOR_PREFIX = "import:"  # like the service's key:NAME and jwt:SUB
MAX_USER_LENGTH = 100


@dataclass(frozen=True, kw_only=True)
class ImportOptions:
    """What the command line asks for; ``user`` is who imports, kept in the history."""

    user: str
    comment: str | None = None
    mode: Mode = "replace"
    crs: str | None = None
    encoding: str | None = None
    layer_name: str | None = None
    dry_run: bool = False
    report_path: Path | None = None
    chunk_size: int = 100_000


@dataclass(frozen=True)
class ImportPlan:
    """Everything decided before reading: layer, file, CRS, mapping, storage shape."""

    layer: Layer
    source: SourceInfo
    crs_name: str
    mapping: Mapping
    shape: StorageShape
    key: FieldMap | None
    matching: Matching
    id_type: str
    area: BaseGeometry
    transformer: Transformer | None


def actor_of(user: str) -> str:
    """How the history records the importer: ``import:USER``; a missing name is refused."""
    name = user.strip()
    if not name or len(name) > MAX_USER_LENGTH or not name.isprintable():
        raise IngestError(
            "qui importe ? Donnez votre nom avec --as NOM (1 à 100 caractères imprimables) : "
            "chaque entité changée est inscrite à ce nom dans l'historique",
            en="who is importing? Give your name with --as NAME (1 to 100 printable "
               "characters): every feature changed is recorded under it in the history")
    return ACTOR_PREFIX + name


def layer_of(registry: LayerRegistry, layer_id: str) -> Layer:
    """The layer to import into; an unknown id is refused with the list."""
    layer = registry.get(layer_id)
    if layer is None:
        raise IngestError(f"unknown layer {layer_id!r}; layers: {', '.join(registry.ids())}")
    if not layer.has_geometry:  # the importer reads and checks geometries: not for tables
        raise IngestError(
            f"la couche {layer_id!r} n'a pas de géométrie : son import depuis un fichier "
            "n'est pas encore pris en charge ; modifiez-la par l'API (OGC API Features, "
            "partie 4)",
            en=f"layer {layer_id!r} has no geometry: importing it from a file is not "
            "supported yet; edit it through the API (OGC API Features Part 4)")
    return layer


def _storage_shape(conn: psycopg.Connection[Any], layer: Layer) -> StorageShape:
    row = conn.execute(
        "SELECT type, srid FROM geometry_columns WHERE f_table_schema = current_schema()"
        " AND f_table_name = %s AND f_geometry_column = %s",
        (layer.table, layer.spatial_column),
    ).fetchone()
    if row is None:
        raise IngestError(f"table {layer.table} has no geometry column {layer.spatial_column}")
    return StorageShape.from_column(row[0], int(row[1]))


def _area(conn: psycopg.Connection[Any], registry: LayerRegistry,
          layer: Layer) -> BaseGeometry:
    """The AUC area, prepared: its préfectures (but not for themselves), else its box."""
    prefectures = registry.get("prefectures")
    union = None
    if prefectures is not None and prefectures.table != layer.table:
        row = conn.execute(sql.SQL("SELECT ST_AsBinary(ST_Union({g})) FROM {t}").format(
            g=sql.Identifier(prefectures.spatial_column),
            t=sql.Identifier(prefectures.table))).fetchone()
        union = row[0] if row else None
    area = shapely.box(*AUC_BOUNDS) if union is None else shapely.from_wkb(bytes(union))
    shapely.prepare(area)
    return area


def make_plan(conn: psycopg.Connection[Any], registry: LayerRegistry, layer: Layer,
              path: Path, options: ImportOptions) -> ImportPlan:
    """The plan: which layer of the file, its CRS and transformation, the field mapping."""
    if not path.exists():
        raise IngestError(f"{path}: no such file")
    name = choose_layer(path, options.layer_name, [layer.id, layer.table])
    source = describe(path, name, options.encoding)
    crs = source_crs(source, options.crs)
    columns = table_columns(conn, layer.table)
    mapping = plan_mapping(layer, columns, source, referred_keys(conn, registry, layer))
    key = mapping.fields[0] if mapping.fields else None  # names the feature in the report
    crs_name = crs.to_string() if crs.to_epsg() is None else f"EPSG:{crs.to_epsg()}"
    return ImportPlan(layer, source, crs_name, mapping, _storage_shape(conn, layer), key,
                      matching_of(conn, layer, mapping, columns),
                      columns[layer.id_column].pg_type, _area(conn, registry, layer),
                      to_storage(crs))
