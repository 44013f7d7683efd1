"""The service survives its database going away: 503 with Retry-After meanwhile, then 2xx
again without a restart. Real PostgreSQL (a throwaway cluster, stopped and started here),
the real service under uvicorn with two workers, real HTTP on loopback."""

from __future__ import annotations

import itertools
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest
from conftest import LiveServer, uvicorn_server
from fastapi.testclient import TestClient
from throwaway_cluster import throwaway_cluster

from geoportal.app import create_app
from geoportal.db.cluster import Cluster
from geoportal.db.migrate import upgrade
from geoportal.settings import Settings

PARCELS = 3000
CLIENTS = 4
REQUEST_TIMEOUT_S = 10.0  # a request slower than this counts as a hang
OUTAGE_S = 5.0
RECOVERY_DEADLINE_S = 20.0


@dataclass
class Demo:
    """The throwaway cluster with the demo loaded, and places to ask about."""

    cluster: Cluster
    raster_dir: Path
    points: list[tuple[float, float]]
    parcel_ids: list[int]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    from geoportal.demo.load import load_demo

    raster_dir = tmp_path_factory.mktemp("fault-rasters")
    with throwaway_cluster() as cluster:
        upgrade(cluster.admin_url())
        load_demo(cluster.admin_url(), parcels=PARCELS, seed=7, raster_dir=raster_dir)
        with psycopg.connect(cluster.admin_url()) as conn:
            rows = conn.execute(
                "SELECT id, ST_X(p), ST_Y(p) FROM (SELECT id, ST_Transform("
                "ST_PointOnSurface(geom), 4326) AS p FROM parcels ORDER BY id LIMIT 20) s"
            ).fetchall()
        yield Demo(cluster, raster_dir, [(r[1], r[2]) for r in rows], [r[0] for r in rows])


@pytest.fixture
def service(demo: Demo, tmp_path: Path) -> Iterator[Callable[[], LiveServer]]:
    """A factory starting the service (two workers) against the throwaway cluster, answering
    even while the database is down (stopped afterwards)."""
    numbers = itertools.count()
    with ExitStack() as started:

        def start() -> LiveServer:
            log = tmp_path / f"uvicorn-{next(numbers)}.log"
            return started.enter_context(uvicorn_server(
                demo.cluster.url(), demo.raster_dir, workers=2, log=log, until_healthy=False,
                unset=["GEOPORTAL_ADMIN_DATABASE_URL"], GEOPORTAL_POOL_MIN_SIZE="1"))

        yield start


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _wait_until(condition: Callable[[], bool], message: str,
                process: subprocess.Popen[bytes] | None = None,
                deadline_s: float = 60.0) -> float:
    """Poll until the condition holds; the time it took (bounded, never an endless loop)."""
    started = time.monotonic()
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{message}: the service exited")
        if time.monotonic() - started > deadline_s:
            raise AssertionError(message)
        time.sleep(0.1)
    return time.monotonic() - started


@dataclass
class Load:
    """A bounded mixed load from a few client threads, counting what comes back."""

    base: str
    demo: Demo
    outcomes: Counter[str] = field(default_factory=Counter)
    missing_retry_after: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _paths(self) -> Iterator[str]:
        demo = self.demo
        for i in itertools.count():
            lon, lat = demo.points[i % len(demo.points)]
            yield ["/ogc/collections/parcels/items?limit=20&bbox="
                   f"{lon - 0.002},{lat - 0.002},{lon + 0.002},{lat + 0.002}",
                   f"/ogc/collections/parcels/items/{demo.parcel_ids[i % len(demo.parcel_ids)]}",
                   f"/rules?lon={lon}&lat={lat}",
                   "/health"][i % 4]

    def _client(self) -> None:
        with httpx.Client(base_url=self.base, timeout=REQUEST_TIMEOUT_S) as client:
            for path in self._paths():
                if self._stop.is_set():
                    return
                try:
                    response = client.get(path)
                    outcome = str(response.status_code)
                    missing = response.status_code == 503 and "retry-after" not in response.headers
                except httpx.HTTPError as exc:
                    outcome, missing = type(exc).__name__, False
                with self._lock:
                    self.outcomes[outcome] += 1
                    self.missing_retry_after += missing

    def __enter__(self) -> Load:
        self._threads = [threading.Thread(target=self._client) for _ in range(CLIENTS)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT_S * 2)

    def snapshot(self) -> Counter[str]:
        with self._lock:
            return Counter(self.outcomes)


@pytest.mark.slow
def test_service_under_load_answers_503_while_the_database_is_down_then_recovers(
    demo: Demo, service: Callable[[], LiveServer]
) -> None:
    running = service()
    _wait_until(lambda: _healthy(running.base), "the service did not become healthy")
    workers = running.workers()
    with Load(running.base, demo) as load:
        _wait_until(lambda: load.snapshot()["200"] >= 40, "no answers before the outage")
        before = load.snapshot()
        lines_before = len(running.log_lines())
        demo.cluster.stop()  # fast shutdown: sessions are cut mid-request
        time.sleep(OUTAGE_S)
        during = load.snapshot() - before
        demo.cluster.start(install=False)
        lines_outage = running.log_lines()[lines_before:]
        back = load.snapshot()
        recovery_s = _wait_until(lambda: (load.snapshot() - back)["200"] >= 40,
                                 "no 2xx after the database came back",
                                 deadline_s=RECOVERY_DEADLINE_S)
    after = load.snapshot() - back
    print(f"\nbefore {dict(before)}, outage {dict(during)}, after {dict(after)}; "
          f"40 answers 200 within {recovery_s:.1f} s of the restart; "
          f"{len(lines_outage)} log lines during the outage")
    assert set(load.outcomes) <= {"200", "503"}, load.outcomes
    assert during["503"] > 0, "the outage was not seen by the clients"
    assert load.missing_retry_after == 0
    assert running.workers() == workers, "a worker died or was replaced"
    assert running.process.poll() is None
    assert len(lines_outage) <= 40, "\n".join(lines_outage)
    assert not [line for line in lines_outage if "Traceback" in line], "\n".join(lines_outage)


@pytest.mark.slow
def test_service_started_while_the_database_is_down_becomes_healthy_without_restart(
    demo: Demo, service: Callable[[], LiveServer]
) -> None:
    demo.cluster.stop()
    try:
        running = service()
        workers = running.workers()
        down = httpx.get(f"{running.base}/health", timeout=REQUEST_TIMEOUT_S)
        items = httpx.get(f"{running.base}/ogc/collections/parcels/items?limit=1",
                          timeout=REQUEST_TIMEOUT_S)
    finally:
        demo.cluster.start(install=False)
    assert down.status_code == 503
    assert down.headers["retry-after"]
    assert items.status_code == 503
    assert items.headers["retry-after"]
    waited = _wait_until(lambda: _healthy(running.base), "/health never became 200",
                         running.process, deadline_s=RECOVERY_DEADLINE_S)
    print(f"\n/health 200 {waited:.1f} s after the database started")
    # Every worker recovers: /health answered by one does not say the other's pool is back
    # (each retries on its own schedule), so twenty lookups in a row must all answer 200.
    point = {"lon": demo.points[0][0], "lat": demo.points[0][1]}

    def every_worker_answers() -> bool:
        return all(httpx.get(f"{running.base}/rules", params=point, timeout=10).status_code
                   == 200 for _ in range(20))

    _wait_until(every_worker_answers, "/rules never answered 200 on every worker",
                running.process, deadline_s=RECOVERY_DEADLINE_S)
    assert running.workers() == workers


DATABASE_ROUTES = [
    ("GET", "/version"),
    ("GET", "/ogc/collections/parcels/items?bbox=-7.62,33.58,-7.61,33.59"),
    ("GET", "/ogc/collections/parcels/items/1"),
    ("GET", "/ogc/collections/parcels/items?f=jsonseq"),
    ("GET", "/ogc/collections/parcels/tiles/WebMercatorQuad/14/7800/6500"),
    ("GET", "/rules?lon=-7.6189&lat=33.5883"),
    ("GET", "/rules/note?parcel=TF1"),
    ("GET", "/opendata/parcels.geojson"),
    ("GET", "/pygeoapi/collections/catalogue/items"),
    ("POST", "/pygeoapi/processes/parcel-rules/execution"),
]


@pytest.fixture(scope="module")
def client_without_database() -> Iterator[TestClient]:
    settings = Settings(database_url="postgresql://nobody:x@127.0.0.1:9/none")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize(("method", "path"), DATABASE_ROUTES)
def test_every_database_route_answers_503_with_retry_after_while_it_is_unreachable(
    client_without_database: TestClient, method: str, path: str
) -> None:
    body = {"inputs": {"parcel": "TF1"}} if method == "POST" else None
    response = client_without_database.request(method, path, json=body)
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert response.json()["code"] == "ServiceUnavailable"
    assert "nobody" not in response.text
