"""Reads on a streaming replica, writes on the primary, and an editor reading their own edit.

A throwaway cluster with one replica made by the project's own ``start_replicas``
(pg_basebackup, streaming on loopback). To know which node answered, the replica's replay is
paused (``pg_wal_replay_pause()``): what the primary has since written is then visible only on
the primary, so an answer with the old value came from the replica.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from throwaway_cluster import throwaway_cluster

from geoportal.app import create_app
from geoportal.db.cluster import Cluster, find_postgres_with_postgis
from geoportal.db.migrate import upgrade
from geoportal.db.routing import LSN_COOKIE, LSN_HEADER, parse_lsn
from geoportal.settings import Settings

pytestmark = pytest.mark.slow

PARCELS = 300
READS = 40


@dataclass
class Topology:
    """The primary, its replica, the settings of a service reading from the replica."""

    cluster: Cluster
    replica_url: str
    replica_superuser_url: str
    settings: Settings
    parcel: int
    editor_key: str

    def replay(self, paused: bool) -> None:
        with psycopg.connect(self.replica_superuser_url, autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_pause()" if paused
                         else "SELECT pg_wal_replay_resume()")

    def ref_on_primary(self) -> str:
        with psycopg.connect(self.cluster.admin_url()) as conn:
            row = conn.execute("SELECT ref FROM parcels WHERE id = %s", (self.parcel,)).fetchone()
        assert row is not None
        return str(row[0])


def _key(admin_url: str) -> str:
    env = {**os.environ, "GEOPORTAL_DATABASE_URL": admin_url}
    result = subprocess.run([sys.executable, "-m", "geoportal.cli", "keys", "create",
                             "replica-editor", "--role", "editor"], env=env,
                            capture_output=True, text=True, timeout=120, check=True)
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    from geoportal.demo.load import load_demo

    rasters = tmp_path_factory.mktemp("replica-rasters")
    with throwaway_cluster() as cluster:
        upgrade(cluster.admin_url())
        load_demo(cluster.admin_url(), parcels=PARCELS, seed=5, raster_dir=rasters)
        key = _key(cluster.admin_url())
        (replica_url,) = cluster.start_replicas(1)
        port = replica_url.rsplit(":", 1)[1].split("/")[0]
        superuser = cluster.superuser_url().replace(
            f":{cluster.port}/", f":{port}/")
        with psycopg.connect(cluster.admin_url()) as conn:
            row = conn.execute("SELECT min(id) FROM parcels").fetchone()
        assert row is not None
        settings = Settings(database_url=cluster.url(), write_database_url=cluster.writer_url(),
                            replica_urls=replica_url, read_your_writes_wait_s=0.5,
                            data_dir=rasters, home=Path(str(tmp_path_factory.mktemp("home"))))
        topology = Topology(cluster, replica_url, superuser, settings, int(row[0]), key)
        _wait_for_replay(topology)
        yield topology


# every change makes a change-set and bumps its layer's counter: equal here, equal data
CHANGES_SQL = ("SELECT (SELECT coalesce(max(id), 0) FROM changesets), "
               "(SELECT coalesce(sum(version), 0) FROM layer_versions)")


def _wait_for_replay(topology: Topology, seconds: float = 20.0) -> None:
    """Until the replica has replayed every change the primary made so far (compared by the
    data: the primary's WAL position is not a bound when its commits are asynchronous)."""
    with psycopg.connect(topology.cluster.admin_url()) as conn:
        target = conn.execute(CHANGES_SQL).fetchone()
    deadline = time.monotonic() + seconds
    with psycopg.connect(topology.replica_url, autocommit=True) as conn:
        while conn.execute(CHANGES_SQL).fetchone() != target:
            assert time.monotonic() < deadline, "the replica did not catch up"
            time.sleep(0.05)


@pytest.fixture
def client(topology: Topology) -> Iterator[TestClient]:
    with TestClient(create_app(topology.settings)) as started:
        yield started


def _ref(client: TestClient, parcel: int, **headers: str) -> str:
    response = client.get(f"/ogc/collections/parcels/items/{parcel}", headers=headers)
    assert response.status_code == 200, response.text
    return str(response.json()["properties"]["ref"])


def test_reads_are_served_by_the_replica_while_the_primary_is_under_write_load(
        topology: Topology, client: TestClient) -> None:
    before = _ref(client, topology.parcel)
    topology.replay(paused=True)
    stop = threading.Event()
    writes: list[int] = []

    def write_load() -> None:
        with psycopg.connect(topology.cluster.admin_url(), autocommit=True) as conn:
            while not stop.is_set():
                conn.execute("UPDATE parcels SET ref = %s WHERE id = %s",
                             (f"PRIMARY {len(writes)}", topology.parcel))
                writes.append(1)

    writer = threading.Thread(target=write_load)
    writer.start()
    try:
        while not writes:
            time.sleep(0.01)
        answers = [_ref(client, topology.parcel) for _ in range(READS)]
        with psycopg.connect(topology.replica_url) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
    finally:
        stop.set()
        writer.join(timeout=10)
        topology.replay(paused=False)
    assert len(writes) > 10, "the primary was not under write load"
    assert topology.ref_on_primary().startswith("PRIMARY")
    assert answers == [before] * READS, "a read was served by the primary"
    assert row == (True,)


def test_an_editor_reads_their_own_edit_at_once_while_the_replica_lags(
        topology: Topology, client: TestClient) -> None:
    _wait_for_replay(topology)
    editor = {"Authorization": f"Bearer {topology.editor_key}"}
    current = client.get(f"/ogc/collections/parcels/items/{topology.parcel}")
    old_ref = current.json()["properties"]["ref"]
    topology.replay(paused=True)
    try:
        edited = client.patch(f"/ogc/collections/parcels/items/{topology.parcel}",
                              json={"properties": {"ref": "RYW 1/A"}},
                              headers={**editor, "If-Match": current.headers["etag"],
                                       "Content-Type": "application/merge-patch+json"})
        assert edited.status_code in (200, 204), edited.text
        position = edited.headers[LSN_HEADER]
        assert parse_lsn(position) is not None
        assert client.cookies.get(LSN_COOKIE) == position
        mine = _ref(client, topology.parcel)  # the cookie came back with the edit
        client.cookies.clear()
        by_header = _ref(client, topology.parcel, **{LSN_HEADER: position})
        theirs = _ref(client, topology.parcel)  # no position: anyone else
    finally:
        topology.replay(paused=False)
    assert mine == "RYW 1/A"
    assert by_header == "RYW 1/A"
    assert theirs == old_ref, "without the commit position a read goes to the replica"
    _wait_for_replay(topology)
    client.cookies.set(LSN_COOKIE, position)
    assert _ref(client, topology.parcel) == "RYW 1/A"


def test_the_same_data_has_the_same_etag_on_the_replica_and_on_the_primary(
        topology: Topology, client: TestClient) -> None:
    _wait_for_replay(topology)
    primary_only = topology.settings.model_copy(update={"replica_urls": ""})
    with psycopg.connect(topology.cluster.admin_url()) as conn:
        lon, lat = conn.execute(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Transform(ST_PointOnSurface(geom), 4326) "
            "AS p FROM parcels WHERE id = %s) s", (topology.parcel,)).fetchone() or (0.0, 0.0)
    x, y = _tile_of(lon, lat, 15)
    paths = [f"/ogc/collections/parcels/items/{topology.parcel}",
             "/ogc/collections/parcels/items?limit=5", "/version",
             f"/ogc/collections/parcels/tiles/WebMercatorQuad/15/{x}/{y}"]
    with TestClient(create_app(primary_only)) as on_primary:
        expected = [on_primary.get(path) for path in paths]
    topology.replay(paused=True)  # proves the answers below come from the replica
    try:
        answers = [client.get(path) for path in paths]
    finally:
        topology.replay(paused=False)
    for path, want, got in zip(paths, expected, answers, strict=True):
        assert got.status_code == want.status_code == 200, (path, got.text[:300])
        assert got.headers.get("etag") == want.headers.get("etag"), path
        if "items?" in path:  # a page says when it was answered: the rest is the same
            assert {**got.json(), "timeStamp": None} == {**want.json(), "timeStamp": None}
        else:
            assert got.content == want.content, path


def _tile_of(lon: float, lat: float, zoom: int) -> tuple[int, int]:
    n = 2**zoom
    y = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    return int((lon + 180) / 360 * n), int(y)


def test_a_replica_that_stops_answering_sends_reads_to_the_primary_until_it_is_back(
        topology: Topology, client: TestClient) -> None:
    replica_pgdata = topology.cluster._replica_pgdata(int(
        topology.replica_url.rsplit(":", 1)[1].split("/")[0]))
    pg = find_postgres_with_postgis()
    assert pg is not None
    topology.cluster._run([str(pg.bindir / "pg_ctl"), "stop", "-D",
                           str(replica_pgdata), "-m", "immediate"], check=False)
    try:
        statuses = [client.get(f"/ogc/collections/parcels/items/{topology.parcel}").status_code
                    for _ in range(10)]
    finally:
        topology.cluster.start_replicas(1)
    assert set(statuses) <= {200, 503}
    assert statuses[-5:] == [200] * 5, statuses
    # back in turn once it answers: a value only the replica still has shows it answered
    _wait_for_replay(topology)
    on_replica = _ref(client, topology.parcel)
    topology.replay(paused=True)
    try:
        with psycopg.connect(topology.cluster.admin_url(), autocommit=True) as conn:
            conn.execute("UPDATE parcels SET ref = 'ONLY ON PRIMARY' WHERE id = %s",
                         (topology.parcel,))
        deadline = time.monotonic() + 15
        while _ref(client, topology.parcel) != on_replica:
            assert time.monotonic() < deadline, "reads never went back to the replica"
            time.sleep(0.2)
    finally:
        topology.replay(paused=False)


def _lags(settings: Settings) -> tuple[dict[str, float], dict[str, float]]:
    """One scrape of /metrics from loopback, parsed by prometheus-client's own parser:
    (replication lag by node, replica up by node)."""
    from prometheus_client.parser import text_string_to_metric_families

    with TestClient(create_app(settings), client=("127.0.0.1", 50123)) as local:
        response = local.get("/metrics")
    assert response.status_code == 200, response.text
    found = {family.name: family for family in text_string_to_metric_families(response.text)}
    lags = {s.labels["node"]: s.value
            for s in found["geoportal_replication_lag_seconds"].samples}
    up = {s.labels["node"]: s.value for s in found["geoportal_replica_up"].samples}
    return lags, up


def test_the_metrics_show_each_replica_s_lag_while_it_lags_and_none_once_caught_up(
        topology: Topology) -> None:
    _wait_for_replay(topology)
    deadline = time.monotonic() + 20
    while True:  # caught up and the primary idle: no lag, however old its last transaction
        lags, up = _lags(topology.settings)
        if lags == {"replica-1": 0.0}:
            break
        assert time.monotonic() < deadline, lags
        time.sleep(0.2)
    assert up == {"replica-1": 1.0}
    topology.replay(paused=True)
    try:
        with psycopg.connect(topology.cluster.admin_url(), autocommit=True) as conn:
            conn.execute("UPDATE parcels SET ref = 'LAGGING' WHERE id = %s", (topology.parcel,))
        deadline = time.monotonic() + 20
        while True:  # received, not replayed: the lag is the age of the last replayed one
            lags, up = _lags(topology.settings)
            if lags.get("replica-1", 0.0) > 0.0:
                break
            assert time.monotonic() < deadline, lags
            time.sleep(0.2)
    finally:
        topology.replay(paused=False)
    assert up == {"replica-1": 1.0}
    assert "read" not in lags  # the read role's own database is the primary


def test_lookups_and_pages_are_served_by_the_replica_too(
        topology: Topology, client: TestClient) -> None:
    """Not only an item by id: a /rules lookup (by point and by reference) and a bbox page
    read the replica — with its replay paused, they still see the plot's reference that
    only the primary has changed since."""
    _wait_for_replay(topology)
    with psycopg.connect(topology.cluster.admin_url()) as conn:
        row = conn.execute(
            "SELECT ref, ST_X(p), ST_Y(p) FROM (SELECT ref, ST_Transform("
            "ST_PointOnSurface(geom), 4326) AS p FROM parcels WHERE id = %s) s",
            (topology.parcel,)).fetchone()
    assert row is not None
    old_ref, lon, lat = str(row[0]), float(row[1]), float(row[2])
    topology.replay(paused=True)
    try:
        with psycopg.connect(topology.cluster.admin_url(), autocommit=True) as conn:
            conn.execute("UPDATE parcels SET ref = %s WHERE id = %s",
                         (f"PRIMARY ONLY {time.monotonic_ns()}", topology.parcel))
        by_point = client.get("/rules", params={"lon": lon, "lat": lat})
        by_ref = client.get("/rules", params={"parcel": old_ref})
        page = client.get("/ogc/collections/parcels/items", params={
            "bbox": f"{lon - 0.0001},{lat - 0.0001},{lon + 0.0001},{lat + 0.0001}",
            "f": "json"})
    finally:
        topology.replay(paused=False)
    assert topology.ref_on_primary().startswith("PRIMARY ONLY")
    assert by_point.status_code == 200, by_point.text
    assert by_point.json()["plot"]["ref"] == old_ref
    assert by_ref.status_code == 200, by_ref.text  # the primary knows no such plot any more
    assert page.status_code == 200, page.text
    refs = {feature["properties"]["ref"] for feature in page.json()["features"]}
    assert old_ref in refs and not any(ref.startswith("PRIMARY ONLY") for ref in refs)
