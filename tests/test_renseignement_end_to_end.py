"""e-renseignement end to end: a request by land title through the public API, reviewed,
approved and signed by the staff, the requester's mail with the download link received by a
real SMTP server, the signed PDF downloaded with that link, verified by poppler and by the
public page, and still reproducible from the data of the request's date once the layers are
edited. Also: signing from the back-office form (303 to the page showing the note, refused
without the anti-CSRF token), and a mail server down at the moment of issue."""

from __future__ import annotations

import asyncio
import hashlib
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from nru_fixture import NruWorld, bearer, build_nru_world, insert_request, rebuilt
from nru_world import Inbox, body, free_port, person, smtp_server, token_of

from geoportal.app import create_app
from geoportal.core.auth import SESSION_COOKIE, csrf_token

PLOT = "TF 1001/C"
REQUESTER = "karima.tazi@example.ma"
OBSERVATION = "Le terrain est grevé d'une servitude de passage au profit du lot voisin."
JSON_ONLY = {"Accept": "application/json"}
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
DOWNLOAD = re.compile(r"https?://\S+?(/renseignement/notes/([A-Z0-9-]+)\.pdf\?token=(\S+))")


@pytest.fixture(scope="module")
def world(fresh_database: Callable[[str], str],
          tmp_path_factory: pytest.TempPathFactory) -> NruWorld:
    return build_nru_world(fresh_database("nru_e2e"), tmp_path_factory.mktemp("nru-e2e"),
                           "e2e")


@pytest.fixture(scope="module")
def smtp_port() -> int:
    """Where the service sends mail; the SMTP server listens there only when a test says."""
    return free_port()


@pytest.fixture(scope="module")
def client(world: NruWorld, smtp_port: int) -> Iterator[TestClient]:
    settings = world.settings(
        smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_tls="none", smtp_timeout_s=3,
        worker_poll_s=0.2, mail_retry_min_s=0.3, mail_retry_max_s=1.0,
        nru_files_dir=world.home / "files", nru_requests_per_hour=1000)
    with TestClient(create_app(settings), follow_redirects=False) as test_client:
        yield test_client


def submit(client: TestClient, email: str) -> dict[str, Any]:
    response = client.post("/renseignement/requests", headers=JSON_ONLY, json={
        "parcel": PLOT, "requester": {**person(email), "name": "Karima Tazi"},
        "capacity": "architect", "purpose": "Permis de construire d'un immeuble R+3"})
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def request_id(world: NruWorld, number: str) -> int:
    with psycopg.connect(world.roles.owner) as conn:
        row = conn.execute("SELECT id FROM nru_requests WHERE number = %s", (number,)).fetchone()
    assert row is not None
    return int(row[0])


def act(client: TestClient, key: str, rid: int, route: str, **fields: str) -> dict[str, Any]:
    response = client.post(f"/renseignement/admin/requests/{rid}/{route}",
                           headers=bearer(key, **JSON_ONLY), json=fields or None)
    assert response.status_code in (200, 201), (route, response.text)
    answer: dict[str, Any] = response.json()
    return answer


def review_and_sign(client: TestClient, world: NruWorld, number: str) -> dict[str, Any]:
    """Take, observe, approve (instructeur), then sign (signataire), through the API."""
    rid = request_id(world, number)
    act(client, world.keys["instructeur"], rid, "take")
    act(client, world.keys["instructeur"], rid, "observe", text=OBSERVATION)
    act(client, world.keys["instructeur"], rid, "approve")
    return act(client, world.keys["signataire"], rid, "sign")


def pdf_text(pdf: bytes) -> str:
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True,
                          check=True).stdout.decode()
    return " ".join(re.sub(r"[\u00a0\u202f]", " ", text).split())


def note_mail(inbox: Inbox, address: str) -> str:
    """The text of the mail announcing the note (after the acknowledgement)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for message in inbox.to(address):
            if "délivrée" in message["Subject"]:
                return body(message)
        time.sleep(0.1)
    raise AssertionError(f"no note mail to {address}: {inbox.to(address)}")


def draft_cos(client: TestClient, world: NruWorld, rid: int) -> list[float]:
    page = client.get(f"/renseignement/admin/requests/{rid}",
                      headers=bearer(world.keys["instructeur"], **JSON_ONLY))
    assert page.status_code == 200, page.text
    return [zone["rules"]["cos"] for zone in page.json()["draft"]["zones"]]


def test_a_request_goes_from_the_form_to_a_signed_note_downloaded_from_the_mail(
        client: TestClient, world: NruWorld, smtp_port: int, tmp_path: Path) -> None:
    with smtp_server(smtp_port) as (_, inbox):
        receipt = submit(client, REQUESTER)
        number = receipt["number"]
        signed = review_and_sign(client, world, number)
        assert signed["number"] == number
        mail = note_mail(inbox, REQUESTER)
    assert number in mail and f"/verify/{number}" in mail
    found = DOWNLOAD.search(mail)
    assert found is not None and found.group(2) == number, mail
    path, token = found.group(1), found.group(3)
    assert token != token_of(receipt["tracking_url"])  # a fresh link, not the first one

    pdf = client.get(path)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    note = tmp_path / "note.pdf"
    note.write_bytes(pdf.content)
    report = subprocess.run(["pdfsig", str(note)], capture_output=True, text=True,
                            check=False).stdout
    assert "Signature Validation: Signature is Valid." in report, report
    assert "Total document signed" in report
    check = client.post(f"/verify/{number}", params={"f": "json"},
                        files={"file": ("note.pdf", pdf.content, "application/pdf")})
    assert check.status_code == 200
    assert check.json()["identical"] is True and check.json()["status"] == "valid"
    text = pdf_text(pdf.content)
    for expected in (number, OBSERVATION, PLOT, "Karima Tazi"):
        assert expected in text, expected

    # The tracking link of the mail shows the note's links (HTML and JSON); the first
    # link (the acknowledgement's) opens the same downloads.
    tracking = re.search(r"https?://\S+(/renseignement/suivi/\S+)", mail)
    assert tracking is not None
    page = client.get(tracking.group(1), headers=BROWSER)
    assert page.status_code == 200 and "Délivrée" in page.text
    assert f"/renseignement/notes/{number}.pdf?token={token}" in page.text
    assert f"/renseignement/notes/{number}.json?token={token}" in page.text
    assert f"/verify/{number}" in page.text
    document = client.get(tracking.group(1), headers=JSON_ONLY).json()
    assert document["note"]["number"] == number and document["note"]["status"] == "valid"
    twin = client.get(document["note"]["links"]["json"].split("testserver", 1)[1])
    assert twin.status_code == 200 and twin.json()["number"] == number
    first = token_of(receipt["tracking_url"])
    again = client.get(f"/renseignement/notes/{number}.pdf", params={"token": first})
    assert again.content == pdf.content
    with psycopg.connect(world.roles.owner) as conn:
        stored = conn.execute("SELECT token_hash FROM nru_links WHERE request_id = %s AND "
                              "reason = 'note_issued'", (request_id(world, number),)).fetchall()
    assert stored == [(hashlib.sha256(token.encode()).hexdigest(),)]  # its hash only

    # The layers change after the request: the note and the staff draft keep its date.
    rid = request_id(world, number)
    before = draft_cos(client, world, rid)
    with psycopg.connect(world.roles.owner) as conn, conn.transaction():
        conn.execute("SELECT set_config('geoportal.actor', 'test:urbaniste', true), "
                     "set_config('geoportal.source', 'api', true)")
        conn.execute("UPDATE zone_rules SET cos = 0.45 WHERE code = 'C'")
    now = client.get("/rules", params={"parcel": PLOT}).json()
    assert 0.45 in [zone["rules"]["cos"] for zone in now["zones"]]
    assert draft_cos(client, world, rid) == before and 0.45 not in before
    stored_document, again_document = asyncio.run(rebuilt(world, number))
    assert again_document == stored_document
    assert [z.rules.cos for z in stored_document.answer.zones] == before


def test_the_back_office_form_signs_and_comes_back_to_the_page_showing_the_note(
        client: TestClient, world: NruWorld) -> None:
    request = insert_request(world.roles.owner, parcel_ref="TF 1005/C")
    key = world.keys["signataire"]
    cookies = {SESSION_COOKIE: key}
    client.cookies.clear()
    page = client.get(f"/renseignement/admin/requests/{request.id}", headers=BROWSER,
                      cookies=cookies)
    assert 'id="action-sign"' in page.text and csrf_token(key) in page.text
    signed = client.post(f"/renseignement/admin/requests/{request.id}/sign", headers=BROWSER,
                         cookies=cookies, data={"csrf_token": csrf_token(key),
                                                "name": "Nadia Bennani", "title": ""})
    assert signed.status_code == 303
    assert signed.headers["location"] == f"/renseignement/admin/requests/{request.id}#note"
    shown = client.get(f"/renseignement/admin/requests/{request.id}", headers=BROWSER,
                       cookies=cookies)
    assert 'id="note-number"' in shown.text and request.number in shown.text
    assert f'href="/verify/{request.number}"' in shown.text
    assert f'href="/renseignement/admin/notes/{request.number}.pdf"' in shown.text
    assert "Nadia Bennani" in shown.text and 'id="action-sign"' not in shown.text
    staff_pdf = client.get(f"/renseignement/admin/notes/{request.number}.pdf", cookies=cookies)
    assert staff_pdf.status_code == 200 and staff_pdf.content.startswith(b"%PDF")
    with psycopg.connect(world.roles.owner) as conn:
        event = conn.execute("SELECT actor, status_before, status_after FROM nru_events "
                             "WHERE request_id = %s AND action = 'signed'",
                             (request.id,)).fetchone()
    assert event == ("key:signataire-e2e", "ready_to_sign", "issued")
    client.cookies.clear()


def test_a_sign_form_without_the_csrf_token_is_refused_and_signs_nothing(
        client: TestClient, world: NruWorld) -> None:
    request = insert_request(world.roles.owner, parcel_ref="TF 1006/C")
    key = world.keys["signataire"]
    client.cookies.clear()
    for form in ({}, {"csrf_token": "0" * 64}, {"csrf_token": csrf_token(world.keys["admin"])}):
        refused = client.post(f"/renseignement/admin/requests/{request.id}/sign",
                              headers=BROWSER, cookies={SESSION_COOKIE: key}, data=form)
        assert refused.status_code == 403 and "CSRF" in refused.text
    with psycopg.connect(world.roles.owner) as conn:
        status = conn.execute("SELECT status FROM nru_requests WHERE id = %s",
                              (request.id,)).fetchone()
        notes = conn.execute("SELECT count(*) FROM nru_notes WHERE request_id = %s",
                             (request.id,)).fetchone()
    assert status == ("ready_to_sign",) and notes == (0,)
    client.cookies.clear()


def test_a_sign_form_on_a_request_not_ready_shows_the_page_with_the_reason(
        client: TestClient, world: NruWorld) -> None:
    request = insert_request(world.roles.owner, parcel_ref="TF 1007/C", status="under_review")
    key = world.keys["signataire"]
    client.cookies.clear()
    answer = client.post(f"/renseignement/admin/requests/{request.id}/sign", headers=BROWSER,
                         cookies={SESSION_COOKIE: key}, data={"csrf_token": csrf_token(key)})
    assert answer.status_code == 409 and 'id="action-error"' in answer.text
    assert "prête à signer" in answer.text
    client.cookies.clear()


def test_a_mail_server_down_at_the_moment_of_issue_delays_the_mail_and_loses_nothing(
        client: TestClient, world: NruWorld, smtp_port: int) -> None:
    address = "pendant.panne@example.ma"
    receipt = submit(client, address)  # nothing listens on the SMTP port now
    signed = review_and_sign(client, world, receipt["number"])
    assert signed["number"] == receipt["number"]

    def attempts() -> list[tuple[str, int]]:
        with psycopg.connect(world.roles.owner) as conn:
            return [(str(s), int(a)) for s, a in conn.execute(
                "SELECT status::text, attempts FROM procrastinate_jobs "
                "WHERE args->>'kind' = 'note_issued' AND args->'mail'->>'to' = %s",
                (address,)).fetchall()]

    deadline = time.monotonic() + 30
    while not any(status == "todo" and tries >= 1 for status, tries in attempts()):
        assert time.monotonic() < deadline, attempts()
        time.sleep(0.1)
    with smtp_server(smtp_port) as (_, inbox):
        mail = note_mail(inbox, address)
        time.sleep(1.5)  # long enough for a repeat to arrive
        notes = [m for m in inbox.to(address) if "délivrée" in m["Subject"]]
    assert len(notes) == 1
    found = DOWNLOAD.search(mail)
    assert found is not None and found.group(2) == receipt["number"]
    assert client.get(found.group(1)).status_code == 200
