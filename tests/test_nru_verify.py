"""``/verify/{number}``: a public page (and JSON) that says whether a note is genuine, its
status and the hash of the signed PDF, and whether an uploaded PDF is exactly the issued one."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from nru_fixture import NruRequest, NruWorld, bearer, build_nru_world, insert_request

from geoportal.app import create_app


@pytest.fixture(scope="module")
def world(fresh_database: Callable[[str], str],
          tmp_path_factory: pytest.TempPathFactory) -> NruWorld:
    return build_nru_world(fresh_database("nru_verify"), tmp_path_factory.mktemp("nru-verify"),
                           "verify")


@pytest.fixture(scope="module")
def client(world: NruWorld) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings(verify_max_upload_bytes=200_000))) as test_client:
        yield test_client


def issue(client: TestClient, world: NruWorld, parcel: str,
          requester: str = "Fatima Zahra El Idrissi") -> tuple[NruRequest, bytes]:
    request = insert_request(world.roles.owner, parcel_ref=parcel, requester=requester)
    response = client.post(f"/renseignement/admin/requests/{request.id}/sign",
                           headers=bearer(world.keys["signataire"]))
    assert response.status_code == 201, response.text
    pdf = client.get(f"/renseignement/notes/{request.number}.pdf",
                     params={"token": request.token})
    assert pdf.status_code == 200
    return request, pdf.content


@pytest.fixture(scope="module")
def genuine(client: TestClient, world: NruWorld) -> tuple[NruRequest, bytes]:
    return issue(client, world, "TF 1005/C")


@pytest.fixture(scope="module")
def revoked(client: TestClient, world: NruWorld) -> tuple[NruRequest, bytes]:
    request, pdf = issue(client, world, "TF 1006/C")
    response = client.post(f"/renseignement/admin/notes/{request.number}/revoke",
                           headers=bearer(world.keys["admin"]),
                           json={"reason": "Référence foncière erronée"})
    assert response.status_code == 200
    return request, pdf


@pytest.fixture(scope="module")
def superseded(client: TestClient, world: NruWorld) -> tuple[NruRequest, bytes, NruRequest]:
    first, pdf = issue(client, world, "TF 1007/C")
    later, _ = issue(client, world, "TF 1007/C")
    return first, pdf, later


def upload(client: TestClient, number: str, content: bytes, **headers: str
           ) -> dict[str, object]:
    response = client.post(f"/verify/{number}", params={"f": "json"}, headers=headers,
                           files={"file": ("note.pdf", content, "application/pdf")})
    assert response.status_code == 200, response.text
    answer: dict[str, object] = response.json()
    return answer


def test_the_public_page_says_genuine_when_issued_which_plot_and_the_hash(
        client: TestClient, genuine: tuple[NruRequest, bytes]) -> None:
    request, pdf = genuine
    page = client.get(f"/verify/{request.number}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text.replace("\u00a0", " ")
    for expected in ("Note authentique", request.number, "Parcelle TF 1005/C", "En vigueur",
                     hashlib.sha256(pdf).hexdigest(), "F. Z. E. I.",
                     'enctype="multipart/form-data"'):
        assert expected in html, expected
    assert "Fatima" not in html and "BK987654" not in html and "example.ma" not in html


def test_the_json_answer_gives_status_plot_and_hash_and_no_personal_data(
        client: TestClient, genuine: tuple[NruRequest, bytes]) -> None:
    request, pdf = genuine
    for response in (client.get(f"/verify/{request.number}", params={"f": "json"}),
                     client.get(f"/verify/{request.number}",
                                headers={"Accept": "application/json"})):
        assert response.status_code == 200
        answer = response.json()
        assert answer["genuine"] is True and answer["status"] == "valid"
        assert answer["sha256"] == hashlib.sha256(pdf).hexdigest()
        assert answer["plot"]["ref"] == "TF 1005/C" and answer["plot"]["area_m2"] == 300.0
        assert answer["requester_initials"] == "F. Z. E. I."
        assert "Fatima" not in response.text and "requester@" not in response.text


def test_an_unknown_number_is_a_404_that_says_so_in_french_or_english(
        client: TestClient) -> None:
    for number in ("NRU-T-999999", "NRU;DROP TABLE", "x" * 300):
        response = client.get(f"/verify/{number}", params={"f": "json"})
        assert response.status_code == 404
        assert "Aucune note n'a été délivrée" in response.json()["description"]
        page = client.get(f"/verify/{number}")  # a browser gets a page saying so
        assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
        assert "Aucune note n&#39;a été délivrée" in page.text and "<script" not in page.text
    english = client.get("/verify/NRU-T-999999", headers={"Accept-Language": "en",
                                                          "Accept": "application/json"})
    assert "No note was issued" in english.json()["description"]
    posted = client.post("/verify/NRU-T-999999", files={"file": ("a.pdf", b"%PDF-1.7")})
    assert posted.status_code == 404


def test_the_issued_pdf_uploaded_is_recognised_as_identical(
        client: TestClient, genuine: tuple[NruRequest, bytes]) -> None:
    request, pdf = genuine
    answer = upload(client, request.number, pdf)
    assert answer["identical"] is True and answer["status"] == "valid"
    assert answer["uploaded_sha256"] == answer["issued_sha256"]
    assert "Document authentique" in str(answer["verdict"])


def test_a_pdf_with_one_byte_changed_is_not_the_issued_one(
        client: TestClient, genuine: tuple[NruRequest, bytes]) -> None:
    request, pdf = genuine
    altered = bytearray(pdf)
    altered[len(altered) // 2] ^= 0x01
    answer = upload(client, request.number, bytes(altered))
    assert answer["identical"] is False
    assert "n'est pas la note délivrée" in str(answer["verdict"])
    html = client.post(f"/verify/{request.number}",
                       files={"file": ("note.pdf", bytes(altered), "application/pdf")})
    assert html.status_code == 200 and "n&#39;est pas la note délivrée" in html.text


def test_a_revoked_note_is_identical_but_said_revoked_with_its_reason(
        client: TestClient, revoked: tuple[NruRequest, bytes]) -> None:
    request, pdf = revoked
    answer = upload(client, request.number, pdf)
    assert answer["identical"] is True and answer["status"] == "revoked"
    assert "révoqué" in str(answer["verdict"])
    assert "Référence foncière erronée" in str(answer["verdict"])
    note = client.get(f"/verify/{request.number}", params={"f": "json"}).json()
    assert note["revocation_reason"] == "Référence foncière erronée"
    assert note["revoked_at"] is not None


def test_a_superseded_note_names_the_note_that_replaced_it(
        client: TestClient, superseded: tuple[NruRequest, bytes, NruRequest]) -> None:
    first, pdf, later = superseded
    answer = upload(client, first.number, pdf)
    assert answer["identical"] is True and answer["status"] == "superseded"
    assert later.number in str(answer["verdict"])
    page = client.get(f"/verify/{first.number}").text
    assert f"/verify/{later.number}" in page and "Remplacée par la note" in page


def test_uploads_are_checked_for_presence_emptiness_and_size(
        client: TestClient, genuine: tuple[NruRequest, bytes]) -> None:
    number = genuine[0].number
    missing = client.post(f"/verify/{number}", data={"other": "x"})
    empty = client.post(f"/verify/{number}", files={"file": ("a.pdf", b"")})
    large = client.post(f"/verify/{number}", files={"file": ("a.pdf", b"%PDF" * 60_000)})
    not_multipart = client.post(f"/verify/{number}", content=b"%PDF-1.7",
                                headers={"Content-Type": "application/pdf"})
    assert (missing.status_code, empty.status_code, large.status_code,
            not_multipart.status_code) == (422, 422, 413, 422)
    assert "champ « file »" in missing.json()["description"]
    assert "vide" in empty.json()["description"]
    assert "dépasse" in large.json()["description"]
