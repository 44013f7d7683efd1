"""The geometries around a plot for the note's map extract, clipped to the map frame."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import asyncpg
from shapely import box, unary_union

from geoportal.core.area import STORAGE_SRID
from geoportal.errors import NotFound
from geoportal.rules.sql import tables

SCALES = (200, 500, 1_000, 2_000, 2_500, 5_000, 10_000, 25_000)
"""Printed map scales (1/n); the note uses the largest that shows the plot with a margin."""
FILL = 0.6
"""Share of the frame's width or height the plot may take at most."""

_BOUNDS = """SELECT ST_XMin(geom) AS x0, ST_YMin(geom) AS y0, ST_XMax(geom) AS x1,
                   ST_YMax(geom) AS y1
            FROM {parcels} WHERE ref_norm = geoportal_ref_norm($1::text)"""

_EXTRACT = f"""
WITH f AS (SELECT ST_MakeEnvelope($1, $2, $3, $4, {STORAGE_SRID}) AS b)
SELECT json_build_object(
  'parcels', (SELECT json_agg(json_build_object(
                 'ref', p.ref, 'geom', ST_AsGeoJSON(ST_Intersection(p.geom, f.b), 2)::json)
                 ORDER BY p.id)
              FROM {{parcels}} p WHERE p.geom && f.b),
  'zones', (SELECT json_agg(json_build_object(
               'code', z.code, 'geom', ST_AsGeoJSON(c.g, 2)::json, 'area', ST_Area(c.free),
               'label', CASE WHEN NOT ST_IsEmpty(c.free) THEN ST_AsGeoJSON(
                   (ST_MaximumInscribedCircle(c.free)).center, 2)::json END)
               ORDER BY z.id)
            FROM {{zoning}} z JOIN {{plans}} pl ON pl.id = z.plan_id
            CROSS JOIN LATERAL (SELECT ST_Intersection(z.geom, f.b) AS g) clipped
            CROSS JOIN LATERAL (SELECT clipped.g,
                                       ST_Difference(clipped.g, ST_SetSRID(ST_GeomFromWKB($6),
                                                     {STORAGE_SRID})) AS free) c
            WHERE z.geom && f.b AND pl.ref = ANY($5::text[]) AND NOT ST_IsEmpty(c.g)),
  'servitudes', (SELECT json_agg(json_build_object(
                    'kind', s.kind, 'name', s.name,
                    'geom', ST_AsGeoJSON(ST_Intersection(s.geom, f.b), 2)::json) ORDER BY s.id)
                 FROM {{servitudes}} s WHERE ST_Intersects(s.geom, f.b)),
  'reservations', (SELECT json_agg(json_build_object(
                      'kind', r.kind, 'label', r.label,
                      'geom', ST_AsGeoJSON(ST_Intersection(r.geom, f.b), 2)::json) ORDER BY r.id)
                   FROM {{reservations}} r JOIN {{plans}} pl ON pl.id = r.plan_id
                   WHERE ST_Intersects(r.geom, f.b) AND pl.ref = ANY($5::text[])),
  'roads', (SELECT json_agg(json_build_object(
               'name', r.name, 'class', r.road_class,
               'geom', ST_AsGeoJSON(ST_Intersection(r.geom, f.b), 2)::json) ORDER BY r.id)
            FROM {{roads}} r WHERE ST_Intersects(r.geom, f.b))
) AS extract FROM f"""  # noqa: S608

# Now, and as the tables stood at the moment bound after the statement's own parameters.
BOUNDS, BOUNDS_THEN = _BOUNDS.format(**tables()), _BOUNDS.format(**tables("$2"))
EXTRACT, EXTRACT_THEN = _EXTRACT.format(**tables()), _EXTRACT.format(**tables("$7"))


@dataclass(frozen=True)
class MapFrame:
    """The ground rectangle shown, and the printed scale (1/``scale``)."""

    x0: float
    y0: float
    x1: float
    y1: float
    scale: int


def keep_out(frame: MapFrame, plot_bounds: tuple[float, float, float, float],
             width_mm: float, height_mm: float) -> bytes:
    """Where zone codes must not be written (WKB): around the plot, under the north arrow
    and the scale bar."""
    metres_per_mm = frame.scale / 1000
    margin = 6 * metres_per_mm
    x0, y0, x1, y1 = plot_bounds
    arrow = box(frame.x1 - 18 * metres_per_mm, frame.y1 - 20 * metres_per_mm, frame.x1, frame.y1)
    scale_bar = box(frame.x0, frame.y0, frame.x0 + 0.4 * width_mm * metres_per_mm,
                    frame.y0 + 13 * metres_per_mm)
    zones = unary_union([box(x0 - margin, y0 - margin, x1 + margin, y1 + margin), arrow,
                         scale_bar])
    return bytes(zones.wkb)


def choose_frame(bounds: tuple[float, float, float, float], width_mm: float,
                 height_mm: float) -> MapFrame:
    """A frame centred on the plot at the largest standard scale where it fits with margin."""
    x0, y0, x1, y1 = bounds
    needed = max((x1 - x0) / (width_mm * FILL), (y1 - y0) / (height_mm * FILL)) * 1000
    scale = next((s for s in SCALES if s >= needed), SCALES[-1])
    half_w, half_h = width_mm * scale / 2000, height_mm * scale / 2000
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return MapFrame(cx - half_w, cy - half_h, cx + half_w, cy + half_h, scale)


async def fetch_extract(db: asyncpg.Pool | asyncpg.Connection, parcel: str,
                        plan_refs: list[str], width_mm: float, height_mm: float,
                        data_at: dt.datetime | None = None) -> tuple[MapFrame, dict[str, Any]]:
    """The frame and the clipped geometries (GeoJSON, EPSG:26191) around a registered plot,
    as they stood at ``data_at`` when given."""
    then = () if data_at is None else (data_at,)
    row = await db.fetchrow(BOUNDS_THEN if then else BOUNDS, parcel, *then)
    if row is None:
        raise NotFound(f"Aucune parcelle immatriculée n'a la référence foncière {parcel!r}.",
                       en=f"No registered plot has the land-title reference {parcel!r}.")
    bounds = (row["x0"], row["y0"], row["x1"], row["y1"])
    return await fetch_extract_around(db, bounds, plan_refs, width_mm, height_mm, data_at)


async def fetch_extract_around(db: asyncpg.Pool | asyncpg.Connection,
                               bounds: tuple[float, float, float, float], plan_refs: list[str],
                               width_mm: float, height_mm: float,
                               data_at: dt.datetime | None = None
                               ) -> tuple[MapFrame, dict[str, Any]]:
    """The frame and the clipped geometries around any plot's bounds (e.g. a surveyed
    outline, which the caller draws itself), as they stood at ``data_at`` when given."""
    then = () if data_at is None else (data_at,)
    frame = choose_frame(bounds, width_mm, height_mm)
    value = await db.fetchval(EXTRACT_THEN if then else EXTRACT, frame.x0, frame.y0,
                              frame.x1, frame.y1, plan_refs,
                              keep_out(frame, bounds, width_mm, height_mm), *then)
    extract: dict[str, Any] = json.loads(value) if isinstance(value, str) else value
    return frame, extract
