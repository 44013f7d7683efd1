"""`geoportal import` against ogr2ogr, and whole-layer downloads, on 1,000,000 parcels.

* The bench database's 1,000,000 parcels, exported once to a GeoPackage (cached under
  bench/results/), imported back by `geoportal import` (binary COPY into a temporary staging
  table, validity and AUC-area checks, every plot matched on its reference and compared in
  one transaction: the same file changes nothing and writes no history) beside
  `ogr2ogr -f PostgreSQL` with PG_USE_COPY=YES into a separate table: features/s.
* The whole parcels layer from /opendata as GeoJSON (CRS84 and EPSG:26191), CSV (streamed)
  and GeoPackage (written in one pass, then sent), by one worker: MB/s and the service's
  memory before and at its peak (flat = streaming), beside ogr2ogr writing the same layer as
  GeoJSON straight from PostGIS.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import pyogrio

from bench.common import (
    BENCH_PARCELS,
    RESULTS,
    bench_database_url,
    ensure_bench_data,
    geoportal_server,
    print_table,
    ratio,
    tree_rss_mb,
)
from geoportal.core.resources import CHECKOUT
from geoportal.db.urls import libpq_url
from geoportal.ingest import ImportOptions, import_file
from geoportal.registry import load_registry

ROUNDS = int(os.environ.get("GEOPORTAL_BENCH_INGEST_ROUNDS", "1"))
OGR_TABLE = "bench_ogr2ogr_parcels"
CHECKSUM_SQL = "SELECT count(*), min(id), max(id), round(sum(area_m2)::numeric, 2) FROM parcels"


def gpkg_of_parcels(url: str) -> Path:
    """The bench parcels as a GeoPackage (field REF, as the agency's files), made once."""
    path = RESULTS / f"parcels-{BENCH_PARCELS}.gpkg"
    if path.exists() and pyogrio.read_info(path)["features"] == BENCH_PARCELS:
        return path
    path.unlink(missing_ok=True)
    print(f"exporting {BENCH_PARCELS:,} parcels to {path} (once)...", flush=True)
    subprocess.run(["ogr2ogr", "-f", "GPKG", str(path), f"PG:{libpq_url(url)}", "-sql",
                    'SELECT id, ref AS "REF", geom FROM parcels ORDER BY id', "-nln", "parcels",
                    "-nlt", "MULTIPOLYGON", "-a_srs", "EPSG:26191"], check=True)
    return path


def _checksum(url: str) -> tuple[object, ...]:
    with psycopg.connect(url) as conn:
        row = conn.execute(CHECKSUM_SQL).fetchone()
    assert row is not None
    return tuple(row)


def run_geoportal_import(url: str, gpkg: Path) -> float:
    """Seconds for `geoportal import parcels` (replace) of the GeoPackage."""
    registry = load_registry(CHECKOUT / "layers")
    started = time.perf_counter()
    summary = import_file(url, registry, "parcels", gpkg,
                          ImportOptions(user="bench",
                                        report_path=RESULTS / "ingest-report.csv"))
    seconds = time.perf_counter() - started
    assert summary.loaded == BENCH_PARCELS, summary
    return seconds


def run_ogr2ogr(url: str, gpkg: Path) -> float:
    """Seconds for ogr2ogr -f PostgreSQL (PG_USE_COPY=YES) into a table of its own."""
    env = {**os.environ, "PG_USE_COPY": "YES"}
    started = time.perf_counter()
    subprocess.run(["ogr2ogr", "-f", "PostgreSQL", f"PG:{libpq_url(url)}", str(gpkg),
                    "-nln", OGR_TABLE, "-overwrite", "-lco", "GEOMETRY_NAME=geom",
                    "-nlt", "MULTIPOLYGON"], check=True, env=env)
    seconds = time.perf_counter() - started
    with psycopg.connect(url) as conn:
        count = conn.execute(f"SELECT count(*) FROM {OGR_TABLE}").fetchone()
        conn.execute(f"DROP TABLE {OGR_TABLE}")
    assert count is not None and count[0] == BENCH_PARCELS
    return seconds


def bench_import(url: str) -> None:
    """geoportal import beside ogr2ogr, alternating, ROUNDS times; the median of each."""
    gpkg = gpkg_of_parcels(url)
    gpkg.read_bytes()  # both start with the file in the page cache
    before = _checksum(url)
    times: dict[str, list[float]] = {"ogr2ogr": [], "geoportal": []}
    for _ in range(ROUNDS):
        times["ogr2ogr"].append(run_ogr2ogr(url, gpkg))
        times["geoportal"].append(run_geoportal_import(url, gpkg))
    assert _checksum(url) == before, "the import must give back the same parcels"
    ogr = statistics.median(times["ogr2ogr"])
    ours = statistics.median(times["geoportal"])
    size = gpkg.stat().st_size / 1e6
    print_table(
        f"Import of {BENCH_PARCELS:,} parcels from a GeoPackage ({size:,.0f} MB), "
        f"median of {ROUNDS}",
        ["tool", "seconds", "features/s", "speed vs ogr2ogr", "what it does"],
        [["ogr2ogr -f PostgreSQL (PG_USE_COPY=YES)", f"{ogr:.1f}",
          f"{BENCH_PARCELS / ogr:,.0f}", "1.0×",
          "COPY into a new table, GiST index; no checks"],
         ["geoportal import parcels (replace)", f"{ours:.1f}", f"{BENCH_PARCELS / ours:,.0f}",
          ratio(ogr, ours),
          "COPY to staging, validity + AUC-area checks, match by reference, compare"]],
    )


def _sample_memory(pid: int, peak: list[float], stop: threading.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], tree_rss_mb(pid))
        time.sleep(0.1)


def _download(url: str, pid: int) -> tuple[int, int, float, float, float]:
    """Bytes, feature lines, seconds, RSS before and peak RSS while streaming ``url``."""
    before = tree_rss_mb(pid)
    peak = [before]
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_memory, args=(pid, peak, stop))
    sampler.start()
    size = lines = 0
    started = time.perf_counter()
    try:
        with httpx.stream("GET", url, headers={"Accept-Encoding": "identity"},
                          timeout=600) as response:
            response.raise_for_status()
            for block in response.iter_raw(1 << 20):
                size += len(block)
                lines += block.count(b"\n")
    finally:
        stop.set()
        sampler.join()
    return size, lines, time.perf_counter() - started, before, peak[0]


def _ogr2ogr_geojson(url: str) -> tuple[int, float]:
    started = time.perf_counter()
    process = subprocess.Popen(["ogr2ogr", "-f", "GeoJSON", "/vsistdout/", f"PG:{libpq_url(url)}",
                                "parcels", "-t_srs", "EPSG:4326", "-lco", "RFC7946=YES"],
                               stdout=subprocess.PIPE)
    assert process.stdout is not None
    size = 0
    while block := process.stdout.read(1 << 20):
        size += len(block)
    process.wait()
    return size, time.perf_counter() - started


def bench_download(url: str) -> None:
    """MB/s and service memory for whole-layer downloads of the parcels."""
    rows: list[list[str]] = []
    with geoportal_server(url, workers=1) as (base, pid):
        cases: list[tuple[str, str, Callable[[int], int]]] = [
            ("GeoJSON, CRS84", "/opendata/parcels.geojson", lambda n: n - 2),
            ("GeoJSON, EPSG:26191", "/opendata/parcels.geojson?crs=EPSG:26191",
             lambda n: n - 2),
            ("CSV (WKT), CRS84", "/opendata/parcels.csv", lambda n: n - 1),
            ("GeoPackage, CRS84", "/opendata/parcels.gpkg", lambda n: BENCH_PARCELS),
        ]
        for label, path, features_of in cases:
            size, lines, seconds, before, peak = _download(f"{base}{path}", pid)
            rows.append([f"geoportal {path}", label, f"{size / 1e6:,.0f}", f"{seconds:.1f}",
                         f"{size / 1e6 / seconds:,.1f}", f"{features_of(lines) / seconds:,.0f}",
                         f"{before:,.0f} → {peak:,.0f}"])
    size, seconds = _ogr2ogr_geojson(url)
    rows.append(["ogr2ogr -f GeoJSON from PostGIS", "GeoJSON, CRS84", f"{size / 1e6:,.0f}",
                 f"{seconds:.1f}", f"{size / 1e6 / seconds:,.1f}",
                 f"{BENCH_PARCELS / seconds:,.0f}", "–"])
    print_table(f"Whole-layer download of {BENCH_PARCELS:,} parcels (one worker, no gzip)",
                ["source", "format", "MB", "seconds", "MB/s", "features/s",
                 "service RSS MB: idle → peak"], rows)


def main() -> None:
    """Both benchmarks on the bench database."""
    url = bench_database_url()
    ensure_bench_data(url)
    bench_import(url)
    bench_download(url)


if __name__ == "__main__":
    main()
