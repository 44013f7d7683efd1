"""The edge of the service: bodies within limits, NUL bytes, banners, security headers, CORS,
links that never trust the Host header, and messages in French or English."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser
from starlette.types import Message, Receive, Scope, Send

from geoportal.app import create_app
from geoportal.core.edge import CONTENT_SECURITY_POLICY, Edge, EdgeLimits
from geoportal.core.i18n import preferred_language
from geoportal.core.urls import public_base
from geoportal.settings import Settings


def test_a_nul_byte_in_the_query_is_a_400_that_says_so(demo_client: TestClient) -> None:
    for path in ("/search?q=a%00b", "/rules?parcel=T%0012", "/ogc/collections/parcels/items"
                 "?filter=ref%3D%27%00%27", "/rules/note?parcel=%00"):
        response = demo_client.get(path)
        assert response.status_code == 400, path
        assert "octet nul" in response.json()["description"]


def test_messages_are_french_by_default_and_english_on_request(
        demo_client: TestClient) -> None:
    french = demo_client.get("/ogc/collections/nothing-here")
    english = demo_client.get("/ogc/collections/nothing-here",
                              headers={"Accept-Language": "en-GB,en;q=0.9,fr;q=0.5"})
    assert french.status_code == english.status_code == 404
    unknown = demo_client.get("/no/such/path")
    assert unknown.json()["description"] == "Ressource introuvable."
    assert demo_client.get("/no/such/path", headers={"Accept-Language": "en"}).json()[
        "description"] == "Not found."


@pytest.mark.parametrize(("header", "language"), [
    (None, "fr"), ("", "fr"), ("en", "en"), ("fr-MA,en;q=0.8", "fr"), ("de, en;q=0.3", "en"),
    ("en;q=0.2, fr;q=0.9", "fr"), ("ar-MA", "fr"), ("*", "fr"), ("en;q=abc", "fr"),
])
def test_the_language_follows_the_accept_language_ranking(header: str | None,
                                                           language: str) -> None:
    assert preferred_language(header) == language


def test_a_body_over_the_limit_is_a_413_whether_declared_or_streamed(
        demo_client: TestClient) -> None:
    limit = demo_client.app.state.settings.max_request_bytes  # type: ignore[attr-defined]
    declared = demo_client.post("/rules", content=b"x" * (limit + 1),
                                headers={"Content-Type": "application/json"})
    assert declared.status_code == 413

    def chunks() -> Iterator[bytes]:
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    streamed = demo_client.post("/rules", content=chunks(),
                                headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert "dépasse" in streamed.json()["description"]


def test_a_body_that_never_arrives_is_a_408_and_the_app_never_sees_it() -> None:
    seen: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)

    edge = Edge(app, EdgeLimits(max_body_bytes=1000, body_timeout_s=0.2))
    sent: list[Message] = []

    async def stalled_receive() -> Message:
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "method": "POST", "path": "/rules", "query_string": b"",
                    "headers": [(b"content-length", b"1000")]}
    asyncio.run(edge(scope, stalled_receive, send))
    assert seen == []
    assert sent[0]["status"] == 408


def test_a_slow_client_gets_408_from_the_real_server(live_server: str) -> None:
    """A request that declares 1,000 bytes and sends 8 is closed, not kept open."""
    address = urlsplit(live_server)
    with socket.create_connection((address.hostname, address.port), timeout=60) as sock:
        sock.sendall(b"POST /rules HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"type\":")
        # the live server's body timeout (5 s) ends it
        sock.settimeout(60)
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408")


def test_html_pages_carry_a_csp_and_no_page_says_what_software_serves_it(
        live_server: str) -> None:
    for path in ("/", "/docs", "/ogc?f=html", "/opendata", "/pygeoapi/?f=html"):
        response = httpx.get(live_server + path, follow_redirects=True)
        assert response.status_code == 200, path
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "same-origin"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "server" not in response.headers
        assert "x-powered-by" not in response.headers
    data = httpx.get(live_server + "/ogc/collections?f=json")
    assert data.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in data.headers
    assert "server" not in data.headers


def test_a_forged_host_header_is_never_reflected_into_links(demo_client: TestClient) -> None:
    body = demo_client.get("/ogc?f=json", headers={"Host": "evil.example:666"}).text
    assert "evil.example" not in body
    assert "http://testserver/ogc" in body


def test_the_public_base_comes_from_settings_or_the_listening_socket() -> None:
    scope: Scope = {"scheme": "http", "server": ("127.0.0.1", 8000), "root_path": "",
                    "headers": [(b"host", b"evil.example")]}
    assert public_base(scope, None) == "http://127.0.0.1:8000"
    assert public_base(scope, "https://geoportail.auc.ma/") == "https://geoportail.auc.ma"
    assert public_base({"scheme": "https", "server": ("::1", 443)}, None) == "https://[::1]"


def test_another_origin_may_read_the_api_from_a_browser(demo_client: TestClient) -> None:
    origin = {"Origin": "https://portail.autre-agence.ma"}
    read = demo_client.get("/ogc/collections", headers=origin)
    assert read.headers["access-control-allow-origin"] == "*"
    preflight = demo_client.options("/rules", headers={
        **origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 200
    assert "POST" in preflight.headers["access-control-allow-methods"]


@pytest.mark.browser
def test_the_pages_of_the_service_break_no_rule_of_their_csp(browser: Browser,
                                                             live_server: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text)
            if m.type == "error" and "Content Security Policy" in m.text else None)
    try:
        for path, ready in (("/", "() => document.body.dataset.mapIdle === 'true'"),
                            ("/docs", "() => document.querySelector('.opblock') !== null"),
                            ("/ogc/api?f=html",
                             "() => document.querySelector('.opblock') !== null"),
                            ("/ogc/collections?f=html", "() => true"),
                            ("/opendata", "() => true")):
            page.goto(live_server + path)
            page.wait_for_function(ready, timeout=60_000)
        page.wait_for_timeout(1000)  # late violations (workers, fonts) reach the console
    finally:
        context.close()
    assert violations == []


def test_the_configured_external_base_map_is_allowed_data_but_never_scripts(
        demo_settings: Settings) -> None:
    settings = demo_settings.model_copy(update={
        "basemap_url": "https://tuiles.example.ma:8443/styles/plan.json?key=1",
        "basemap_extra_origins": ["https://glyphs.example.ma"]})
    with TestClient(create_app(settings)) as client:
        policy = client.get("/").headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in policy.split("; ")}
    for directive in ("connect-src", "img-src"):
        assert directives[directive][-2:] == ["https://tuiles.example.ma:8443",
                                              "https://glyphs.example.ma"]
    assert directives["script-src"] == ["'self'", "'wasm-unsafe-eval'"]
    assert directives["default-src"] == ["'self'"]


@pytest.mark.parametrize("setting", [
    {"basemap_url": "https://x.ma/s.json; script-src *"}, {"basemap_url": "javascript:alert(1)"},
    {"basemap_url": "https://x.ma/s.json", "basemap_extra_origins": ["https://y.ma/path"]},
    {"basemap_url": "https://x.ma/s.json", "basemap_extra_origins": ["* 'unsafe-eval'"]},
])
def test_a_base_map_setting_that_is_no_origin_is_refused_at_start(
        setting: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="BASEMAP"):
        Settings(**setting)  # type: ignore[arg-type]
