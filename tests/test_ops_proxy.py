"""nginx in front of two instances, as ``geoportal serve --proxy --instances 2`` runs them:
tiles served from the cache, an edit visible through it once the tiles' max-age has passed,
one instance killed under load with no client error beyond the requests it held."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from ops_world import mint_key, tile_of, writer_url_for, zone_body

from geoportal.ops.proxy import ProxyConfig, free_port, render_config

pytestmark = pytest.mark.slow
TILES_MAX_AGE_S = 2


@pytest.fixture(scope="module")
def proxy_database_url(fresh_database: Callable[[str], str]) -> str:
    from geoportal.demo.load import load_demo

    url = fresh_database("ops_proxy")
    load_demo(url, parcels=1000, seed=42)
    return url


@pytest.fixture(scope="module")
def proxied(proxy_database_url: str, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[str, Path]]:
    """The real command: nginx on a loopback port, two instances behind; (base URL, home)."""
    home = tmp_path_factory.mktemp("proxy-home")
    port = free_port()
    env = {**os.environ, "GEOPORTAL_HOME": str(home),
           "GEOPORTAL_DATABASE_URL": proxy_database_url,
           "GEOPORTAL_WRITE_DATABASE_URL": writer_url_for(proxy_database_url),
           "GEOPORTAL_TILES_MAX_AGE_S": str(TILES_MAX_AGE_S),
           "GEOPORTAL_TILES_VERSION_CHECK_S": "0", "GEOPORTAL_AUTH_CACHE_S": "300"}
    process = subprocess.Popen([sys.executable, "-m", "geoportal.cli", "serve", "--proxy",
                                "--instances", "2", "--port", str(port)], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "geoportal serve --proxy exited at start-up"
            time.sleep(0.25)
        else:
            pytest.fail("the proxied service did not become healthy")
        yield base, home
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def instances(home: Path) -> list[dict[str, object]]:
    state = json.loads((home / "proxy" / "instances.json").read_text())
    listed: list[dict[str, object]] = state["instances"]
    return listed


def test_the_rendered_configuration_is_accepted_by_nginx(tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    for folder in ("temp", "cache", "logs"):
        (tmp_path / folder).mkdir()
    conf.write_text(render_config(ProxyConfig(
        listen="127.0.0.1:1", upstreams=["127.0.0.1:2", "127.0.0.1:3"], prefix=tmp_path,
        user="root" if os.geteuid() == 0 else None)))
    checked = subprocess.run(["nginx", "-t", "-p", str(tmp_path), "-c", str(conf), "-e",
                              str(tmp_path / "logs/error.log")], capture_output=True, text=True,
                             check=False)
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize(("name", "upstreams"), [
    ("nginx.conf", ("app:8000", "app2:8000")),  # the default topology
    ("nginx-ha.conf", ("ha-app1:8000", "ha-app2:8000")),  # the `ha` profile
])
def test_the_committed_production_configurations_are_the_rendered_ones(
        name: str, upstreams: tuple[str, str]) -> None:
    checkout = Path(__file__).resolve().parent.parent
    rendered = subprocess.run(
        [sys.executable, "-m", "geoportal.cli", "proxy-config", "--upstream", upstreams[0],
         "--upstream", upstreams[1], "--listen", "80"], capture_output=True, text=True,
        check=True).stdout
    assert (checkout / "deploy" / name).read_text() == rendered


def test_a_tile_is_served_from_the_cache_the_second_time(proxied: tuple[str, Path]) -> None:
    base, _ = proxied
    z, x, y = tile_of(-7.6189, 33.5883, 15)
    url = f"{base}/ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{x}/{y}"
    first = httpx.get(url)
    second = httpx.get(url)
    assert first.status_code == second.status_code == 200
    assert first.headers["x-cache-status"] in ("MISS", "EXPIRED")
    assert second.headers["x-cache-status"] == "HIT"
    assert second.content == first.content
    assert second.headers["etag"] == first.headers["etag"]
    assert second.headers["x-request-id"] != first.headers["x-request-id"]


def test_a_page_of_features_is_cached_as_its_headers_allow_and_revalidated_by_etag(
        proxied: tuple[str, Path]) -> None:
    """Pages too, not only tiles: the service says public, max-age=60 with an ETag; nginx
    stores it, serves it again, and answers a client's If-None-Match with 304 itself."""
    base, _ = proxied
    url = f"{base}/ogc/collections/parcels/items"
    params = {"limit": 3, "bbox": "-7.62,33.58,-7.61,33.59", "f": "json"}
    first = httpx.get(url, params=params)
    second = httpx.get(url, params=params)
    assert first.status_code == second.status_code == 200
    assert "max-age=60" in first.headers["cache-control"]
    assert first.headers["x-cache-status"] in ("MISS", "EXPIRED")
    assert second.headers["x-cache-status"] == "HIT"
    assert second.content == first.content and second.headers["etag"] == first.headers["etag"]
    again = httpx.get(url, params=params, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["x-cache-status"] == "HIT"


def test_gzip_passes_through_the_cache_and_each_encoding_is_its_own_variant(
        proxied: tuple[str, Path]) -> None:
    base, _ = proxied
    z, x, y = tile_of(-7.6189, 33.5883, 12)  # the zones of central Casablanca: some kB,
    url = f"{base}/ogc/collections/zoning/tiles/WebMercatorQuad/{z}/{x}/{y}"  # gzipped
    with httpx.Client(headers={"Accept-Encoding": "gzip"}) as gzipped:
        first = gzipped.get(url)
        again = gzipped.get(url)
    with httpx.Client(headers={"Accept-Encoding": "identity"}) as plain:
        identity = plain.get(url)
        identity_again = plain.get(url)
    assert first.headers["content-encoding"] == "gzip"  # compressed by the service
    assert again.headers["x-cache-status"] == "HIT"
    assert again.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in identity.headers  # never a gzip body to this client
    assert identity_again.headers["x-cache-status"] == "HIT"
    assert identity.content == first.content  # httpx decoded the gzip one


def test_links_name_the_proxy_never_an_instance_behind_it(proxied: tuple[str, Path]) -> None:
    base, home = proxied
    landing = httpx.get(f"{base}/ogc", params={"f": "json"}, headers={"Host": "evil.example"})
    assert landing.status_code == 200
    hrefs = [link["href"] for link in landing.json()["links"]]
    assert hrefs and all(href.startswith(base) for href in hrefs), hrefs
    ports = {str(i["address"]).rsplit(":", 1)[1] for i in instances(home)}
    assert not any(f":{port}" in href for href in hrefs for port in ports)


def test_requests_with_credentials_never_touch_the_cache(proxied: tuple[str, Path]) -> None:
    base, _ = proxied
    z, x, y = tile_of(-7.6189, 33.5883, 15)
    url = f"{base}/ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{x}/{y}"
    httpx.get(url)
    signed_in = httpx.get(url, headers={"Authorization": "Bearer whoever"})
    assert signed_in.headers["x-cache-status"] == "BYPASS"


def test_an_edit_is_visible_through_the_cache_once_the_max_age_has_passed(
        proxied: tuple[str, Path], proxy_database_url: str) -> None:
    base, _ = proxied
    z, x, y = tile_of(-7.6318, 33.59235, 15)
    url = f"{base}/ogc/collections/zoning/tiles/WebMercatorQuad/{z}/{x}/{y}"
    before = httpx.get(url)
    assert httpx.get(url).headers["x-cache-status"] == "HIT"
    key = mint_key(proxy_database_url, "proxy-editor", "editor")
    created = httpx.post(f"{base}/ogc/collections/zoning/items",
                         json=zone_body(proxy_database_url),
                         headers={"Authorization": f"Bearer {key}"})
    assert created.status_code == 201, created.text
    assert created.headers.get("x-cache-status") in (None, "BYPASS")  # never from the cache
    time.sleep(TILES_MAX_AGE_S + 0.5)
    after = httpx.get(url)
    assert after.status_code == 200
    assert after.headers["x-cache-status"] == "EXPIRED"  # revalidated: a new tile
    assert after.headers["etag"] != before.headers["etag"]
    assert after.content != before.content
    assert httpx.get(url).headers["x-cache-status"] == "HIT"


def _access_log(home: Path) -> list[dict[str, object]]:
    """nginx's JSON access log of the proxied service, one dict a request."""
    lines = (home / "proxy" / "logs" / "access.log").read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_one_instance_killed_under_load_costs_clients_no_error(
        proxied: tuple[str, Path]) -> None:
    """SIGKILL of one instance while four clients page through the plots (each query new, so
    answered by an instance, not the cache): nginx retries what the dead instance held or
    refused on the other one, so every client gets its 200; the supervisor starts the instance
    again and it serves. Counted in answers, bounded in time, never timed."""
    base, home = proxied
    answers: list[tuple[float, int]] = []
    errors: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()
    deadline = time.monotonic() + 120

    def load(worker: int) -> None:
        with httpx.Client(timeout=60) as client:
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    response = client.get(f"{base}/ogc/collections/parcels/items",
                                          params={"limit": 5, "offset": worker * 10_000 + n})
                    with lock:
                        answers.append((time.monotonic(), response.status_code))
                except httpx.HTTPError as exc:
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")

    def answered_since(moment: float) -> int:
        with lock:
            return sum(1 for at, _ in answers if at > moment)

    threads = [threading.Thread(target=load, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    try:
        while answered_since(0.0) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)  # both instances busy, nginx's connections to them warm
        victim = instances(home)[0]
        victim_address = str(victim["address"])
        killed_at = time.monotonic()
        os.kill(int(str(victim["pid"])), signal.SIGKILL)
        restarted: dict[str, object] = victim
        logged_at_restart: int | None = None  # access log lines when the new pid showed
        served_again = 0
        while time.monotonic() < deadline:  # restarted, then serving through nginx again
            restarted = instances(home)[0]
            if logged_at_restart is None and restarted["pid"] != victim["pid"]:
                logged_at_restart = len(_access_log(home))
            if logged_at_restart is not None:  # the old one died ≥ 1 s before: the new one's
                served_again = sum(1 for entry in _access_log(home)[logged_at_restart:]
                                   if entry["upstream"] == victim_address
                                   and entry["status"] == 200)
            if served_again and answered_since(killed_at) >= 100:
                break
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=90)
    failed = [status for _, status in answers if status != 200]
    after = answered_since(killed_at)
    print(f"{len(answers)} answers, {after} after the kill, not 200: {failed}")  # pytest -s
    assert not errors, errors[:5]
    assert not failed, failed  # not one client saw the loss
    assert after >= 100, "the load did not go on after the kill"
    assert restarted["pid"] != victim["pid"] and restarted["restarts"] == 1
    assert served_again, "the restarted instance did not serve through nginx"
    # the proxy did feel the loss: requests sent to the dead instance were retried elsewhere
    retried = [entry for entry in _access_log(home)
               if str(entry["upstream"]).startswith(f"{victim_address}, ")
               and entry["status"] == 200]
    assert retried, "no request went to the killed instance after its death"


def test_with_several_workers_a_scrape_counts_the_requests_of_all_of_them(
        proxy_database_url: str, tmp_path: Path) -> None:
    """`geoportal serve --workers 2`: prometheus-client's multiprocess mode, whichever
    worker answers the scrape."""
    from prometheus_client.parser import text_string_to_metric_families

    port = free_port()
    env = {**os.environ, "GEOPORTAL_HOME": str(tmp_path),
           "GEOPORTAL_DATABASE_URL": proxy_database_url}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = subprocess.Popen([sys.executable, "-m", "geoportal.cli", "serve", "--workers",
                                "2", "--port", str(port)], env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        for n in range(30):  # new connections: the kernel spreads them over the workers
            assert httpx.get(f"{base}/ogc/collections/parcels/items/{n + 1}").status_code == 200
        route = "/ogc/collections/{collection_id}/items/{feature_id}"
        for _ in range(4):
            text = httpx.get(f"{base}/metrics").text
            counted = sum(sample.value for family in text_string_to_metric_families(text)
                          if family.name == "geoportal_http_requests"
                          for sample in family.samples
                          if sample.name.endswith("_total") and sample.labels["route"] == route)
            assert counted == 30
        assert len(list((tmp_path / "metrics" / f"port-{port}").glob("*.db"))) >= 2
    finally:
        process.terminate()
        process.wait(timeout=30)
