"""Vector tiles side by side: this service (uncached and cached) and tipg, same tables.

On the bench database (1,000,000 demo parcels): a dense z15 parcel tile and a z13 zoning
tile. "Uncached" runs a server started with the tile cache off (GEOPORTAL_TILES_CACHE_MB=0)
over a rotation of the densest distinct tiles; "cached" runs the default server over the same
rotation after one warm-up pass. Bounded wrk runs at 8 connections, tiles uncompressed.

``python -m bench tiles --baseline 5142b49`` compares this code with an earlier commit's
instead of tipg: both services side by side in one run (each on a database its own code
loaded with the same demo), the same tiles, cold (cache off) and warm (cached), runs
alternating before/after, best of ``--rounds``; it prints after/before ratios.

``python -m bench tiles [--baseline COMMIT] [--parcels N] [--seconds S] [--rounds R]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import httpx
import psycopg

from bench.baseline import (
    RATIO_HEADER,
    Compared,
    baseline_database,
    baseline_source,
    before_after,
    ratio_row,
    service,
)
from bench.common import (
    BENCH_PARCELS,
    LoadResult,
    bench_database_name,
    bench_database_url,
    ensure_bench_data,
    geoportal_server,
    print_table,
    ratio,
    wrk,
)
from bench.tipg import tipg_server
from geoportal.core.resources import CHECKOUT

SECONDS = int(os.environ.get("GEOPORTAL_BENCH_SECONDS", "8"))
CONNECTIONS = 8
ROTATION = 24  # distinct tiles per workload
ROUNDS = 2  # before/after runs alternate; the best of each side is kept
CACHE_OFF = {"GEOPORTAL_TILES_CACHE_MB": "0"}

# The tiles holding most features: centroids binned on the WebMercatorQuad grid.
DENSEST_SQL = """
WITH c AS (SELECT ST_Transform(ST_PointOnSurface(geom), 3857) AS p FROM {table}),
     t AS (SELECT floor((ST_X(p) + 20037508.342789244) / (40075016.68557849 / 2 ^ %(z)s))::int AS x,
                  floor((20037508.342789244 - ST_Y(p)) / (40075016.68557849 / 2 ^ %(z)s))::int AS y
           FROM c)
SELECT x, y, count(*) FROM t GROUP BY x, y ORDER BY count(*) DESC, x, y LIMIT %(n)s
"""


@dataclass(frozen=True)
class Workload:
    """One kind of tile as a rotation of addresses, and the paths each server serves it at."""

    title: str
    ours_path: str  # e.g. /ogc/collections/parcels/tiles/WebMercatorQuad
    tipg_path: str  # e.g. /collections/public.parcels/tiles/WebMercatorQuad
    z: int
    tiles: list[tuple[int, int]]

    @property
    def name(self) -> str:
        """The title without what tipg is given instead."""
        return self.title.partition(":")[0]

    def ours(self, base: str) -> list[str]:
        """Our URLs."""
        return [f"{base}{self.ours_path}/{self.z}/{x}/{y}" for x, y in self.tiles]

    def tipg(self, base: str) -> list[str]:
        """tipg's URLs for the same tiles."""
        return [f"{base}{self.tipg_path}/{self.z}/{x}/{y}" for x, y in self.tiles]


def workloads(url: str) -> list[Workload]:
    """The dense z15 parcel tile, the z13 zoning tile, and the viewer's z13 tile."""
    z15 = densest_tiles(url, "parcels", 15, ROTATION)
    z13 = densest_tiles(url, "parcels", 13, ROTATION)  # the city centre: the busiest zoning
    ogc = "/ogc/collections/{}/tiles/WebMercatorQuad"
    tipg = "/collections/public.{}/tiles/WebMercatorQuad"
    return [
        Workload("z15 parcels (densest)", ogc.format("parcels"), tipg.format("parcels"), 15, z15),
        Workload("z13 zoning", ogc.format("zoning"), tipg.format("zoning"), 13, z13),
        # What a map shows at z13: ours is every legible layer in one tile (plots start at
        # z15); tipg's parcels collection has no minimum zoom and sends every plot.
        Workload("z13 map tile: ours all layers, tipg parcels", "/ogc/tiles/WebMercatorQuad",
                 tipg.format("parcels"), 13, z13),
    ]


def densest_tiles(url: str, table: str, z: int, n: int) -> list[tuple[int, int]]:
    """The ``n`` tiles of zoom ``z`` holding the most features of ``table``."""
    with psycopg.connect(url) as conn:
        sql = DENSEST_SQL.format(table=table)  # a table name of ours, not input
        rows = conn.execute(sql, {"z": z, "n": n}).fetchall()  # type: ignore[arg-type]
    return [(int(x), int(y)) for x, y, _ in rows]


def mean_kb(urls: Sequence[str]) -> float:
    """Mean uncompressed size of the tiles, in KB."""
    sizes = [len(httpx.get(u, headers={"Accept-Encoding": "identity"}, timeout=60).content)
             for u in urls]
    return statistics.fmean(sizes) / 1024


def measure(label: str, urls: list[str], seconds: int) -> tuple[LoadResult, float]:
    """A warm-up pass, then a bounded run; with the mean tile size."""
    size = mean_kb(urls)
    wrk(label, urls, CONNECTIONS, seconds=2)
    return wrk(label, urls, CONNECTIONS, seconds=seconds), size


def versus_tipg(url: str, loads: list[Workload], seconds: int, parcels: int) -> None:
    """This service uncached and cached beside tipg on the same tables."""
    results: dict[tuple[str, str], tuple[LoadResult, float]] = {}
    with geoportal_server(url, extra_env=CACHE_OFF) as (base, _):
        for w in loads:
            results[(w.title, "ours-uncached")] = measure("geoportal, uncached", w.ours(base),
                                                          seconds)
    with geoportal_server(url) as (base, _):
        for w in loads:
            results[(w.title, "ours-cached")] = measure("geoportal, cached", w.ours(base),
                                                        seconds)
    with tipg_server(url) as (base, _):
        for w in loads:
            results[(w.title, "tipg")] = measure("tipg 1.x", w.tipg(base), seconds)

    rows = []
    for w in loads:
        tipg_rps = results[(w.title, "tipg")][0].rps
        for key in ("ours-uncached", "ours-cached", "tipg"):
            load, kb = results[(w.title, key)]
            rows.append([w.title, *load.row(), f"{kb:,.1f}", ratio(load.rps, tipg_rps)])
    print_table(
        f"Vector tiles, {CONNECTIONS} connections, {seconds} s, rotation of {ROTATION} distinct "
        f"tiles ({parcels:,} parcels)",
        ["tile", "server", "tiles/s", "p50 ms", "p95 ms", "errors", "mean KB", "vs tipg"], rows)


def versus_baseline(commit: str, url: str, loads: list[Workload], seconds: int, rounds: int,
                    parcels: int) -> None:
    """This service beside the code of ``commit``, cold and warm, same tiles."""
    source = baseline_source(commit)
    before_url = baseline_database(source, parcels, commit)
    paths = {w.name: w.ours("") for w in loads}
    load = os.getloadavg()
    rows = []
    for cache, env in (("cold (cache off)", CACHE_OFF), ("warm (cached)", {})):
        with service(source, before_url, extra_env=env) as before, \
                service(CHECKOUT, url, extra_env=env) as after:
            kb = {w.name: (mean_kb(w.ours(before.base)), mean_kb(w.ours(after.base)))
                  for w in loads}
            compared: list[Compared] = before_after(
                paths, before, after, rounds=rounds, seconds=seconds,
                connections=CONNECTIONS, threads=1, warm_up=2)
        for c in compared:
            errors = c.before.errors + c.after.errors
            rows.append([c.name, cache, *ratio_row(c), f"{kb[c.name][0]:,.1f}",
                         f"{kb[c.name][1]:,.1f}", str(errors)])
    print_table(
        f"Vector tiles before ({commit}) and after (this code), {CONNECTIONS} connections, "
        f"{seconds} s, best of {rounds}, rotation of {ROTATION} distinct tiles ({parcels:,} "
        f"parcels; load average {load[0]:.2f} at start)",
        ["tile", "cache", *RATIO_HEADER, "before KB", "after KB", "errors"], rows)


def main(argv: list[str] | None = None) -> None:
    """Run the comparison (with tipg, or with an earlier commit) and print it."""
    parser = argparse.ArgumentParser(prog="python -m bench tiles")
    parser.add_argument("--baseline", metavar="COMMIT",
                        help="compare with the code of this commit instead of tipg")
    parser.add_argument("--parcels", type=int, default=BENCH_PARCELS)
    parser.add_argument("--seconds", type=int, default=SECONDS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    options = parser.parse_args(argv or [])
    url = bench_database_url(bench_database_name(options.parcels))
    ensure_bench_data(url, options.parcels)
    loads = workloads(url)
    if options.baseline:
        versus_baseline(options.baseline, url, loads, options.seconds, options.rounds,
                        options.parcels)
    else:
        versus_tipg(url, loads, options.seconds, options.parcels)


if __name__ == "__main__":
    main(sys.argv[1:])
