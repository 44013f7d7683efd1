"""Hostile headers, query strings and paths never make the service answer a 5xx.

Property-based (hypothesis, bounded): arbitrary Host, Accept, Accept-Language and Content-Type
values, huge and numerous headers, thousands of query parameters, invalid percent-encoding and
invalid UTF-8 in paths and queries — on the demo app in-process, and a few raw requests on the
live server so that uvicorn's own HTTP parser is in the loop too.
"""

from __future__ import annotations

import json
import socket
from urllib.parse import quote_from_bytes, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

BOUNDED = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow])

PATHS = [
    "/health",
    "/ogc",
    "/ogc/api",
    "/ogc/collections",
    "/ogc/collections/parcels",
    "/ogc/collections/parcels/items?limit=2",
    "/ogc/collections/parcels/items/1",
    "/ogc/collections/zoning/queryables",
    "/ogc/collections/parcels/tiles/WebMercatorQuad/15/15994/13195",
    "/ogc/tileMatrixSets/WebMercatorQuad",
    "/rules?lon=-7.6&lat=33.57",
    "/search?q=anfa",
    "/opendata",
    "/web/config.json",
    "/pygeoapi/collections",
]
POSTS = ["/rules", "/rules/batch"]
BODIES = [b"", b"null", b"[]", b"{}", b'{"type": "Point", "coordinates": [-7.6, 33.57]}',
          b'{"items": [{"parcel": "T-1"}]}', b"\xff\xfe\x00garbage", b"{" * 500,
          b"plot=1&lon=-7.6", b"<xml/>"]
LEAKS = ("Traceback", "asyncpg", "psycopg", "sqlalchemy", 'File "/')

# Header values: any byte but CR, LF and NUL (which no HTTP parser lets through).
header_bytes = st.binary(max_size=300).map(
    lambda b: b.replace(b"\r", b"").replace(b"\n", b"").replace(b"\0", b""))
media_range = st.builds(
    lambda t, s, q, extra: f"{t}/{s}" + (f";q={q}" if q is not None else "") + extra,
    st.sampled_from(["*", "text", "application", "image", "xx", "", "text/html"]),
    st.sampled_from(["*", "html", "json", "geo+json", "vnd.mapbox-vector-tile", "fg+json",
                     "x-ndjson", "csv", "", "é"]),
    st.one_of(st.none(), st.sampled_from(["0", "1", "0.5", "2", "-1", "abc", "", "1e9"])),
    st.sampled_from(["", ";profile=x", ";charset=utf-8", ";;", ";q", ";level=1;q=0"]))
accept = st.one_of(st.lists(media_range, max_size=8).map(", ".join).map(str.encode),
                   header_bytes)
language_tag = st.sampled_from(["fr", "en", "ar", "fr-MA", "en-GB", "*", "zz-ZZ", "", "é",
                                "x" * 300, "fr;q=abc", "en;q=", ";q=1", "en;q=0", "-"])
accept_language = st.one_of(
    st.lists(st.builds(lambda tag, q: tag + q, language_tag,
                       st.sampled_from(["", ";q=0.9", ";q=2", ";q=-1", ";q=nan"])),
             max_size=8).map(",".join).map(str.encode),
    header_bytes)
content_type = st.one_of(media_range.map(str.encode), header_bytes,
                         st.sampled_from([b"application/json", b"application/geo+json",
                                          b"multipart/form-data; boundary=",
                                          b"application/x-www-form-urlencoded",
                                          b"application/json; charset=utf-16"]))
raw_segment = st.one_of(
    st.binary(min_size=1, max_size=40).map(lambda b: quote_from_bytes(b, safe="")),
    st.sampled_from(["%", "%z", "%zz", "%e9", "%ff%fe", "%C3%28", "%ED%A0%80", "%00", "%%",
                     "%25", "..%2f..%2f", "%2e%2e", "%F0%9F%98", "%c0%af", "a%"]),
)


def assert_no_server_error(response: httpx.Response) -> None:
    """A 4xx or better, and an error answer says what is wrong without leaking internals."""
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        for leak in LEAKS:
            assert leak not in response.text, response.text[:300]
        if "json" in response.headers.get("content-type", ""):
            body = json.loads(response.text)
            assert isinstance(body, dict) and body.get("code") and "description" in body, body


def get_raw(client: TestClient, raw_path: bytes,
            headers: list[tuple[bytes, bytes]] | None = None) -> httpx.Response:
    """GET with the path and query sent byte for byte (no re-encoding by the client)."""
    url = httpx.URL("http://testserver/").copy_with(raw_path=raw_path)
    return client.request("GET", url, headers=headers)


@BOUNDED
@given(path=st.sampled_from(PATHS), host=header_bytes, accept=accept,
       language=accept_language)
def test_hostile_host_accept_and_language_headers_never_cause_a_server_error(
        demo_client: TestClient, path: str, host: bytes, accept: bytes,
        language: bytes) -> None:
    response = demo_client.get(path, headers=[(b"host", host), (b"accept", accept),
                                              (b"accept-language", language)])
    assert_no_server_error(response)


@BOUNDED
@given(path=st.sampled_from(POSTS), kind=content_type, body=st.sampled_from(BODIES),
       language=accept_language)
def test_hostile_content_types_and_bodies_on_posts_never_cause_a_server_error(
        demo_client: TestClient, path: str, kind: bytes, body: bytes,
        language: bytes) -> None:
    response = demo_client.post(path, content=body, headers=[
        (b"content-type", kind), (b"accept-language", language)])
    assert_no_server_error(response)


@settings(BOUNDED, max_examples=10)
@given(path=st.sampled_from(PATHS), size=st.integers(1_000, 200_000),
       count=st.integers(1, 300), name=st.sampled_from(["x-junk", "cookie", "accept",
                                                         "accept-language", "user-agent",
                                                         "forwarded", "x-forwarded-host"]))
def test_huge_and_numerous_headers_never_cause_a_server_error(
        demo_client: TestClient, path: str, size: int, count: int, name: str) -> None:
    headers = [(name.encode(), b"a," * (size // 2))]
    headers += [(f"x-h{n}".encode(), b"v" * 100) for n in range(count)]
    assert_no_server_error(demo_client.get(path, headers=headers))


@settings(BOUNDED, max_examples=15)
@given(path=st.sampled_from(["/ogc/collections/parcels/items", "/rules", "/search",
                             "/ogc/collections/parcels/items/1", "/opendata", "/ogc"]),
       names=st.lists(st.sampled_from(["bbox", "limit", "filter", "f", "crs", "bbox-crs",
                                       "datetime", "properties", "sortby", "lon", "lat",
                                       "parcel", "q", "cursor", "filter-lang", "zz", ""]),
                      min_size=1, max_size=20),
       repeat=st.integers(1, 200), value=raw_segment)
def test_many_and_repeated_query_parameters_never_cause_a_server_error(
        demo_client: TestClient, path: str, names: list[str], repeat: int,
        value: str) -> None:
    query = "&".join(f"{name}={value}" for name in names * repeat)
    assert_no_server_error(get_raw(demo_client, f"{path}?{query}".encode()))


@BOUNDED
@given(template=st.sampled_from([
    "/ogc/collections/{}/items", "/ogc/collections/parcels/items/{}",
    "/ogc/collections/parcels/items?filter={}", "/ogc/collections/parcels/items?bbox={}",
    "/ogc/collections/parcels/items?f={}", "/ogc/collections/parcels/items?crs={}",
    "/rules?lon={}&lat=33.57", "/rules?parcel={}", "/search?q={}", "/opendata/{}",
    "/ogc/collections/parcels/tiles/WebMercatorQuad/{}/1/1", "/ogc/{}",
    "/pygeoapi/collections/{}", "/{}?{}={}", "/web/{}"]),
    segment=raw_segment)
def test_invalid_percent_encoding_and_utf8_in_paths_and_queries_never_cause_a_server_error(
        demo_client: TestClient, template: str, segment: str) -> None:
    raw = template.replace("{}", segment).encode()
    assert_no_server_error(get_raw(demo_client, raw))


def _raw_exchange(base: str, request: bytes) -> int:
    """Send bytes to the live server and return the status of its answer (0: no answer)."""
    address = urlsplit(base)
    answer = b""
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        try:
            sock.sendall(request)
            while b"\r\n" not in answer:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
        except (ConnectionResetError, BrokenPipeError):
            pass  # the server hung up on the request before or while answering
    return int(answer.split(b" ", 2)[1]) if b"\r\n" in answer else 0


@pytest.mark.parametrize("request_line, headers", [
    (b"GET /ogc/collections/\xff\xfe/items HTTP/1.1", b""),
    (b"GET /ogc/collections/parcels/items?bbox=\xe9\xff HTTP/1.1", b""),
    (b"GET /rules?lon=%zz&lat=%C3%28 HTTP/1.1", b""),
    (b"GET /health HTTP/1.1", b"Accept-Language: \xff\xfe;q=\xe9\r\n"),
    (b"GET /ogc HTTP/1.1", b"Accept: " + b"text/html;q=0.1," * 4000 + b"\r\n"),
    (b"GET /ogc HTTP/1.1", b"X-Junk: " + b"a" * 200_000 + b"\r\n"),
    (b"GET /ogc HTTP/1.1", b"".join(b"X-H%d: v\r\n" % n for n in range(2000))),
])
def test_the_live_server_answers_hostile_raw_requests_without_a_server_error(
        live_server: str, request_line: bytes, headers: bytes) -> None:
    request = (request_line + b"\r\nHost: 127.0.0.1\r\n" + headers
               + b"Connection: close\r\n\r\n")
    status = _raw_exchange(live_server, request)
    # 0: uvicorn closed the connection on an unparsable request, which is not a 5xx either.
    assert status < 500, status
    assert httpx.get(f"{live_server}/health", timeout=30).status_code == 200
