"""Outgoing mail through the PostgreSQL job queue (procrastinate): queued in the caller's
transaction, delivered by the worker to a real SMTP server on loopback, retried with back-off
while the server is down — and delivered once."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
from nru_world import free_port, smtp_server

from geoportal.db.pool import close_pool, create_pool
from geoportal.jobs.mail import Mail, backoff_s, is_transient
from geoportal.jobs.queue import JobWorker, enqueue, job_worker
from geoportal.renseignement.tasks import JOBS, NRU_MAIL
from geoportal.settings import Settings


@pytest.fixture(scope="module")
def queue_url(fresh_database: Callable[..., str]) -> str:
    return fresh_database("mail_queue")


def settings_with(url: str, **smtp: Any) -> Settings:
    return Settings(database_url=url, smtp_tls="none", smtp_timeout_s=3, worker_poll_s=0.1,
                    mail_retry_min_s=0.2, mail_retry_max_s=0.4, **smtp)


@pytest.fixture
async def pool(queue_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(Settings(database_url=queue_url), write=True)
    yield pool
    await close_pool(pool)


async def queue_mail(pool: asyncpg.Pool, mail: Mail) -> int:
    async with pool.acquire() as conn, conn.transaction():
        return await enqueue(conn, NRU_MAIL, mail=mail.as_args(), request_id=None, kind="test")


async def job(pool: asyncpg.Pool, job_id: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await pool.fetchrow(
        "SELECT status::text AS status, attempts FROM procrastinate_jobs WHERE id = $1", job_id)
    return row


async def until(condition: Callable[[], Any], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def running(worker: JobWorker) -> JobWorker:
    worker.start()
    await asyncio.wait_for(worker.running.wait(), 20)
    return worker


async def test_a_mail_queued_while_the_server_is_down_is_delivered_once_when_it_is_up(
        queue_url: str, pool: asyncpg.Pool) -> None:
    port = free_port()  # nothing listens there yet: connections are refused
    worker = await running(job_worker(settings_with(queue_url, smtp_host="127.0.0.1",
                                                    smtp_port=port), JOBS, pool))
    try:
        mail = Mail.new("patient@example.ma", "Accusé de réception", "Bonjour,\nvotre demande.")
        job_id = await queue_mail(pool, mail)

        async def retried_twice() -> bool:
            row = await job(pool, job_id)
            return row is not None and row["attempts"] >= 2 and row["status"] == "todo"

        await until(retried_twice)
        with smtp_server(port) as (_, inbox):
            await asyncio.to_thread(inbox.wait_for, "patient@example.ma")
            await asyncio.sleep(1.5)  # long enough for any repeat to arrive
            received = inbox.to("patient@example.ma")
        assert len(received) == 1
        assert received[0]["Message-ID"].strip() == mail.message_id
        assert received[0]["Subject"] == "Accusé de réception"
        assert await job(pool, job_id) is None  # done, and its content deleted
    finally:
        await worker.stop()


async def test_without_an_smtp_host_mail_waits_in_the_queue_and_it_is_said_once(
        queue_url: str, pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="geoportal.jobs"):
        worker = await running(job_worker(settings_with(queue_url), JOBS, pool))
    try:
        job_id = await queue_mail(pool, Mail.new("later@example.ma", "Plus tard", "..."))
        await asyncio.sleep(1.0)
        row = await job(pool, job_id)
        assert row is not None and (row["status"], row["attempts"]) == ("todo", 0)
    finally:
        await worker.stop()
    said = [r for r in caplog.records if "GEOPORTAL_SMTP_HOST is not set" in r.getMessage()]
    assert len(said) == 1
    await pool.execute("DELETE FROM procrastinate_jobs WHERE id = $1", job_id)


class Refusing:
    """An SMTP server that refuses every message for good (5xx)."""

    def __init__(self) -> None:
        self.attempts = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts += 1
        return "554 5.7.1 Message refused"


async def test_a_permanent_refusal_fails_the_job_without_retrying_forever(
        queue_url: str, pool: asyncpg.Pool) -> None:
    from aiosmtpd.controller import Controller

    handler = Refusing()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        worker = await running(job_worker(settings_with(
            queue_url, smtp_host="127.0.0.1", smtp_port=controller.port), JOBS, pool))
        try:
            job_id = await queue_mail(pool, Mail.new("nobody@example.ma", "x", "y"))

            async def failed() -> bool:
                row = await job(pool, job_id)
                return row is not None and row["status"] == "failed"

            await until(failed)
            await asyncio.sleep(0.8)
            assert handler.attempts == 1
        finally:
            await worker.stop()
    finally:
        controller.stop()


async def test_a_job_queued_in_a_transaction_that_rolls_back_never_exists(
        pool: asyncpg.Pool) -> None:
    before = await pool.fetchval("SELECT count(*) FROM procrastinate_jobs")
    with pytest.raises(RuntimeError):
        async with pool.acquire() as conn, conn.transaction():
            await enqueue(conn, NRU_MAIL, mail=Mail.new("a@b.ma", "s", "t").as_args(),
                          request_id=None, kind="test")
            raise RuntimeError("the request failed after queueing its mail")
    assert await pool.fetchval("SELECT count(*) FROM procrastinate_jobs") == before


def test_the_wait_between_attempts_doubles_up_to_its_ceiling() -> None:
    assert [backoff_s(n, 30, 3600) for n in range(9)] == [
        30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert backoff_s(10_000, 30, 3600) == 3600


def test_outages_and_4xx_are_transient_5xx_are_not() -> None:
    import smtplib

    assert is_transient(ConnectionRefusedError())
    assert is_transient(TimeoutError())
    assert is_transient(smtplib.SMTPServerDisconnected())
    assert is_transient(smtplib.SMTPDataError(451, b"try later"))
    assert not is_transient(smtplib.SMTPDataError(554, b"refused"))
    assert not is_transient(smtplib.SMTPRecipientsRefused({"a@b": (550, b"no such user")}))
    assert is_transient(smtplib.SMTPRecipientsRefused({"a@b": (450, b"mailbox busy")}))


async def test_geoportal_worker_runs_the_queue_in_its_own_process_until_interrupted(
        queue_url: str, pool: asyncpg.Pool) -> None:
    with smtp_server() as (port, inbox):
        env = {**os.environ, "GEOPORTAL_DATABASE_URL": queue_url,
               "GEOPORTAL_SMTP_HOST": "127.0.0.1", "GEOPORTAL_SMTP_PORT": str(port),
               "GEOPORTAL_SMTP_TLS": "none", "GEOPORTAL_WORKER_POLL_S": "0.2"}
        process = subprocess.Popen([sys.executable, "-m", "geoportal.cli", "worker"], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            await queue_mail(pool, Mail.new("worker@example.ma", "Par le worker", "Bonjour"))
            received = await asyncio.to_thread(inbox.wait_for, "worker@example.ma", 1, 30)
            assert received[0]["Subject"] == "Par le worker"
        finally:
            process.send_signal(signal.SIGINT)
            _, stderr = await asyncio.to_thread(process.communicate, timeout=30)
        assert process.returncode == 0, stderr
        assert "job worker running" in stderr and "job worker stopped" in stderr
