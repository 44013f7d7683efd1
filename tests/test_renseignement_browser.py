"""e-renseignement in a real browser (Debian's Chromium, headless, Playwright): a citizen asks
for the note and follows it; a staff member signs in, takes the request, asks for a piece the
citizen then uploads, and approves it; a signatory signs it from the page, which then shows
the issued note, and the citizen downloads it from the tracking page. No console error (the
pages hold no script and satisfy the Content Security Policy), no request to another host.
Screenshots in tests/artifacts."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import uvicorn_server
from nru_fixture import PASSPHRASE, make_signing_key
from nru_world import (
    PDF,
    Inbox,
    body,
    demo_world,
    plot_under,
    smtp_server,
    staff_key,
)
from playwright.sync_api import Browser, BrowserContext, Page

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def world(fresh_database: Callable[..., str], tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[str, Path]:
    folder = tmp_path_factory.mktemp("nru-browser")
    return demo_world(fresh_database, folder, "nru_browser"), folder


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[int, Inbox]]:
    with smtp_server() as server:
        yield server


@pytest.fixture(scope="module")
def service(world: tuple[str, Path], smtp: tuple[int, Inbox]) -> Iterator[str]:
    """The service under uvicorn on loopback, with its worker sending to the test server."""
    url, folder = world
    make_signing_key(folder / "home")  # the agency's test key, made by the CLI
    env = {"GEOPORTAL_SIGNING_KEY_PATH": str(folder / "home" / "signing" /
                                             "agency-signing.p12"),
           "GEOPORTAL_SIGNING_PASSPHRASE": PASSPHRASE,
           "GEOPORTAL_NRU_FILES_DIR": str(folder / "files"),
           "GEOPORTAL_SMTP_HOST": "127.0.0.1", "GEOPORTAL_SMTP_PORT": str(smtp[0]),
           "GEOPORTAL_SMTP_TLS": "none", "GEOPORTAL_WORKER_POLL_S": "0.2"}
    with uvicorn_server(url, folder / "rasters", **env) as live:
        yield live.base


class Watched:
    """A browser context whose pages are watched for errors and foreign hosts."""

    def __init__(self, context: BrowserContext) -> None:
        self.context = context
        self.errors: list[str] = []
        self.hosts: set[str] = set()

    def page(self) -> Page:
        page = self.context.new_page()
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.on("request", lambda r: self.hosts.add(urlsplit(r.url).netloc)
                if r.url.startswith("http") else None)
        return page

    def assert_clean(self, service: str) -> None:
        assert self.errors == []
        assert self.hosts == {urlsplit(service).netloc}


@pytest.fixture
def watched(browser: Browser) -> Iterator[Callable[[], Watched]]:
    contexts: list[BrowserContext] = []

    def open_() -> Watched:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
        contexts.append(context)
        return Watched(context)

    yield open_
    for context in contexts:
        context.close()


def test_a_citizen_asks_for_the_note_a_reviewer_approves_it_and_a_signatory_issues_it(
        service: str, world: tuple[str, Path], smtp: tuple[int, Inbox],
        watched: Callable[[], Watched], artifacts: Path) -> None:
    plot = plot_under(world[0], "PA-CAS-ANFA-2018")
    key = staff_key(world[0], "browser-instructeur", "instructeur")

    # The citizen: from the map's link to the form, then to the tracking page.
    citizen = watched()
    page = citizen.page()
    page.goto(f"{service}/")
    assert page.locator("#renseignement-link").get_attribute("href") == "renseignement"
    page.goto(f"{service}/renseignement?parcel={plot}")
    assert page.locator("#parcel").input_value() == plot
    page.fill("#requester_name", "Salma El Idrissi")
    page.fill("#requester_id_number", "BK445566")
    page.fill("#requester_email", "salma@example.ma")
    page.fill("#requester_phone", "0612345678")
    page.select_option("#capacity", "owner")
    page.fill("#purpose", "Construction d'une maison familiale")
    page.set_input_files("#piece-ownership", files=[{
        "name": "certificat.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    page.screenshot(path=artifacts / "renseignement-form.png", full_page=True)
    page.click("button[type=submit]")
    page.wait_for_selector("#request-number")
    number = page.inner_text("#request-number")
    assert re.fullmatch(r"NRU-\d{4}-\d{6}", number)
    page.screenshot(path=artifacts / "renseignement-confirmation.png", full_page=True)
    page.click("#tracking-link")
    page.wait_for_selector("#status")
    assert "Déposée" in page.inner_text("#status") and "مودعة" in page.inner_text("#status")
    tracking_url = page.url
    page.screenshot(path=artifacts / "renseignement-tracking.png", full_page=True)
    citizen.assert_clean(service)

    # The reviewer: sign in, find the request in the queue, take it, ask for a piece.
    reviewer = watched()
    desk = reviewer.page()
    desk.goto(f"{service}/renseignement/admin")
    desk.wait_for_selector("#api-key")  # sent to the sign-in page
    desk.fill("#api-key", key)
    desk.click("button[type=submit]")
    desk.wait_for_selector("#queue")
    desk.screenshot(path=artifacts / "renseignement-queue.png", full_page=True)
    desk.click(f"text={number}")
    desk.wait_for_selector("#draft")
    desk.click("#action-take")
    desk.wait_for_selector("#action-ask")
    assert "En cours d'instruction" in desk.inner_text("#status")
    desk.fill("#ask-message", "Merci de joindre le plan cadastral visé.")
    desk.click("#action-ask")
    desk.wait_for_selector("#history")
    assert "En attente" in desk.inner_text("#status")

    # The citizen gets the mail and uploads the piece on the tracking page.
    smtp[1].wait_for("salma@example.ma", count=2)
    page.goto(tracking_url)
    assert "plan cadastral visé" in page.inner_text("#upload-piece")
    page.set_input_files("#piece-file", files=[{
        "name": "plan.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    page.select_option("#piece-kind", "plan")
    page.screenshot(path=artifacts / "renseignement-piece.png", full_page=True)
    page.click("#upload-piece button[type=submit]")
    page.wait_for_selector(".notice")
    assert "En cours d'instruction" in page.inner_text("#status")

    # The reviewer approves for signature.
    desk.reload()
    desk.click("#action-approve")
    desk.wait_for_selector("#status")
    assert "Prête à signer" in desk.inner_text("#status")
    assert "plan.pdf" in desk.inner_text("#attachments")
    desk.screenshot(path=artifacts / "renseignement-review.png", full_page=True)
    desk.click("text=Tableau de bord")
    desk.wait_for_selector("#kpis")
    assert desk.inner_text("#kpi-total") == "1" and desk.locator("svg").count() == 3
    desk.screenshot(path=artifacts / "renseignement-stats.png", full_page=True)
    reviewer.assert_clean(service)

    # The signatory signs in, signs from the request's page and sees the issued note.
    signatory = watched()
    office = signatory.page()
    office.goto(f"{service}/renseignement/admin")
    office.wait_for_selector("#api-key")
    office.fill("#api-key", staff_key(world[0], "browser-signataire", "signataire"))
    office.click("button[type=submit]")
    office.wait_for_selector("#queue")
    office.click(f"text={number}")
    office.wait_for_selector("#action-sign")
    office.fill("#sign-name", "Nadia Bennani")
    office.screenshot(path=artifacts / "renseignement-sign.png", full_page=True)
    office.click("#action-sign")
    office.wait_for_selector("#note", timeout=60_000)
    assert office.inner_text("#note-number") == number
    assert "Délivrée" in office.inner_text("#status")
    assert office.locator("#note-verify").get_attribute("href") == f"/verify/{number}"
    assert office.locator("#note-pdf").get_attribute("href") == \
        f"/renseignement/admin/notes/{number}.pdf"
    office.screenshot(path=artifacts / "renseignement-issued.png", full_page=True)
    signatory.assert_clean(service)

    # The citizen gets the mail with the link, and the tracking page offers the download.
    mails = smtp[1].wait_for("salma@example.ma", count=3, timeout=60)
    issued = [m for m in mails if "délivrée" in m["Subject"]]
    assert len(issued) == 1 and number in body(issued[0])
    link = re.search(r"https?://\S+(/renseignement/suivi/\S+)", body(issued[0]))
    assert link is not None
    page.goto(f"{service}{link.group(1)}")
    page.wait_for_selector("#note")
    assert page.inner_text("#note-number") == number
    href = page.locator("#note-pdf").get_attribute("href")
    assert href is not None and href.startswith(f"/renseignement/notes/{number}.pdf?token=")
    page.screenshot(path=artifacts / "renseignement-tracking-issued.png", full_page=True)
    download = httpx.get(f"{service}{href}", timeout=30)
    assert download.status_code == 200 and download.content.startswith(b"%PDF")
    citizen.assert_clean(service)
