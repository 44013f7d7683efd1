"""A tiny hand-made world for the importer's tests, and real files written with pyogrio."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pyogrio.raw
import shapely
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from geoportal.core.resources import CHECKOUT
from geoportal.ingest import ImportOptions
from geoportal.registry import LayerRegistry, load_registry

SEED = """
SELECT geoportal_reset_layers();
INSERT INTO prefectures (id, code, kind, name_fr, name_ar, geom) VALUES
  (1, 'CAS', 'préfecture', 'Casablanca', 'الدار البيضاء',
   ST_Multi(ST_MakeEnvelope(280000, 320000, 320000, 345000, 26191))),
  (2, 'MOH', 'préfecture', 'Mohammedia', 'المحمدية',
   ST_Multi(ST_MakeEnvelope(320000, 330000, 335000, 350000, 26191)));
INSERT INTO communes (id, code, kind, name_fr, name_ar, prefecture_id, geom) VALUES
  (1, 'ANFA', 'arrondissement', 'Anfa', 'أنفا', 1,
   ST_Multi(ST_MakeEnvelope(290000, 330000, 300000, 340000, 26191)));
INSERT INTO plans (id, ref, name, status, geom) VALUES
  (1, 'PA-1', 'Plan d''aménagement 1', 'en vigueur',
   ST_Multi(ST_MakeEnvelope(280000, 320000, 320000, 345000, 26191)));
INSERT INTO zone_rules (id, plan_id, code, label, category, affectation, article) VALUES
  (1, 1, 'B', 'Immeubles', 'habitat', 'habitat', 'Article B'),
  (2, 1, 'C', 'Immeubles R+4', 'habitat', 'habitat', 'Article C');
INSERT INTO zoning (id, plan_id, code, geom) VALUES
  (1, 1, 'B', ST_Multi(ST_MakeEnvelope(290000, 330000, 300000, 340000, 26191)));
INSERT INTO reservations (id, plan_id, kind, facility, label, geom) VALUES
  (1, 1, 'equipement', 'ecole', 'École',
   ST_Multi(ST_MakeEnvelope(295000, 331000, 295100, 331100, 26191)));
INSERT INTO parcels (ref, geom) VALUES
  ('TF 1/C', ST_Multi(ST_MakeEnvelope(296000, 332000, 296020, 332020, 26191))),
  ('TF 2/C', ST_Multi(ST_MakeEnvelope(296100, 332000, 296130, 332020, 26191))),
  ('TF 3/C', ST_Multi(ST_MakeEnvelope(296200, 332000, 296240, 332025, 26191)));
"""
OLD_REFS = ["TF 1/C", "TF 2/C", "TF 3/C"]
# A bow tie: its ring crosses itself, so the polygon is invalid (two triangles once repaired).
BOWTIE = shapely.Polygon([(296300, 332000), (296340, 332040), (296340, 332000),
                          (296300, 332040), (296300, 332000)])


IMPORTER = "amina"


def options(**chosen: Any) -> ImportOptions:
    """Import options, as a named importer (every import needs one)."""
    return ImportOptions(user=IMPORTER, **chosen)


def seed(url: str) -> None:
    """Put the world back as it was: two préfectures, a commune, a plan with two zone rules,
    a zone and a reservation, three plots; no history but the seed's own change-set."""
    with psycopg.connect(url) as conn:
        conn.execute(SEED)  # type: ignore[arg-type]


def plot(x: float, y: float, w: float = 20.0, h: float = 15.0) -> BaseGeometry:
    """A small rectangular plot near central Casablanca (EPSG:26191 metres)."""
    return box(x, y, x + w, y + h)


def write(path: Path, geometries: Sequence[BaseGeometry | None], fields: dict[str, list[Any]],
          crs: str | None, *, driver: str | None = None, layer: str | None = None,
          encoding: str | None = None, append: bool = False,
          geometry_type: str = "Polygon") -> Path:
    """A real file written by GDAL (through pyogrio)."""
    wkb = np.array([None if g is None else shapely.to_wkb(g) for g in geometries], dtype=object)
    data = [np.array(values, dtype=object) if isinstance(values[0], str)
            else np.array(values) for values in fields.values()]
    with warnings.catch_warnings():  # a file without CRS is what some tests want
        warnings.simplefilter("ignore", UserWarning)
        pyogrio.raw.write(path, wkb, data, list(fields), crs=crs, driver=driver, layer=layer,
                          encoding=encoding, append=append, geometry_type=geometry_type)
    return path


def registry_with(tmp: Path, layer_id: str, import_section: str | None) -> LayerRegistry:
    """The project's registry with another ``import:`` section (or none) for one layer."""
    folder = tmp / "layers"
    shutil.copytree(CHECKOUT / "layers", folder, dirs_exist_ok=True)
    path = folder / f"{layer_id}.yml"
    lines = [line for line in path.read_text(encoding="utf-8").splitlines()
             if not line.startswith("import:")]
    if import_section is not None:
        lines.append(import_section)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_registry(folder)


def rows(url: str, query: str, *args: object) -> list[tuple[Any, ...]]:
    """All rows of a query."""
    with psycopg.connect(url) as conn:
        return conn.execute(query, args).fetchall()  # type: ignore[arg-type]
