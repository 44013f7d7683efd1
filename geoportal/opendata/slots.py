"""Whole-layer downloads served at once by a worker: a few, and a fast 503 above."""

from __future__ import annotations

import asyncio

from geoportal.errors import ServiceUnavailable


class Slot:
    """One download slot, given back exactly once."""

    def __init__(self, semaphore: asyncio.Semaphore) -> None:
        self._semaphore = semaphore
        self._held = True

    def release(self) -> None:
        """Give the slot back (again is harmless)."""
        if self._held:
            self._held = False
            self._semaphore.release()

    def __del__(self) -> None:  # a response never started must not keep its slot
        self.release()


class DownloadSlots:
    """The download slots of a worker (a service of the app)."""

    def __init__(self, capacity: int) -> None:
        self._semaphore = asyncio.Semaphore(capacity)

    async def take(self) -> Slot:
        """A slot, or 503 with Retry-After at once when all are taken."""
        if self._semaphore.locked():
            raise ServiceUnavailable(
                "Trop de téléchargements en cours ; réessayez dans une minute.",
                en="Too many downloads at once; try again in a minute.", retry_after=30)
        await self._semaphore.acquire()
        return Slot(self._semaphore)
