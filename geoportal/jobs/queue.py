"""Queue a job in the caller's transaction, and run the queued jobs (procrastinate).

Jobs are queued with procrastinate's own SQL function on the caller's asyncpg connection, so
the job commits (and wakes the workers, by procrastinate's NOTIFY trigger) with the change it
is about, or not at all. The worker is procrastinate's, with the psycopg connector; it runs
as an asyncio task that outlives database outages (it starts again after a back-off).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import asyncpg
import procrastinate
from procrastinate import BaseRetryStrategy
from procrastinate.app import WorkerOptions

from geoportal.core.logs import RateLimitedLog
from geoportal.db.urls import libpq_url, resolve_write_database_url
from geoportal.settings import Settings

log = logging.getLogger("geoportal.jobs")
outage_log = RateLimitedLog(log, interval_s=60.0)
CONTEXT_KEY = "geoportal"  # where tasks find the worker's resources in their context
DEFER_SQL = (
    "SELECT unnest(procrastinate_defer_jobs_v1(ARRAY[ROW($1::varchar, $2::varchar, $3::int, "
    "NULL::text, NULL::text, $4::text::jsonb, NULL::timestamptz)"
    "::procrastinate_job_to_defer_v1]))"
)


async def enqueue(conn: asyncpg.Connection, spec: JobSpec, **args: Any) -> int:
    """Queue a run of ``spec`` with ``args`` (JSON) on ``conn``, in its transaction; the id."""
    job_id = await conn.fetchval(DEFER_SQL, spec.queue, spec.name, spec.priority,
                                 json.dumps(args, ensure_ascii=False))
    return int(job_id)


@dataclass(frozen=True)
class JobSpec:
    """A kind of job: its task function, queue and, for periodic ones, its schedule."""

    name: str
    func: Callable[..., Awaitable[Any]]  # async (context, **args)
    queue: str
    priority: int = 0
    cron: str | None = None  # periodic: deferred by the workers on this schedule (UTC)
    retry: BaseRetryStrategy | None = None


def build_app(conninfo: str, specs: Sequence[JobSpec], pool_size: int = 3) -> procrastinate.App:
    """A procrastinate app knowing ``specs`` (a new one per run: tasks hold no state)."""
    connector = procrastinate.PsycopgConnector(
        conninfo=conninfo, min_size=1, max_size=pool_size, timeout=5.0,
        kwargs={"application_name": "geoportal-jobs"})
    app = procrastinate.App(connector=connector)
    for spec in specs:
        task = app.task(name=spec.name, queue=spec.queue, priority=spec.priority,
                        pass_context=True, retry=spec.retry or False)(spec.func)
        if spec.cron is not None:
            app.periodic(cron=spec.cron, periodic_id=spec.name)(task)
    return app


@dataclass(frozen=True)
class WorkerConfig:
    """What one worker runs, where, and how often it looks for due jobs."""

    url: Callable[[], str]  # resolved at each start: a database started later is found
    queues: tuple[str, ...] | None  # None: every queue
    poll_s: float = 5.0
    retry_max_s: float = 30.0
    concurrency: int = 2
    name: str = "geoportal"


# How long a stopping worker waits for its running jobs (procrastinate's graceful shutdown)
# before it is asked again to stop.
STOP_GRACE_S = 35.0
STOP_RETRIES = 10  # cancellations asked again, one second apart


class JobWorker:
    """Runs queued jobs until stopped; started again after each failure of its connection."""

    def __init__(self, config: WorkerConfig, specs: Sequence[JobSpec],
                 resources: Resources) -> None:
        self.config = config
        self.specs = tuple(specs)
        self.resources = resources
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.running = asyncio.Event()

    def start(self) -> None:
        """Run in the background (an asyncio task) until :meth:`stop`."""
        self._task = asyncio.get_running_loop().create_task(self.run_forever(),
                                                            name="geoportal-jobs")

    async def stop(self) -> None:
        """Stop: jobs running now finish (or are retried later), then the task ends."""
        if self._task is not None:
            # procrastinate turns a cancellation into a graceful stop and returns normally:
            # the flag keeps run_forever from starting it again (the task would never end).
            self._stopping = True
            task, self._task = self._task, None
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=STOP_GRACE_S)
            for _ in range(STOP_RETRIES):  # a cancellation swallowed on the way: ask again
                if done:
                    break
                task.cancel()
                done, _ = await asyncio.wait({task}, timeout=1.0)
            if not done:  # never hang a shutdown: the process is ending anyway
                log.error("job worker did not stop within %.0f s; left behind",
                          STOP_GRACE_S + STOP_RETRIES)
                return
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()

    async def run_forever(self) -> None:
        """Run jobs; after a failure (database away), wait and start again."""
        backoff = 0.5
        while not self._stopping:
            try:
                await self._run_once(wait=True)
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                outage_log.warning("worker", "job worker stopped (%s); starting again",
                                   type(exc).__name__)
            self.running.clear()
            if self._stopping:
                return
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.config.retry_max_s)

    async def run_until_idle(self) -> None:
        """Run the jobs that are due now, then return (for commands and tests)."""
        await self._run_once(wait=False)

    async def _run_once(self, wait: bool) -> None:
        app = build_app(libpq_url(self.config.url()), self.specs)
        options: WorkerOptions = {
            "wait": wait, "concurrency": self.config.concurrency, "name": self.config.name,
            "fetch_job_polling_interval": self.config.poll_s,
            "abort_job_polling_interval": max(self.config.poll_s, 5.0),
            "shutdown_graceful_timeout": 30.0, "listen_notify": True,
            "delete_jobs": "successful",  # a sent mail's job (and its content) goes
            "additional_context": {CONTEXT_KEY: self.resources},
            "install_signal_handlers": False}
        if self.config.queues is not None:
            options["queues"] = list(self.config.queues)
        try:
            async with app.open_async():
                self.running.set()
                await app.run_worker_async(**options)
        finally:  # also when opening failed: no pool left reconnecting in the background
            await app.connector.close_async()


@dataclass(frozen=True)
class Resources:
    """What tasks may use: the settings and the writer's pool (asyncpg)."""

    settings: Settings
    pool: asyncpg.Pool


def resources_of(context: procrastinate.JobContext) -> Resources:
    """The resources the worker was started with."""
    resources: Resources = context.additional_context[CONTEXT_KEY]
    return resources


MAIL_QUEUE = "mail"


def job_worker(settings: Settings, specs: Sequence[JobSpec], pool: asyncpg.Pool,
               name: str = "geoportal") -> JobWorker:
    """A worker for ``specs`` with the writer's role; without an SMTP host it leaves the mail
    queue alone (mail waits there, nothing is lost) and says so once."""
    queues: tuple[str, ...] | None = None
    if not settings.smtp_host:
        queues = tuple(sorted({spec.queue for spec in specs} - {MAIL_QUEUE}))
        log.warning("GEOPORTAL_SMTP_HOST is not set: mail waits in the job queue until it is")
    config = WorkerConfig(url=partial(resolve_write_database_url, settings), queues=queues,
                          poll_s=settings.worker_poll_s, retry_max_s=max(settings.db_retry_max_s,
                                                                          5.0), name=name)
    return JobWorker(config, specs, Resources(settings, pool))


async def run_worker_process(settings: Settings, specs: Sequence[JobSpec]) -> None:
    """``geoportal worker``: a writer's pool for the tasks, and the worker until cancelled."""
    from geoportal.db.pool import close_pool, create_pool

    pool = await create_pool(settings, write=True)
    try:
        await job_worker(settings, specs, pool, name="geoportal-worker").run_forever()
    finally:
        await close_pool(pool)
