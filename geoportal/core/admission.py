"""Admission control: heavy work waits in its own small lane so light requests keep theirs.

Light requests (lookups, items by id, tiles, ``/health``) use the pool as they come. Heavy
work — filters whose query plan costs more than a budget, whole-layer streams, PDF notes,
batches — runs only in a few *heavy slots* per worker, and in the machine's share of heavy
slots shared by all its workers (``core.machine_slots``: half the cores by default): a
bounded number wait their turn for a bounded time, the rest are told 503 with
``Retry-After`` at once, and one client may hold only so many heavy requests at a time
(429). Plans above a hard ceiling are refused before they run (400): the statement timeout
is a last resort, not the budget.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from starlette.requests import Request

from geoportal.core.lanes import leave_bulk_lane
from geoportal.core.machine_slots import MachineSlots
from geoportal.errors import InvalidParameter, ServiceUnavailable, TooManyRequests

PLAN_CACHE_SIZE = 512
# The planner prices a spatial predicate the same whatever the literal's size; evaluating it
# costs about linearly more with the vertices, so the estimate is scaled by them. The plan
# already counts each predicate once per row it tests, so the scale is the vertices of a
# literal on average, not of all of them: twelve OR-ed 110-vertex polygons cost twelve times
# one of them (the plan's share), not 144 times.
VERTICES_PER_UNIT = 50


@dataclass(frozen=True)
class AdmissionLimits:
    """How much heavy work one worker takes on."""

    heavy_slots: int = 1
    heavy_queue: int = 16
    heavy_wait_s: float = 20.0
    heavy_per_client: int = 6
    heavy_cost: float = 20_000.0
    max_cost: float = 5_000_000.0


class HeavySlot:
    """One heavy slot, held until ``release`` (idempotent; also on garbage collection)."""

    def __init__(self, admission: Admission, client: str, machine_slot: int | None) -> None:
        self._admission = admission
        self._client = client
        self._machine_slot = machine_slot
        self._held = True

    def release(self) -> None:
        """Give the slot back (once)."""
        if self._held:
            self._held = False
            self._admission._release(self._client, self._machine_slot)

    def __del__(self) -> None:  # a stream whose body never started must not leak its slot
        self.release()


def client_of(request: Request) -> str:
    """Who is asking: the peer address (a proxy in front sets the real one via uvicorn)."""
    return request.client.host if request.client else "unknown"


class Admission:
    """The heavy lane of one worker, with its per-client counts and a cache of plan costs."""

    def __init__(self, limits: AdmissionLimits, machine: MachineSlots | None = None) -> None:
        self.limits = limits
        self.machine = machine
        self._slots = asyncio.Semaphore(limits.heavy_slots)
        self._waiting = 0
        self._per_client: dict[str, int] = {}
        self._costs: OrderedDict[tuple[Any, ...], float] = OrderedDict()

    @property
    def waiting(self) -> int:
        """Heavy requests waiting for a slot now."""
        return self._waiting

    @property
    def running(self) -> int:
        """Heavy requests holding a slot now."""
        return sum(self._per_client.values()) - self._waiting

    async def acquire(self, client: str) -> HeavySlot:
        """A heavy slot for ``client``: wait in the bounded queue, or 429/503 at once."""
        held = self._per_client.get(client, 0)
        if held >= self.limits.heavy_per_client:
            raise TooManyRequests(
                f"Vous avez déjà {held} requêtes lourdes en cours ; attendez qu'elles "
                "se terminent.",
                en=f"You already have {held} heavy requests running; wait for them to end.")
        if self._slots.locked() and self._waiting >= self.limits.heavy_queue:
            raise ServiceUnavailable(
                "Trop de requêtes lourdes en attente ; réessayez dans un instant.",
                en="Too many heavy requests are waiting; try again shortly.")
        self._per_client[client] = held + 1
        self._waiting += 1
        machine_slot: int | None = None
        try:
            async with asyncio.timeout(self.limits.heavy_wait_s):
                await self._slots.acquire()
                try:
                    machine_slot = await self._machine_slot()
                except BaseException:
                    self._slots.release()
                    raise
        except TimeoutError:
            self._forget(client)
            raise ServiceUnavailable(
                "Le service est occupé par des requêtes lourdes ; réessayez dans un instant.",
                en="The service is busy with heavy requests; try again shortly.") from None
        except BaseException:
            self._forget(client)
            raise
        finally:
            self._waiting -= 1
        return HeavySlot(self, client, machine_slot)

    async def _machine_slot(self) -> int | None:
        """One of the machine's heavy slots (None without a machine-wide limit)."""
        if self.machine is None:
            return None
        return await self.machine.acquire()

    async def acquire_for(self, request: Request) -> HeavySlot:
        """A heavy slot for the request's client; the request leaves the bulk lane first
        (heavy work must not hold a slot that pages and tiles wait for)."""
        leave_bulk_lane(request.scope)
        return await self.acquire(client_of(request))

    @asynccontextmanager
    async def heavy(self, client: str) -> AsyncIterator[None]:
        """Run the block in a heavy slot."""
        slot = await self.acquire(client)
        try:
            yield
        finally:
            slot.release()

    def _forget(self, client: str) -> None:
        left = self._per_client.get(client, 1) - 1
        if left > 0:
            self._per_client[client] = left
        else:
            self._per_client.pop(client, None)

    def _release(self, client: str, machine_slot: int | None) -> None:
        self._forget(client)
        if machine_slot is not None and self.machine is not None:
            self.machine.release(machine_slot)
        self._slots.release()

    async def plan_cost(self, pool: asyncpg.Pool, sql: str, values: Sequence[Any]) -> float:
        """The planner's estimate of the work of a statement (its costliest node), cached."""
        key = (sql, *(bytes(v) if isinstance(v, bytearray | memoryview) else v for v in values))
        try:
            cost = self._costs.get(key)
        except TypeError:  # an unhashable value: plan it every time
            key, cost = (), None
        if cost is not None:
            self._costs.move_to_end(key)
            return cost
        plan = await pool.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *values)
        cost = _costliest(json.loads(plan) if isinstance(plan, str) else plan)
        if key:
            self._costs[key] = cost
            while len(self._costs) > PLAN_CACHE_SIZE:
                self._costs.popitem(last=False)
        return cost

    async def admit_statement(self, pool: asyncpg.Pool, request: Request, sql: str,
                              values: Sequence[Any], vertices: float = 0) -> HeavySlot | None:
        """None for a light statement; a heavy slot for a costly one; 400 above the ceiling."""
        cost = await self.check_cost(pool, sql, values, vertices)
        if cost > self.limits.heavy_cost:
            return await self.acquire_for(request)
        return None

    async def estimate(self, pool: asyncpg.Pool, sql: str, values: Sequence[Any],
                       vertices: float = 0) -> float:
        """The work estimate of a statement whose geometry literals have ``vertices`` on
        average (``vertices_per_literal``): its plan cost scaled by them."""
        return await self.plan_cost(pool, sql, values) * (1 + vertices / VERTICES_PER_UNIT)

    async def check_cost(self, pool: asyncpg.Pool, sql: str, values: Sequence[Any],
                         vertices: float = 0) -> float:
        """The work estimate of a statement; 400 when it is over the ceiling."""
        cost = await self.estimate(pool, sql, values, vertices)
        if cost > self.limits.max_cost:
            raise InvalidParameter(
                "La requête est trop coûteuse à évaluer (filtre ou emprise trop larges) ; "
                "restreignez-la (bbox plus petite, moins de conditions, géométries plus simples).",
                en="The request is too costly to evaluate (filter or extent too wide); narrow "
                   "it (smaller bbox, fewer conditions, simpler geometries).")
        return cost


def _costliest(plan: Any) -> float:
    """The highest ``Total Cost`` of any node: the work below a LIMIT counts in full."""
    best = 0.0
    stack = [plan]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            cost = node.get("Total Cost")
            if isinstance(cost, int | float):
                best = max(best, float(cost))
            stack.extend(v for k, v in node.items() if k in ("Plan", "Plans"))
    return best


def literal_sizes(tree: Any) -> list[int]:
    """The number of positions of each GeoJSON geometry literal of a JSON tree."""
    sizes: list[int] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "coordinates" in node:
                sizes.append(_positions(node["coordinates"]))
            elif "bbox" in node:
                sizes.append(4)
            else:
                stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return sizes


def literal_vertices(tree: Any) -> int:
    """The number of positions in the GeoJSON geometry literals of a JSON tree."""
    return sum(literal_sizes(tree))


def vertices_per_literal(tree: Any) -> float:
    """The positions of a geometry literal of a JSON tree on average (0 without any): what
    one spatial predicate of the plan costs beyond the planner's flat price."""
    sizes = literal_sizes(tree)
    return sum(sizes) / len(sizes) if sizes else 0.0


def _positions(coordinates: Any) -> int:
    count = 0
    stack = [coordinates]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            if node and all(isinstance(v, int | float) for v in node):
                count += 1
            else:
                stack.extend(node)
    return count


def admission_of(request: Request) -> Admission:
    """The app's admission control (built in ``create_app``)."""
    admission: Admission = request.app.state.services.admission
    return admission
