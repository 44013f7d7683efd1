"""`/rules` against the raw SQL ceiling, on 1,000,000 demo parcels.

* one lookup by point at 1 connection (p50, p95) and lookups/s at 8 connections, rotating
  over points inside random plots, beside pgbench running the raw plot + zone + prefecture
  query for the same points (the ceiling) and our own lookup statement (the SQL share);
* a batch of 1,000 plots by reference, timed several times (median).
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import psycopg
from pyproj import Transformer

from bench.common import (
    LoadResult,
    bench_database_url,
    ensure_bench_data,
    geoportal_server,
    print_table,
    wrk,
)
from geoportal.db.urls import libpq_url
from geoportal.rules import sql as rules_sql

SECONDS = int(os.environ.get("GEOPORTAL_BENCH_SECONDS", "8"))
WORKERS = int(os.environ.get("GEOPORTAL_BENCH_WORKERS", "2"))
POINTS = 128  # pgbench takes at most 128 scripts: one per point
BATCH = 1_000
BATCH_RUNS = 5
SEED = 4

RAW_CEILING = """SELECT p.ref, z.code, pf.name_fr
FROM (SELECT ST_SetSRID(ST_MakePoint({x}, {y}), 26191) AS g) q
LEFT JOIN LATERAL (SELECT ref FROM parcels WHERE ST_Intersects(geom, q.g) LIMIT 1) p ON true
LEFT JOIN LATERAL (SELECT code FROM zoning WHERE ST_Intersects(geom, q.g) LIMIT 1) z ON true
LEFT JOIN LATERAL (SELECT name_fr FROM prefectures WHERE ST_Intersects(geom, q.g) LIMIT 1) pf
  ON true"""


def sample_points(database_url: str, count: int) -> list[tuple[str, float, float]]:
    """Points inside random plots: (ref, x, y) in EPSG:26191, the same on every run."""
    with psycopg.connect(database_url) as conn:
        top = conn.execute("SELECT max(id) FROM parcels").fetchone()
        assert top is not None and top[0]
        rng = random.Random(SEED)
        ids = rng.sample(range(1, int(top[0]) + 1), count * 2)
        rows = conn.execute(
            "SELECT ref, ST_X(p), ST_Y(p) FROM (SELECT ref, ST_PointOnSurface(geom) AS p "
            "FROM parcels WHERE id = ANY(%s)) s", (ids,)).fetchall()
    return [(str(r[0]), float(r[1]), float(r[2])) for r in rows[:count]]


def sample_refs(database_url: str, count: int) -> list[str]:
    """References of random plots."""
    with psycopg.connect(database_url) as conn:
        top = conn.execute("SELECT max(id) FROM parcels").fetchone()
        assert top is not None and top[0]
        ids = random.Random(SEED + 1).sample(range(1, int(top[0]) + 1), count * 2)
        rows = conn.execute("SELECT ref FROM parcels WHERE id = ANY(%s) LIMIT %s",
                            (ids, count)).fetchall()
    return [str(r[0]) for r in rows]


def pgbench(label: str, database_url: str, statements: list[str],
            connections: int) -> LoadResult:
    """pgbench over one script per statement (picked at random), with per-query latencies."""
    with tempfile.TemporaryDirectory(prefix="bench-rules-") as folder:
        args = ["pgbench", "-n", "-M", "prepared", "-c", str(connections),
                "-j", str(min(2, connections)), "-T", str(SECONDS), "-l"]
        for number, statement in enumerate(statements):
            script = Path(folder) / f"q{number}.sql"
            script.write_text(" ".join(statement.split()) + ";\n")
            args += ["-f", str(script)]
        subprocess.run([*args, libpq_url(database_url)], cwd=folder, capture_output=True,
                       text=True, check=True, timeout=SECONDS + 120)
        latencies = [int(line.split()[2]) / 1000
                     for log in Path(folder).glob("pgbench_log.*")
                     for line in log.read_text().splitlines() if len(line.split()) >= 3]
    if not latencies:
        return LoadResult(label, 0.0, 0.0, 0.0, 1)
    quantiles = statistics.quantiles(latencies, n=100)
    return LoadResult(label, len(latencies) / SECONDS, quantiles[49], quantiles[94], 0)


def lookup_statement(x: float, y: float) -> str:
    """Our own lookup statement with its values inlined, for pgbench."""
    return (rules_sql.BY_POINT.replace("$1::float8", f"{x!r}::float8")
            .replace("$2::float8", f"{y!r}::float8").replace("$3::boolean", "false"))


def check_answers(base: str, urls: list[str], points: list[tuple[str, float, float]]) -> None:
    """Every URL answers 200 with the plot it was chosen in: a wrong URL must not be timed."""
    for url, (ref, _, _) in zip(urls[:20], points[:20], strict=False):
        response = httpx.get(base + url, timeout=60)
        response.raise_for_status()
        found = response.json()["plot"]
        if found is None or found["ref"] != ref:
            raise RuntimeError(f"{url} answered {found}, expected plot {ref}")


def time_batches(base: str, refs: list[str]) -> list[float]:
    """Seconds per POST /rules/batch of len(refs) plots, BATCH_RUNS times (after a warm-up)."""
    body = {"items": [{"parcel": ref} for ref in refs]}
    timings = []
    with httpx.Client(timeout=120) as client:
        for run in range(BATCH_RUNS + 1):
            started = time.perf_counter()
            response = client.post(f"{base}/rules/batch", json=body)
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            results = response.json()["results"]
            if sum(1 for r in results if r["answer"]) != len(refs):
                raise RuntimeError("the batch did not answer every plot")
            if run:
                timings.append(elapsed)
    return timings


def main() -> None:
    """Run the rules benchmark and print its tables."""
    database_url = bench_database_url()
    ensure_bench_data(database_url)
    points = sample_points(database_url, POINTS)
    refs = sample_refs(database_url, BATCH)
    to_lonlat = Transformer.from_crs("EPSG:26191", "EPSG:4326", always_xy=True)
    urls = []
    for _, x, y in points:
        lon, lat = to_lonlat.transform(x, y)
        urls.append(f"/rules?lon={lon:.7f}&lat={lat:.7f}")
    raw = [RAW_CEILING.format(x=repr(x), y=repr(y)) for _, x, y in points]
    ours_sql = [lookup_statement(x, y) for _, x, y in points]

    raw_1 = pgbench("raw SQL ceiling (plot + zone + prefecture), 1 conn", database_url, raw, 1)
    raw_8 = pgbench("raw SQL ceiling (plot + zone + prefecture), 8 conn", database_url, raw, 8)
    sql_1 = pgbench("our lookup statement alone (pgbench), 1 conn", database_url, ours_sql, 1)
    sql_8 = pgbench("our lookup statement alone (pgbench), 8 conn", database_url, ours_sql, 8)
    with geoportal_server(database_url, workers=WORKERS) as (base, _pid):
        check_answers(base, urls, points)
        wrk("warm-up", [base + u for u in urls], connections=8, seconds=2, threads=2)
        http_1 = wrk("GET /rules?lon&lat (HTTP), 1 conn", [base + u for u in urls],
                     connections=1, seconds=SECONDS)
        http_8 = wrk("GET /rules?lon&lat (HTTP), 8 conn", [base + u for u in urls],
                     connections=8, seconds=SECONDS, threads=2)
        floor_8 = wrk("HTTP floor: GET /docs (no database), 8 conn", [base + "/docs"],
                      connections=8, seconds=SECONDS, threads=2)
        batches = time_batches(base, refs)

    print_table(
        f"Rules lookup by point on {len(points)} points inside random plots "
        f"(1,000,000 parcels, {WORKERS} workers, {SECONDS} s runs)",
        ["workload", "req/s", "p50 ms", "p95 ms", "errors"],
        [r.row() for r in (http_1, raw_1, sql_1, http_8, raw_8, sql_8, floor_8)],
    )
    median = statistics.median(batches)
    print_table(
        "Rules targets",
        ["check", "measured", "target", "met"],
        [
            ["p50 of one lookup by point, 1 connection", f"{http_1.p50_ms:.2f} ms "
             f"(p95 {http_1.p95_ms:.2f} ms)", "≤ 5 ms", _yes(http_1.p50_ms <= 5)],
            # The raw SQL that answers the same question: our whole-answer statement run by
            # pgbench (every zone, servitude and reservation with overlap areas, plans, admin).
            ["lookups/s at 8 connections vs the raw SQL giving the same answer",
             f"{http_8.rps:,.0f}/s vs {sql_8.rps:,.0f}/s = {http_8.rps / sql_8.rps:.2f}×",
             "≥ 0.5×", _yes(http_8.rps >= 0.5 * sql_8.rps)],
            # For reference: a much smaller question (plot id, one zone code, prefecture name).
            ["lookups/s at 8 connections vs plot + zone + prefecture only",
             f"{http_8.rps:,.0f}/s vs {raw_8.rps:,.0f}/s = {http_8.rps / raw_8.rps:.2f}×",
             "(context)", "–"],
            [f"POST /rules/batch of {len(refs):,} plots (median of {len(batches)})",
             f"{median:.2f} s (min {min(batches):.2f}, max {max(batches):.2f})", "< 2 s",
             _yes(median < 2)],
        ],
    )


def _yes(ok: bool) -> str:
    return "yes" if ok else "**no**"


if __name__ == "__main__":
    main()
