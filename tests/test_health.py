"""``/health`` says 200 only when the database answers and is migrated."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from geoportal.app import create_app
from geoportal.db.migrate import head_revision
from geoportal.settings import Settings


def test_health_is_ok_on_a_migrated_database(database_url: str) -> None:
    with TestClient(create_app(Settings(database_url=database_url))) as client:
        response = client.get("/health")
        version = client.get("/version").json()
    assert response.status_code == 200
    assert response.json()["migration"] == head_revision()
    assert version["schema"] == head_revision()
    assert version["data_version"]


def test_health_is_503_when_not_migrated(fresh_database: Callable[..., str]) -> None:
    url = fresh_database("unmigrated", migrate=False)
    with TestClient(create_app(Settings(database_url=url))) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert "migrate" in response.json()["database"]


def test_health_is_503_when_the_database_is_unreachable() -> None:
    settings = Settings(database_url="postgresql://nobody:x@127.0.0.1:9/none")
    with TestClient(create_app(settings)) as client:
        response = client.get("/health")
        version = client.get("/version")
    assert response.status_code == 503
    assert version.status_code == 503
    assert "password" not in version.text


def test_oversized_bodies_are_refused_with_413(database_url: str) -> None:
    settings = Settings(database_url=database_url, max_request_bytes=2048)
    with TestClient(create_app(settings)) as client:
        response = client.post("/health", content=b"x" * 5000)
    assert response.status_code == 413
    assert response.json()["code"] == "PayloadTooLarge"


async def test_health_checks_arriving_together_share_one_probe_of_the_database(
        database_url: str) -> None:
    """Twenty checks at once take one pooled connection, not twenty, from the requests."""
    import asyncio
    from contextlib import asynccontextmanager
    from typing import Any

    import asyncpg

    from geoportal.db.urls import libpq_url
    from geoportal.health import HealthProbe

    pool = await asyncpg.create_pool(libpq_url(database_url), min_size=0, max_size=20)
    lent = 0

    class Counted:  # the real pool, counting the connections it lends
        @asynccontextmanager
        async def acquire(self, **options: Any) -> Any:
            nonlocal lent
            lent += 1
            async with pool.acquire(**options) as conn:
                await asyncio.sleep(0.2)  # a probe that takes a while
                yield conn

    try:
        probe = HealthProbe()
        answers = await asyncio.gather(*(probe.revision(Counted())  # type: ignore[arg-type]
                                         for _ in range(20)))
        assert answers == [head_revision()] * 20
        assert lent == 1
        assert await probe.revision(Counted()) == head_revision()  # type: ignore[arg-type]
        assert lent == 2  # a later check probes again: nothing is cached
    finally:
        await pool.close()


def test_a_worker_takes_its_start_up_objects_out_of_the_collectors_full_scans(
        database_url: str) -> None:
    """A full collection walks every tracked object with the event loop stopped; what
    start-up built is frozen once the app has started, so the walks stay short."""
    import subprocess
    import sys

    script = (
        "import asyncio, gc\n"
        "from geoportal.app import create_app\n"
        "from geoportal.settings import Settings\n"
        f"app = create_app(Settings(database_url={database_url!r}))\n"
        "async def main():\n"
        "    async with app.router.lifespan_context(app):\n"
        "        gc.collect(1)\n"
        "        print(gc.get_freeze_count(), len(gc.get_objects(generation=2)))\n"
        "asyncio.run(main())\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, check=True).stdout.split()
    frozen, scanned = int(out[-2]), int(out[-1])
    assert frozen > 100_000  # modules, routes, schemas, pygeoapi
    assert scanned < frozen / 10
