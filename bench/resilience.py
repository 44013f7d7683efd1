"""Resilience: light traffic keeps its latency while heavy filters and whole-layer streams run.

The real service under uvicorn (2 workers, loopback) on the bench database. After 5 s of
light traffic to warm the workers up (not counted) and up to 10 s of light traffic alone
(shown for context), for a bounded time:

* 64 connections of light traffic, one ``wrk`` per class (point lookups ``/rules?lon&lat``
  inside plots, features by id, features in small bboxes, z15 vector tiles, ``/health``), each
  rotating over fixed addresses and counting every status by a Lua script;
* at the same time, ten loops of heavy CQL2 filters (twelve OR-ed ``S_OVERLAPS``, each with
  a polygon of ~110 vertices, ~19 KB of text) and ten loops of whole-layer streams
  (``items?f=jsonseq`` read to the end), from an async httpx client.

uvicorn worker PIDs are sampled (children of the master) to count restarts. Heavy requests
refused with 503/429 and Retry-After are shown as "refused", not as errors.

``python -m bench resilience --seconds 15 --parcels 20000`` for a quick run (its own database).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import morecantile
import numpy as np
import psycopg
from pyproj import Transformer

from bench.common import (
    BENCH_PARCELS,
    RESULTS,
    bench_database_name,
    bench_database_url,
    ensure_bench_data,
    geoportal_server,
    print_table,
)
from geoportal.ogc.filters import MAX_FILTER_CHARS

SECONDS = int(os.environ.get("GEOPORTAL_RESILIENCE_SECONDS", "60"))
WORKERS = 2
ROTATION = 200  # distinct addresses per light class
HEAVY_LOOPS = 10
STREAM_LOOPS = 10
OVERLAPS = 12  # S_OVERLAPS terms OR-ed in one heavy filter
VERTICES = 110  # per polygon: 12 × 110 vertices at 3 decimals stay under the 20,000-char cap
WARM_UP_S = 5.0  # light traffic first, not measured
GRACE = 60.0  # seconds granted to heavy requests still running at the end, then cancelled
SEED = 11
LOOKUP_P99_MS = 250.0

# (class, connections) of light traffic: 64 connections in all.
LIGHT = [("lookups", 16), ("items by id", 16), ("items bbox", 16), ("tiles", 8), ("health", 8)]

# One wrk per class; each thread counts statuses, done() adds them up across threads.
WRK_SCRIPT = r"""
local paths = {%(paths)s}
local i = 0
local threads = {}
request = function()
  i = i %% #paths + 1
  return wrk.format('GET', paths[i])
end
setup = function(thread) table.insert(threads, thread) end
init = function() s2xx, s3xx, s4xx, s429, s503, s5xx, refused = 0, 0, 0, 0, 0, 0, 0 end
response = function(status, headers, body)
  if status >= 200 and status < 300 then s2xx = s2xx + 1
  elseif status < 400 then s3xx = s3xx + 1
  elseif status == 429 then s429 = s429 + 1
  elseif status == 503 then s503 = s503 + 1
  elseif status < 500 then s4xx = s4xx + 1
  else s5xx = s5xx + 1 end
  if (status == 429 or status == 503) and (headers['retry-after'] or headers['Retry-After']) then
    refused = refused + 1
  end
end
done = function(summary, latency, requests)
  local t = {s2xx = 0, s3xx = 0, s4xx = 0, s429 = 0, s503 = 0, s5xx = 0, refused = 0}
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + thread:get(k) end
  end
  local e = summary.errors
  io.write(string.format('{"requests": %%d, "seconds": %%f, "p50_us": %%d, "p95_us": %%d, '
    .. '"p99_us": %%d, "conn_errors": %%d, "s2xx": %%d, "s3xx": %%d, "s4xx": %%d, '
    .. '"s429": %%d, "s503": %%d, "s5xx": %%d, "refused": %%d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), e.connect + e.read + e.write + e.timeout, t.s2xx, t.s3xx, t.s4xx,
    t.s429, t.s503, t.s5xx, t.refused))
end
"""


@dataclass
class ClassResult:
    """What one class of requests got over the run."""

    name: str
    requests: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    conn_errors: int = 0
    conn_error_kinds: Counter[str] = field(default_factory=Counter)  # exception: count
    refused: int = 0
    unfinished: int = 0  # heavy requests still running after the grace time, cancelled
    p50_ms: float = math.nan
    p95_ms: float = math.nan
    p99_ms: float = math.nan
    latencies_ms: list[float] = field(default_factory=list)

    def count(self, status: int, retry_after: bool, elapsed_ms: float) -> None:
        """Record one answered request."""
        self.requests += 1
        self.statuses[_status_class(status)] += 1
        if status in (429, 503) and retry_after:
            self.refused += 1
        self.latencies_ms.append(elapsed_ms)

    def settle(self) -> None:
        """Percentiles from the recorded latencies."""
        if self.latencies_ms:
            self.p50_ms, self.p95_ms, self.p99_ms = (
                float(v) for v in np.percentile(self.latencies_ms, [50, 95, 99]))

    @property
    def errors(self) -> int:
        """Answers that are not 2xx (3xx excepted) plus connection errors."""
        bad = sum(v for k, v in self.statuses.items() if k not in ("2xx", "3xx"))
        return bad + self.conn_errors

    @property
    def server_errors(self) -> int:
        """Every 5xx, 503 included."""
        return self.statuses["503"] + self.statuses["5xx"]

    def row(self) -> list[str]:
        """The result as table cells."""
        s = self.statuses
        refused = f"{self.refused}" + (f" (+{self.unfinished} cut)" if self.unfinished else "")
        return [self.name, f"{self.requests:,}", f"{s['2xx']:,}", f"{s['4xx']:,}",
                f"{s['429']:,}", f"{s['503']:,}", f"{s['5xx']:,}", f"{self.conn_errors:,}",
                refused, _ms(self.p50_ms), _ms(self.p95_ms), _ms(self.p99_ms)]


def _status_class(status: int) -> str:
    if status in (429, 503):
        return str(status)
    if 200 <= status < 300:
        return "2xx"
    if 300 <= status < 400:
        return "3xx"
    return "4xx" if status < 500 else "5xx"


def _ms(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:,.1f}"


# ---------------------------------------------------------------- addresses


@dataclass(frozen=True)
class Addresses:
    """The light rotations (path per class) and the heavy requests."""

    light: dict[str, list[str]]
    heavy_filters: list[str]
    stream: str


def addresses(database_url: str) -> Addresses:
    """Addresses built from the data: points inside random plots, their tiles, their ids."""
    to_lonlat = Transformer.from_crs("EPSG:26191", "EPSG:4326", always_xy=True)
    with psycopg.connect(database_url) as conn:
        top = conn.execute("SELECT max(id) FROM parcels").fetchone()
        assert top is not None and top[0]
        rng = random.Random(SEED)
        ids = rng.sample(range(1, int(top[0]) + 1), min(int(top[0]), ROTATION * 2))
        rows = conn.execute(
            "SELECT id, ST_X(p), ST_Y(p) FROM (SELECT id, ST_PointOnSurface(geom) AS p "
            "FROM parcels WHERE id = ANY(%s)) s ORDER BY id", (ids,)).fetchall()
        extent = conn.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            "(SELECT ST_Extent(ST_Transform(geom, 4326)) AS e FROM parcels) s").fetchone()
    assert extent is not None
    points = [(int(r[0]), *to_lonlat.transform(float(r[1]), float(r[2]))) for r in rows]
    points = points[:ROTATION]
    tms = morecantile.tms.get("WebMercatorQuad")
    tiles = [tms.tile(lon, lat, 15) for _, lon, lat in points]
    light = {
        "lookups": [f"/rules?lon={lon:.7f}&lat={lat:.7f}" for _, lon, lat in points],
        "items by id": [f"/ogc/collections/parcels/items/{fid}" for fid, _, _ in points],
        "items bbox": [f"/ogc/collections/parcels/items?bbox={lon - 0.001:.5f},"
                       f"{lat - 0.001:.5f},{lon + 0.001:.5f},{lat + 0.001:.5f}&limit=50"
                       for _, lon, lat in points],
        "tiles": [f"/ogc/collections/parcels/tiles/WebMercatorQuad/15/{t.x}/{t.y}"
                  for t in tiles],
        "health": ["/health"],
    }
    heavy = [heavy_filter(random.Random(SEED + n), tuple(float(v) for v in extent))
             for n in range(8)]
    # The stream's f=jsonseq goes in its params: httpx replaces a path's query by them.
    return Addresses(light, heavy, "/ogc/collections/parcels/items")


def heavy_filter(rng: random.Random, extent: tuple[float, ...]) -> str:
    """Twelve OR-ed S_OVERLAPS, each a jagged ~2 km ring over the parcels, as CQL2 text."""
    minx, miny, maxx, maxy = extent
    terms = []
    for _ in range(OVERLAPS):
        cx, cy = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        ring = []
        for k in range(VERTICES - 1):
            angle = 2 * math.pi * k / (VERTICES - 1)
            radius = 0.02 * rng.uniform(0.8, 1.0)
            ring.append(f"{cx + radius * math.cos(angle):.3f} {cy + radius * math.sin(angle):.3f}")
        ring.append(ring[0])
        terms.append(f"S_OVERLAPS(geometry,POLYGON(({','.join(ring)})))")
    text = " OR ".join(terms)
    if len(text) > MAX_FILTER_CHARS:
        raise RuntimeError(f"the heavy filter has {len(text)} characters, over the cap")
    return text


# ---------------------------------------------------------------- light traffic (wrk)


def start_wrk(base: str, paths: Sequence[str], connections: int, seconds: float,
              folder: Path, name: str) -> subprocess.Popen[str]:
    """One bounded wrk over a rotation of paths, its JSON report on stdout."""
    script = folder / f"{name.replace(' ', '_')}.lua"
    script.write_text(WRK_SCRIPT % {"paths": ",".join(json.dumps(p) for p in paths)})
    args = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
            "--timeout", "30s", "-s", str(script), base + paths[0]]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wrk_result(name: str, process: subprocess.Popen[str], seconds: float) -> ClassResult:
    """Read one wrk's report."""
    out, err = process.communicate(timeout=seconds + 90)
    if process.returncode != 0:
        raise RuntimeError(f"wrk ({name}) failed: {err.strip()[:300]}")
    report = json.loads(out.strip().splitlines()[-1])
    result = ClassResult(name, requests=report["requests"], conn_errors=report["conn_errors"],
                         refused=report["refused"])
    result.statuses.update({"2xx": report["s2xx"], "3xx": report["s3xx"],
                            "4xx": report["s4xx"], "429": report["s429"],
                            "503": report["s503"], "5xx": report["s5xx"]})
    result.p50_ms, result.p95_ms, result.p99_ms = (
        report["p50_us"] / 1000, report["p95_us"] / 1000, report["p99_us"] / 1000)
    return result


# ---------------------------------------------------------------- heavy traffic (httpx)


async def heavy_loop(client: httpx.AsyncClient, result: ClassResult, paths: list[str],
                     params: list[dict[str, str]], deadline: float) -> None:
    """Send heavy requests one after the other until the deadline; read each to its end."""
    n = 0
    while time.monotonic() < deadline:
        path, query = paths[n % len(paths)], params[n % len(params)]
        n += 1
        started = time.perf_counter()
        try:
            async with client.stream("GET", path, params=query) as response:
                async for _ in response.aiter_raw(1 << 16):
                    pass
        except httpx.TransportError as exc:
            result.requests += 1
            result.conn_errors += 1
            result.conn_error_kinds[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
            continue
        result.count(response.status_code, "retry-after" in response.headers,
                     (time.perf_counter() - started) * 1000)
        if response.status_code in (429, 503):
            # Honour the advice, within the run's bounds.
            pause = float(response.headers.get("retry-after", "1") or 1)
            await asyncio.sleep(min(pause, max(0.0, deadline - time.monotonic()), 5.0))


async def heavy_traffic(base: str, plan: Addresses, seconds: float
                        ) -> tuple[ClassResult, ClassResult]:
    """Ten heavy-filter loops and ten stream loops until the deadline, plus a grace time."""
    filters = ClassResult("heavy filters")
    streams = ClassResult("streams")
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=HEAVY_LOOPS + STREAM_LOOPS + 4)
    timeout = httpx.Timeout(seconds + GRACE, connect=10)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout) as client:
        filter_params = [{"filter": f, "filter-lang": "cql2-text", "limit": "1000"}
                         for f in plan.heavy_filters]
        tasks = [asyncio.create_task(heavy_loop(
            client, filters, ["/ogc/collections/parcels/items"], filter_params[n:] +
            filter_params[:n], deadline)) for n in range(HEAVY_LOOPS)]
        tasks += [asyncio.create_task(heavy_loop(
            client, streams, [plan.stream], [{"f": "jsonseq"}], deadline))
            for _ in range(STREAM_LOOPS)]
        _, pending = await asyncio.wait(tasks, timeout=seconds + GRACE)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        # A loop cut in the middle of a request: one unfinished request each.
        for task in pending:
            owner = streams if tasks.index(task) >= HEAVY_LOOPS else filters
            owner.unfinished += 1
    filters.settle()
    streams.settle()
    return filters, streams


# ---------------------------------------------------------------- worker restarts


class WorkerWatch(threading.Thread):
    """Samples the PIDs of the master's children (uvicorn workers) until stopped."""

    def __init__(self, master: int, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.master = master
        self.interval = interval
        self.seen: set[int] = set()
        self.stopped = threading.Event()

    def run(self) -> None:
        """Sample until stopped."""
        while not self.stopped.is_set():
            self.seen |= children(self.master)
            self.stopped.wait(self.interval)

    def restarts(self, workers: int) -> int:
        """Workers started beyond the first ones (each one replaced a dead or killed worker)."""
        self.seen |= children(self.master)
        return max(0, len(self.seen) - workers)


def children(pid: int) -> set[int]:
    """PIDs of a process's worker children, from /proc (multiprocessing's resource tracker,
    also a child of the master, is left out)."""
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            continue
    workers = set()
    for child in found:
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                workers.add(child)
        except OSError:  # gone already: it was seen alive as a child, count it
            workers.add(child)
    return workers


# ---------------------------------------------------------------- run


def check_addresses(base: str, plan: Addresses) -> None:
    """Every kind of request answers as expected before anything is timed."""
    with httpx.Client(base_url=base, timeout=120) as client:
        for name, paths in plan.light.items():
            for path in paths[:5]:
                status = client.get(path).status_code
                if status not in (200, 204):
                    raise RuntimeError(f"{name}: {path} answered {status}")
        response = client.get("/ogc/collections/parcels/items",
                              params={"filter": plan.heavy_filters[0],
                                      "filter-lang": "cql2-text", "limit": "1000"})
        if response.status_code != 200:
            raise RuntimeError(f"heavy filter answered {response.status_code}: "
                               f"{response.text[:300]}")


def run(seconds: float, parcels: int) -> list[str]:
    """Run the resilience benchmark; print its table and return it."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is missing: apt-get install wrk")
    database_url = bench_database_url(bench_database_name(parcels))
    ensure_bench_data(database_url, parcels)
    plan = addresses(database_url)
    RESULTS.mkdir(parents=True, exist_ok=True)
    log = RESULTS / "resilience-server.log"
    with geoportal_server(database_url, workers=WORKERS, log=log, log_level="info") as (
            base, master), tempfile.TemporaryDirectory(prefix="bench-resilience-") as folder:
        check_addresses(base, plan)

        def light_alone(duration: float) -> list[ClassResult]:
            started = [(name, start_wrk(base, plan.light[name], connections, duration,
                                        Path(folder), name)) for name, connections in LIGHT]
            return [wrk_result(name, process, duration) for name, process in started]

        light_alone(WARM_UP_S)  # discarded: each worker opens its connections, fills caches
        # For context: the same light traffic with nothing heavy beside it.
        alone_seconds = max(3.0, min(10.0, seconds / 4))
        alone = light_alone(alone_seconds)
        watch = WorkerWatch(master)
        watch.start()
        started = time.monotonic()
        light = [(name, start_wrk(base, plan.light[name], connections, seconds, Path(folder),
                                  name)) for name, connections in LIGHT]
        filters, streams = asyncio.run(heavy_traffic(base, plan, seconds))
        light_results = [wrk_result(name, process, seconds) for name, process in light]
        elapsed = time.monotonic() - started
        watch.stopped.set()
        watch.join()
        restarts = watch.restarts(WORKERS)
    logged = log.read_text(errors="replace")
    died = sum(1 for line in logged.splitlines() if "died" in line)
    started_workers = logged.count("Started server process")
    restarts = max(restarts, started_workers - WORKERS)
    light_errors = sum(r.errors for r in light_results)
    light_5xx = sum(r.server_errors for r in light_results)
    lookups, by_id = light_results[0], light_results[1]
    worst_p99 = max(lookups.p99_ms, by_id.p99_ms)
    met = light_errors == 0 and light_5xx == 0 and worst_p99 <= LOOKUP_P99_MS and restarts == 0
    filter_kb = sum(len(f) for f in plan.heavy_filters) / len(plan.heavy_filters) / 1000
    rows = [r.row() for r in (*light_results, filters, streams)]
    rows.append(["light traffic alone (no heavy), p99", f"{alone_seconds:.0f} s before the run",
                 *[""] * 7, *[f"{r.name}: {r.p99_ms:,.0f}" for r in alone[:3]]])
    rows.append(["worker restarts", f"{restarts} (worker PIDs seen: {len(watch.seen)}, "
                 f"workers started: {started_workers}, children died: {died})", *[""] * 10])
    rows.append([
        "targets", "0 errors, 0 5xx on light requests; p99 of lookups and items by id "
        f"≤ {LOOKUP_P99_MS:.0f} ms while heavy requests run; no worker restart",
        f"light errors {light_errors}, light 5xx {light_5xx}, p99 {worst_p99:.0f} ms, "
        f"restarts {restarts}", "met" if met else "**not met**", *[""] * 8])
    for result in (filters, streams):  # what the heavy client's connection errors were
        for kind, count in result.conn_error_kinds.most_common():
            print(f"- {result.name}, connection error ×{count}: {kind}")
    return [print_table(
        f"Resilience: 64 light connections beside {HEAVY_LOOPS} heavy-filter loops "
        f"({OVERLAPS} OR-ed S_OVERLAPS, ~{filter_kb:.0f} KB of CQL2) and {STREAM_LOOPS} "
        f"whole-layer stream loops ({parcels:,} parcels, {WORKERS} workers, "
        f"{seconds:.0f} s, {elapsed:.0f} s with the grace time)",
        ["class", "requests", "2xx", "4xx", "429", "503", "other 5xx", "conn errors",
         "refused (Retry-After)", "p50 ms", "p95 ms", "p99 ms"],
        rows)]


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m bench resilience [--seconds N] [--parcels N]`."""
    parser = argparse.ArgumentParser(prog="python -m bench resilience")
    parser.add_argument("--seconds", type=float, default=SECONDS,
                        help="length of the loaded run (default %(default)s)")
    parser.add_argument("--parcels", type=int, default=BENCH_PARCELS,
                        help="demo parcels; a count other than the default gets its own "
                             "database (default %(default)s)")
    options = parser.parse_args(list(argv or []))
    run(options.seconds, options.parcels)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
