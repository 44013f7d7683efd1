"""The first page of a whole layer shows a value of every typed property.

QGIS 3.22 types a collection's fields once, from ``items?limit=10`` read through OGR's
GeoJSON driver (``QgsOapifProvider::init`` then ``QgsOapifItemsRequest::processReply``); it
reads no schema, and GDAL 3.6's GeoJSON driver takes no type hint, so a property that is
null in those ten features becomes a String for good. When the first ten features by id
leave a typed property without a value, the default order of the unfiltered layer opens
with its *witnesses* — for each typed property, the first feature by id that has a value —
then goes on with the other features by id. Every feature still comes once, and the order
stays a keyset order (the cursor is an id: a witness's, or another's).

The witnesses are worked out once per layer version in each worker, by one statement of
primary-key walks that stop at the first value (bounded: a value first met beyond ``SCAN``
features is not looked for).
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from geoportal.ogc import sql
from geoportal.ogc.query import version_sql
from geoportal.registry import Layer, LayerProperty

# How many features QGIS 3.22 reads to type the fields (qgsoapifprovider.cpp: "?limit=10").
SAMPLE = 10
# How far (in id order) a witness is looked for: bounds the work when a layer changes.
SCAN = 100_000


@dataclass(frozen=True)
class Witnesses:
    """The features that open a layer's default order (none: plain id order), the id that
    ends that order, and the layer version they were found in."""

    version: int
    ids: tuple[int, ...] = ()
    last_id: int | None = None


def typed(layer: Layer) -> list[LayerProperty]:
    """The properties a client types from their values (a null-only string is a string)."""
    return [p for p in layer.properties if p.type != "string"]


def witnesses_statement(layer: Layer) -> str:
    """(version, first id with a value of each typed property among the first SCAN, the
    SAMPLE-th id) in one snapshot. Each probe walks the primary key and stops at the first
    value: a property without any costs SCAN rows, once per layer version."""
    table, tid = sql.table(layer), sql.id_column(layer)
    firsts = ", ".join(
        f"(SELECT s.id FROM (SELECT {tid} AS id, {sql.column(layer, p)} AS value FROM {table} t "
        f"ORDER BY {tid} LIMIT {SCAN}) s WHERE s.value IS NOT NULL ORDER BY s.id LIMIT 1)"
        for p in typed(layer))
    return (f"SELECT {version_sql(layer)} AS version, ARRAY[{firsts}]::int8[] AS firsts, "
            f"(SELECT {tid} FROM {table} t ORDER BY {tid} OFFSET {SAMPLE - 1} LIMIT 1) "
            f"AS sampled_up_to")


def last_other_statement(layer: Layer) -> str:
    """The largest id that is not a witness ($1): where the witnesses-first order ends."""
    tid = sql.id_column(layer)
    return f"SELECT max({tid}) FROM {sql.table(layer)} t WHERE {tid} <> ALL($1::int8[])"


async def find_witnesses(pool: asyncpg.Pool, layer: Layer) -> Witnesses:
    """The witnesses of a layer now (none when its first SAMPLE features type it already)."""
    async with pool.acquire() as conn, conn.transaction(readonly=True,
                                                        isolation="repeatable_read"):
        row = await conn.fetchrow(witnesses_statement(layer))
        version = int(row["version"] or 0)
        ids = tuple(sorted({i for i in row["firsts"] if i is not None}))
        sampled = row["sampled_up_to"]
        if not ids or sampled is None or max(ids) <= sampled:
            return Witnesses(version)
        last = await conn.fetchval(last_other_statement(layer), list(ids))
        return Witnesses(version, ids, int(last) if last is not None else max(ids))


class LayerWitnesses:
    """The witnesses this worker found, per layer (a service of the app)."""

    def __init__(self) -> None:
        self._known: dict[str, Witnesses] = {}

    async def of(self, pool: asyncpg.Pool, layer: Layer) -> Witnesses:
        """The witnesses last found (found now if never): a page checks their version
        against the one it read, and calls ``renew`` when the layer has moved on."""
        known = self._known.get(layer.id)
        if known is None:
            known = self._known[layer.id] = await find_witnesses(pool, layer)
        return known

    async def renew(self, pool: asyncpg.Pool, layer: Layer) -> Witnesses:
        """Find the witnesses again (the layer's version has moved)."""
        found = self._known[layer.id] = await find_witnesses(pool, layer)
        return found
