"""HEAD wherever GET works, OPTIONS that says what a path allows, 405 with ``Allow``."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

PATHS = ["/health", "/ogc", "/ogc/collections", "/ogc/collections/parcels",
         "/ogc/collections/parcels/items?limit=2", "/ogc/collections/parcels/items/1",
         "/ogc/collections/parcels/queryables", "/rules?lon=-7.6189&lat=33.5883", "/",
         "/opendata", "/pygeoapi/", "/ogc/tileMatrixSets/WebMercatorQuad",
         "/ogc/collections/parcels/items?f=jsonseq", "/opendata/communes.geojson"]


@pytest.mark.parametrize("path", PATHS)
def test_head_answers_like_get_without_a_body(demo_client: TestClient, path: str) -> None:
    get = demo_client.get(path)
    head = demo_client.head(path)
    assert head.status_code == get.status_code
    assert head.content == b""
    for header in ("content-type", "etag", "content-length"):
        assert head.headers.get(header) == get.headers.get(header), header


@pytest.mark.parametrize(("path", "allowed"), [
    ("/ogc/collections/parcels/items", {"GET", "HEAD", "OPTIONS"}),
    ("/rules", {"GET", "HEAD", "OPTIONS", "POST"}),
    ("/rules/batch", {"OPTIONS", "POST"}),
    ("/pygeoapi/processes/parcel-rules/execution", {"OPTIONS", "POST"}),
])
def test_options_lists_the_methods_of_the_path(demo_client: TestClient, path: str,
                                               allowed: set[str]) -> None:
    response = demo_client.options(path)
    assert response.status_code == 204
    assert set(response.headers["allow"].split(", ")) == allowed


def test_options_on_an_unknown_path_is_a_404(demo_client: TestClient) -> None:
    assert demo_client.options("/no/such/thing").status_code == 404


def test_a_method_not_allowed_says_which_are(demo_client: TestClient) -> None:
    response = demo_client.delete("/ogc/collections")
    assert response.status_code == 405
    assert "GET" in response.headers["allow"]
    assert response.json()["code"] == "MethodNotAllowed"


def test_head_on_streams_gives_back_their_slots(demo_client: TestClient) -> None:
    for _ in range(12):  # more than the heavy slots and download slots of a worker
        assert demo_client.head("/ogc/collections/parcels/items?f=jsonseq").status_code == 200
        assert demo_client.head("/opendata/parcels.geojson").status_code == 200
    assert demo_client.get("/ogc/collections/parcels/items?f=jsonseq").status_code == 200
