"""The buildable envelope (``/rules?...&envelope=true``), on the bench database.

* one plot at a time over HTTP, 1 connection, on ``--plots`` random plots: p50/p95 of the
  lookup with its envelope, beside the same lookup without (what the envelope costs), and of
  the neighbours' envelopes (``/rules/neighbours``, the viewer's 3D scene);
* ``POST /rules/batch`` of ``--batch`` plots with ``"envelope": true``, beside the same batch
  without (median of a few runs, seconds).

``python -m bench envelope --parcels 3000 --plots 50 --batch 200`` is a quick check.
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx

from bench.common import (
    BENCH_PARCELS,
    bench_database_name,
    bench_database_url,
    ensure_bench_data,
    geoportal_server,
    print_table,
)
from bench.rules import sample_refs

PLOTS = 200
BATCH = 1_000
BATCH_RUNS = 3
WORKERS = 2


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of ``values`` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def one_by_one(base: str, refs: list[str], envelope: bool) -> list[float]:
    """Milliseconds per GET /rules?parcel=…, one request at a time (after a warm-up)."""
    params = {"envelope": "true"} if envelope else {}
    timings = []
    with httpx.Client(base_url=base, timeout=60) as client:
        for ref in refs[:10]:
            client.get("/rules", params={"parcel": ref, **params}).raise_for_status()
        for ref in refs:
            started = time.perf_counter()
            response = client.get("/rules", params={"parcel": ref, **params})
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            if envelope and response.json()["envelope"] is None:
                raise RuntimeError(f"{ref}: no envelope in the answer")
            timings.append(elapsed * 1000)
    return timings


def batches(base: str, refs: list[str], envelope: bool) -> list[float]:
    """Seconds per POST /rules/batch of ``refs``, BATCH_RUNS times (after a warm-up)."""
    body = {"items": [{"parcel": ref} for ref in refs], "envelope": envelope}
    timings = []
    with httpx.Client(base_url=base, timeout=300) as client:
        for run in range(BATCH_RUNS + 1):
            started = time.perf_counter()
            response = client.post("/rules/batch", json=body)
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            answers = [r["answer"] for r in response.json()["results"] if r["answer"]]
            if len(answers) != len(refs) or (envelope and any(
                    a["envelope"] is None for a in answers)):
                raise RuntimeError("the batch did not answer every plot with its envelope")
            if run:
                timings.append(elapsed)
    return timings


def around(base: str, refs: list[str]) -> tuple[list[float], list[int]]:
    """Milliseconds per GET /rules/neighbours?parcel=… (the viewer's 3D scene: the envelopes
    of the plots within 30 m, at most 20), one at a time, and how many each gave."""
    timings, counts = [], []
    with httpx.Client(base_url=base, timeout=60) as client:
        for ref in refs[:10]:
            client.get("/rules/neighbours", params={"parcel": ref}).raise_for_status()
        for ref in refs:
            started = time.perf_counter()
            response = client.get("/rules/neighbours", params={"parcel": ref})
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            counts.append(len(response.json()["features"]))
            timings.append(elapsed * 1000)
    return timings, counts


def _row(label: str, ms: list[float]) -> list[str]:
    return [label, f"{statistics.median(ms):.2f}", f"{percentile(ms, 0.95):.2f}",
            str(len(ms))]


def _batch_row(label: str, seconds: list[float]) -> list[str]:
    return [label, f"{statistics.median(seconds):.2f}", f"{min(seconds):.2f}",
            f"{max(seconds):.2f}"]


def main(argv: list[str] | None = None) -> None:
    """Run the envelope benchmark and print its tables."""
    parser = argparse.ArgumentParser(prog="python -m bench envelope")
    parser.add_argument("--plots", type=int, default=PLOTS)
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--parcels", type=int, default=BENCH_PARCELS)
    parser.add_argument("--workers", type=int, default=WORKERS)
    options = parser.parse_args(argv or [])
    url = bench_database_url(bench_database_name(options.parcels))
    ensure_bench_data(url, options.parcels)
    plots = sample_refs(url, options.plots)
    batch = sample_refs(url, options.batch)
    with geoportal_server(url, workers=options.workers) as (base, _pid):
        with_envelope = one_by_one(base, plots, envelope=True)
        without = one_by_one(base, plots, envelope=False)
        neighbours, counts = around(base, plots)
        batch_with = batches(base, batch, envelope=True)
        batch_without = batches(base, batch, envelope=False)
    print_table(
        f"Buildable envelope, one plot at a time (HTTP, 1 connection, {len(plots)} random "
        f"plots of {options.parcels:,}, {options.workers} workers)",
        ["workload", "p50 ms", "p95 ms", "requests"],
        [_row("GET /rules?parcel=…&envelope=true", with_envelope),
         _row("GET /rules?parcel=… (no envelope)", without),
         _row(f"GET /rules/neighbours?parcel=… ({statistics.mean(counts):.1f} envelopes)",
              neighbours)])
    print_table(
        f"Buildable envelope in a batch of {len(batch):,} plots (median of {BATCH_RUNS})",
        ["workload", "median s", "min s", "max s"],
        [_batch_row('POST /rules/batch, "envelope": true', batch_with),
         _batch_row("POST /rules/batch (no envelope)", batch_without)])


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
