"""Heavy slots shared by every worker of a machine: lock files that the kernel releases.

Each worker has its own heavy lane (``core.admission``), but the cores are the machine's:
two workers with one heavy slot each can keep both cores of a two-core machine busy with
heavy work, and light requests then queue for the CPU whatever their lane. A heavy request
also takes one of these slots, so that heavy work never holds more than ``slots`` cores of
the machine (by default half of them), whichever worker runs it.

A slot is an exclusive ``flock`` on one of ``slots`` files in a folder of the service's home.
The kernel releases it when its holder closes it, or dies: a killed worker cannot keep one.
Waiting is a poll (a few system calls every ``POLL_S``), bounded by the caller's deadline.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from pathlib import Path

log = logging.getLogger("geoportal")
POLL_S = 0.02


def default_machine_slots() -> int:
    """Half the machine's cores, at least one."""
    return max(1, (os.cpu_count() or 2) // 2)


class MachineSlots:
    """``slots`` heavy slots for all the processes that use ``folder``."""

    def __init__(self, folder: Path, slots: int) -> None:
        self.folder = folder
        self.slots = slots
        self._files: list[int] = []  # opened on first use, kept open
        self._held: set[int] = set()  # slots this process holds
        self._broken = False

    def _open(self) -> bool:
        if self._files or self._broken:
            return not self._broken
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._files = [os.open(self.folder / f"heavy-{n}.lock", os.O_RDWR | os.O_CREAT, 0o600)
                           for n in range(self.slots)]
        except OSError as exc:  # a read-only home: each worker keeps its own limit only
            log.warning("machine-wide heavy slots unavailable (%s): per-worker limits only",
                        type(exc).__name__)
            self._broken = True
        return not self._broken

    def try_acquire(self) -> int | None:
        """A free slot taken now (its number), or None when all are held. -1 when the
        lock files cannot be used (no machine-wide limit then)."""
        if not self._open():
            return -1
        for number, fd in enumerate(self._files):
            if number in self._held:
                continue  # flock would grant this process's own lock again
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            self._held.add(number)
            return number
        return None

    async def acquire(self) -> int:
        """A slot, waiting for one as long as it takes (bound it with a timeout)."""
        while (number := self.try_acquire()) is None:
            await asyncio.sleep(POLL_S)
        return number

    def release(self, number: int) -> None:
        """Give a slot back (its lock released at once)."""
        if number in self._held:
            self._held.discard(number)
            fcntl.flock(self._files[number], fcntl.LOCK_UN)

    @property
    def held(self) -> int:
        """Slots this process holds now."""
        return len(self._held)

    def close(self) -> None:
        """Close the lock files (every slot of this process released)."""
        for fd in self._files:
            os.close(fd)
        self._files = []
        self._held.clear()
