"""Helpers of the operations tests: keys from the real CLI, the writer's URL, a zone body,
and the real ``geoportal`` command run with a private home."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg

from geoportal.db.urls import libpq_url, resolve_write_database_url, with_database
from geoportal.settings import Settings

CHECKOUT = Path(__file__).resolve().parent.parent
# A free corner of central Casablanca (CRS84) where the tests draw their zones.
ZONE_RING = [[-7.6321, 33.5921], [-7.6315, 33.5921], [-7.6315, 33.5926], [-7.6321, 33.5926],
             [-7.6321, 33.5921]]


def mint_key(url: str, name: str, role: str) -> str:
    """A new API key from the real CLI (its one line on stdout)."""
    result = subprocess.run([sys.executable, "-m", "geoportal.cli", "keys", "create", name,
                             "--role", role], capture_output=True, text=True,
                            env={**os.environ, "GEOPORTAL_DATABASE_URL": url}, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def writer_url_for(url: str) -> str:
    """The test database as the service's writer role sees it (least privilege)."""
    database = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    return with_database(libpq_url(resolve_write_database_url(Settings())), str(database))


def zone_body(url: str, plan_id: int = 1, ring: list[list[float]] | None = None
              ) -> dict[str, Any]:
    """A zoning feature of plan ``plan_id`` with one of its codes, as a CRS84 body."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT code FROM zone_rules WHERE plan_id = %s ORDER BY code "
                           "LIMIT 1", (plan_id,)).fetchone()
    assert row is not None
    return {"type": "Feature", "properties": {"code": row[0], "plan_id": plan_id},
            "geometry": {"type": "Polygon", "coordinates": [ring or ZONE_RING]}}


def tile_of(lon: float, lat: float, zoom: int) -> tuple[int, int, int]:
    """The WebMercatorQuad tile holding a point."""
    n = 2 ** zoom
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return zoom, x, y
