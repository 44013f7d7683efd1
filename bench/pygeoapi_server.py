"""pygeoapi standalone with its PostgreSQL provider over the bench database, for comparisons."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import yaml

from bench.common import free_port, server
from geoportal.db.urls import libpq_url


def _config(database_url: str, port: int) -> dict[str, object]:
    info = psycopg.conninfo.conninfo_to_dict(libpq_url(database_url))
    return {
        "server": {
            "bind": {"host": "127.0.0.1", "port": port},
            "url": f"http://127.0.0.1:{port}",
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "languages": ["en-US"],
            "limits": {"default_items": 10, "max_items": 10000},
            "map": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                    "attribution": "OSM"},
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {"title": "bench", "description": "bench", "keywords": ["bench"],
                               "keywords_type": "theme", "terms_of_service": "none",
                               "url": "http://127.0.0.1"},
            "license": {"name": "ODbL", "url": "https://opendatacommons.org/licenses/odbl/"},
            "provider": {"name": "bench", "url": "http://127.0.0.1"},
            "contact": {"name": "bench"},
        },
        "resources": {
            "parcels": {
                "type": "collection",
                "title": "Parcels",
                "description": "Parcels",
                "keywords": ["parcels"],
                "extents": {"spatial": {"bbox": [-8.0, 33.0, -7.0, 34.0],
                                        "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}},
                "providers": [{
                    "type": "feature",
                    "name": "PostgreSQL",
                    "data": {"host": info.get("host", "127.0.0.1"),
                             "port": int(info.get("port", 5432)),
                             "dbname": info["dbname"], "user": info.get("user"),
                             "password": info.get("password", ""),
                             "search_path": ["public"]},
                    "id_field": "id",
                    "table": "parcels",
                    "geom_field": "geom",
                    "storage_crs": "http://www.opengis.net/def/crs/EPSG/0/26191",
                    "crs": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84",
                            "http://www.opengis.net/def/crs/EPSG/0/26191"],
                }],
            },
        },
    }


@contextmanager
def pygeoapi_server(database_url: str, workers: int = 2) -> Iterator[tuple[str, int]]:
    """pygeoapi (Starlette app) under uvicorn; yields (base URL, pid)."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-pygeoapi-") as folder:
        config = Path(folder) / "config.yml"
        openapi = Path(folder) / "openapi.yml"
        config.write_text(yaml.safe_dump(_config(database_url, port), allow_unicode=True))
        env = {"PYGEOAPI_CONFIG": str(config), "PYGEOAPI_OPENAPI": str(openapi)}
        subprocess.run([str(Path(sys.executable).parent / "pygeoapi"), "openapi", "generate",
                        str(config), "--output-file", str(openapi)],
                       env={**os.environ, **env}, check=True, capture_output=True)
        args = [sys.executable, "-m", "uvicorn", "pygeoapi.starlette_app:APP", "--host",
                "127.0.0.1", "--port", str(port), "--workers", str(workers),
                "--log-level", "warning", "--no-access-log"]
        base = f"http://127.0.0.1:{port}"
        with server(args, f"{base}/collections/parcels", env=env) as process:
            yield base, process.pid
