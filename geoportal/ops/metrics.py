"""Prometheus metrics of one worker, and of all of them in multiprocess mode.

Per request only a counter and a histogram move (children cached by label values). Gauges
of live objects — the read and write pools, the heavy lane, the tile cache — are sampled:
at scrape time in a single process; in multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set,
as ``geoportal serve --workers N`` does) also every ``metrics_sample_s`` by each worker,
since the scrape lands on one worker and must read the others' values from their files.
Database-wide values (job queue, replication lag) are read once per scrape.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from geoportal.core.admission import Admission
from geoportal.renseignement.signing_keys import key_info
from geoportal.settings import Settings
from geoportal.tiles.cache import TileCache

log = logging.getLogger("geoportal")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0)
DATABASE_TIMEOUT_S = 2.0
# A standby's lag: 0 when it has replayed all it received (an idle primary sends nothing, and
# that is no lag), else the age of the last transaction it replayed.
LAG_SQL = """CASE WHEN pg_is_in_recovery() THEN
    CASE WHEN pg_last_wal_receive_lsn() IS NOT NULL
              AND pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0
         ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0)
    END
END"""
# One statement: whether this node replays WAL, its lag, and whether the job queue exists.
NODE_SQL = f"""
SELECT pg_is_in_recovery() AS replica, {LAG_SQL} AS lag_s,
       to_regclass('procrastinate_jobs') IS NOT NULL AS has_jobs
"""
REPLICA_SQL = f"SELECT pg_is_in_recovery() AS replica, {LAG_SQL} AS lag_s"
JOBS_SQL = """
SELECT status::text, count(*) FROM procrastinate_jobs
WHERE status IN ('todo', 'doing') GROUP BY status
"""


def multiprocess_dir() -> str | None:
    """The folder of multiprocess mode, when this process runs in it."""
    return os.environ.get(MULTIPROC_ENV) or None


@dataclass
class DatabaseReading:
    """What the last scrape read from the database (None: unknown or not applicable)."""

    up: bool = False
    replica: bool = False
    lag_s: float | None = None
    jobs: dict[str, int] | None = None
    # each configured replica (GEOPORTAL_REPLICA_URLS): whether it answered, its lag
    replicas: dict[str, tuple[bool, float | None]] = field(default_factory=dict)


class DatabaseCollector(Collector):
    """Exposes the last :class:`DatabaseReading` (read just before the scrape)."""

    def __init__(self) -> None:
        self.reading = DatabaseReading()

    def collect(self) -> Iterator[Metric]:
        reading = self.reading
        up = GaugeMetricFamily("geoportal_database_up",
                               "Whether the database answered the scrape's query.")
        up.add_metric([], 1.0 if reading.up else 0.0)
        yield up
        replica = GaugeMetricFamily("geoportal_database_replica",
                                    "Whether the read database is a standby replaying WAL.")
        replica.add_metric([], 1.0 if reading.replica else 0.0)
        yield replica
        lags = {name: lag_s for name, (_, lag_s) in reading.replicas.items()
                if lag_s is not None}
        if reading.lag_s is not None:
            lags["read"] = reading.lag_s
        if lags:
            lag = GaugeMetricFamily(
                "geoportal_replication_lag_seconds",
                "Age of the last transaction a standby replayed while it has WAL left to "
                "replay (0 when caught up): the read database ('read') when it is a standby, "
                "and each replica.", labels=["node"])
            for name, value in sorted(lags.items()):
                lag.add_metric([name], value)
            yield lag
        if reading.replicas:
            answering = GaugeMetricFamily("geoportal_replica_up",
                                          "Whether each replica answered the scrape's query.",
                                          labels=["node"])
            for name, (up_now, _) in sorted(reading.replicas.items()):
                answering.add_metric([name], 1.0 if up_now else 0.0)
            yield answering
        if reading.jobs is not None:
            jobs = GaugeMetricFamily("geoportal_job_queue_depth",
                                     "Jobs of the procrastinate queue waiting or running.",
                                     labels=["status"])
            for status in ("todo", "doing"):
                jobs.add_metric([status], float(reading.jobs.get(status, 0)))
            yield jobs


class CertificateCollector(Collector):
    """When the agency's signing certificate expires (read again when its file changes)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._seen: tuple[float, float | None] | None = None  # (file mtime, expiry)

    def _expiry(self) -> float | None:
        path = self.settings.resolved_signing_key_path
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return None
        if self._seen is None or self._seen[0] != mtime:
            try:
                expiry: float | None = key_info(self.settings).not_after.timestamp()
            except Exception as exc:  # a wrong passphrase says so in the logs, not here
                log.debug("metrics: signing certificate not read (%s)", type(exc).__name__)
                expiry = None
            self._seen = (mtime, expiry)
        return self._seen[1]

    def collect(self) -> Iterator[Metric]:
        expiry = self._expiry()
        if expiry is not None:
            family = GaugeMetricFamily(
                "geoportal_signing_certificate_expiry_timestamp_seconds",
                "When the certificate signing the official notes expires (Unix time).")
            family.add_metric([], expiry)
            yield family


@dataclass
class Sources:
    """The live objects whose state the gauges show."""

    admission: Admission
    tiles: TileCache | None = None
    pools: dict[str, asyncpg.Pool | None] = field(default_factory=dict)


def _pool_waiting(pool: asyncpg.Pool) -> int:
    """Acquirers waiting for a connection (asyncpg keeps them in its queue's getters)."""
    queue = getattr(pool, "_queue", None)
    getters = getattr(queue, "_getters", ())
    return sum(1 for waiter in getters if not waiter.done())


async def _replica_reading(pool: asyncpg.Pool) -> tuple[bool, float | None]:
    """Whether a replica answers, and its lag (None when it does not answer)."""
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT_S), pool.acquire() as conn:
            node = await conn.fetchrow(REPLICA_SQL)
    except Exception as exc:  # down or failing over: geoportal_replica_up says so
        log.debug("metrics: replica not read (%s)", type(exc).__name__)
        return False, None
    return True, None if node["lag_s"] is None else float(node["lag_s"])


class Metrics:
    """The metrics of the app: the request recorder and the ``/metrics`` text."""

    def __init__(self, settings: Settings) -> None:
        self.multiprocess = multiprocess_dir() is not None
        # Multiprocess values live in files; the per-process registry is only for definitions.
        self.registry = CollectorRegistry(auto_describe=True)
        own = None if self.multiprocess else self.registry
        self.requests = Counter("geoportal_http_requests", "HTTP requests answered.",
                                ["method", "route", "status"], registry=own)
        self.latency = Histogram("geoportal_http_request_duration_seconds",
                                 "Time from the request's start to its response's end.",
                                 ["method", "route"], buckets=LATENCY_BUCKETS, registry=own)
        mode: dict[str, Any] = {"multiprocess_mode": "livesum"}
        self.pool_size = Gauge("geoportal_db_pool_connections", "Open connections of a pool.",
                               ["pool"], registry=own, **mode)
        self.pool_in_use = Gauge("geoportal_db_pool_in_use", "Connections lent to requests.",
                                 ["pool"], registry=own, **mode)
        self.pool_waiting = Gauge("geoportal_db_pool_waiting",
                                  "Requests waiting for a connection.", ["pool"], registry=own,
                                  **mode)
        self.pool_max = Gauge("geoportal_db_pool_max", "Largest size of a pool.", ["pool"],
                              registry=own, **mode)
        self.heavy_waiting = Gauge("geoportal_heavy_queue_depth",
                                   "Heavy requests waiting for a slot.", registry=own, **mode)
        self.heavy_running = Gauge("geoportal_heavy_running",
                                   "Heavy requests holding a slot.", registry=own, **mode)
        self.tile_hits = Counter("geoportal_tile_cache_hits", "Tiles served from the cache.",
                                 registry=own)
        self.tile_misses = Counter("geoportal_tile_cache_misses", "Tiles drawn by the database.",
                                   registry=own)
        self.tile_bytes = Gauge("geoportal_tile_cache_bytes", "Bytes held by the tile cache.",
                                registry=own, **mode)
        self.database = DatabaseCollector()
        self.registry.register(self.database)
        self.registry.register(CertificateCollector(settings))
        if self.multiprocess:
            multiprocess.MultiProcessCollector(self.registry)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._tiles_seen = (0, 0)
        self.sources: Sources | None = None

    # -- per request ------------------------------------------------------------------------
    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request (the :class:`~geoportal.core.observe.RequestRecorder` hook)."""
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route))
        children[0].inc()
        children[1].observe(seconds)

    # -- sampled ----------------------------------------------------------------------------
    def sample(self) -> None:
        """Set the gauges of this worker's live objects."""
        sources = self.sources
        if sources is None:
            return
        for name, pool in sources.pools.items():
            if pool is None:
                continue
            size = pool.get_size()
            self.pool_size.labels(name).set(size)
            self.pool_in_use.labels(name).set(size - pool.get_idle_size())
            self.pool_waiting.labels(name).set(_pool_waiting(pool))
            self.pool_max.labels(name).set(pool.get_max_size())
        self.heavy_waiting.set(sources.admission.waiting)
        self.heavy_running.set(sources.admission.running)
        if sources.tiles is not None:
            hits, misses = sources.tiles.hits, sources.tiles.misses
            seen_hits, seen_misses = self._tiles_seen
            self.tile_hits.inc(max(hits - seen_hits, 0))
            self.tile_misses.inc(max(misses - seen_misses, 0))
            self._tiles_seen = (hits, misses)
            self.tile_bytes.set(sources.tiles.bytes)

    async def sample_forever(self, every_s: float) -> None:
        """Sample until cancelled (multiprocess mode: the other workers' scrapes read it)."""
        while True:
            self.sample()
            await asyncio.sleep(every_s)

    async def read_database(self, pool: asyncpg.Pool | None,
                            replicas: dict[str, asyncpg.Pool] | None = None) -> None:
        """Read the database-wide values for this scrape, and each replica's lag; never
        raises."""
        reading = DatabaseReading()
        if replicas:
            found = await asyncio.gather(*(_replica_reading(p) for p in replicas.values()))
            reading.replicas = dict(zip(replicas, found, strict=True))
        if pool is not None:
            try:
                async with asyncio.timeout(DATABASE_TIMEOUT_S), pool.acquire() as conn:
                    node = await conn.fetchrow(NODE_SQL)
                    reading.up = True
                    reading.replica = bool(node["replica"])
                    reading.lag_s = None if node["lag_s"] is None else float(node["lag_s"])
                    if node["has_jobs"]:
                        with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
                            rows = await conn.fetch(JOBS_SQL)
                            reading.jobs = {row[0]: int(row[1]) for row in rows}
            except Exception as exc:  # the database is down: say so in the metrics
                log.debug("metrics: database not read (%s)", type(exc).__name__)
        self.database.reading = reading

    def exposition(self) -> bytes:
        """The text format of every metric (all workers' in multiprocess mode)."""
        self.sample()
        return generate_latest(self.registry)

    def close(self) -> None:
        """This worker ends: its live gauges leave the sums."""
        if self.multiprocess:
            multiprocess.mark_process_dead(os.getpid())
