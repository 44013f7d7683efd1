"""Fixtures of the OGC API tests: a small database of hand-made features and its client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from geoportal.app import create_app
from geoportal.settings import Settings

SMALL_SQL = Path(__file__).parent / "fixtures" / "ogc_small.sql"


@pytest.fixture(scope="session")
def small_database_url(sql_database: Callable[[str, Path], str]) -> str:
    """A migrated database holding the five parcels and two plans of ``ogc_small.sql``."""
    return sql_database("ogc_small", SMALL_SQL)


@pytest.fixture(scope="session")
def small_client(small_database_url: str) -> Iterator[TestClient]:
    """An in-process client of the app on the small database."""
    settings = Settings(database_url=small_database_url, items_max_limit=1000)
    with TestClient(create_app(settings)) as client:
        yield client
