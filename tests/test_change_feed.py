"""Every worker hears of a committed change at once (LISTEN/NOTIFY), not on a timer: a tile
cached with versions that would otherwise be trusted for an hour changes right after an edit,
and the feed comes back by itself after its connection is cut."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient

from geoportal.app import create_app
from geoportal.db.changes import APPLICATION_NAME, ChangeFeed
from geoportal.settings import Settings

FIXTURE = Path(__file__).parent / "fixtures" / "tiles.sql"
PLOTS_Z15 = "/ogc/collections/parcels/tiles/WebMercatorQuad/15/15693/13136"


@pytest.fixture(scope="module")
def database(sql_database: Callable[[str, Path], str]) -> str:
    return sql_database("change_feed", FIXTURE)


@pytest.fixture(scope="module")
def client(database: str) -> Iterator[TestClient]:
    settings = Settings(database_url=database, tiles_version_check_s=3600)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _eventually(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def _feed(client: TestClient) -> ChangeFeed:
    feed: ChangeFeed = client.app.state.services.get(ChangeFeed)  # type: ignore[attr-defined]
    return feed


def test_an_edit_changes_the_cached_tile_at_once_despite_an_hour_of_version_trust(
        client: TestClient, database: str) -> None:
    assert _eventually(lambda: bool(_feed(client).connected and _feed(client).connected.is_set()))
    before = client.get(PLOTS_Z15)
    assert before.status_code == 200
    assert client.get(PLOTS_Z15).headers["etag"] == before.headers["etag"]  # served cached
    with psycopg.connect(database) as conn:
        conn.execute("SELECT set_config('geoportal.actor', 'test:feed', true)")
        conn.execute("DELETE FROM parcels WHERE id = (SELECT min(id) FROM parcels)")
    assert _eventually(lambda: client.get(PLOTS_Z15).headers["etag"] != before.headers["etag"])
    assert len(client.get(PLOTS_Z15).content) < len(before.content)


def test_the_feed_reconnects_after_its_connection_is_cut_and_hears_again(
        client: TestClient, database: str) -> None:
    feed = _feed(client)
    heard: list[str] = []
    feed.subscribe(heard.append)
    assert _eventually(lambda: bool(feed.connected and feed.connected.is_set()))
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = current_database() AND application_name = %s",
                     (APPLICATION_NAME,))
    assert _eventually(lambda: "*" in heard), "the feed did not come back"
    with psycopg.connect(database) as conn:
        conn.execute("SELECT set_config('geoportal.actor', 'test:feed', true)")
        conn.execute("UPDATE zoning SET code = code WHERE id = 1")
    assert _eventually(lambda: "zoning" in heard)
