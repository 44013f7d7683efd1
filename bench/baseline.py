"""The code of an earlier commit beside this one: its source, its database, its server, and the
same workloads run alternately against both in one run, printed as after/before ratios.

Used by ``bench edits`` (reads before history) and ``bench tiles --baseline COMMIT``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench.common import RESULTS, LoadResult, free_port, server, tree_cpu_s, wrk
from geoportal.core.protocol import PROTOCOL
from geoportal.core.resources import CHECKOUT
from geoportal.db.urls import libpq_url, resolve_admin_database_url, with_database
from geoportal.settings import Settings

BASELINE = "5142b49"  # main before migration 0004 (history) and the write path
WORKERS = 2


def baseline_source(commit: str = BASELINE) -> Path:
    """The source tree of ``commit``, extracted once into the private home (outside the
    checkout's sources, so that no linter or test run reads it)."""
    folder = Settings().home / f"bench-baseline-{commit}"
    if not (folder / "geoportal").is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(CHECKOUT), "archive", commit],
                                 capture_output=True, check=True).stdout
        # our own commit, unpacked by tar (Debian's Python 3.11.2 has no tarfile filters)
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def _in_baseline(source: Path, code: str) -> None:
    subprocess.run([sys.executable, "-c", code], cwd=source, check=True,
                   env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(source)})


def baseline_database_name(commit: str, parcels: int) -> str:
    """The database of a baseline (the default one keeps the name it was first loaded under)."""
    if commit == BASELINE:
        return f"geoportal_bench_before_{parcels}"
    return f"geoportal_bench_{commit.lower()}_{parcels}"


def baseline_database(source: Path, parcels: int, commit: str = BASELINE) -> str:
    """A database migrated and loaded by the baseline's own code (once)."""
    name = baseline_database_name(commit, parcels)
    admin = with_database(libpq_url(resolve_admin_database_url(Settings())), "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                        (name,)).fetchone() is None:
            conn.execute(f"CREATE DATABASE {name}")  # a name of ours, not input
    url = with_database(admin, name)
    with psycopg.connect(url) as conn:
        loaded = conn.execute("SELECT to_regclass('parcels') IS NOT NULL").fetchone()
        count = conn.execute("SELECT count(*) FROM parcels").fetchone() \
            if loaded and loaded[0] else (0,)
    if count is None or count[0] != parcels:
        print(f"loading {parcels:,} plots with the code of {commit} (once)...", flush=True)
        _in_baseline(source, f"from geoportal.db.migrate import upgrade; upgrade({url!r}); "
                             f"from geoportal.demo.load import load_demo; "
                             f"load_demo({url!r}, parcels={parcels}, seed=42)")
    return url


@dataclass(frozen=True)
class Side:
    """A running service: its URL and the pid of its uvicorn master."""

    base: str
    pid: int


@contextmanager
def service(source: Path, database_url: str, writer_url: str | None = None,
            extra_env: Mapping[str, str] | None = None) -> Iterator[Side]:
    """The service of a source tree under uvicorn (2 workers) on a database."""
    port = free_port()
    env = {"PYTHONPATH": str(source), "GEOPORTAL_DATABASE_URL": database_url,
           "GEOPORTAL_DATA_DIR": str(RESULTS / "rasters"), **(extra_env or {})}
    if writer_url:
        env["GEOPORTAL_WRITE_DATABASE_URL"] = writer_url
    args = [sys.executable, "-m", "uvicorn", "geoportal.app:create_app", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(WORKERS),
            "--log-level", "warning", "--no-access-log"]
    if (source / "geoportal" / "core" / "protocol.py").exists():
        args += ["--http", PROTOCOL]  # the source's own HTTP protocol, when it has one
    base = f"http://127.0.0.1:{port}"
    with server(args, f"{base}/health", env=env, cwd=source) as process:
        yield Side(base, process.pid)


@dataclass(frozen=True)
class Compared:
    """One workload's best run on each side, and the service's CPU time per request over all
    its runs (steadier than throughput on a shared machine)."""

    name: str
    before: LoadResult
    after: LoadResult
    before_cpu_ms: float
    after_cpu_ms: float

    @property
    def ratio(self) -> float:
        """after / before in requests per second."""
        return self.after.rps / self.before.rps if self.before.rps else 0.0


def before_after(workloads: Mapping[str, Sequence[str]], before: Side, after: Side, *,
                 rounds: int, seconds: int, connections: int = 8, threads: int = 2,
                 warm_up: int = 1) -> list[Compared]:
    """Each workload (a rotation of paths) against both services: a warm-up pass, then
    ``rounds`` bounded runs alternating before/after; the best run of each side."""
    sides = {"before": before, "after": after}
    for paths in workloads.values():
        for side in sides.values():
            wrk("warm-up", [side.base + p for p in paths], connections=connections,
                seconds=warm_up, threads=threads)
    runs: dict[tuple[str, str], list[LoadResult]] = {}
    cpu: dict[tuple[str, str], float] = {}
    for _ in range(rounds):
        for name, paths in workloads.items():
            for label, side in sides.items():
                used = tree_cpu_s(side.pid)
                runs.setdefault((name, label), []).append(wrk(
                    f"{name} ({label})", [side.base + p for p in paths],
                    connections=connections, seconds=seconds, threads=threads))
                cpu[(name, label)] = cpu.get((name, label), 0.0) + tree_cpu_s(side.pid) - used

    def cpu_ms(name: str, label: str) -> float:
        served = sum(r.rps * seconds for r in runs[(name, label)])
        return 1000 * cpu[(name, label)] / served if served else 0.0

    return [Compared(name, max(runs[(name, "before")], key=lambda r: r.rps),
                     max(runs[(name, "after")], key=lambda r: r.rps),
                     cpu_ms(name, "before"), cpu_ms(name, "after"))
            for name in workloads]


RATIO_HEADER = ["before req/s", "after req/s", "after/before", "before p95 ms", "after p95 ms",
                "before CPU ms/req", "after CPU ms/req", "CPU after/before"]


def ratio_row(compared: Compared) -> list[str]:
    """Table cells under :data:`RATIO_HEADER`."""
    cpu_ratio = compared.after_cpu_ms / compared.before_cpu_ms if compared.before_cpu_ms else 0
    return [f"{compared.before.rps:,.1f}", f"{compared.after.rps:,.1f}",
            f"{compared.ratio:.2f}×", f"{compared.before.p95_ms:.2f}",
            f"{compared.after.p95_ms:.2f}", f"{compared.before_cpu_ms:.2f}",
            f"{compared.after_cpu_ms:.2f}", f"{cpu_ratio:.2f}×"]
