"""Heavy slots shared by the workers of a machine: at most so many heavy requests run at once
whichever worker took them, and a worker that dies cannot keep a slot."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from geoportal.app import create_app
from geoportal.core.admission import Admission, AdmissionLimits
from geoportal.core.machine_slots import MachineSlots, default_machine_slots
from geoportal.errors import ServiceUnavailable
from geoportal.settings import Settings


def test_two_workers_share_one_slot_and_take_turns(tmp_path: Path) -> None:
    first, second = MachineSlots(tmp_path, 1), MachineSlots(tmp_path, 1)
    taken = first.try_acquire()
    assert taken == 0
    assert first.try_acquire() is None  # not granted twice to its own holder either
    assert second.try_acquire() is None
    first.release(taken)
    assert second.try_acquire() == 0
    assert first.try_acquire() is None
    first.close()
    second.close()


def test_as_many_run_at_once_as_there_are_slots(tmp_path: Path) -> None:
    workers = [MachineSlots(tmp_path, 2) for _ in range(3)]
    assert [w.try_acquire() for w in workers] == [0, 1, None]
    workers[1].release(1)
    assert workers[2].try_acquire() == 1
    for worker in workers:
        worker.close()


def test_a_killed_worker_leaves_its_slot_free(tmp_path: Path) -> None:
    holder = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from geoportal.core.machine_slots import MachineSlots
        slots = MachineSlots(Path({str(tmp_path)!r}), 1)
        assert slots.try_acquire() == 0
        print("held", flush=True)
        time.sleep(60)
    """)
    process = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE,
                               text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "held"
        here = MachineSlots(tmp_path, 1)
        assert here.try_acquire() is None
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert here.try_acquire() == 0  # the kernel released the dead worker's lock
        here.close()
    finally:
        process.kill()
        process.wait()


async def test_a_heavy_request_waits_for_the_other_workers_slot_then_gets_503(
        tmp_path: Path) -> None:
    limits = AdmissionLimits(heavy_slots=1, heavy_queue=4, heavy_wait_s=0.3,
                             heavy_per_client=10)
    worker_a = Admission(limits, MachineSlots(tmp_path, 1))
    worker_b = Admission(limits, MachineSlots(tmp_path, 1))
    held = await worker_a.acquire("client-1")
    with pytest.raises(ServiceUnavailable) as refused:
        await worker_b.acquire("client-2")
    assert refused.value.retry_after
    assert worker_b.waiting == 0 and worker_b.running == 0
    # worker B's own slot was given back with the refusal: it runs heavy work again as
    # soon as worker A is done
    waiting = asyncio.create_task(worker_b.acquire("client-2"))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    held.release()
    slot = await asyncio.wait_for(waiting, 2)
    assert worker_a.machine is not None and worker_a.machine.held == 0
    assert worker_b.machine is not None and worker_b.machine.held == 1
    slot.release()
    assert worker_b.machine.held == 0


async def test_without_a_machine_limit_each_worker_keeps_its_own(tmp_path: Path) -> None:
    limits = AdmissionLimits(heavy_slots=1, heavy_wait_s=0.3)
    worker_a, worker_b = Admission(limits), Admission(limits)
    first, second = await worker_a.acquire("a"), await worker_b.acquire("b")
    first.release()
    second.release()


def test_unusable_lock_folder_falls_back_to_the_workers_own_limits(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    slots = MachineSlots(blocked / "heavy", 1)
    assert slots.try_acquire() == -1
    slots.release(-1)


def test_the_default_is_half_the_cores_and_the_service_uses_its_home(tmp_path: Path) -> None:
    assert default_machine_slots() == max(1, (os.cpu_count() or 2) // 2)
    admission = create_app(Settings(home=tmp_path)).state.services.admission
    assert admission.machine is not None
    assert admission.machine.folder == tmp_path / "run" / "heavy"
    assert admission.machine.slots == default_machine_slots()
    unlimited = create_app(Settings(home=tmp_path, heavy_slots_machine=0))
    assert unlimited.state.services.admission.machine is None
