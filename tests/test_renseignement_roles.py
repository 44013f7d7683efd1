"""e-renseignement with the roles of a real deployment: everything it writes, reads and
mails goes through the writer's role; the read-only role sees no personal data and no mail."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from nru_world import (
    PDF,
    Inbox,
    demo_world,
    path_of,
    plot_under,
    settings_for,
    smtp_server,
    staff_key,
)
from psycopg import errors

from geoportal.app import create_app
from geoportal.db.cluster import Cluster
from geoportal.db.urls import with_database
from geoportal.settings import Settings

JSON_ONLY = {"Accept": "application/json"}
PRIVATE_TABLES = ("nru_requests", "nru_attachments", "nru_events", "nru_notes", "nru_links",
                  "procrastinate_jobs", "procrastinate_events", "procrastinate_periodic_defers")


@pytest.fixture(scope="module")
def world(fresh_database: Callable[..., str], tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[str, Path]:
    folder = tmp_path_factory.mktemp("nru-roles")
    return demo_world(fresh_database, folder, "nru_roles"), folder


@pytest.fixture(scope="module")
def role_urls(world: tuple[str, Path]) -> tuple[str, str]:
    """The writer's and the read-only role's URLs to the test database."""
    settings = Settings()
    if settings.database_url:
        pytest.skip("an external database: its roles are its own")
    cluster = Cluster(settings)
    database = str(psycopg.conninfo.conninfo_to_dict(world[0])["dbname"])
    return with_database(cluster.writer_url(), database), with_database(cluster.url(), database)


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[int, Inbox]]:
    with smtp_server() as server:
        yield server


def test_the_whole_path_runs_with_the_writers_role(
        world: tuple[str, Path], role_urls: tuple[str, str], smtp: tuple[int, Inbox]) -> None:
    writer_url, _ = role_urls
    settings = settings_for(world[0], world[1], smtp[0], write_database_url=writer_url)
    key = staff_key(world[0], "roles-instructeur", "instructeur")
    plot = plot_under(world[0], "PA-CAS-ANFA-2018")
    staff = {**JSON_ONLY, "Authorization": f"Bearer {key}"}
    with TestClient(create_app(settings)) as client:
        response = client.post("/renseignement/requests", headers=JSON_ONLY, data={
            "parcel": plot, "requester_name": "Karim", "requester_id_number": "K998877",
            "requester_email": "roles@example.ma", "capacity": "owner", "purpose": "Héritage"},
            files={"ownership": ("titre.pdf", PDF, "application/pdf")})
        assert response.status_code == 201, response.text
        smtp[1].wait_for("roles@example.ma")
        queue = client.get("/renseignement/admin", headers=staff).json()["requests"]
        request_id = next(r["id"] for r in queue if r["number"] == response.json()["number"])
        for route, fields in (("take", None), ("ask", {"message": "Le plan coté."})):
            answer = client.post(f"/renseignement/admin/requests/{request_id}/{route}",
                                 headers=staff, json=fields)
            assert answer.status_code == 200, answer.text
        smtp[1].wait_for("roles@example.ma", count=2)  # the acknowledgement, the piece asked
        tracking = response.json()["tracking_url"]
        upload = client.post(path_of(tracking) + "/pieces", headers=JSON_ONLY,
                             data={"kind": "plan"}, files={"file": ("plan.pdf", PDF)})
        assert upload.status_code == 200, upload.text
        assert client.get("/renseignement/stats", headers=staff).status_code == 200
        page = client.get(f"/renseignement/admin/requests/{request_id}", headers=staff).json()
        assert [e["action"] for e in page["events"] if e["action"] != "mail_sent"] == [
            "submitted", "taken", "piece_requested", "piece_received"]
    with psycopg.connect(world[0]) as conn:
        sent = conn.execute("SELECT count(*) FROM nru_events WHERE request_id = %s AND "
                            "action = 'mail_sent'", (request_id,)).fetchone()
        left = conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE status = 'todo' "
                            "AND queue_name = 'mail'").fetchone()
    assert sent == (2,) and left == (0,)  # both mails sent, recorded, their jobs deleted


@pytest.mark.parametrize("table", PRIVATE_TABLES)
def test_the_read_only_role_cannot_read_requests_or_mail(
        role_urls: tuple[str, str], table: str) -> None:
    _, reader_url = role_urls
    with psycopg.connect(reader_url) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute(f"SELECT * FROM {table} LIMIT 1")  # type: ignore[arg-type]


def test_the_writer_cannot_rewrite_the_history_of_a_request(role_urls: tuple[str, str]
                                                           ) -> None:
    writer_url, _ = role_urls
    for statement in ("UPDATE nru_events SET actor = 'forger'", "DELETE FROM nru_events",
                      "DELETE FROM nru_requests", "DELETE FROM nru_links"):
        with psycopg.connect(writer_url) as conn, pytest.raises(errors.InsufficientPrivilege):
            conn.execute(statement)  # type: ignore[arg-type]
