"""OGC API Features side by side: this service, tipg, pygeoapi and the raw SQL ceiling.

Same database (1,000,000 demo parcels), same machine, same concurrency, bounded wrk runs.
The raw SQL ceiling is pgbench running the very statement that makes our response body.
"""

from __future__ import annotations

import os
import random
import re
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg
from starlette.datastructures import QueryParams

from bench.common import (
    LoadResult,
    bench_database_url,
    ensure_bench_data,
    geoportal_server,
    print_table,
    ratio,
    tree_rss_mb,
    wrk,
)
from bench.pygeoapi_server import pygeoapi_server
from bench.tipg import tipg_server
from geoportal.core import formats
from geoportal.db.urls import libpq_url
from geoportal.ogc.params import parse_items_query
from geoportal.ogc.query import Statement, feature_statement, items_statement
from geoportal.registry import load_registry
from geoportal.settings import Settings

SECONDS = int(os.environ.get("GEOPORTAL_BENCH_SECONDS", "8"))
BBOX_A = "-7.60,33.57,-7.59,33.58"
BBOX_B = "-7.62,33.55,-7.58,33.59"
POLYGON = "POLYGON((-7.61 33.56,-7.59 33.56,-7.59 33.58,-7.61 33.58,-7.61 33.56))"
DEEP = 900_000


@dataclass(frozen=True)
class Workload:
    """One request shape, as each server spells it."""

    key: str
    title: str
    connections: int
    ours: list[str]
    tipg: list[str]
    pygeoapi: list[str]
    raw: Statement | None


def _items(collection: str, **params: str) -> str:
    query = "&".join(f"{k}={quote(v, safe=',')}" for k, v in params.items())
    return f"/collections/{collection}/items?{query}"


def _statement(query: str, layer_area: float) -> Statement:
    settings = Settings(items_max_limit=10_000)
    layer = load_registry(settings.layers_dir).get("parcels")
    assert layer is not None
    parsed = parse_items_query(QueryParams(query), layer, settings)
    return items_statement(layer, parsed, formats.GEOJSON, layer_area)


def workloads(database_url: str) -> list[Workload]:
    """The five workloads of issue 3."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT ST_XMax(e) - ST_XMin(e), ST_YMax(e) - ST_YMin(e) "
                           "FROM (SELECT ST_Extent(geom) AS e FROM parcels) s").fetchone()
        assert row is not None
        area = float(row[0]) * float(row[1])
        top = conn.execute("SELECT max(id) FROM parcels").fetchone()
    max_id = int(top[0]) if top and top[0] else 1
    rng = random.Random(42)
    ids = [rng.randint(1, max_id) for _ in range(200)]
    cql = f"area_m2 > 500 AND S_INTERSECTS(geometry, {POLYGON})"
    cql_geom = cql.replace("geometry", "geom")
    layer = load_registry(Settings().layers_dir).get("parcels")
    assert layer is not None
    return [
        Workload("a", "100 features in a small bbox", 8,
                 [f"/ogc{_items('parcels', bbox=BBOX_A, limit='100')}"],
                 [_items("public.parcels", bbox=BBOX_A, limit="100")],
                 [_items("parcels", bbox=BBOX_A, limit="100", f="json")],
                 _statement(f"bbox={BBOX_A}&limit=100", area)),
        Workload("b", "1,000 features in a larger bbox", 4,
                 [f"/ogc{_items('parcels', bbox=BBOX_B, limit='1000')}"],
                 [_items("public.parcels", bbox=BBOX_B, limit="1000")],
                 [_items("parcels", bbox=BBOX_B, limit="1000", f="json")],
                 _statement(f"bbox={BBOX_B}&limit=1000", area)),
        Workload("c", "one feature by id (200 ids rotated)", 8,
                 [f"/ogc/collections/parcels/items/{i}" for i in ids],
                 [f"/collections/public.parcels/items/{i}" for i in ids],
                 [f"/collections/parcels/items/{i}?f=json" for i in ids],
                 feature_statement(layer, 0, formats.GEOJSON,
                                   parse_items_query(QueryParams(""), layer, Settings()).crs,
                                   list(layer.properties))),
        Workload("d", "CQL2 attribute + spatial filter, 100 features", 8,
                 [f"/ogc{_items('parcels', filter=cql, limit='100')}"],
                 [_items("public.parcels", filter=cql_geom, limit="100",
                         **{"filter-lang": "cql2-text"})],
                 # pygeoapi 0.21 reads filter= as ECQL (INTERSECTS, not S_INTERSECTS)
                 [_items("parcels", filter=cql_geom.replace("S_INTERSECTS", "INTERSECTS"),
                         limit="100", f="json")],
                 _statement(f"filter={quote(cql)}&limit=100", area)),
        Workload("e", f"deep page: 100 features after {DEEP:,}", 8,
                 [f"/ogc{_items('parcels', cursor=str(DEEP), limit='100')}"],
                 [_items("public.parcels", offset=str(DEEP), limit="100")],
                 [_items("parcels", offset=str(DEEP), limit="100", f="json")],
                 _statement(f"cursor={DEEP}&limit=100", area)),
    ]


def _literal(value: object) -> str:
    if isinstance(value, bytes):
        return "'\\x" + value.hex() + "'::bytea"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def pgbench_script(statement: Statement, rotate_id: bool, max_id: int = 1_000_000) -> str:
    """The statement with its values inlined (pgbench has no typed parameters)."""
    text = statement.text
    for number in range(len(statement.values), 0, -1):
        value = ":fid" if rotate_id and number == 1 else _literal(statement.values[number - 1])
        text = re.sub(rf"\${number}(?!\d)", lambda _, v=value: v, text)
    text = " ".join(text.split())
    header = f"\\set fid random(1, {max_id})\n" if rotate_id else ""
    return f"{header}{text};\n"


def raw_sql(label: str, database_url: str, statement: Statement, connections: int,
            rotate_id: bool = False, max_id: int = 1_000_000) -> LoadResult:
    """pgbench running the statement: the ceiling for any HTTP service on this database."""
    with tempfile.TemporaryDirectory(prefix="bench-pgbench-") as folder:
        script = Path(folder) / "body.sql"
        script.write_text(pgbench_script(statement, rotate_id, max_id))
        subprocess.run(["pgbench", "-n", "-M", "prepared", "-c", str(connections), "-j", "2",
                        "-T", str(SECONDS), "-l", "-f", str(script), libpq_url(database_url)],
                       cwd=folder, capture_output=True, text=True, check=True,
                       timeout=SECONDS + 120)
        latencies: list[float] = []
        for log in Path(folder).glob("pgbench_log.*"):
            for line in log.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 3:
                    latencies.append(int(parts[2]) / 1000)
    if not latencies:
        return LoadResult(label, 0.0, 0.0, 0.0, 1)
    quantiles = statistics.quantiles(latencies, n=100)
    return LoadResult(label, len(latencies) / SECONDS, quantiles[49], quantiles[94], 0)


def _check(base: str, paths: list[str]) -> str:
    """One request to each shape before the load: a broken URL must not be measured."""
    response = httpx.get(base + paths[0], timeout=120)
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    body = response.json()
    count = body.get("numberReturned", len(body.get("features", [])) or 1)
    return f"{count} features" if "features" in body else "1 feature"


def run_workload(load: Workload, servers: dict[str, tuple[str, Callable[[Workload], list[str]]]],
                 results: dict[tuple[str, str], LoadResult]) -> None:
    """One workload against every server back to back, so that they share the same noise."""
    for name, (base, pick) in servers.items():
        paths = pick(load)
        checked = _check(base, paths)
        print(f"  ({load.key}) {name}: {checked}", flush=True)
        wrk("warm-up", [base + p for p in paths], load.connections, 2)  # pools, caches
        results[(load.key, name)] = wrk(f"{name} ({checked})", [base + p for p in paths],
                                        load.connections, SECONDS)


def jsonseq_memory(base: str, pid: int) -> tuple[float, float, float, int]:
    """(RSS before, peak RSS, seconds, features) for a full-layer f=jsonseq download."""
    before = tree_rss_mb(pid)
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_rss_mb(pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    features = 0
    with httpx.stream("GET", f"{base}/ogc/collections/parcels/items?f=jsonseq",
                      timeout=600) as response:
        for chunk in response.iter_bytes():
            features += chunk.count(b"\x1e")
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    return before, peak[0], elapsed, features


def main() -> None:
    """Run the comparison and print the tables."""
    url = bench_database_url()
    ensure_bench_data(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE parcels")
    loads = workloads(url)
    results: dict[tuple[str, str], LoadResult] = {}
    env = {"GEOPORTAL_POOL_MIN_SIZE": "4", "GEOPORTAL_POOL_MAX_SIZE": "8"}
    print("starting this service, tipg and pygeoapi (uvicorn, 2 workers each)...", flush=True)
    with geoportal_server(url, workers=2, extra_env=env) as (ours, pid), \
            tipg_server(url, workers=2) as (tipg, _), \
            pygeoapi_server(url, workers=2) as (pygeoapi, _):
        servers: dict[str, tuple[str, Callable[[Workload], list[str]]]] = {
            "geoportal": (ours, lambda w: w.ours),
            "tipg": (tipg, lambda w: w.tipg),
            "pygeoapi": (pygeoapi, lambda w: w.pygeoapi),
        }
        for load in loads:
            run_workload(load, servers, results)
            assert load.raw is not None
            results[(load.key, "raw SQL")] = raw_sql(
                "raw SQL (pgbench)", url, load.raw, load.connections, rotate_id=load.key == "c")
        before, peak, seconds, count = jsonseq_memory(ours, pid)
    report(loads, results, (before, peak, seconds, count))


def report(loads: list[Workload], results: dict[tuple[str, str], LoadResult],
           memory: tuple[float, float, float, int]) -> None:
    """Print the measurements and the ratios."""
    rows = []
    for load in loads:
        for name in ("geoportal", "tipg", "pygeoapi", "raw SQL"):
            result = results[(load.key, name)]
            rows.append([f"({load.key}) {load.title}", f"{load.connections}", *result.row()])
    print_table("OGC API Features: req/s and latency (ms), same DB, 1,000,000 parcels",
                ["workload", "conn", "server", "req/s", "p50", "p95", "errors"], rows)
    ratios = []
    for load in loads:
        ours = results[(load.key, "geoportal")].rps
        ratios.append([f"({load.key}) {load.title}", f"{ours:,.1f}",
                       ratio(ours, results[(load.key, "tipg")].rps),
                       ratio(ours, results[(load.key, "pygeoapi")].rps),
                       f"{100 * ours / results[(load.key, 'raw SQL')].rps:.0f}%"
                       if results[(load.key, "raw SQL")].rps else "–"])
    print_table("OGC API Features: this service against the others",
                ["workload", "geoportal req/s", "× tipg", "× pygeoapi", "of raw SQL ceiling"],
                ratios)
    before, peak, seconds, count = memory
    print_table("Full-layer f=jsonseq download (this service, 2 workers)",
                ["features", "seconds", "features/s", "RSS before (MB)", "peak RSS (MB)",
                 "growth (MB)"],
                [[f"{count:,}", f"{seconds:.1f}", f"{count / seconds:,.0f}", f"{before:.0f}",
                  f"{peak:.0f}", f"{peak - before:.0f}"]])


if __name__ == "__main__":
    main()
