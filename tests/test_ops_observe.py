"""Operations you can see: /metrics in Prometheus format (parsed by prometheus-client's own
parser), one JSON log line per request carrying the request id of the response header, and
that id carried into the database with an edit."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from conftest import uvicorn_server
from fastapi.testclient import TestClient
from ops_world import mint_key, writer_url_for, zone_body
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from geoportal.app import create_app
from geoportal.settings import Settings

LOOPBACK = ("127.0.0.1", 40000)
TILE = "/ogc/collections/parcels/tiles/WebMercatorQuad/15/15690/13134"


@pytest.fixture(scope="module")
def ops_database_url(fresh_database: Callable[[str], str]) -> str:
    """The demo data (1,000 plots) and jobs in the queue's own table (migration 0006)."""
    from geoportal.demo.load import load_demo

    url = fresh_database("ops_observe")
    load_demo(url, parcels=1000, seed=42)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO procrastinate_jobs (queue_name, task_name, status) VALUES "
                     "('mail', 'send', 'todo'), ('mail', 'send', 'todo'), "
                     "('mail', 'send', 'doing'), ('mail', 'send', 'succeeded')")
    return url


@pytest.fixture(scope="module")
def local(ops_database_url: str) -> Iterator[TestClient]:
    """A client that connects from loopback, as a Prometheus on the same host."""
    app = create_app(Settings(database_url=ops_database_url))
    with TestClient(app, client=LOOPBACK) as client:
        yield client


def families(text: str) -> dict[str, Metric]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_metrics_are_prometheus_text_with_requests_latency_pools_queues_and_cache(
        local: TestClient) -> None:
    assert local.get("/ogc/collections/parcels/items/1").status_code == 200
    assert local.get("/ogc/collections/parcels/items/999999999").status_code == 404
    assert local.get(TILE).status_code == 200
    assert local.get(TILE).status_code == 200
    response = local.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["cache-control"] == "no-store"
    found = families(response.text)
    requests = {(s.labels["method"], s.labels["route"], s.labels["status"]): s.value
                for s in found["geoportal_http_requests"].samples if s.name.endswith("_total")}
    item = "/ogc/collections/{collection_id}/items/{feature_id}"
    assert requests[("GET", item, "200")] >= 1
    assert requests[("GET", item, "404")] >= 1
    latency = found["geoportal_http_request_duration_seconds"]
    assert latency.type == "histogram"
    buckets = [s for s in latency.samples
               if s.name.endswith("_bucket") and s.labels["route"] == item]
    assert buckets and all(s.labels["method"] == "GET" for s in buckets)
    tile_route = "/ogc/collections/{collection_id}/tiles/{tms}/{z}/{x}/{y}"
    assert requests[("GET", tile_route, "200")] >= 2
    pools = {s.labels["pool"] for s in found["geoportal_db_pool_connections"].samples}
    assert pools == {"read", "write"}
    for name in ("geoportal_db_pool_in_use", "geoportal_db_pool_waiting",
                 "geoportal_db_pool_max", "geoportal_heavy_queue_depth",
                 "geoportal_heavy_running", "geoportal_tile_cache_bytes"):
        assert name in found, name
    hits = found["geoportal_tile_cache_hits"].samples[0].value
    misses = found["geoportal_tile_cache_misses"].samples[0].value
    assert hits >= 1 and misses >= 1
    assert found["geoportal_database_up"].samples[0].value == 1
    assert found["geoportal_database_replica"].samples[0].value == 0
    assert "geoportal_replication_lag_seconds" not in found  # a primary has no lag
    jobs = {s.labels["status"]: s.value for s in found["geoportal_job_queue_depth"].samples}
    assert jobs == {"todo": 2, "doing": 1}


def test_no_path_a_client_invents_becomes_a_label_of_its_own(local: TestClient) -> None:
    for n in range(5):
        assert local.get(f"/no-such-page-{n}").status_code == 404
    found = families(local.get("/metrics").text)
    routes = {s.labels["route"] for s in found["geoportal_http_requests"].samples}
    assert "unmatched" in routes
    assert not any(route.startswith("/no-such-page") for route in routes)


def test_metrics_are_refused_to_remote_clients_in_french_and_english(
        ops_database_url: str) -> None:
    with TestClient(create_app(Settings(database_url=ops_database_url)),
                    client=("203.0.113.9", 5555)) as remote:
        refused = remote.get("/metrics")
        assert refused.status_code == 403
        assert "local" in refused.json()["description"]
        english = remote.get("/metrics", headers={"Accept-Language": "en"})
        assert "loopback" in english.json()["description"]


def test_with_a_token_metrics_need_it_from_anywhere(ops_database_url: str) -> None:
    settings = Settings(database_url=ops_database_url, metrics_token="s3cret-scrape-token")
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        good = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"})
        assert good.status_code == 200
        assert "geoportal_http_requests_total" in good.text


def test_a_sane_request_id_is_echoed_and_an_insane_one_replaced(local: TestClient) -> None:
    sane = local.get("/health", headers={"X-Request-Id": "lb-7f3a9c21-0001"})
    assert sane.headers["x-request-id"] == "lb-7f3a9c21-0001"
    for insane in (b"x", b"a b c d e f g", "é".encode() * 10, b"0" * 300, b"id;DROP TABLE"):
        answered = local.get("/health", headers={b"X-Request-Id": insane})
        made = answered.headers["x-request-id"]
        assert made.encode() != insane and len(made) == 24 and int(made, 16) >= 0
    first = local.get("/health").headers["x-request-id"]
    assert first != local.get("/health").headers["x-request-id"]


def test_json_logs_have_one_line_per_request_with_the_id_of_the_response_header(
        ops_database_url: str, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with uvicorn_server(ops_database_url, log=log, GEOPORTAL_LOG_FORMAT="json",
                        GEOPORTAL_ACCESS_LOG="true") as live:
        response = httpx.get(f"{live.base}/ogc/collections/parcels/items/2",
                             headers={"X-Forwarded-For": "198.51.100.7"})
        assert response.status_code == 200
        request_id = response.headers["x-request-id"]
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    mine = [line for line in lines if line.get("request_id") == request_id]
    assert len(mine) == 1, lines
    line = mine[0]
    assert line["logger"] == "geoportal.access"
    assert line["method"] == "GET" and line["status"] == 200
    assert line["route"] == "/ogc/collections/{collection_id}/items/{feature_id}"
    assert line["path"] == "/ogc/collections/parcels/items/2"
    assert line["duration_ms"] > 0 and line["bytes"] > 0
    # the peer is on loopback, where the proxy runs (uvicorn's forwarded-allow-ips): the
    # client is the address it forwarded
    assert line["client"] == "198.51.100.7"


def test_an_edit_runs_in_the_database_under_the_request_id_of_its_request(
        ops_database_url: str) -> None:
    """The edit's transaction names itself ``geoportal rid=<id>`` (seen by a trigger here,
    by pg_stat_activity and the server's log lines in production)."""
    with psycopg.connect(ops_database_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE seen_by (application_name text)")
        conn.execute("GRANT INSERT ON seen_by TO geoportal_writer")
        conn.execute("""
            CREATE FUNCTION note_application() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO seen_by VALUES (current_setting('application_name'));
                  RETURN NEW; END $$""")
        conn.execute("CREATE TRIGGER note_application AFTER INSERT ON zoning "
                     "FOR EACH ROW EXECUTE FUNCTION note_application()")
    key = mint_key(ops_database_url, "ops-editor", "editor")
    settings = Settings(database_url=ops_database_url,
                        write_database_url=writer_url_for(ops_database_url))
    with TestClient(create_app(settings)) as client:
        response = client.post("/ogc/collections/zoning/items", json=zone_body(ops_database_url),
                               headers={"Authorization": f"Bearer {key}",
                                        "X-Request-Id": "edit-0123456789"})
        assert response.status_code == 201, response.text
        assert response.headers["x-request-id"] == "edit-0123456789"
    with psycopg.connect(ops_database_url) as conn:
        seen = conn.execute("SELECT application_name FROM seen_by").fetchall()
        # the writer's sessions end a moment after the pool closes; the owner cannot cut
        # them when the test database is dropped
        for _ in range(100):
            left = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                "current_database() AND usename = 'geoportal_writer'").fetchone()
            if left == (0,):
                break
            time.sleep(0.1)
    assert seen == [("geoportal rid=edit-0123456789",)]


def test_the_signing_certificate_expiry_is_a_metric_to_alert_on(ops_database_url: str,
                                                               tmp_path: Path) -> None:
    from geoportal.renseignement.signing_keys import create_signing_key

    settings = Settings(database_url=ops_database_url, home=tmp_path)
    with TestClient(create_app(settings), client=LOOPBACK) as client:
        assert ("geoportal_signing_certificate_expiry_timestamp_seconds"
                not in client.get("/metrics").text)  # no key yet: no metric, no error
        create_signing_key(settings, "Agence urbaine de Casablanca (test)", days=30)
        found = families(client.get("/metrics").text)
    expiry = found["geoportal_signing_certificate_expiry_timestamp_seconds"].samples[0].value
    assert abs(expiry - (time.time() + 30 * 86400)) < 3600
