"""A throwaway PostgreSQL + PostGIS cluster for tests that stop or reconfigure a server.

Its own temporary folder and free loopback port, set up by the project's own
:class:`~geoportal.db.cluster.Cluster` (so with its roles); never the shared cluster.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from geoportal.db.cluster import Cluster
from geoportal.settings import Settings


def free_port() -> int:
    """A TCP port nobody listens on at the moment, on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def throwaway_cluster(start: bool = True) -> Iterator[Cluster]:
    """A cluster in a fresh folder (started, unless asked not to), stopped and deleted after."""
    folder = Path(tempfile.mkdtemp(prefix="geoportal-pg-"))
    os.chmod(folder, 0o755)  # noqa: S103 the postgres user must reach the cluster's folder
    cluster = Cluster(Settings(home=folder / "home", db_port=free_port()))
    try:
        if start:
            cluster.start(install=False)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
