"""How the cost of the hot statements grows with the number of plots: 100,000 → 1,000,000.

For docs/scaling.md (issue 14). Each size has its own bench database with the demo set
(``bench_database_name``, loaded once, same seed). On each, pgbench runs the very statements
the service runs — built by its own code (``bench.features.workloads``, the ``/rules`` lookup
statement) — at one connection, so the figure is the statement's latency, not the machine's
throughput. The deep page of bench.features is left out (its cursor lies beyond 100,000).

``python -m bench scaling`` (``--sizes 100000,1000000``, ``GEOPORTAL_BENCH_SECONDS`` per run).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence

import psycopg

from bench.common import (
    LoadResult,
    bench_database_name,
    bench_database_url,
    ensure_bench_data,
    print_table,
)
from bench.features import BBOX_A, BBOX_B, POLYGON, raw_sql, workloads
from bench.rules import lookup_statement, pgbench, sample_points

SIZES = (100_000, 1_000_000)
KEPT = ("a", "b", "c", "d")  # bench.features' workloads that mean the same at every size
POINTS = 64


def _context(url: str) -> tuple[int, str, str]:
    """The largest id; the plots' table and index sizes; how many plots lie in the small
    bbox, the larger one and the filter's polygon (the demo spreads every size over the same
    city, so density grows with the count)."""
    boxes = [f"ST_Transform(ST_MakeEnvelope({box}, 4326), 26191)" for box in (BBOX_A, BBOX_B)]
    boxes.append(f"ST_Transform(ST_GeomFromText('{POLYGON}', 4326), 26191)")
    counts = ", ".join(f"(SELECT count(*) FROM parcels WHERE geom && {box})" for box in boxes)
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT max(id), pg_size_pretty(pg_table_size('parcels')), "
            f"pg_size_pretty(pg_indexes_size('parcels')), {counts} FROM parcels").fetchone()
    assert row is not None
    return (int(row[0]), f"table {row[1]}, indexes {row[2]}",
            f"{row[3]:,} / {row[4]:,} / {row[5]:,}")


def measure(parcels: int) -> tuple[dict[str, LoadResult], list[str]]:
    """Each statement's latency on a database of ``parcels`` plots, and its context."""
    url = bench_database_url(bench_database_name(parcels))
    ensure_bench_data(url, parcels)
    max_id, sizes, density = _context(url)
    results: dict[str, LoadResult] = {}
    for work in workloads(url):
        if work.key in KEPT and work.raw is not None:
            results[work.title] = raw_sql(work.title, url, work.raw, 1,
                                          rotate_id=work.key == "c", max_id=max_id)
    points = sample_points(url, POINTS)
    title = "/rules lookup of a point (64 points rotated)"
    results[title] = pgbench(title, url, [lookup_statement(x, y) for _, x, y in points], 1)
    return results, [sizes, density]


def main(argv: Sequence[str] = ()) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench scaling")
    parser.add_argument("--sizes", default=",".join(str(n) for n in SIZES),
                        help="Plot counts, comma-separated (two or more).")
    options = parser.parse_args(list(argv))
    sizes = sorted(int(n) for n in options.sizes.split(","))
    measured = {n: measure(n) for n in sizes}
    small, large = sizes[0], sizes[-1]
    rows = []
    for title in measured[small][0]:
        cells = [title]
        for n in sizes:
            cells.append(f"{measured[n][0][title].p50_ms:.2f} / {measured[n][0][title].p95_ms:.2f}")
        cells.append(f"{measured[large][0][title].p50_ms / measured[small][0][title].p50_ms:.2f}×"
                     if measured[small][0][title].p50_ms else "–")
        rows.append(cells)
    rows.append(["plots' table and indexes", *(measured[n][1][0] for n in sizes), ""])
    rows.append(["plots in the small bbox / larger bbox / filter polygon",
                 *(measured[n][1][1] for n in sizes), ""])
    print_table(
        f"Statement latency as the plots grow {small:,} → {large:,} (pgbench, 1 connection, "
        f"p50 / p95 ms; log₁₀ grows {math.log10(large) / math.log10(small):.2f}×)",
        ["statement", *(f"{n:,} plots" for n in sizes), f"p50 ratio {large:,} / {small:,}"],
        rows)


if __name__ == "__main__":
    main(sys.argv[1:])
