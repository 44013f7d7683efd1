"""Failover: the primary is killed (SIGKILL) under a stream of edits and reads, N times.

The topology of ``geoportal db start --ha`` in a throwaway folder (pg_auto_failover's monitor,
a primary and a synchronous standby, on loopback), the demo loaded, the real service under
uvicorn (2 workers) with the topology's multi-host URLs: edits to the primary
(``target_session_attrs=read-write``), reads to the standby (``prefer-standby``). For each
round: writers (POST a plot, GET + PATCH another, as an editor) and anonymous readers (item by
id, small bbox pages) run; the primary's whole pg_autoctl session is SIGKILLed; the monitor
promotes the standby; the service follows by itself. Then the killed node is started again,
rejoins as the standby, and the next round begins.

Measured: write unavailability (kill → first acknowledged edit after it), acknowledged edits
missing afterwards (every 2xx ref must be in ``parcels`` or ``parcels_history``), read
availability from the kill to the writes' recovery, and any answer other than 2xx, 409/412
(a concurrent edit) or 503 with Retry-After.

``python -m bench failover --rounds 2`` for a quick run; the targets: ≤ 15 s, 0 lost, ≥ 99 %.
The test ``tests/test_db_failover.py`` runs one round of the same drill.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg

from bench.common import free_port, print_table, server
from geoportal.db.ha import HaCluster
from geoportal.db.urls import with_query
from geoportal.ops.serving import uvicorn_command

PARCELS = 300
WRITERS = 3
READERS = 3
RECOVERY_LIMIT_S = 60.0
TARGET_WRITE_GAP_S = 15.0
TARGET_READ_AVAILABILITY = 99.0
SQUARE = [[-7.6001, 33.5601], [-7.5999, 33.5601], [-7.5999, 33.5603], [-7.6001, 33.5603],
          [-7.6001, 33.5601]]
EXPECTED_REFUSALS = {409, 412}  # a concurrent edit: the client reads again


@dataclass
class Answer:
    """One request: when it started and ended, its status (0: no HTTP answer), whether
    Retry-After came with it."""

    started: float
    at: float
    status: int
    retry_after: bool


@dataclass
class Traffic:
    """Writers and readers against the service, recording every answer."""

    base: str
    key: str
    parcel_ids: list[int]
    round_number: int = 0
    writes: list[Answer] = field(default_factory=list)
    reads: list[Answer] = field(default_factory=list)
    acked_refs: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _record(self, into: list[Answer], started: float,
                response: httpx.Response | None) -> None:
        status = response.status_code if response is not None else 0
        retry = response is not None and "retry-after" in response.headers
        with self._lock:
            into.append(Answer(started, time.monotonic(), status, retry))

    def _writer(self, number: int) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        mine = self.parcel_ids[number::WRITERS]
        with httpx.Client(base_url=self.base, headers=headers, timeout=10.0) as client:
            step = 0
            while not self._stop.is_set():
                step += 1
                ref = f"FO {self.round_number}-{number}-{step}/K"
                response = None
                started = time.monotonic()
                try:
                    if step % 2:
                        offset = 0.0005 * number + 0.000002 * step
                        response = client.post("/ogc/collections/parcels/items", json={
                            "type": "Feature", "properties": {"ref": ref},
                            "geometry": {"type": "Polygon", "coordinates": [
                                [[x + offset, y + 0.001 * self.round_number]
                                 for x, y in SQUARE]]}})
                    else:
                        fid = mine[(step // 2) % len(mine)]
                        current = client.get(f"/ogc/collections/parcels/items/{fid}")
                        if current.status_code != 200:
                            self._record(self.writes, started, current)
                            time.sleep(0.05)
                            continue
                        response = client.patch(
                            f"/ogc/collections/parcels/items/{fid}",
                            json={"properties": {"ref": ref}},
                            headers={"If-Match": current.headers["etag"],
                                     "Content-Type": "application/merge-patch+json"})
                except httpx.HTTPError:
                    response = None
                self._record(self.writes, started, response)
                if response is not None and 200 <= response.status_code < 300:
                    with self._lock:
                        self.acked_refs.append(ref)
                else:
                    time.sleep(0.05)

    def _reader(self, number: int) -> None:
        with httpx.Client(base_url=self.base, timeout=10.0) as client:
            step = 0
            while not self._stop.is_set():
                step += 1
                fid = self.parcel_ids[(number * 7 + step) % len(self.parcel_ids)]
                path = (f"/ogc/collections/parcels/items/{fid}" if step % 2 else
                        "/ogc/collections/parcels/items?limit=10&bbox=-7.62,33.55,-7.58,33.58")
                started = time.monotonic()
                try:
                    response: httpx.Response | None = client.get(path)
                except httpx.HTTPError:
                    response = None
                self._record(self.reads, started, response)

    def __enter__(self) -> Traffic:
        self._threads = [threading.Thread(target=self._writer, args=(n,), daemon=True)
                         for n in range(WRITERS)]
        self._threads += [threading.Thread(target=self._reader, args=(n,), daemon=True)
                          for n in range(READERS)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def acked_after(self, moment: float) -> Answer | None:
        """The first acknowledged edit sent after ``moment``."""
        with self._lock:
            return next((a for a in self.writes
                         if a.started > moment and 200 <= a.status < 300), None)

    def unexpected(self) -> Counter[str]:
        """Answers a client should never see: not 2xx, not a concurrent-edit refusal, not a
        503 with Retry-After (0: the connection failed without an HTTP answer)."""
        found: Counter[str] = Counter()
        for answer in [*self.writes, *self.reads]:
            if 200 <= answer.status < 300 or answer.status in EXPECTED_REFUSALS:
                continue
            if answer.status == 503 and answer.retry_after:
                continue
            found[str(answer.status)] += 1
        return found


@dataclass
class Round:
    """What one failover cost."""

    write_gap_s: float
    reads_in_window: int
    reads_ok: int
    acked: int
    lost: list[str]
    unexpected: Counter[str]
    old_primary: str
    new_primary: str

    @property
    def read_availability(self) -> float:
        return 100.0 * self.reads_ok / self.reads_in_window if self.reads_in_window else 100.0


def missing_refs(admin_url: str, refs: Sequence[str]) -> list[str]:
    """The acknowledged refs found neither in the plots nor in their history."""
    with psycopg.connect(with_query(admin_url, target_session_attrs="any"),
                         connect_timeout=10) as conn:
        found = {row[0] for row in conn.execute(
            "SELECT ref FROM parcels WHERE ref = ANY(%(refs)s) UNION "
            "SELECT ref FROM parcels_history WHERE ref = ANY(%(refs)s)",
            {"refs": list(refs)}).fetchall()}
    return [ref for ref in refs if ref not in found]


def failover_round(ha: HaCluster, traffic_base: str, key: str, parcel_ids: list[int],
                   admin_url: str, number: int, warm_up_s: float = 3.0,
                   after_s: float = 2.0) -> Round:
    """One kill under traffic; waits for the writes to come back, then checks the data."""
    old = ha.primary()
    assert old is not None, "no primary before the kill"
    with Traffic(traffic_base, key, parcel_ids, round_number=number) as traffic:
        started = time.monotonic()
        while traffic.acked_after(0.0) is None or time.monotonic() - started < warm_up_s:
            if time.monotonic() - started > RECOVERY_LIMIT_S:
                raise AssertionError("no edit was acknowledged before the kill")
            time.sleep(0.1)
        killed_at = time.monotonic()
        ha.kill(old)
        recovered = None
        while recovered is None and time.monotonic() < killed_at + RECOVERY_LIMIT_S:
            time.sleep(0.1)
            recovered = traffic.acked_after(killed_at)
        if recovered is None:
            raise AssertionError(f"no edit acknowledged {RECOVERY_LIMIT_S:.0f} s after the kill")
        time.sleep(after_s)
    window = [a for a in traffic.reads if killed_at <= a.started <= recovered.at]
    new = ha.primary() or "?"
    if new == old:  # writes never stopped: the kill missed the server (not a failover)
        raise AssertionError(f"{old} is still the primary {recovered.at - killed_at:.1f} s "
                             "after its kill")
    return Round(
        write_gap_s=recovered.at - killed_at,
        reads_in_window=len(window),
        reads_ok=sum(1 for a in window if 200 <= a.status < 300),
        acked=len(traffic.acked_refs),
        lost=missing_refs(admin_url, traffic.acked_refs),
        unexpected=traffic.unexpected(),
        old_primary=old,
        new_primary=new,
    )


@dataclass
class Stage:
    """A built topology with the demo loaded, a service in front, an editor's key."""

    ha: HaCluster
    base: str
    key: str
    parcel_ids: list[int]
    admin_url: str


def _editor_key(admin_url: str) -> str:
    env = {**os.environ, "GEOPORTAL_DATABASE_URL": admin_url}
    result = subprocess.run([sys.executable, "-m", "geoportal.cli", "keys", "create",
                             "failover-drill", "--role", "editor"], env=env,
                            capture_output=True, text=True, timeout=120, check=True)
    return result.stdout.strip().splitlines()[-1]


@contextmanager
def stage(parcels: int = PARCELS, log: Path | None = None) -> Iterator[Stage]:
    """The HA topology in a throwaway folder, migrated and loaded, the service on it."""
    from geoportal.db.migrate import upgrade
    from geoportal.demo.load import load_demo
    from geoportal.settings import Settings

    folder = Path(tempfile.mkdtemp(prefix="geoportal-ha-"))
    os.chmod(folder, 0o755)  # noqa: S103 the postgres user must reach the topology's folder
    ha = HaCluster(Settings(home=folder / "home", db_port=free_port()))
    try:
        ha.start(install=False)
        upgrade(ha.admin_url())
        load_demo(ha.admin_url(), parcels=parcels, seed=11, raster_dir=folder / "rasters")
        key = _editor_key(ha.admin_url())
        with psycopg.connect(ha.admin_url()) as conn:
            ids = [row[0] for row in conn.execute(
                "SELECT id FROM parcels ORDER BY id LIMIT 60").fetchall()]
        env = {**ha.environment(), "GEOPORTAL_DATA_DIR": str(folder / "rasters"),
               "GEOPORTAL_HOME": str(folder / "home"), "GEOPORTAL_POOL_MIN_SIZE": "1"}
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        args = uvicorn_command("127.0.0.1", port, workers=2)
        with server(args, f"{base}/health", env=env, log=log):
            yield Stage(ha, base, key, ids, ha.admin_url())
    finally:
        ha.stop()
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: Sequence[str] = ()) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench failover")
    parser.add_argument("--rounds", type=int, default=10, help="Failovers (1 to 20).")
    parser.add_argument("--parcels", type=int, default=PARCELS)
    options = parser.parse_args(list(argv))
    rounds_wanted = max(1, min(options.rounds, 20))
    rounds: list[Round] = []
    with stage(options.parcels) as staged:
        ha = staged.ha
        for number in range(1, rounds_wanted + 1):
            result = failover_round(ha, staged.base, staged.key,
                                    staged.parcel_ids, staged.admin_url, number)
            rounds.append(result)
            print(f"round {number}: {result.old_primary} → {result.new_primary}, writes back "
                  f"after {result.write_gap_s:.1f} s, reads {result.read_availability:.1f} %, "
                  f"{len(result.lost)} lost of {result.acked}, unexpected "
                  f"{dict(result.unexpected)}", flush=True)
            ha.restart(result.old_primary)
            ha.wait_until_healthy()
    worst_gap = max(r.write_gap_s for r in rounds)
    lost = sum(len(r.lost) for r in rounds)
    reads = sum(r.reads_in_window for r in rounds)
    reads_ok = sum(r.reads_ok for r in rounds)
    availability = 100.0 * reads_ok / reads if reads else 100.0
    unexpected = sum((r.unexpected for r in rounds), Counter())
    print_table(
        f"Failover: {len(rounds)} SIGKILLs of the primary under edits and reads "
        "(pg_auto_failover, 2 nodes, synchronous)",
        ["measure", "value", "target", "met"],
        [["write unavailability, worst (s)", f"{worst_gap:.1f}",
          f"≤ {TARGET_WRITE_GAP_S:.0f}", _met(worst_gap <= TARGET_WRITE_GAP_S)],
         ["write unavailability, mean (s)",
          f"{sum(r.write_gap_s for r in rounds) / len(rounds):.1f}", "", ""],
         ["acknowledged edits lost", f"{lost} of {sum(r.acked for r in rounds)}", "0",
          _met(lost == 0)],
         ["read availability during failover (%)", f"{availability:.2f} ({reads_ok}/{reads})",
          f"≥ {TARGET_READ_AVAILABILITY:.0f}", _met(availability >= TARGET_READ_AVAILABILITY)],
         ["answers other than 2xx, 409/412, 503 + Retry-After",
          str(sum(unexpected.values())) + (f" {dict(unexpected)}" if unexpected else ""),
          "0", _met(not unexpected)]])


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


if __name__ == "__main__":
    main(sys.argv[1:])
