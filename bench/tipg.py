"""tipg (developmentseed) from its own virtualenv, served against a database, for comparisons.

The virtualenv lives in ``.geoportal/bench-venvs/tipg`` and is created on first use with
``python3 -m venv`` and ``pip install tipg`` (PyPI), so the service's own environment stays
untouched. Reused by the tiles benchmark.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.common import free_port, server
from geoportal.db.urls import libpq_url
from geoportal.settings import Settings

TIPG_VERSION = "1.6.1"


def venv_dir() -> Path:
    """Where the tipg virtualenv lives."""
    return Settings().home / "bench-venvs" / "tipg"


def ensure_tipg() -> Path:
    """The tipg virtualenv's python, creating the virtualenv when missing."""
    python = venv_dir() / "bin" / "python"
    probe = [str(python), "-c", "import tipg, uvicorn"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    print(f"installing tipg {TIPG_VERSION} into {venv_dir()} (once)...", flush=True)
    venv_dir().parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["python3", "-m", "venv",
                    "--clear", str(venv_dir())], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    f"tipg=={TIPG_VERSION}", "uvicorn[standard]"], check=True)
    return python


@contextmanager
def tipg_server(database_url: str, workers: int = 2) -> Iterator[tuple[str, int]]:
    """tipg under uvicorn on loopback; yields (base URL, pid); collections are public.<table>."""
    python = ensure_tipg()
    port = free_port()
    env = {
        "DATABASE_URL": libpq_url(database_url),
        "TIPG_DB_SCHEMAS": '["public"]',
        "TIPG_MAX_FEATURES_PER_QUERY": "10000",
        "DB_MIN_CONN_SIZE": "1",
        "DB_MAX_CONN_SIZE": "10",
    }
    args = [str(python), "-m", "uvicorn", "tipg.main:app", "--host", "127.0.0.1",
            "--port", str(port), "--workers", str(workers), "--log-level", "warning",
            "--no-access-log"]
    base = f"http://127.0.0.1:{port}"
    with server(args, f"{base}/collections/public.parcels", env=env) as process:
        yield base, process.pid
