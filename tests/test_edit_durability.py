"""Nothing acknowledged is lost: PostgreSQL's postmaster is killed (SIGKILL) in the middle of
a stream of edits over HTTP, restarted, and every edit that got a 2xx is there, while every
feature's history agrees with it (no half-applied edit). A throwaway cluster — whose
configuration, like the private one, has ``synchronous_commit = off`` — and the real service
under uvicorn with the writer's role."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import psycopg
import pytest
from conftest import uvicorn_server
from throwaway_cluster import throwaway_cluster

from geoportal.db.cluster import Cluster
from geoportal.db.migrate import upgrade

pytestmark = pytest.mark.slow

PARCELS = 500
WRITERS = 3
KILL_AFTER_ACKS = 60
STREAM_LIMIT_S = 60.0
SQUARE = [[-7.6001, 33.5601], [-7.5999, 33.5601], [-7.5999, 33.5603], [-7.6001, 33.5603],
          [-7.6001, 33.5601]]


@dataclass
class Acked:
    """What the service acknowledged (2xx), per writer."""

    created: list[str] = field(default_factory=list)  # refs of created plots
    patched: list[tuple[int, int, str]] = field(default_factory=list)  # id, version, ref
    refused: int = 0
    unexpected: list[str] = field(default_factory=list)  # answers other than 2xx/409/412/503


def _version(etag: str) -> int:
    found = re.search(r'"v(\d+)', etag)
    assert found, etag
    return int(found.group(1))


def _cli(url: str, *args: str) -> str:
    env = {**os.environ, "GEOPORTAL_DATABASE_URL": url}
    result = subprocess.run([sys.executable, "-m", "geoportal.cli", *args], env=env,
                            capture_output=True, text=True, timeout=120, check=True)
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    from geoportal.demo.load import load_demo

    with throwaway_cluster() as started:
        upgrade(started.admin_url())
        load_demo(started.admin_url(), parcels=PARCELS, seed=3,
                  raster_dir=tmp_path_factory.mktemp("durability-rasters"))
        with psycopg.connect(started.superuser_url()) as conn:
            setting = conn.execute("SHOW synchronous_commit").fetchone()
        assert setting == ("off",), "the cluster should be as unsafe as the private one"
        yield started


@pytest.fixture(scope="module")
def service(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("durability") / "uvicorn.log"
    with uvicorn_server(cluster.url(), workers=2, log=log,
                        unset=["GEOPORTAL_ADMIN_DATABASE_URL"],
                        GEOPORTAL_WRITE_DATABASE_URL=cluster.writer_url(),
                        GEOPORTAL_POOL_MIN_SIZE="1") as live:
        yield live.base


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _wait(condition: Callable[[], bool], message: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(message)


def _writer(base: str, key: str, number: int, ids: list[int], acked: Acked,
            stop: threading.Event) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=10.0) as client:
        step = 0
        while not stop.is_set():
            step += 1
            ref = f"TF {900000 + number * 10000 + step}/K"
            try:
                if step % 2:
                    response = client.post("/ogc/collections/parcels/items", json={
                        "type": "Feature", "properties": {"ref": ref},
                        "geometry": {"type": "Polygon", "coordinates": [
                            [[x + 0.001 * number + 0.00001 * step, y] for x, y in SQUARE]]}})
                    if response.status_code == 201:
                        acked.created.append(ref)
                        continue
                else:
                    fid = ids[(step // 2) % len(ids)]
                    current = client.get(f"/ogc/collections/parcels/items/{fid}")
                    if current.status_code != 200:
                        acked.refused += 1
                        continue
                    response = client.patch(
                        f"/ogc/collections/parcels/items/{fid}",
                        json={"properties": {"ref": ref}},
                        headers={"If-Match": current.headers["etag"],
                                 "Content-Type": "application/merge-patch+json"})
                    if response.status_code in (200, 204):
                        acked.patched.append((fid, _version(response.headers["etag"]), ref))
                        continue
                if response.status_code not in (409, 412, 503):
                    acked.unexpected.append(f"{response.status_code} {response.text[:200]}")
                acked.refused += 1
            except httpx.TransportError:
                acked.refused += 1
                time.sleep(0.05)


def _kill_postmaster(cluster: Cluster) -> None:
    pid = int((cluster.pgdata / "postmaster.pid").read_text().splitlines()[0])
    os.kill(pid, signal.SIGKILL)


def _restart(cluster: Cluster) -> None:
    """Start again once the orphaned backends have noticed their postmaster's death."""
    deadline = time.monotonic() + 60
    while True:
        try:
            cluster.start(install=False)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_every_acknowledged_edit_survives_a_killed_postmaster_and_history_agrees(
        cluster: Cluster, service: str) -> None:
    key = _cli(cluster.admin_url(), "keys", "create", "durability", "--role", "editor")
    with psycopg.connect(cluster.admin_url()) as conn:
        ids = [row[0] for row in conn.execute(
            "SELECT id FROM parcels ORDER BY id LIMIT 30").fetchall()]
    acks = [Acked() for _ in range(WRITERS)]
    stop = threading.Event()
    threads = [threading.Thread(target=_writer, args=(service, key, n, ids[n::WRITERS],
                                                      acks[n], stop), daemon=True)
               for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    try:
        _wait(lambda: sum(len(a.created) + len(a.patched) for a in acks) >= KILL_AFTER_ACKS,
              "the edits did not flow before the kill", STREAM_LIMIT_S)
        _kill_postmaster(cluster)
        time.sleep(1.0)  # edits keep coming while the server is gone
        _restart(cluster)
        _wait(lambda: _healthy(service), "the service did not recover after the restart")
        time.sleep(1.0)  # and some more after it came back
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)

    created = [ref for a in acks for ref in a.created]
    patched = [p for a in acks for p in a.patched]
    assert created and patched
    with psycopg.connect(cluster.admin_url()) as conn:
        refs = {row[0] for row in conn.execute("SELECT ref FROM parcels").fetchall()}
        missing = [ref for ref in created if ref not in refs]
        assert not missing, f"acknowledged creations lost: {missing}"
        for fid, version, ref in patched:
            found = conn.execute(
                "SELECT ref FROM parcels WHERE id = %s AND version = %s UNION ALL "
                "SELECT ref FROM parcels_history WHERE id = %s AND version = %s",
                (fid, version, fid, version)).fetchall()
            assert found == [(ref,)], f"acknowledged edit of {fid} (v{version}) lost: {found}"
        # History agrees with every feature: versions 1..n without a gap, each old version
        # ended when the next began, every version's change-set recorded.
        gaps = conn.execute("""
            WITH versions AS (
              SELECT id, version, valid_from, NULL::timestamptz AS valid_to, changeset_id
              FROM parcels
              UNION ALL
              SELECT id, version, valid_from, valid_to, changeset_id FROM parcels_history)
            SELECT v.id, v.version FROM versions v
            LEFT JOIN versions nxt ON nxt.id = v.id AND nxt.version = v.version + 1
            LEFT JOIN changesets c ON c.id = v.changeset_id
            WHERE (v.valid_to IS NOT NULL AND (nxt.id IS NULL OR nxt.valid_from <> v.valid_to)
                   AND NOT EXISTS (SELECT 1 FROM parcels_history d WHERE d.id = v.id
                                   AND d.version = v.version AND d.ended_op = 'delete'))
               OR (v.changeset_id <> 0 AND c.id IS NULL)
               OR (v.version > 1 AND NOT EXISTS (
                     SELECT 1 FROM versions p WHERE p.id = v.id AND p.version = v.version - 1))
        """).fetchall()
        assert gaps == []
    # While the server was gone, edits were refused (503) or cut, never answered otherwise.
    assert sum(a.refused for a in acks) > 0
    assert [u for a in acks for u in a.unexpected] == []
