"""Shared fixtures: real PostGIS databases on the same server, the app, a live server.

Databases are named ``{prefix}_{name}``; the prefix comes from GEOPORTAL_TEST_DB_PREFIX so
that several checkouts can test side by side on one cluster.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, sync_playwright

from geoportal.app import create_app
from geoportal.db.cluster import validate_identifier
from geoportal.db.migrate import upgrade
from geoportal.db.urls import libpq_url, resolve_admin_database_url, with_database
from geoportal.ops.serving import uvicorn_command
from geoportal.settings import Settings

PREFIX = os.environ.get("GEOPORTAL_TEST_DB_PREFIX", "geoportal_test")
DEMO_PARCELS = int(os.environ.get("GEOPORTAL_TEST_DEMO_PARCELS", "20000"))
DEMO_SEED = 42
ARTIFACTS = Path(__file__).parent / "artifacts"
# Debian's Chromium, never a browser downloaded by a test tool; flags for a closed network.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def server_url() -> str:
    """The URL of the server's maintenance database, as the role that owns the schema."""
    return with_database(libpq_url(resolve_admin_database_url(Settings())), "postgres")


def _drop(conn: psycopg.Connection, database: str) -> None:
    """Drop a test database; retried while an autovacuum worker (which the owner may not
    terminate) is analysing it after the test's writes."""
    for attempt in range(20):
        try:
            conn.execute(f"DROP DATABASE IF EXISTS {validate_identifier(database)} WITH (FORCE)")
            return
        except psycopg.errors.InsufficientPrivilege:
            if attempt == 19:
                raise
            time.sleep(0.5)


def _recreate(server_url: str, name: str) -> str:
    database = validate_identifier(name)
    with psycopg.connect(server_url, autocommit=True) as conn:
        _drop(conn, database)
        conn.execute(f"CREATE DATABASE {database}")
    return with_database(server_url, database)


@pytest.fixture(scope="session")
def fresh_database(server_url: str) -> Iterator[Callable[[str], str]]:
    """A factory of new, migrated test databases; all dropped at the end of the session."""
    created: list[str] = []

    def make(name: str, migrate: bool = True) -> str:
        database = f"{PREFIX}_{name}"
        url = _recreate(server_url, database)
        created.append(database)
        if migrate:
            upgrade(url)
        return url

    yield make
    with psycopg.connect(server_url, autocommit=True) as conn:
        for database in created:
            _drop(conn, database)


@pytest.fixture(scope="session")
def sql_database(fresh_database: Callable[[str], str]) -> Callable[[str, Path], str]:
    """A factory of migrated test databases filled by a SQL script of tests/fixtures."""

    def make(name: str, script: Path) -> str:
        url = fresh_database(name)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(script.read_text())  # type: ignore[arg-type]
        return url

    return make


@pytest.fixture(scope="session")
def database_url(fresh_database: Callable[[str], str]) -> str:
    """An empty, migrated database."""
    return fresh_database("main")


@pytest.fixture(scope="session")
def demo_database_url(
    fresh_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A migrated database holding the demo data set (seed 42)."""
    from geoportal.demo.load import load_demo

    url = fresh_database("demo")
    load_demo(url, parcels=DEMO_PARCELS, seed=DEMO_SEED,
              raster_dir=tmp_path_factory.getbasetemp() / "demo-rasters")
    return url


@pytest.fixture(scope="session")
def demo_settings(demo_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings pointing at the demo database."""
    return Settings(database_url=demo_database_url,
                    data_dir=tmp_path_factory.getbasetemp() / "demo-rasters")


@pytest.fixture(scope="session")
def demo_client(demo_settings: Settings) -> Iterator[TestClient]:
    """An in-process client of the app on the demo database."""
    with TestClient(create_app(demo_settings)) as client:
        yield client


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    """The service under uvicorn: its base URL, its master process, and its log file if any."""

    base: str
    process: subprocess.Popen[bytes]
    log: Path | None = None

    def workers(self) -> set[int]:
        """The PIDs of uvicorn's worker processes (not multiprocessing's resource tracker)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        pids = [int(pid) for pid in children.read_text().split()]
        return {pid for pid in pids if b"spawn_main" in _cmdline(pid)}

    def log_lines(self) -> list[str]:
        """What the service logged, less the access lines (one per request by design)."""
        if self.log is None:
            return []
        return [line for line in self.log.read_text(errors="replace").splitlines()
                if "geoportal.access" not in line]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b""


def _answers(base: str, healthy: bool) -> bool:
    """Whether the server answers at all, or answers /health with a 200 if ``healthy``."""
    try:
        status = httpx.get(f"{base}/health", timeout=2).status_code
    except httpx.TransportError:
        return False
    return status == 200 or not healthy


@contextmanager
def uvicorn_server(database_url: str, data_dir: Path | None = None, *, workers: int = 1,
                   log: Path | None = None, until_healthy: bool = True,
                   unset: Sequence[str] = (), start_s: float = 60.0,
                   **env: str) -> Iterator[LiveServer]:
    """The real service under uvicorn on a loopback port, on ``database_url``; extra
    ``GEOPORTAL_*`` settings in ``env``, variables named in ``unset`` removed.

    Ready when ``workers`` workers run and /health answers (200 unless ``until_healthy`` is
    off: a service started while its database is down answers 503); its output goes to
    ``log`` when given. Stopped on exit.
    """
    port = _free_port()
    environment = {**os.environ, "GEOPORTAL_DATABASE_URL": database_url,
                   "GEOPORTAL_BODY_TIMEOUT_S": "5", **env}
    for name in unset:
        environment.pop(name, None)
    if data_dir is not None:
        environment["GEOPORTAL_DATA_DIR"] = str(data_dir)
    args = uvicorn_command("127.0.0.1", port, workers=workers)
    output = log.open("wb") if log is not None else None
    process = subprocess.Popen(args, env=environment, stdout=output,
                               stderr=subprocess.STDOUT if output else None)
    live = LiveServer(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + start_s
        while not (_answers(live.base, until_healthy)
                   and (workers == 1 or len(live.workers()) == workers)):
            if process.poll() is not None:
                raise RuntimeError(f"the live server exited at start-up (log: {log})")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the live server was not ready within {start_s:.0f} s")
            time.sleep(0.1)
        yield live
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)
        if output is not None:
            output.close()


@pytest.fixture(scope="session")
def live_server(demo_settings: Settings) -> Iterator[str]:
    """The real service under uvicorn on a loopback port, for GDAL, OWSLib and browsers."""
    with uvicorn_server(str(demo_settings.database_url), demo_settings.raster_dir) as live:
        yield live.base


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """A folder for screenshots and rendered documents to look at after the run."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, one for each test module that drives a browser."""
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is missing: apt-get install chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
