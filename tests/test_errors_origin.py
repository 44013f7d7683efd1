"""Errors say where they come from: only the database's failures are told as the database's."""

from __future__ import annotations

import asyncpg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from geoportal.errors import (
    BrokenInvariant,
    DatabaseUnavailable,
    expected,
    install_error_handlers,
    is_connection_failure,
)


def _app_raising(exc: BaseException) -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    async def boom() -> None:
        raise exc

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize("exc", [BrokenPipeError(), ConnectionResetError(), FileNotFoundError(),
                                 PermissionError("raster"), OSError("disk")])
def test_an_os_error_that_is_not_the_database_is_an_internal_error_not_an_outage(
        exc: OSError) -> None:
    assert not is_connection_failure(exc)
    response = _app_raising(exc).get("/boom", headers={"Accept-Language": "fr"})
    assert response.status_code == 500
    assert "base de données" not in response.json()["description"]
    assert "Retry-After" not in response.headers


@pytest.mark.parametrize("exc", [DatabaseUnavailable("cannot connect: ConnectionRefusedError"),
                                 asyncpg.ConnectionDoesNotExistError("gone"), TimeoutError()])
def test_a_database_that_cannot_answer_is_a_503_with_retry_after_in_french_or_english(
        exc: Exception) -> None:
    client = _app_raising(exc)
    french = client.get("/boom", headers={"Accept-Language": "fr"})
    english = client.get("/boom", headers={"Accept-Language": "en"})
    assert french.status_code == english.status_code == 503
    assert french.headers["Retry-After"]
    assert "base de données" in french.json()["description"]
    assert "database" in english.json()["description"]
    assert "gone" not in french.text and "Refused" not in french.text


def test_a_broken_invariant_is_an_internal_error_even_under_python_O() -> None:
    assert expected(3, "three") == 3
    with pytest.raises(BrokenInvariant, match="the plot is missing"):
        expected(None, "the plot")
    response = _app_raising(BrokenInvariant("x is missing")).get("/boom")
    assert response.status_code == 500
    assert "x is missing" not in response.text
