"""Stopping the job worker never hangs a shutdown, even when its task swallows the
cancellation (as procrastinate does with a first one)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from geoportal.jobs import queue
from geoportal.jobs.queue import JobWorker, Resources, WorkerConfig
from geoportal.settings import Settings


def _worker(pool: object = None) -> JobWorker:
    return JobWorker(WorkerConfig(url=lambda: "postgresql://nowhere/none", queues=None), (),
                     Resources(Settings(), pool))  # type: ignore[arg-type]


async def test_a_task_that_ends_on_the_second_cancellation_is_asked_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queue, "STOP_GRACE_S", 0.05)
    asked = 0

    async def stubborn_once() -> None:
        nonlocal asked
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                asked += 1
                if asked == 2:
                    return

    worker = _worker()
    worker._task = asyncio.create_task(stubborn_once())
    await asyncio.sleep(0)
    await asyncio.wait_for(worker.stop(), 5)
    assert asked == 2


async def test_a_task_that_never_ends_is_left_behind_with_an_error_not_awaited_forever(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(queue, "STOP_GRACE_S", 0.05)
    monkeypatch.setattr(queue, "STOP_RETRIES", 2)

    released = asyncio.Event()

    async def deaf() -> None:
        while not released.is_set():
            try:
                await released.wait()
            except asyncio.CancelledError:
                continue

    worker = _worker()
    task = asyncio.create_task(deaf())
    worker._task = task
    await asyncio.sleep(0)
    with caplog.at_level(logging.ERROR, logger="geoportal.jobs"):
        await asyncio.wait_for(worker.stop(), 10)
    assert "did not stop" in caplog.text
    assert not task.done()
    released.set()  # the test's own clean-up
    await asyncio.wait_for(task, 5)
