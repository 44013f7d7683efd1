"""e-renseignement, the review: staff roles, the browser session and its CSRF token, the
actions and their history, the missing-piece round trip by mail, refusal, approval, the
queue, deadlines and the overdue digest, the dashboard."""

from __future__ import annotations

import asyncio
import html
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import psycopg
import pytest
from fastapi.testclient import TestClient
from nru_world import (
    PDF,
    Inbox,
    body,
    demo_world,
    path_of,
    person,
    plot_under,
    settings_for,
    smtp_server,
    staff_key,
    token_of,
)

from geoportal.app import create_app
from geoportal.core.auth import SESSION_COOKIE, csrf_token
from geoportal.renseignement import store
from geoportal.settings import Settings

JSON_ONLY = {"Accept": "application/json"}
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
STAFF_MAIL = "instruction@auc.test"


@pytest.fixture(scope="module")
def world(fresh_database: Callable[..., str], tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[str, Path]:
    folder = tmp_path_factory.mktemp("nru-review")
    return demo_world(fresh_database, folder, "nru_review"), folder


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[int, Inbox]]:
    with smtp_server() as server:
        yield server


@pytest.fixture(scope="module")
def settings(world: tuple[str, Path], smtp: tuple[int, Inbox]) -> Settings:
    return settings_for(world[0], world[1], smtp[0], nru_requests_per_hour=1000)


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def keys(world: tuple[str, Path]) -> dict[str, str]:
    return {role: staff_key(world[0], f"test-{role}", role)
            for role in ("instructeur", "signataire", "admin", "editor")}


@pytest.fixture(scope="module")
def plot(world: tuple[str, Path]) -> str:
    return plot_under(world[0], "PA-CAS-ANFA-2018")


def bearer(key: str) -> dict[str, str]:
    return {**JSON_ONLY, "Authorization": f"Bearer {key}"}


def submit(client: TestClient, plot: str, email: str) -> dict[str, Any]:
    """A new request; its number, id, tracking URL and token."""
    response = client.post("/renseignement/requests", headers=JSON_ONLY, json={
        "parcel": plot, "requester": person(email), "capacity": "architect",
        "purpose": "Permis de construire"})
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    with psycopg.connect(client.app.state.settings.database_url) as conn:  # type: ignore[attr-defined]
        row = conn.execute("SELECT id FROM nru_requests WHERE number = %s",
                           (answer["number"],)).fetchone()
    assert row is not None
    return {**answer, "id": row[0], "token": token_of(answer["tracking_url"])}


def act(client: TestClient, key: str, request_id: int, route: str, **fields: str) -> Any:
    return client.post(f"/renseignement/admin/requests/{request_id}/{route}",
                       headers=bearer(key), json=fields or None)


def history(url: str, request_id: int) -> list[tuple[str, str, str | None, str | None]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT actor, action, status_before, status_after FROM "
                            "nru_events WHERE request_id = %s AND action <> 'mail_sent' "
                            "ORDER BY at, id", (request_id,)).fetchall()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_staff_pages_need_credentials_and_a_staff_role(
        client: TestClient, keys: dict[str, str]) -> None:
    for path in ("/renseignement/admin", "/renseignement/stats"):
        anonymous = client.get(path, headers=JSON_ONLY)
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        assert "Authentification requise" in anonymous.json()["description"]
        editor = client.get(path, headers=bearer(keys["editor"]))
        assert editor.status_code == 403
        assert "ne permet pas cette action" in editor.json()["description"]
        for role in ("instructeur", "signataire", "admin"):
            assert client.get(path, headers=bearer(keys[role])).status_code == 200
    browser = client.get("/renseignement/admin", headers=BROWSER, follow_redirects=False)
    assert browser.status_code == 303
    assert browser.headers["location"] == "/renseignement/connexion?next=/renseignement/admin"


def test_review_actions_need_the_instructeur_role(
        client: TestClient, keys: dict[str, str], plot: str) -> None:
    request = submit(client, plot, "roles@example.ma")
    assert act(client, keys["signataire"], request["id"], "take").status_code == 403
    assert act(client, keys["editor"], request["id"], "take").status_code == 403
    anonymous = client.post(f"/renseignement/admin/requests/{request['id']}/take",
                            headers=JSON_ONLY)
    assert anonymous.status_code == 401
    assert act(client, keys["admin"], request["id"], "take").json()["status"] == "under_review"


def test_sign_in_keeps_the_key_in_a_strict_httponly_cookie_scoped_to_renseignement(
        settings: Settings, keys: dict[str, str]) -> None:
    with TestClient(create_app(settings.model_copy(update={"worker_in_service": False})),
                    follow_redirects=False) as browser:
        page = browser.get("/renseignement/connexion", headers=BROWSER)
        assert page.status_code == 200 and 'type="password"' in page.text
        wrong = browser.post("/renseignement/connexion", headers=BROWSER,
                             data={"key": "gp_" + "x" * 43, "next": "/renseignement/admin"})
        assert wrong.status_code == 401 and "Identifiants refusés" in wrong.text
        editor = browser.post("/renseignement/connexion", headers=BROWSER,
                              data={"key": keys["editor"], "next": "/renseignement/admin"})
        assert editor.status_code == 403 and SESSION_COOKIE not in editor.headers.get(
            "set-cookie", "")
        good = browser.post("/renseignement/connexion", headers=BROWSER,
                            data={"key": keys["instructeur"], "next": "https://evil.test/"})
        assert good.status_code == 303
        assert good.headers["location"] == "/renseignement/admin"  # no open redirect
        cookie = good.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}={keys['instructeur']};")
        for attribute in ("HttpOnly", "Path=/renseignement", "SameSite=strict", "Max-Age="):
            assert attribute.lower() in cookie.lower()
        queue = browser.get("/renseignement/admin", headers=BROWSER)
        assert queue.status_code == 200 and "File des demandes" in queue.text
        assert csrf_token(keys["instructeur"]) in queue.text  # the sign-out form's token
        out = browser.post("/renseignement/deconnexion", headers=BROWSER,
                           data={"csrf_token": csrf_token(keys["instructeur"])})
        assert out.status_code == 303 and 'Max-Age=0' in out.headers["set-cookie"]


def test_a_form_posted_with_the_session_cookie_needs_its_csrf_token(
        client: TestClient, world: tuple[str, Path], keys: dict[str, str], plot: str) -> None:
    request = submit(client, plot, "csrf@example.ma")
    path = f"/renseignement/admin/requests/{request['id']}/take"
    cookies = {SESSION_COOKIE: keys["instructeur"]}
    client.cookies.clear()
    for form in ({}, {"csrf_token": "0" * 64}, {"csrf_token": csrf_token(keys["admin"])}):
        refused = client.post(path, data=form, headers=BROWSER, cookies=cookies,
                              follow_redirects=False)
        assert refused.status_code == 403
        assert "CSRF" in refused.text
    assert history(world[0], request["id"]) == [("requester", "submitted", None, "submitted")]
    done = client.post(path, data={"csrf_token": csrf_token(keys["instructeur"])},
                       headers=BROWSER, cookies=cookies, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == f"/renseignement/admin/requests/{request['id']}"
    client.cookies.clear()


def test_the_missing_piece_round_trip_by_mail_and_upload(
        client: TestClient, world: tuple[str, Path], smtp: tuple[int, Inbox],
        keys: dict[str, str], plot: str) -> None:
    request = submit(client, plot, "piece@example.ma")
    reviewer = keys["instructeur"]
    assert act(client, reviewer, request["id"], "take").json()["status"] == "under_review"
    asked = act(client, reviewer, request["id"], "ask",
                message="Le certificat de propriété de moins de trois mois.")
    assert asked.status_code == 200 and asked.json()["status"] == "waiting_requester"
    mails = smtp[1].wait_for("piece@example.ma", count=2)
    mail = next(m for m in mails if "pièce à fournir" in m["Subject"])
    assert "Le certificat de propriété de moins de trois mois." in body(mail)
    link = re.search(r"https?://\S+/renseignement/suivi/\S+", body(mail))
    assert link is not None and token_of(link.group(0)) != request["token"]
    page = client.get(path_of(link.group(0)), headers=BROWSER)
    assert "En attente d'une pièce du demandeur" in html.unescape(page.text)
    assert 'id="upload-piece"' in page.text and "moins de trois mois" in page.text
    upload = client.post(path_of(link.group(0)) + "/pieces", headers=BROWSER,
                         data={"kind": "ownership"},
                         files={"file": ("certificat.pdf", PDF, "application/pdf")},
                         follow_redirects=False)
    assert upload.status_code == 303
    after = client.get(path_of(request["tracking_url"]), headers=JSON_ONLY).json()
    assert after["status"] == "under_review"  # the first link still works too
    assert [e["action"] for e in after["history"]] == [
        "submitted", "taken", "piece_requested", "piece_received"]
    assert history(world[0], request["id"])[-1] == (
        "requester", "piece_received", "waiting_requester", "under_review")
    staff_view = client.get(f"/renseignement/admin/requests/{request['id']}",
                            headers=bearer(reviewer)).json()
    assert [a["kind"] for a in staff_view["attachments"]] == ["ownership"]
    again = client.post(path_of(link.group(0)) + "/pieces", headers=JSON_ONLY,
                        data={"kind": "plan"}, files={"file": ("p.pdf", PDF, "application/pdf")})
    assert again.status_code == 409
    assert "la demande est « En cours d'instruction »" in again.json()["description"]


def test_a_refusal_is_recorded_with_its_reason_and_mailed(
        client: TestClient, world: tuple[str, Path], smtp: tuple[int, Inbox],
        keys: dict[str, str], plot: str) -> None:
    request = submit(client, plot, "refus@example.ma")
    reason = "La parcelle ne relève pas du périmètre demandé."
    missing = act(client, keys["instructeur"], request["id"], "refuse")
    assert missing.status_code == 422 and "reason" in missing.json()["description"]
    refused = act(client, keys["instructeur"], request["id"], "refuse", reason=reason)
    assert refused.json()["status"] == "refused"
    mail = next(m for m in smtp[1].wait_for("refus@example.ma", count=2)
                if "refusée" in m["Subject"])
    assert reason in body(mail) and "/renseignement/suivi/" in body(mail)
    tracking = client.get(path_of(request["tracking_url"]), headers=JSON_ONLY).json()
    assert tracking["status_fr"] == "Refusée" and tracking["history"][-1]["text"] == reason
    assert history(world[0], request["id"])[-1] == (
        "key:test-instructeur", "refused", "submitted", "refused")


def test_approval_leads_to_signature_and_the_signataire_sees_the_sign_button(
        client: TestClient, keys: dict[str, str], plot: str) -> None:
    request = submit(client, plot, "approve@example.ma")
    act(client, keys["instructeur"], request["id"], "take")
    note = act(client, keys["instructeur"], request["id"], "observe",
               text="Alignement à respecter sur la voie projetée.")
    assert note.json()["status"] == "under_review"
    assert act(client, keys["instructeur"], request["id"], "approve").json()["status"] == \
        "ready_to_sign"
    signataire = client.get(f"/renseignement/admin/requests/{request['id']}",
                            headers={**bearer(keys["signataire"]), **BROWSER})
    assert f'action="/renseignement/admin/requests/{request["id"]}/sign"' in signataire.text
    instructeur = client.get(f"/renseignement/admin/requests/{request['id']}",
                             headers={**bearer(keys["instructeur"]), **BROWSER})
    assert "/sign\"" not in instructeur.text and "Prête à signer" in instructeur.text
    tracking = client.get(path_of(request["tracking_url"]), headers=JSON_ONLY).json()
    assert "Alignement" not in str(tracking)  # staff observations stay inside
    assert asyncio.run(observations_of(client, request["id"])) == [
        "Alignement à respecter sur la voie projetée."]  # for the note the signataire signs
    assert tracking["status_ar"] == "جاهزة للتوقيع"


async def observations_of(client: TestClient, request_id: int) -> list[str]:
    conn = await asyncpg.connect(client.app.state.settings.database_url)  # type: ignore[attr-defined]
    try:
        return await store.observations(conn, request_id)
    finally:
        await conn.close()


def test_forbidden_transitions_are_409_in_french_and_change_nothing(
        client: TestClient, world: tuple[str, Path], keys: dict[str, str], plot: str) -> None:
    request = submit(client, plot, "order@example.ma")
    reviewer = keys["instructeur"]
    for route in ("approve", "ask"):
        refused = act(client, reviewer, request["id"], route, message="x")
        assert refused.status_code == 409
        assert refused.json()["description"].startswith("Impossible de ")
        assert "« Déposée »" in refused.json()["description"]
    act(client, reviewer, request["id"], "take")
    twice = act(client, reviewer, request["id"], "take")
    assert twice.status_code == 409
    english = client.post(f"/renseignement/admin/requests/{request['id']}/take",
                          headers={**bearer(reviewer), "Accept-Language": "en"})
    assert english.json()["description"].startswith("Cannot take the request for review")
    page = client.post(f"/renseignement/admin/requests/{request['id']}/take",
                       headers={**bearer(reviewer), **BROWSER})
    assert page.status_code == 409 and 'id="action-error"' in page.text
    assert history(world[0], request["id"]) == [
        ("requester", "submitted", None, "submitted"),
        ("key:test-instructeur", "taken", "submitted", "under_review")]
    assert act(client, reviewer, 10**9, "take").status_code == 404


def test_the_request_page_holds_the_draft_the_attachments_and_the_history(
        client: TestClient, keys: dict[str, str], plot: str) -> None:
    request = submit(client, plot, "draft@example.ma")
    document = client.get(f"/renseignement/admin/requests/{request['id']}",
                          headers=bearer(keys["instructeur"])).json()
    draft = document["draft"]
    assert draft["plot"]["ref"] == plot and draft["admin"]["commune"]["code"] == "CAS-ANFA"
    assert any(p["ref"] == "PA-CAS-ANFA-2018" for p in draft["plans"])
    assert sum(z["pct"] for z in draft["zones"]) == pytest.approx(100, abs=0.02)
    assert document["actions"] == ["taken", "refused"]
    assert document["requester_email"] == "draft@example.ma"
    page = client.get(f"/renseignement/admin/requests/{request['id']}",
                      headers={**bearer(keys["instructeur"]), **BROWSER})
    assert page.status_code == 200 and "Projet de note" in page.text
    day = document["as_of"][:10]
    assert f"/rules/note?parcel={plot.replace(' ', '%20')}&amp;date={day}" in page.text
    assert "<script" not in page.text and "style=" not in page.text


def test_attachments_are_downloaded_by_staff_only(
        client: TestClient, keys: dict[str, str], plot: str) -> None:
    response = client.post("/renseignement/requests", headers=JSON_ONLY, data={
        "parcel": plot, "requester_name": "Omar", "requester_id_number": "AB1234",
        "requester_email": "download@example.ma", "capacity": "owner", "purpose": "Achat"},
        files={"ownership": ("titre <1>.pdf", PDF, "application/pdf")})
    assert response.status_code == 201
    staff = client.get("/renseignement/admin", headers=bearer(keys["instructeur"])).json()
    row = next(r for r in staff["requests"] if r["number"] == response.json()["number"])
    view = client.get(f"/renseignement/admin/requests/{row['id']}",
                      headers=bearer(keys["instructeur"])).json()
    piece = view["attachments"][0]
    path = f"/renseignement/admin/requests/{row['id']}/attachments/{piece['id']}"
    assert client.get(path, headers=JSON_ONLY).status_code == 401
    download = client.get(path, headers=bearer(keys["signataire"]))
    assert download.status_code == 200 and download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["x-content-type-options"] == "nosniff"
    other = f"/renseignement/admin/requests/{row['id'] + 1}/attachments/{piece['id']}"
    assert client.get(other, headers=bearer(keys["admin"])).status_code == 404


def age(url: str, request_id: int, days: int) -> None:
    """Make a request ``days`` older (submitted and due ``days`` earlier)."""
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE nru_requests SET submitted_at = submitted_at - make_interval("
                     "days => %s), due_at = due_at - make_interval(days => %s) WHERE id = %s",
                     (days, days, request_id))


def test_the_queue_is_oldest_first_with_filters_and_overdue_requests_marked(
        client: TestClient, world: tuple[str, Path], keys: dict[str, str], plot: str) -> None:
    old = submit(client, plot, "old@example.ma")
    age(world[0], old["id"], 12)
    fresh = submit(client, plot, "fresh@example.ma")
    reviewer = bearer(keys["instructeur"])
    rows = client.get("/renseignement/admin?status=submitted", headers=reviewer).json()
    numbers = [r["number"] for r in rows["requests"]]
    assert numbers.index(old["number"]) < numbers.index(fresh["number"])
    assert numbers == [r["number"] for r in sorted(rows["requests"],
                                                   key=lambda r: r["submitted_at"])]
    marked = {r["number"]: r["overdue"] for r in rows["requests"]}
    assert marked[old["number"]] is True and marked[fresh["number"]] is False
    aged = client.get("/renseignement/admin?min_age_days=11", headers=reviewer).json()
    assert {r["number"] for r in aged["requests"]} >= {old["number"]}
    assert fresh["number"] not in {r["number"] for r in aged["requests"]}
    elsewhere = client.get("/renseignement/admin?commune=MOH-MOH", headers=reviewer).json()
    assert elsewhere["requests"] == []
    page = client.get("/renseignement/admin?commune=CAS-ANFA", headers={**reviewer, **BROWSER})
    assert "en retard" in page.text and old["number"] in page.text
    assert client.get("/renseignement/admin?status=lost", headers=reviewer).status_code == 400
    tracking = client.get(path_of(old["tracking_url"]), headers=JSON_ONLY).json()
    assert tracking["overdue"] is True and tracking["age_days"] == 12


def run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GEOPORTAL_DATABASE_URL": str(settings.database_url),
           "GEOPORTAL_SMTP_HOST": "127.0.0.1", "GEOPORTAL_SMTP_PORT": str(settings.smtp_port),
           "GEOPORTAL_SMTP_TLS": "none", "GEOPORTAL_NRU_STAFF_EMAIL": STAFF_MAIL,
           "GEOPORTAL_PUBLIC_URL": "https://geoportail.auc.test", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "geoportal.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_digest_lists_the_overdue_requests_and_no_other(
        client: TestClient, world: tuple[str, Path], smtp: tuple[int, Inbox],
        settings: Settings, plot: str) -> None:
    late = submit(client, plot, "late@example.ma")
    age(world[0], late["id"], 15)
    on_time = submit(client, plot, "ontime@example.ma")
    before = len(smtp[1].to(STAFF_MAIL))
    result = run_cli(settings, "renseignement", "digest")
    assert result.returncode == 0, result.stderr
    assert "overdue request(s)" in result.stdout
    digest = smtp[1].wait_for(STAFF_MAIL, count=before + 1)[-1]
    text = body(digest)
    assert late["number"] in text and on_time["number"] not in text
    assert f"https://geoportail.auc.test/renseignement/admin/requests/{late['id']}" in text
    assert "en retard" in digest["Subject"]


def test_the_periodic_digest_job_queues_the_mail_through_the_worker(
        client: TestClient, world: tuple[str, Path], smtp: tuple[int, Inbox]) -> None:
    before = len(smtp[1].to(STAFF_MAIL))
    with psycopg.connect(world[0]) as conn:
        conn.execute("SELECT procrastinate_defer_jobs_v1(ARRAY[ROW('renseignement', "
                     "'nru.digest', 0, NULL, NULL, '{\"timestamp\": 0}'::jsonb, NULL)"
                     "::procrastinate_job_to_defer_v1])")
    digest = smtp[1].wait_for(STAFF_MAIL, count=before + 1)[-1]
    assert "demande(s) en retard" in body(digest)


def test_the_dashboard_counts_match_the_requests(
        client: TestClient, world: tuple[str, Path], keys: dict[str, str]) -> None:
    figures = client.get("/renseignement/stats", headers=bearer(keys["admin"])).json()
    with psycopg.connect(world[0]) as conn:
        expected = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'refused'), count(*) FILTER "
            "(WHERE status = 'issued'), count(*) FILTER (WHERE status NOT IN ('issued', "
            "'refused') AND due_at < now()) FROM nru_requests").fetchone()
        per_commune = dict(conn.execute(
            "SELECT c.name_fr, count(*) FROM nru_requests r JOIN communes c ON c.code = "
            "r.commune_code GROUP BY 1").fetchall())
    assert expected is not None
    assert (figures["total"], figures["refused"], figures["issued"], figures["overdue"]) == \
        expected
    assert figures["total"] > 0 and figures["refused"] >= 1 and figures["overdue"] >= 2
    assert {c["commune"]: c["requests"] for c in figures["per_commune"]} == per_commune
    assert sum(w["requests"] for w in figures["per_week"]) == figures["total"]
    assert figures["closed"] == figures["refused"] + figures["issued"]
    assert figures["median_days"] is not None and figures["median_days"] >= 0
    page = client.get("/renseignement/stats", headers={**bearer(keys["instructeur"]),
                                                       **BROWSER})
    assert page.status_code == 200 and page.text.count("<svg") == 3
    assert f'id="kpi-total">{figures["total"]}<' in page.text
    assert f'id="kpi-overdue">{figures["overdue"]}<' in page.text
    assert "<script" not in page.text
