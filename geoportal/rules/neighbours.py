"""The neighbours' buildable envelopes around a plot (``GET /rules/neighbours``), for the
viewer's 3D scene: what the plots around may build, drawn faintly beside the plot's own.

One statement finds the plots within a distance of the plot, nearest first, at most a
bounded count; their answers and envelopes are then computed together by the batch's
set-based statements (``lookup_batch``), so each envelope is the one ``/rules?...&envelope=
true`` gives for that plot, and the cost does not grow with round trips.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeAlias

import asyncpg
from pydantic import BaseModel, Field

from geoportal.core.history import as_of
from geoportal.errors import NotFound
from geoportal.rules.models import BatchItem
from geoportal.rules.params import clean_parcel
from geoportal.rules.service import lookup_batch

Database: TypeAlias = asyncpg.Pool | asyncpg.Connection
DEFAULT_DISTANCE_M = 30.0
MAX_DISTANCE_M = 100.0
DEFAULT_LIMIT = 20  # a few plots are a lookup (above LIGHT_BATCH: the heavy lane)
MAX_LIMIT = 40

_NEIGHBOURS = """
SELECT p.id AS plot_id, p.ref AS plot_ref, n.ref, n.distance_m
FROM (SELECT id, ref, geom FROM {parcels}
      WHERE ref_norm = geoportal_ref_norm($1::text) OFFSET 0) p
LEFT JOIN LATERAL (
  SELECT o.ref, ST_Distance(o.geom, p.geom) AS distance_m
  FROM {parcels} o
  WHERE ST_DWithin(o.geom, p.geom, $2::float8) AND o.id <> p.id
  ORDER BY ST_Distance(o.geom, p.geom), o.id
  LIMIT $3::int
) n ON true
ORDER BY n.distance_m, n.ref"""


def neighbours_sql(past: bool) -> str:
    """The statement on the current plots, or (``past``) on the plots as they stood at the
    moment bound as $4."""
    return _NEIGHBOURS.format(parcels=as_of("parcels", "$4" if past else None))


NOW = neighbours_sql(past=False)
THEN = neighbours_sql(past=True)


class NeighbourProperties(BaseModel):
    """What a neighbour may build, in the figures the viewer extrudes."""

    ref: str = Field(description="The neighbour's land-title reference.")
    distance_m: float = Field(description="Distance to the plot, in EPSG:26191 metres.")
    buildable: bool
    area_m2: float = Field(description="Area of the neighbour's envelope.")
    max_height_m: float | None
    max_levels: int | None


class NeighbourEnvelope(BaseModel):
    """One neighbour's envelope, a GeoJSON Feature (CRS84; null geometry when nothing can be
    built there)."""

    type: str = "Feature"
    id: str
    geometry: dict[str, Any] | None
    properties: NeighbourProperties


class NeighbourEnvelopes(BaseModel):
    """The envelopes of the plots around a plot, a GeoJSON FeatureCollection."""

    type: str = "FeatureCollection"
    parcel: str = Field(description="The plot asked about, as recorded.")
    distance_m: float = Field(description="The neighbours are the plots within this distance.")
    limit: int = Field(description="At most this many neighbours, nearest first.")
    truncated: bool = Field(description="More plots lie within the distance than the limit.")
    data_version: str
    data_at: dt.datetime | None = None
    features: list[NeighbourEnvelope]


def _unknown(ref: str) -> NotFound:
    return NotFound(f"Aucune parcelle immatriculée n'a la référence foncière {ref!r}.",
                    en=f"No registered plot has the land-title reference {ref!r}.")


async def neighbour_envelopes(db: Database, parcel: str, *, distance_m: float = DEFAULT_DISTANCE_M,
                              limit: int = DEFAULT_LIMIT, at: dt.date | None = None,
                              data_at: dt.datetime | None = None) -> NeighbourEnvelopes:
    """The envelopes of the (at most ``limit``) plots within ``distance_m`` of ``parcel``,
    nearest first; 404 when the plot is unknown."""
    ref = clean_parcel(parcel)
    args: list[Any] = [ref, distance_m, limit + 1]
    if data_at is not None:
        args.append(data_at)
    rows = await db.fetch(NOW if data_at is None else THEN, *args)
    if not rows:
        raise _unknown(ref)
    near = [row for row in rows if row["ref"] is not None]
    kept = near[:limit]
    batch = await lookup_batch(db, [BatchItem(parcel=row["ref"]) for row in kept], at=at,
                               data_at=data_at, envelope=True)
    features = []
    for row, result in zip(kept, batch.results, strict=True):
        envelope = result.answer.envelope if result.answer is not None else None
        if envelope is None:  # vanished between the two statements: left out
            continue
        features.append(NeighbourEnvelope(
            id=row["ref"], geometry=envelope.geometry,
            properties=NeighbourProperties(
                ref=row["ref"], distance_m=round(row["distance_m"], 2),
                buildable=envelope.buildable, area_m2=envelope.area_m2,
                max_height_m=envelope.max_height_m, max_levels=envelope.max_levels)))
    return NeighbourEnvelopes(parcel=rows[0]["plot_ref"], distance_m=distance_m, limit=limit,
                              truncated=len(near) > limit, data_version=batch.data_version,
                              data_at=data_at, features=features)
