"""Edits and what history costs: durable edits per second, and reads beside the code before it.

* ``PATCH`` (JSON merge patch with ``If-Match``) and ``POST`` of plots over HTTP at 1 and 8
  connections, each connection editing its own plots and carrying the ETag each answer
  gives back; the service writes with its writer role, ``synchronous_commit = on``, history
  rows written by the triggers in the same transaction;
* the read workloads of the features and rules suites (a page of 100 plots in a small bbox,
  one plot by id, a rules lookup by point), against this code on a database with history
  *and* the code of ``BASELINE`` (the last commit before history) on a database without it,
  both loaded with the same demo, run alternately in one run.

``python -m bench edits [--parcels N] [--seconds S]``
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx
import orjson
import psycopg
from pyproj import Transformer

from bench.baseline import (
    BASELINE,
    RATIO_HEADER,
    WORKERS,
    baseline_database,
    baseline_source,
    before_after,
    ratio_row,
    service,
)
from bench.common import (
    BENCH_PARCELS,
    LoadResult,
    bench_database_url,
    ensure_bench_data,
    print_table,
)
from bench.features import BBOX_A
from bench.rules import sample_points
from geoportal.core.resources import CHECKOUT
from geoportal.db.urls import libpq_url, with_database
from geoportal.settings import Settings

PARCELS = BENCH_PARCELS
SECONDS = 8
READ_ROUNDS = 2
SQUARE_M = 8.0


@dataclass
class Timed:
    """Latencies of one edit run."""

    label: str
    latencies: list[float]
    errors: int
    seconds: float

    def result(self) -> LoadResult:
        """As a load result (req/s, p50, p95)."""
        ordered = sorted(self.latencies) or [0.0]
        p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
        return LoadResult(self.label, len(self.latencies) / self.seconds,
                          statistics.median(ordered) * 1000, p95 * 1000, self.errors)


class Connection:
    """One keep-alive HTTP/1.1 connection: a small client, so the load costs little CPU."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 host: str, key: str) -> None:
        self.reader, self.writer = reader, writer
        self.head = f"Host: {host}\r\nAuthorization: Bearer {key}\r\n"

    @classmethod
    async def open(cls, base: str, key: str) -> Connection:
        url = httpx.URL(base)
        reader, writer = await asyncio.open_connection(url.host, url.port)
        return cls(reader, writer, f"{url.host}:{url.port}", key)

    async def send(self, method: str, path: str, body: bytes = b"",
                   headers: str = "") -> tuple[int, dict[str, str], bytes]:
        request = (f"{method} {path} HTTP/1.1\r\n{self.head}{headers}"
                   f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        self.writer.write(request)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        found: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            found[name.strip().lower()] = value.strip()
        length = int(found.get("content-length", "0"))
        payload = await self.reader.readexactly(length) if length else b""
        return status, found, payload

    def close(self) -> None:
        self.writer.close()


def _square(x: float, y: float) -> dict[str, object]:
    ring = [[x, y], [x + SQUARE_M, y], [x + SQUARE_M, y + SQUARE_M], [x, y + SQUARE_M], [x, y]]
    return {"type": "Polygon", "coordinates": [ring]}


async def _patcher(base: str, key: str, ids: list[int], deadline: float,
                   latencies: list[float], errors: list[int]) -> None:
    conn = await Connection.open(base, key)
    etags: dict[int, str] = {}
    for fid in ids:
        status, headers, _ = await conn.send("GET", f"/ogc/collections/parcels/items/{fid}")
        if status == 200:
            etags[fid] = headers["etag"]
    step = 0
    while time.perf_counter() < deadline:
        fid = ids[step % len(ids)]
        step += 1
        body = orjson.dumps({"properties": {"ref": f"TF {fid}/E{step}"}})
        started = time.perf_counter()
        status, headers, _ = await conn.send(
            "PATCH", f"/ogc/collections/parcels/items/{fid}", body,
            f"If-Match: {etags.get(fid, '*')}\r\nContent-Type: application/merge-patch+json\r\n")
        if status in (200, 204):
            latencies.append(time.perf_counter() - started)
            etags[fid] = headers["etag"]
        else:
            errors.append(status)
    conn.close()


async def _poster(base: str, key: str, number: int, deadline: float,
                  latencies: list[float], errors: list[int]) -> None:
    conn = await Connection.open(base, key)
    run = time.time_ns() % 1_000_000  # land-title references are unique: one series per run
    step = 0
    while time.perf_counter() < deadline:
        step += 1
        x, y = 290_000 + number * 1_000 + (step % 100) * 10, 325_000 + (step // 100) * 10
        ref = f"TF B{run}-{number}-{step}/E"
        body = orjson.dumps({"type": "Feature", "properties": {"ref": ref},
                             "geometry": _square(x, y)})
        started = time.perf_counter()
        status, _, _ = await conn.send(
            "POST", "/ogc/collections/parcels/items", body,
            "Content-Type: application/geo+json\r\n"
            "Content-Crs: <http://www.opengis.net/def/crs/EPSG/0/26191>\r\n")
        if status == 201:
            latencies.append(time.perf_counter() - started)
        else:
            errors.append(status)
            if len(errors) == 1:
                print(f"  first refused POST: {status}", flush=True)
    conn.close()


def run_edits(label: str, base: str, key: str, kind: str, connections: int, seconds: float,
              ids: list[int]) -> Timed:
    """``connections`` clients editing for ``seconds`` (PATCH: each its own share of ids)."""
    latencies: list[float] = []
    errors: list[int] = []

    async def run() -> None:
        deadline = time.perf_counter() + seconds
        if kind == "PATCH":
            share = [ids[n::connections] for n in range(connections)]
            await asyncio.gather(*(_patcher(base, key, share[n], deadline, latencies, errors)
                                   for n in range(connections)))
        else:
            await asyncio.gather(*(_poster(base, key, n, deadline, latencies, errors)
                                   for n in range(connections)))

    started = time.perf_counter()
    asyncio.run(run())
    return Timed(label, latencies, len(errors), time.perf_counter() - started)


def read_urls(database_url: str) -> dict[str, list[str]]:
    """The read workloads: the same URLs for both services."""
    with psycopg.connect(database_url) as conn:
        top = conn.execute("SELECT max(id) FROM parcels").fetchone()
    max_id = int(top[0]) if top and top[0] else 1
    rng = random.Random(42)
    to_lonlat = Transformer.from_crs("EPSG:26191", "EPSG:4326", always_xy=True)
    lookups = []
    for _, x, y in sample_points(database_url, 128):
        lon, lat = to_lonlat.transform(x, y)
        lookups.append(f"/rules?lon={lon:.7f}&lat={lat:.7f}")
    return {
        "100 plots in a small bbox": [f"/ogc/collections/parcels/items?bbox={BBOX_A}&limit=100"],
        "one plot by id (200 ids)": [f"/ogc/collections/parcels/items/{rng.randint(1, max_id)}"
                                     for _ in range(200)],
        "rules lookup by point (128 points)": lookups,
    }


def writer_url_for(database_url: str) -> str:
    """The writer role on that database (the private cluster), else the owner's URL."""
    settings = Settings()
    if settings.database_url:
        return database_url
    from geoportal.db.cluster import Cluster

    return with_database(Cluster(settings).writer_url(), database_url.rsplit("/", 1)[-1])


def editor_key(database_url: str) -> str:
    """A new editor key, from the CLI as an operator makes one."""
    result = subprocess.run(
        [sys.executable, "-m", "geoportal.cli", "keys", "create", f"bench-{time.time_ns()}",
         "--role", "editor"], env={"PATH": "/usr/bin:/bin", "GEOPORTAL_DATABASE_URL":
                                   database_url, "PYTHONPATH": str(CHECKOUT)},
        capture_output=True, text=True, check=True)
    return result.stdout.strip().splitlines()[-1]


def main(argv: list[str] | None = None) -> None:
    """Run the edits benchmark and print its tables."""
    parser = argparse.ArgumentParser(prog="python -m bench edits")
    parser.add_argument("--parcels", type=int, default=PARCELS)
    parser.add_argument("--seconds", type=float, default=SECONDS)
    options = parser.parse_args(argv or [])
    database_url = bench_database_url(f"geoportal_bench_edits_{options.parcels}")
    ensure_bench_data(database_url, options.parcels)
    source = baseline_source()
    before_url = baseline_database(source, options.parcels)
    writer = writer_url_for(database_url)
    with psycopg.connect(libpq_url(writer)) as conn:
        durable = conn.execute("SHOW synchronous_commit").fetchone()
    key = editor_key(database_url)
    with psycopg.connect(database_url) as conn:
        ids = [int(r[0]) for r in conn.execute(
            "SELECT id FROM parcels ORDER BY id LIMIT 2000").fetchall()]
    urls = read_urls(database_url)

    edits: list[LoadResult] = []
    with service(CHECKOUT, database_url, writer) as after, \
            service(source, before_url) as before:
        for connections in (1, 8):
            for kind in ("PATCH", "POST"):
                label = f"{kind} plots (history written, durable), {connections} conn"
                edits.append(run_edits(label, after.base, key, kind, connections,
                                       options.seconds, ids).result())
        reads = before_after(urls, before, after, rounds=READ_ROUNDS,
                             seconds=int(options.seconds))
    with psycopg.connect(database_url) as conn:
        history_rows = conn.execute("SELECT count(*) FROM parcels_history").fetchone()

    print_table(f"Edits over HTTP ({options.parcels:,} plots, {WORKERS} workers, "
                f"synchronous_commit = {durable[0] if durable else '?'} for the writer)",
                ["workload", "req/s", "p50 ms", "p95 ms", "errors"],
                [r.row() for r in edits])
    worst = min(c.ratio for c in reads)
    print_table(f"Reads before history ({BASELINE}) and after (this code, "
                f"{history_rows[0] if history_rows else 0:,} history rows), 8 connections, "
                f"best of {READ_ROUNDS}",
                ["workload", *RATIO_HEADER], [[c.name, *ratio_row(c)] for c in reads])
    patch_8 = next(r for r in edits if r.label.startswith("PATCH") and "8 conn" in r.label)
    print_table("Edits targets", ["check", "measured", "target", "met"], [
        ["durable PATCH/s at 8 connections", f"{patch_8.rps:,.0f}/s", "≥ 300/s",
         "yes" if patch_8.rps >= 300 else "**no**"],
        ["reads after history vs before (worst workload)", f"{worst:.2f}×", "≥ 0.90×",
         "yes" if worst >= 0.90 else "**no**"],
    ])
