"""The SQL of a vector tile: one ``ST_AsMVT`` per layer, identifiers from the registry only.

Every statement takes ``$1..$3`` the tile (z, x, y) and ``$4..$7`` the tile's box in
EPSG:26191 with a margin (so the GiST index on the stored geometry is used); then either
``$8`` the simplification tolerance in metres (large tiles: ST_Transform to 3857), or
``$8..$13`` the affine map that stands in for ST_Transform over a small tile and ``$14..$19``
the same map into tile units (see grid.py). A tile of the past reads each table as it stood
at one more parameter after those (``at_placeholder``).
"""

from __future__ import annotations

from geoportal.core.area import STORAGE_SRID
from geoportal.core.history import as_of
from geoportal.core.sql import ident, literal
from geoportal.registry import Layer, LayerProperty
from geoportal.tiles.grid import BUFFER, EXTENT

BOX = f"ST_MakeEnvelope($4, $5, $6, $7, {STORAGE_SRID})"
TILE = "ST_TileEnvelope($1, $2, $3)"
POLYGONAL = {"Polygon", "MultiPolygon"}


quote = ident  # the one quoting of core.sql
quote_literal = literal


def at_placeholder(affine: bool) -> str:
    """The parameter holding the moment of a tile of the past: after the variant's."""
    return "$20" if affine else "$9"


def tile_properties(layer: Layer) -> list[LayerProperty]:
    """The attributes that go into tiles: those the map uses (``in_tiles``)."""
    return [p for p in layer.properties if p.in_tiles]


def _property_sql(prop: LayerProperty) -> str:
    column = quote(prop.column_name)
    if prop.type in ("date", "datetime", "array"):
        column = f"{column}::text"
    return f"{column} AS {quote(prop.name)}"


def _to_mercator(shape: str, affine: bool) -> str:
    if affine:
        return f"ST_Affine({shape}, $8, $9, $10, $11, $12, $13)"
    return f"ST_Transform({shape}, 3857)"


def _geometry_sql(layer: Layer, affine: bool) -> str:
    """The geometry in tile units: projected, clipped, simplified and snapped to the grid.

    Large tiles clip in the storage CRS and simplify by the tile unit before ST_Transform.
    Small tiles (the affine variant) need neither: a feature inside the tile's box goes
    straight to tile units by one affine map and is snapped to the grid, exterior rings made
    clockwise before the y axis flips (what ST_AsMVTGeom does, at a third of the cost); a
    feature crossing the box goes through ST_AsMVTGeom, which clips it.
    """
    geom = quote(layer.spatial_column)
    if affine:
        direct = (f"ST_RemoveRepeatedPoints(ST_SnapToGrid(ST_Affine(ST_ForcePolygonCW({geom}),"
                  " $14, $15, $16, $17, $18, $19), 1))")
        clipped = f"ST_AsMVTGeom({_to_mercator(geom, True)}, {TILE}, {EXTENT}, {BUFFER}, true)"
        return f"CASE WHEN {geom} @ {BOX} THEN {direct} ELSE {clipped} END"
    clipped = f"CASE WHEN {geom} @ {BOX} THEN {geom} ELSE ST_ClipByBox2D({geom}, {BOX}) END"
    shape = f"ST_Simplify({clipped}, $8)"
    return f"ST_AsMVTGeom({_to_mercator(shape, False)}, {TILE}, {EXTENT}, {BUFFER}, true)"


def layer_tile_sql(layer: Layer, affine: bool = False, at_sql: str | None = None) -> str:
    """A statement returning the layer's part of a tile as MVT bytes (empty when none), of
    the table as it stood at ``at_sql`` when given."""
    columns = [f"{quote(layer.id_column)} AS id", *map(_property_sql, tile_properties(layer))]
    name = quote_literal(layer.id)
    return (  # identifiers from the registry, quoted; values are bound parameters
        f"SELECT coalesce(ST_AsMVT(t, {name}, {EXTENT}, 'geom', 'id'), ''::bytea)"  # noqa: S608
        f" FROM (SELECT {', '.join(columns)}, {_geometry_sql(layer, affine)} AS geom"
        f" FROM {as_of(layer.table, at_sql)}"
        f" WHERE {quote(layer.spatial_column)} && {BOX}) AS t"
    )


def label_layer_id(layer: Layer) -> str:
    """The name of the label-point layer of a polygon layer in the viewer's tile."""
    return layer.label_layer_id


def arabic_twin(layer: Layer, label: LayerProperty) -> LayerProperty | None:
    """The Arabic property beside a French label (``name_ar`` for ``name_fr``), if in tiles."""
    if not label.name.endswith("_fr"):
        return None
    twin = layer.find_property(label.name[:-3] + "_ar")
    return twin if twin is not None and twin.in_tiles else None


def label_tile_sql(layer: Layer, label: LayerProperty, affine: bool = False,
                   at_sql: str | None = None) -> str:
    """One label point per polygon (on its surface), in the one tile that holds the point,
    with the label's Arabic twin when the layer has one (the viewer shows both)."""
    geom = quote(layer.spatial_column)
    name = quote_literal(label_layer_id(layer))
    twin = arabic_twin(layer, label)
    names = quote(label.name) + (f", s.{quote(twin.name)}" if twin else "")
    columns = _property_sql(label) + (f", {_property_sql(twin)}" if twin else "")
    return (  # identifiers from the registry, quoted; values are bound parameters
        f"SELECT coalesce(ST_AsMVT(t, {name}, {EXTENT}, 'geom', 'id'), ''::bytea)"  # noqa: S608
        f" FROM (SELECT s.id, s.{names},"
        f" ST_AsMVTGeom({_to_mercator('s.point', affine)}, {TILE}, {EXTENT}, 0, true) AS geom"
        f" FROM (SELECT {quote(layer.id_column)} AS id, {columns},"
        f" ST_PointOnSurface({geom}) AS point FROM {as_of(layer.table, at_sql)}"
        f" WHERE {geom} && {BOX}) AS s) AS t"
    )


def combined_tile_sql(parts: list[str]) -> str:
    """One statement concatenating several layers' MVT bytes (layers are independent)."""
    return "SELECT " + " || ".join(f"({part})" for part in parts)
