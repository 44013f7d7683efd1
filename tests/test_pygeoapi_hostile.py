"""pygeoapi under hostile requests: no outbound request, no 5xx, no Python text, no API object
per Host header, bounded work."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from geoportal.app import create_app
from geoportal.catalogue.guards import MAX_JSON_DEPTH
from geoportal.settings import Settings

EXECUTE = "/pygeoapi/processes/parcel-rules/execution"
COVERAGE = "/pygeoapi/collections/flood-hazard/coverage"
ITEMS = "/pygeoapi/collections/catalogue/items"
PYTHON_TEXT = ("Traceback", "Error executing process", "object has no attribute",
               "could not convert", "invalid literal", "Expecting value", "KeyError",
               "TypeError", "ValueError", "NoneType", "pydantic", "validation error for")


class Listener:
    """A real TCP socket on 127.0.0.1 that records every connection made to it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    self.received.append(conn.recv(65536))
                    conn.sendall(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    self.received.append(b"")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    """A socket that must receive nothing unless a test configured its host."""
    opened = Listener()
    yield opened
    opened.close()


def _assert_clean(response: Any) -> None:
    text = response.text
    assert not any(marker in text for marker in PYTHON_TEXT), text[:500]


def _subscribed(port: int, **extra: str) -> dict[str, Any]:
    return {"inputs": {"lon": -7.6189, "lat": 33.5883},
            "subscriber": {"successUri": f"http://127.0.0.1:{port}/done",
                           "failedUri": f"http://127.0.0.1:{port}/failed",
                           "inProgressUri": f"http://127.0.0.1:{port}/running", **extra}}


@pytest.mark.parametrize("uri", [
    "http://127.0.0.1:{port}/x", "http://localhost:{port}/rules/batch",
    "http://[::1]:{port}/", "http://user@127.0.0.1:{port}/", "file:///etc/passwd",
    "gopher://127.0.0.1:{port}/", "not a url",
])
def test_a_subscriber_is_refused_and_nothing_is_sent_when_no_callback_host_is_set(
    demo_client: TestClient, listener: Listener, uri: str
) -> None:
    body = _subscribed(listener.port)
    body["subscriber"]["successUri"] = uri.format(port=listener.port)

    french = demo_client.post(EXECUTE, json=body)
    english = demo_client.post(EXECUTE, json=body, headers={"Accept-Language": "en"})

    assert french.status_code == english.status_code == 400
    assert "aucun hôte de rappel configuré" in french.json()["description"]
    assert "no callback host is configured" in english.json()["description"]
    listener.close()
    assert listener.received == []


def test_a_subscriber_on_an_unlisted_host_is_refused_even_when_some_hosts_are_set(
    demo_settings: Settings, listener: Listener
) -> None:
    settings = demo_settings.model_copy(update={"process_callback_hosts": "hooks.example"})
    with TestClient(create_app(settings)) as client:
        refused = client.post(EXECUTE, json=_subscribed(listener.port),
                              headers={"Accept-Language": "en"})

    assert refused.status_code == 400
    assert "configured callback host" in refused.json()["description"]
    listener.close()
    assert listener.received == []


def test_a_subscriber_on_a_configured_host_is_told_the_result_without_delaying_the_answer(
    demo_settings: Settings, listener: Listener
) -> None:
    settings = demo_settings.model_copy(update={"process_callback_hosts": "127.0.0.1"})
    with TestClient(create_app(settings)) as client:
        answered = client.post(EXECUTE, json=_subscribed(listener.port))
        callbacks = _pygeoapi_state(client).pygeoapi_callbacks
        client.portal.call(callbacks.drain)  # type: ignore[union-attr]

    assert answered.status_code == 200 and answered.json()["id"] == "rules"
    listener.close()
    paths = sorted(r.split(b" ")[1].decode() for r in listener.received if r)
    assert paths == ["/done", "/running"]


def test_async_execution_is_answered_synchronously_and_leaves_no_job(
    demo_client: TestClient,
) -> None:
    executed = demo_client.post(EXECUTE, json={"inputs": {"lon": -7.6189, "lat": 33.5883}},
                                headers={"Prefer": "respond-async"})
    jobs = demo_client.get("/pygeoapi/jobs", params={"f": "json"})
    a_job = demo_client.get(f"/pygeoapi/jobs/{uuid.uuid4()}", params={"f": "json"})

    assert executed.status_code == 200 and executed.json()["id"] == "rules"
    assert executed.headers.get("Preference-Applied") == "wait"
    assert jobs.status_code == 200 and jobs.json()["jobs"] == []
    assert a_job.status_code == 404


def _nested(depth: int) -> bytes:
    return b'{"inputs": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize("body", [
    _nested(50_000), _nested(MAX_JSON_DEPTH + 1), b"[1, 2]", b'"text"', b"null", b"{",
    b'{"inputs": [1]}', b'{"inputs": {}, "subscriber": "x"}', b'{"inputs": {}, "response": 5}',
    b'{"inputs": {}, "outputs": []}', b"\xff\xfe", b'{"inputs": {"lon": {}, "lat": 1}}',
    b'{"inputs": {"lon": "NaN", "lat": "1"}}', b'{"inputs": {"lon": 1e999, "lat": 1}}',
    b'{"inputs": {"lon": true, "lat": 1}}', b'{"inputs": {"parcel": 5}}',
    b'{"inputs": {"parcel": ["a"]}}', b'{"inputs": {"geometry": "POINT(1 2)"}}',
    b'{"inputs": {"geometry": {"type": "Point"}}}',
    b'{"inputs": {"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}}}',
    b'{"inputs": {"parcel": "TF 1/C", "at": "yesterday"}}',
    b'{"inputs": {"parcel": "TF 1/C", "at": 20200101}}',
    b'{"inputs": {"parcel": "TF 1/C", "with_geometry": "yes"}}',
    b'{"inputs": {"x": 1, "y": 2, "crs": "EPSG:999999"}}',
    b'{"inputs": {"x": 1, "y": 2, "crs": ""}}', b'{"inputs": {"unknown": 1}}',
    b'{"inputs": {"parcel": "' + b"x" * 10_000 + b'"}}',
])
def test_hostile_execution_bodies_get_a_4xx_without_python_text(
    demo_client: TestClient, body: bytes
) -> None:
    response = demo_client.post(EXECUTE, content=body,
                                headers={"Content-Type": "application/json"})

    assert 400 <= response.status_code < 500, response.text[:300]
    _assert_clean(response)


def test_process_errors_are_french_by_default_with_an_english_twin(
    demo_client: TestClient,
) -> None:
    body = {"inputs": {"parcel": "TF 1/C", "lon": 1, "lat": 2}}
    french = demo_client.post(EXECUTE, json=body)
    english = demo_client.post(EXECUTE, json=body, headers={"Accept-Language": "en"})

    assert french.status_code == english.status_code == 400
    assert french.json()["description"].startswith("donnez exactement un de")
    assert english.json()["description"].startswith("give exactly one of")


@pytest.mark.parametrize("params", [
    {"bbox": "-1e308,-1e308,1e308,1e308"}, {"bbox": "nan,33,-7,34"},
    {"bbox": "-inf,33,inf,34"}, {"bbox": "-7,34,-8,33"}, {"bbox": "-7.7,33.5,-7.5"},
    {"bbox": "-7.7,33.5,0,-7.5,33.6,10"}, {"bbox": "a,b,c,d"}, {"bbox": "2,48,3,49"},
    {"bbox": "-7.7,33.5,-7.5,33.6", "bbox-crs": "EPSG:999999"},
    {"bbox": "-7.7,33.5,-7.5,33.6", "bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/26191"},
    {"subset": "x(1:2)"}, {"subset": "x(nan:inf),y(0:1)"}, {"subset": "time(0:1)"},
    {"subset": "x(5:1),y(1:5)"}, {"subset": "x("}, {"subset": "x(1:2),x(1:2)"},
    {"subset": 'x("a":"b"),y(1:2)'}, {"subset": "x(1e308:1e309),y(0:1)"},
    {"subset": "x(0:1),y(0:1)", "bbox": "-7.7,33.5,-7.5,33.6"},
    {"properties": "99"}, {"properties": "1,1"}, {"properties": ","}, {"properties": "x" * 5000},
    {"scale-size": "x(100000000),y(100000000)"}, {"scale-factor": "-1"}, {"scale-axes": "x(0)"},
    {"datetime": "not-a-date"}, {"datetime": "2020-13-45"}, {"f": "GTiff", "bbox": "1,1,1,1"},
])
def test_hostile_coverage_requests_get_a_400(demo_client: TestClient,
                                            params: dict[str, str]) -> None:
    response = demo_client.get(COVERAGE, params={"f": "json", **params})

    assert response.status_code == 400, response.text[:300]
    _assert_clean(response)


def test_a_coverage_bbox_larger_than_the_raster_is_clipped_to_it(
    demo_client: TestClient,
) -> None:
    whole = demo_client.get(COVERAGE, params={"f": "json", "bbox": "-180,-90,180,90"})
    inner = demo_client.get(COVERAGE, params={"f": "json", "bbox": "-7.62,33.55,-7.58,33.59",
                                              "properties": "1"})

    assert whole.status_code == 200 and whole.json()["type"] == "Coverage"
    assert inner.status_code == 200 and inner.json()["type"] == "Coverage"


HOSTILE_GETS = [
    ("/pygeoapi/", {"f": "nonsense"}), ("/pygeoapi/", {"lang": "zz-ZZ" * 100}),
    ("/pygeoapi/collections/nope", {}), ("/pygeoapi/collections/nope/items", {}),
    ("/pygeoapi/collections/nope/coverage", {}), ("/pygeoapi/collections/catalogue/coverage", {}),
    ("/pygeoapi/collections/flood-hazard/items", {}),
    ("/pygeoapi/collections/flood-hazard/queryables", {}),
    ("/pygeoapi/collections/catalogue/queryables", {"f": "html"}),
    (ITEMS, {"limit": "-1"}), (ITEMS, {"limit": "abc"}), (ITEMS, {"limit": "1e9"}),
    (ITEMS, {"offset": "-5"}), (ITEMS, {"offset": "99999999999999999999"}),
    (ITEMS, {"bbox": "nan,nan,nan,nan"}), (ITEMS, {"bbox": "1,2,3"}),
    (ITEMS, {"bbox": "-7,34,-8,33"}), (ITEMS, {"bbox": "1,2,3,4", "bbox-crs": "EPSG:0"}),
    (ITEMS, {"datetime": "garbage"}), (ITEMS, {"datetime": "2020-01-01/2019-01-01"}),
    (ITEMS, {"datetime": "../.."}), (ITEMS, {"sortby": "-"}), (ITEMS, {"sortby": "+nope"}),
    (ITEMS, {"sortby": ",,,"}), (ITEMS, {"properties": "nope"}), (ITEMS, {"nope": "x"}),
    (ITEMS, {"kind": "x" * 3000}), (ITEMS, {"q": "x" * 3000}), (ITEMS, {"resulttype": "x"}),
    (ITEMS, {"skipGeometry": "maybe"}), (ITEMS, {"filter": "title = 'x'"}),
    (ITEMS, {"filter-lang": "cql2-json", "filter": "{"}), (ITEMS, {"f": "csv"}),
    (ITEMS, {"f": "nonsense"}),
    (ITEMS, {"sortby": "title,"}),
    (ITEMS, {"f": "jsonld"}), (ITEMS, {"f": "html", "limit": "0"}),
    (f"{ITEMS}/nope", {}), (f"{ITEMS}/{'x' * 300}", {}), (f"{ITEMS}/parcels", {"f": "jsonld"}),
    ("/pygeoapi/processes/nope", {}), ("/pygeoapi/processes/parcel-rules", {"f": "jsonld"}),
    ("/pygeoapi/jobs", {"limit": "-1"}), ("/pygeoapi/jobs", {"offset": "x"}),
    (f"/pygeoapi/jobs/{uuid.uuid4()}", {"f": "html"}), ("/pygeoapi/jobs/../../etc", {}),
    (f"/pygeoapi/jobs/{uuid.uuid4()}/results", {}), ("/pygeoapi/openapi", {"f": "yaml"}),
    ("/pygeoapi/openapi", {"ui": "redoc", "f": "html"}), ("/pygeoapi/conformance", {"f": "x"}),
    ("/pygeoapi/static/../../settings.py", {}), ("/pygeoapi/static/%2e%2e/x", {}),
]


@pytest.mark.parametrize(("path", "params"), HOSTILE_GETS)
def test_hostile_get_requests_never_get_a_5xx(demo_client: TestClient, path: str,
                                             params: dict[str, str]) -> None:
    response = demo_client.get(path, params=params)

    assert response.status_code < 500, response.text[:300]
    _assert_clean(response)


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/pygeoapi/processes/nope/execution"), ("DELETE", "/pygeoapi/jobs/x"),
    ("PUT", EXECUTE), ("POST", "/pygeoapi/collections/catalogue/items"),
])
def test_unexpected_methods_never_get_a_5xx(demo_client: TestClient, method: str,
                                           path: str) -> None:
    response = demo_client.request(method, path, content=b"{}")

    assert response.status_code < 500
    _assert_clean(response)


def test_random_host_headers_build_no_api_object_and_never_reach_links(
    demo_client: TestClient,
) -> None:
    apis = _pygeoapi_state(demo_client).pygeoapi_apis
    demo_client.get("/pygeoapi/", params={"f": "json"})
    built = apis.built
    forged = [f"{uuid.uuid4().hex}.attacker.example" for _ in range(40)]

    answers = [demo_client.get(path, params={"f": "json"}, headers={"Host": host})
               for host in forged for path in ("/pygeoapi/", "/pygeoapi/collections")]

    assert apis.built == built == 1
    assert all(a.status_code == 200 for a in answers)
    text = " ".join(a.text for a in answers)
    assert "attacker.example" not in text
    assert json.loads(answers[0].text)["links"][0]["href"].startswith("http://testserver/")


def _pygeoapi_state(client: TestClient) -> Any:
    for route in client.app.routes:  # type: ignore[attr-defined]
        if getattr(route, "path", None) == "/pygeoapi":
            app = getattr(route, "app", None)
            if app is not None and hasattr(app, "state"):
                return app.state
    raise AssertionError("pygeoapi is not mounted")


def test_client_mistakes_leave_no_traceback_in_the_log(
    demo_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("DEBUG"):
        refused = demo_client.post(EXECUTE, json={"inputs": {"parcel": "TF 1/C", "lon": 1}})
        bad_bbox = demo_client.get(COVERAGE, params={"bbox": "nan,1,2,3"})
        unknown = demo_client.get("/pygeoapi/collections/nope", params={"f": "json"})

    assert (refused.status_code, bad_bbox.status_code, unknown.status_code) == (400, 400, 404)
    assert [r for r in caplog.records if r.exc_info or r.levelname == "ERROR"] == []
