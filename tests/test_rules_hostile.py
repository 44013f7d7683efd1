"""No input to ``/rules``, its batch, its note or ``/search`` crashes, stalls or misleads the
service: every client mistake is a 4xx with an OGC error body (or, in a batch, that item's
own error), never a 5xx, never a traceback in the log; CRS work stays off the event loop.

Each input that once crashed the service is kept here as a regression case; property tests
(hypothesis, bounded) look for new ones on the demo data set.
"""

from __future__ import annotations

import json
import logging
import select
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import psycopg
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from geoportal.app import create_app
from geoportal.settings import Settings

ENGLISH = {"Accept-Language": "en"}
TO_LONLAT = Transformer.from_crs("EPSG:26191", "EPSG:4326", always_xy=True)
# CRS whose transformation to EPSG:26191 fails (pyproj: "Input is not a transformation").
UNTRANSFORMABLE = "EPSG:2218"
# Projected CRS unusual enough to be cold in the CRS cache of a fresh server.
RARE_CRS = ["EPSG:32629", "EPSG:32630", "EPSG:2192", "EPSG:27572", "EPSG:3395", "EPSG:25830",
            "EPSG:23030", "EPSG:32628"]
PROPERTY_RUNS = settings(max_examples=120, deadline=None, derandomize=True,
                         suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                HealthCheck.too_slow])


@pytest.fixture(scope="module")
def hostile(demo_settings: Settings) -> Iterator[TestClient]:
    """The app on the demo data, answering a 500 as a response (not an exception)."""
    with TestClient(create_app(demo_settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture(scope="module")
def known_plot(demo_database_url: str) -> dict[str, Any]:
    """A demo plot: its reference and a point inside it (EPSG:26191 and lon/lat)."""
    with psycopg.connect(demo_database_url) as conn:
        row = conn.execute("SELECT ref, ST_X(p), ST_Y(p) FROM (SELECT ref, "
                           "ST_PointOnSurface(geom) AS p FROM parcels ORDER BY id LIMIT 1) s"
                           ).fetchone()
    assert row is not None
    lon, lat = TO_LONLAT.transform(row[1], row[2])
    return {"ref": row[0], "x": row[1], "y": row[2], "lon": lon, "lat": lat}


def assert_client_error(response: Any, status: int | None = None) -> dict[str, Any]:
    """A 4xx with an OGC exception body that says something."""
    assert 400 <= response.status_code < 500, response.text
    if status is not None:
        assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    assert isinstance(body["code"], str) and body["code"]
    assert isinstance(body["description"], str) and body["description"].strip()
    return body


def assert_never_5xx(response: Any) -> None:
    """Below 500; when a 4xx, an OGC exception body with a description."""
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_client_error(response)


def post_json(client: TestClient, path: str, document: Any, **kwargs: Any) -> Any:
    """POST a document as JSON text (lone surrogates and all, as ``json.dumps`` escapes them)."""
    headers = {"content-type": "application/json", **kwargs.pop("headers", {})}
    return client.post(path, content=json.dumps(document), headers=headers, **kwargs)


@pytest.fixture
def no_error_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """The test's requests log nothing at ERROR (a 4xx is never logged with a traceback)."""
    with caplog.at_level(logging.WARNING, logger="geoportal"):
        yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not errors, [r.getMessage() for r in errors]


# --- regressions: inputs that crashed or misled the service ------------------------------

def test_a_crs_without_a_transformation_to_storage_is_a_400_in_get_and_post(
        hostile: TestClient, no_error_logs: None) -> None:
    got = hostile.get("/rules", params={"x": 300000, "y": 330000, "crs": UNTRANSFORMABLE})
    assert "EPSG:2218" in assert_client_error(got, 400)["description"]
    posted = hostile.post("/rules", params={"crs": UNTRANSFORMABLE},
                          json={"type": "Point", "coordinates": [300000, 330000]})
    assert "EPSG:2218" in assert_client_error(posted, 400)["description"]
    polygon = {"type": "Polygon", "coordinates": [[[300000, 330000], [300100, 330000],
                                                   [300100, 330100], [300000, 330000]]]}
    assert_client_error(hostile.post("/rules", params={"crs": UNTRANSFORMABLE}, json=polygon))


def test_an_untransformable_item_fails_only_itself_in_a_batch(
        hostile: TestClient, known_plot: dict[str, Any], no_error_logs: None) -> None:
    items = [{"x": 300000, "y": 330000, "crs": UNTRANSFORMABLE}, {"parcel": known_plot["ref"]},
             {"lon": known_plot["lon"], "lat": known_plot["lat"]}]
    response = hostile.post("/rules/batch", json={"items": items}, headers=ENGLISH)
    assert response.status_code == 200, response.text
    first, second, third = response.json()["results"]
    assert first["error"]["status"] == 400 and "EPSG:2218" in first["error"]["description"]
    assert "transformation" in first["error"]["description"]
    assert second["answer"]["plot"]["ref"] == known_plot["ref"]
    assert third["answer"]["plot"]["ref"] == known_plot["ref"]


@pytest.mark.parametrize("crs", ["EPSG:" + "9" * 5000, "x" * 10_000, "EPSG:4326" + " " * 300,
                                 "urn:ogc:def:crs:EPSG:" + "1." * 500 + ":4326"])
def test_an_absurdly_long_crs_is_a_quick_400(hostile: TestClient, crs: str,
                                              no_error_logs: None) -> None:
    assert_client_error(hostile.get("/rules", params={"x": 1, "y": 2, "crs": crs}), 400)
    assert_client_error(hostile.post("/rules", params={"crs": crs},
                                     json={"type": "Point", "coordinates": [1, 2]}), 400)
    batch = hostile.post("/rules/batch", json={"items": [{"x": 1, "y": 2, "crs": crs}]})
    assert batch.json()["results"][0]["error"]["status"] == 400


@pytest.mark.parametrize(("path", "params"), [
    ("/search", {"q": "TF\x001"}),
    ("/search", {"q": "\x00\x00"}),
    ("/rules", {"parcel": "TF\x001/C"}),
    ("/rules", {"parcel": "TF 1\x07/C"}),
    ("/rules/note", {"parcel": "TF\x001"}),
    ("/rules/note", {"parcel": "TF\x001", "f": "pdf"}),
])
def test_nul_and_control_characters_are_a_400_that_says_so(
        hostile: TestClient, path: str, params: dict[str, str], no_error_logs: None) -> None:
    french = assert_client_error(hostile.get(path, params=params), 400)["description"]
    english = assert_client_error(hostile.get(path, params=params, headers=ENGLISH), 400)
    # NUL bytes are refused at the service's edge, other control characters by the room
    assert ("imprimable" in french and "printable" in english["description"]) or (
        "octet nul" in french and "NUL byte" in english["description"])


@pytest.mark.parametrize("bad", ["TF\u00001", "\ud800", "TF 1\ud800/C", "\t", "x" * 100_000])
def test_an_unprintable_reference_fails_only_its_batch_item(
        hostile: TestClient, known_plot: dict[str, Any], bad: str, no_error_logs: None) -> None:
    response = post_json(hostile, "/rules/batch",
                         {"items": [{"parcel": bad}, {"parcel": known_plot["ref"]}]})
    assert response.status_code == 200, response.text
    refused, answered = response.json()["results"]
    assert refused["error"]["status"] == 400 and "parcel" in refused["error"]["description"]
    assert answered["answer"]["plot"]["ref"] == known_plot["ref"]


def test_a_lone_surrogate_anywhere_in_a_body_is_never_a_5xx(
        hostile: TestClient, no_error_logs: None) -> None:
    assert_client_error(post_json(hostile, "/rules", {"type": "\ud800", "coordinates": [1, 2]}))
    assert_client_error(post_json(hostile, "/rules",
                                  {"type": "Polygon", "coordinates": [[["\ud800", 2]]]}))
    batch = post_json(hostile, "/rules/batch", {"items": [{"x": 1, "y": 2, "crs": "\ud800"}]})
    assert batch.json()["results"][0]["error"]["status"] == 400


def test_a_batch_with_more_than_8_crs_is_refused_and_says_how_many(
        hostile: TestClient, known_plot: dict[str, Any], no_error_logs: None) -> None:
    codes = [f"EPSG:{code}" for code in (26191, 4326, 3857, 32629, 32630, 2192, 27572,
                                         3395, 25830)]
    items = [{"x": 1.0, "y": 2.0, "crs": code} for code in codes]
    body = assert_client_error(hostile.post("/rules/batch", json={"items": items}), 400)
    assert "8" in body["description"] and "9" in body["description"]
    answered = hostile.post("/rules/batch", json={"items": items[:8]})
    assert answered.status_code == 200
    # Several spellings of one CRS are one CRS; malformed names are their items' errors.
    spellings = [{"x": known_plot["lon"], "y": known_plot["lat"], "crs": crs} for crs in (
        "EPSG:4326", "CRS84", "[EPSG:4326]", "urn:ogc:def:crs:EPSG::4326",
        "http://www.opengis.net/def/crs/EPSG/0/4326", "OGC:CRS84", "nonsense", "EPSG:",
        "EPSG:26191x", "EPSG:-1", "EPSG:1.5")]
    mixed = hostile.post("/rules/batch", json={"items": items[:7] + spellings})
    assert mixed.status_code == 200, mixed.text


def test_lon_and_lat_with_a_crs_mean_the_same_in_a_batch_as_in_get(
        hostile: TestClient, known_plot: dict[str, Any]) -> None:
    item = {"lon": known_plot["lon"], "lat": known_plot["lat"], "crs": "EPSG:26191"}
    got = assert_client_error(hostile.get("/rules", params=item), 400)
    batch = hostile.post("/rules/batch", json={"items": [item]})
    assert batch.json()["results"][0]["error"]["description"] == got["description"]


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1900-02-28", "2400-02-29"])
def test_dates_at_the_ends_of_the_calendar_are_answered(
        hostile: TestClient, known_plot: dict[str, Any], day: str, no_error_logs: None) -> None:
    ref = known_plot["ref"]
    assert hostile.get("/rules", params={"parcel": ref, "at": day}).status_code == 200
    assert hostile.get("/rules/note", params={"parcel": ref, "date": day}).status_code == 200
    batch = hostile.post("/rules/batch", json={"items": [{"parcel": ref}], "at": day})
    assert batch.json()["results"][0]["answer"]["at"] == day


@pytest.mark.parametrize("day", ["10000-01-01", "2023-02-29", "0000-01-01", "-0001-01-01",
                                 "2020-1-1", "1e9", "today", "2020-01-01T25:00:00"])
def test_dates_outside_the_calendar_are_a_400_or_422(
        hostile: TestClient, known_plot: dict[str, Any], day: str, no_error_logs: None) -> None:
    ref = known_plot["ref"]
    assert_client_error(hostile.get("/rules", params={"parcel": ref, "at": day}), 400)
    assert_client_error(hostile.get("/rules/note", params={"parcel": ref, "date": day}))
    assert_client_error(hostile.post("/rules/batch", json={"items": [{"parcel": ref}],
                                                           "at": day}))


@pytest.mark.parametrize("params", [
    {"lon": "1e400", "lat": "1"}, {"lon": "inf", "lat": "-inf"}, {"lon": "nan", "lat": "nan"},
    {"x": "1e308", "y": "-1e308"}, {"x": "1e308", "y": "1e308", "crs": "EPSG:3857"},
    {"x": "0x10", "y": "1"}, {"x": "1_000", "y": "2"}, {"lon": "", "lat": ""},
    {"x": "300000", "y": "330000", "crs": "EPSG:4326"}, {"parcel": ""}, {"parcel": "   "},
    {"parcel": "TF 1/C", "geometry": "maybe"}, {"x": "1", "y": "2", "crs": "EPSG:4979"},
    {"x": "1", "y": "2", "crs": "EPSG:5773"}, {"x": "1", "y": "2", "crs": "EPSG:4978"},
])
def test_absurd_numbers_and_values_are_a_4xx(
        hostile: TestClient, params: dict[str, str], no_error_logs: None) -> None:
    assert_client_error(hostile.get("/rules", params=params))


@pytest.mark.parametrize("document", [
    {"type": "Polygon", "coordinates": []}, {"type": "MultiPolygon", "coordinates": []},
    {"type": "Point", "coordinates": []}, {"type": "Point", "coordinates": ["a", "b"]},
    {"type": "Point", "coordinates": [None, None]}, {"type": "Point", "coordinates": 5},
    {"type": "Point", "coordinates": [1]}, {"type": "Point", "coordinates": [[[[1, 2]]]]},
    {"type": "Polygon", "coordinates": [[[1, 2]]]}, {"type": "Polygon", "coordinates": [[]]},
    {"type": "Polygon", "coordinates": [[1, 2, 3, 4]]}, {"type": ["Polygon"]},
    {"type": {"a": 1}}, {"type": None}, {}, {"type": "Feature"},
    {"type": "Feature", "geometry": {"type": "Feature", "geometry": {}}},
    {"type": "GeometryCollection", "geometries": []},
    {"type": "Point", "coordinates": [1e308, 1e308]},
    {"type": "Point", "coordinates": "x" * 1000},
    {"type": "P" * 100_000, "coordinates": [1, 2]},
    {"type": "Polygon", "coordinates": [[[-7.6, 33.5]] * 30_000]},
    {"type": "MultiPolygon", "coordinates": [[[[-7.6, 33.5], [-7.6, 33.5], [-7.6, 33.5],
                                               [-7.6, 33.5]]]] * 6000},
])
def test_empty_broken_and_enormous_geometries_are_a_4xx(
        hostile: TestClient, document: dict[str, Any], no_error_logs: None) -> None:
    assert_client_error(post_json(hostile, "/rules", document))


@pytest.mark.parametrize("depth", [50, 500, 5000])
def test_deeply_nested_json_is_a_4xx(hostile: TestClient, depth: int,
                                     no_error_logs: None) -> None:
    nested = "[" * depth + "]" * depth
    for path, text in [("/rules", nested), ("/rules", f'{{"type":"Point","coordinates":{nested}}}'),
                       ("/rules/batch", f'{{"items":[{{"parcel":{nested}}}]}}'),
                       ("/rules/batch", f'{{"items":{nested}}}')]:
        response = hostile.post(path, content=text, headers={"content-type": "application/json"})
        assert_client_error(response)


def test_wrong_types_in_a_batch_are_a_422_naming_the_item(hostile: TestClient) -> None:
    for items in ([{"parcel": 5}], [{"lon": "a", "lat": 1}], [{"x": [1], "y": 2}], ["TF 1/C"],
                  [None], [{"parcel": "TF 1/C", "extra": 1}]):
        body = assert_client_error(hostile.post("/rules/batch", json={"items": items}), 422)
        assert "items.0" in body["description"]
    assert_client_error(hostile.post("/rules/batch", json={"items": "x"}), 422)
    assert_client_error(hostile.post("/rules/batch", json=[]), 422)


# --- properties: whatever is asked, never a 5xx -------------------------------------------

PRINTABLE_OR_NOT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)
NUMBERISH = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-10**30, max_value=10**30).map(str),
    st.sampled_from(["nan", "inf", "-inf", "1e400", "", " ", "1,5", "0x1f", "１２"]),
    PRINTABLE_OR_NOT)
CRS_TEXT = st.one_of(
    st.sampled_from(["EPSG:26191", "EPSG:4326", "CRS84", "OGC:CRS84", "EPSG:3857", "[EPSG:4326]",
                     "urn:ogc:def:crs:EPSG::26191", UNTRANSFORMABLE, "EPSG:99999", "EPSG:4979",
                     "http://www.opengis.net/def/crs/EPSG/0/32629", "EPSG:5773", "EPSG:0000"]),
    st.integers(min_value=0, max_value=999_999).map(lambda n: f"EPSG:{n}"),
    PRINTABLE_OR_NOT)
DATEISH = st.one_of(st.dates().map(str), PRINTABLE_OR_NOT,
                    st.sampled_from(["0000-00-00", "9999-12-32", "2024-02-30", "10000-01-01"]))
QUERY_VALUES = {"lon": NUMBERISH, "lat": NUMBERISH, "x": NUMBERISH, "y": NUMBERISH,
                "crs": CRS_TEXT, "parcel": PRINTABLE_OR_NOT, "at": DATEISH,
                "geometry": st.sampled_from(["true", "false", "1", "yes", "maybe", ""])}


@st.composite
def rules_params(draw: st.DrawFn) -> dict[str, str]:
    names = draw(st.sets(st.sampled_from(sorted(QUERY_VALUES)), max_size=5))
    return {name: draw(QUERY_VALUES[name]) for name in names}


@PROPERTY_RUNS
@given(params=rules_params())
def test_no_query_string_gets_a_5xx_from_rules(hostile: TestClient,
                                                params: dict[str, str]) -> None:
    assert_never_5xx(hostile.get("/rules", params=params))


JSON_SCALAR = st.one_of(st.none(), st.booleans(), st.floats(), st.integers(-10**20, 10**20),
                        st.text(max_size=20))
COORDINATE = st.one_of(st.floats(min_value=-200, max_value=200), st.floats(),
                       st.floats(min_value=200_000, max_value=400_000), JSON_SCALAR)
NESTED = st.recursive(st.lists(COORDINATE, max_size=4),
                      lambda inner: st.lists(inner, max_size=5), max_leaves=60)
GEOMETRY_DOCUMENT = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from(["Point", "Polygon", "MultiPolygon", "LineString",
                                        "Feature", "GeometryCollection"]), JSON_SCALAR)},
    optional={"coordinates": st.one_of(NESTED, JSON_SCALAR),
              "geometry": st.one_of(JSON_SCALAR, st.fixed_dictionaries(
                  {"type": st.sampled_from(["Point", "Polygon"]), "coordinates": NESTED}))})


@PROPERTY_RUNS
@given(document=GEOMETRY_DOCUMENT, crs=st.one_of(st.none(), CRS_TEXT),
       at=st.one_of(st.none(), DATEISH))
def test_no_posted_geometry_gets_a_5xx_from_rules(
        hostile: TestClient, document: dict[str, Any], crs: str | None, at: str | None) -> None:
    params = {name: value for name, value in (("crs", crs), ("at", at)) if value is not None}
    assert_never_5xx(post_json(hostile, "/rules", document, params=params))


BATCH_VALUE = st.one_of(JSON_SCALAR, st.floats(min_value=-200, max_value=400_000), CRS_TEXT)
BATCH_ITEM = st.dictionaries(st.sampled_from(["parcel", "lon", "lat", "x", "y", "crs"]),
                             BATCH_VALUE, max_size=4)


@PROPERTY_RUNS
@given(items=st.lists(BATCH_ITEM, max_size=12), at=st.one_of(st.none(), DATEISH))
def test_no_batch_gets_a_5xx_and_every_item_gets_an_answer_or_its_error(
        hostile: TestClient, items: list[dict[str, Any]], at: str | None) -> None:
    document: dict[str, Any] = {"items": items}
    if at is not None:
        document["at"] = at
    response = post_json(hostile, "/rules/batch", document)
    assert_never_5xx(response)
    if response.status_code == 200:
        results = response.json()["results"]
        assert [r["index"] for r in results] == list(range(len(items)))
        for result in results:
            assert (result["answer"] is None) != (result["error"] is None)
            if result["error"]:
                assert 400 <= result["error"]["status"] < 500
                assert result["error"]["description"].strip()


@PROPERTY_RUNS
@given(q=PRINTABLE_OR_NOT, limit=st.one_of(st.none(), NUMBERISH))
def test_no_search_gets_a_5xx(hostile: TestClient, q: str, limit: str | None) -> None:
    params = {"q": q} if limit is None else {"q": q, "limit": limit}
    assert_never_5xx(hostile.get("/search", params=params))


# --- the event loop stays free -------------------------------------------------------------

def _send(base: str, method: str, path: str, body: bytes = b"") -> socket.socket:
    """Open a connection and write a whole HTTP/1.1 request on it (the answer is not read)."""
    url = urlsplit(base)
    sock = socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=120)
    head = (f"{method} {path} HTTP/1.1\r\nHost: {url.netloc}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    sock.sendall(head.encode() + body)
    return sock


def _status(sock: socket.socket) -> int:
    """Read the whole answer of a ``_send`` connection; its HTTP status."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    sock.close()
    return int(b"".join(chunks).split(b" ", 2)[1])


def test_health_is_answered_while_hostile_batches_run(
        live_server: str, known_plot: dict[str, Any]) -> None:
    # Each batch: 1,000 points, in CRS84 and 7 CRS never used before by this server (each
    # costs pyproj milliseconds to build), then 1,000 answers to assemble.
    batches = []
    for first in (0, 1):
        crs_set = RARE_CRS[first:first + 7]
        items = [{"x": 1.0 + i, "y": 2.0, "crs": crs_set[i % 7]} for i in range(500)]
        items += [{"lon": known_plot["lon"], "lat": known_plot["lat"]}] * 500
        batches.append(json.dumps({"items": items}).encode())
    # And the batch that once held the loop for 11 s: 1,000 items in 1,000 CRS.
    every_crs = json.dumps({"items": [{"x": 1, "y": 2, "crs": f"EPSG:{code}"}
                                      for code in range(32601, 33601)]}).encode()
    running = [_send(live_server, "POST", "/rules/batch", body) for body in batches]
    refused = _send(live_server, "POST", "/rules/batch", every_crs)
    health = _send(live_server, "GET", "/health")
    assert _status(health) == 200
    # /health has been answered: the batches must still be running (nothing to read yet).
    readable, _, _ = select.select(running, [], [], 0)
    still_running = [sock for sock in running if sock not in readable]
    statuses = [_status(sock) for sock in running]
    assert statuses == [200, 200]
    assert _status(refused) == 400
    assert still_running, "/health was answered only after every batch"


def test_health_is_answered_while_a_pdf_note_renders(
        live_server: str, known_plot: dict[str, Any]) -> None:
    path = f"/rules/note?f=pdf&date=2026-06-15&parcel={quote(known_plot['ref'])}"
    notes = [_send(live_server, "GET", path) for _ in range(2)]
    health = _send(live_server, "GET", "/health")
    assert _status(health) == 200
    # Rendered one at a time in the PDF thread: the second note cannot be done yet.
    readable, _, _ = select.select(notes, [], [], 0)
    still_rendering = [sock for sock in notes if sock not in readable]
    assert [_status(sock) for sock in notes] == [200, 200]
    assert still_rendering, "/health was answered only after the PDF notes"
