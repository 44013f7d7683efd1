"""Issuing the official note: signed (PAdES, pyHanko and pdfsig agree), numbered, with the
verification QR code and URL on every page, stored with its JSON twin, superseding the
plot's earlier notes; only a signatory may sign, only a request ready to sign."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives import hashes
from fastapi.testclient import TestClient
from nru_fixture import NruRequest, NruWorld, bearer, build_nru_world, geoportal_cli, insert_request
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature, validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from geoportal.app import create_app
from geoportal.core.auth import Identity
from geoportal.db.pool import close_pool, create_pool
from geoportal.registry import load_registry
from geoportal.renseignement import pades
from geoportal.renseignement.document import NoteDocument, template_for, to_html, unsigned_pdf
from geoportal.renseignement.issue import IssuedNote, Issuer, ProcessPdfMaker, issue_batch
from geoportal.renseignement.pades import LoadedKeySigner, asn1_certificate
from geoportal.renseignement.signing import KeySource
from geoportal.renseignement.signing_keys import load_key_material
from geoportal.rules.note import render
from geoportal.rules.note.render import NoteStyle

SIGNATORY = {"name": "Nadia Bennani", "title": "Directrice de l'Agence urbaine"}
OBSERVATION = "Le terrain est longé par une conduite d'assainissement de 800 mm."


@pytest.fixture(scope="module")
def world(fresh_database: Callable[[str], str],
          tmp_path_factory: pytest.TempPathFactory) -> NruWorld:
    return build_nru_world(fresh_database("nru_issue"), tmp_path_factory.mktemp("nru-issue"),
                           "issue")


@pytest.fixture(scope="module")
def client(world: NruWorld) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings())) as test_client:
        yield test_client


def sign(client: TestClient, world: NruWorld, request_id: int, role: str = "signataire",
         body: dict[str, str] | None = None, **headers: str) -> dict[str, object]:
    response = client.post(f"/renseignement/admin/requests/{request_id}/sign",
                           headers=bearer(world.keys[role], **headers), json=body)
    assert response.status_code == 201, response.text
    answer: dict[str, object] = response.json()
    return answer


def staff_pdf(client: TestClient, world: NruWorld, number: str) -> bytes:
    response = client.get(f"/renseignement/admin/notes/{number}.pdf",
                          headers=bearer(world.keys["instructeur"]))
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    return response.content


def plain(text: str) -> str:
    """The text with its spaces made plain, and no line breaks (how a line wraps depends on
    the lengths of the time and names printed before it)."""
    return " ".join(re.sub(r"[\u00a0\u202f]", " ", text).split())


@pytest.fixture(scope="module")
def issued(client: TestClient, world: NruWorld) -> tuple[NruRequest, dict[str, object], bytes]:
    request = insert_request(world.roles.owner, parcel_ref="TF 1001/C",
                             observations=(OBSERVATION,))
    answer = sign(client, world, request.id, body=SIGNATORY)
    return request, answer, staff_pdf(client, world, request.number)


@pytest.fixture(scope="module")
def note_file(issued: tuple[NruRequest, dict[str, object], bytes],
              tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("nru-issued") / "note.pdf"
    path.write_bytes(issued[2])
    return path


def pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    return int(re.search(r"Pages:\s+(\d+)", info.stdout).group(1))  # type: ignore[union-attr]


def test_a_signatory_issues_the_note_and_gets_its_number_and_links(
        issued: tuple[NruRequest, dict[str, object], bytes], world: NruWorld) -> None:
    request, answer, pdf = issued
    verify_url = f"http://testserver/verify/{request.number}"
    assert answer["number"] == request.number and answer["superseded"] == []
    assert {link["rel"]: link["href"] for link in answer["links"]}["verify"] == verify_url  # type: ignore[attr-defined,index]
    with psycopg.connect(world.roles.owner) as conn:
        status = conn.execute("SELECT status FROM nru_requests WHERE id = %s",
                              (request.id,)).fetchone()
        note = conn.execute("SELECT sha256, signer, status, number FROM nru_notes "
                            "WHERE request_id = %s", (request.id,)).fetchone()
        event = conn.execute("SELECT actor, status_before, status_after, detail FROM nru_events "
                             "WHERE request_id = %s AND action = 'signed'",
                             (request.id,)).fetchone()
    assert status == ("issued",)
    assert note == (hashlib.sha256(pdf).hexdigest(), "key:signataire-issue", "valid",
                    request.number)
    assert answer["sha256"] == note[0]
    assert event is not None and event[:3] == ("key:signataire-issue", "ready_to_sign", "issued")
    assert event[3]["note"] == request.number and event[3]["signatory"] == "Nadia Bennani"


def test_pyhanko_validates_the_pades_signature_against_the_agency_certificate(
        issued: tuple[NruRequest, dict[str, object], bytes], world: NruWorld) -> None:
    _, answer, pdf = issued
    certificate = load_key_material(world.settings()).certificate
    signature = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0]
    status = validate_pdf_signature(signature, ValidationContext(
        trust_roots=[asn1_certificate(certificate)]))
    assert status.intact and status.valid and status.trusted and status.bottom_line
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert status.md_algorithm == "sha256"
    assert signature.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert status.signing_cert.sha256 == certificate.fingerprint(hashes.SHA256())
    issued_at = dt.datetime.fromisoformat(str(answer["issued_at"]))
    signed_at = signature.self_reported_timestamp
    assert signed_at is not None and issued_at <= signed_at <= issued_at + dt.timedelta(
        seconds=60)


def test_pdfsig_says_the_signature_is_valid_and_covers_the_whole_document(
        note_file: Path) -> None:
    report = subprocess.run(["pdfsig", str(note_file)], capture_output=True, text=True,
                            check=False).stdout
    assert "Signature Validation: Signature is Valid." in report, report
    assert "Total document signed" in report
    assert "Signature Type: ETSI.CAdES.detached" in report
    assert "Signing Hash Algorithm: SHA-256" in report
    assert "Signer Certificate Common Name: Agence urbaine de Casablanca (test)" in report
    # A self-signed test certificate is not in poppler's trust store: that is expected.
    assert re.search(r"Certificate Validation: (Certificate issuer is unknown|Certificate "
                     r"issuer isn't Trusted)", report), report


def test_pdfsig_detects_a_single_changed_byte(note_file: Path, tmp_path: Path) -> None:
    data = bytearray(note_file.read_bytes())
    at = data.index(b"Agence urbaine de Casablanca")  # the Author entry, inside the signed range
    data[at] = ord("a")
    altered = tmp_path / "altered.pdf"
    altered.write_bytes(bytes(data))
    report = subprocess.run(["pdfsig", str(altered)], capture_output=True, text=True,
                            check=False).stdout
    assert "Signature Validation: Signature is Valid." not in report
    assert "Digest Mismatch" in report, report


def test_every_page_carries_the_number_and_the_verification_url(
        issued: tuple[NruRequest, dict[str, object], bytes], note_file: Path) -> None:
    request = issued[0]
    count = pages(note_file)
    assert count >= 2
    for page in range(1, count + 1):
        text = plain(subprocess.run(
            ["pdftotext", "-f", str(page), "-l", str(page), str(note_file), "-"],
            capture_output=True, text=True, check=True).stdout)
        assert request.number in text, page
        assert f"http://testserver/verify/{request.number}" in text, page


def test_the_note_names_the_plot_requester_observation_and_signatory(
        note_file: Path) -> None:
    text = plain(subprocess.run(["pdftotext", str(note_file), "-"], capture_output=True,
                                text=True, check=True).stdout)
    for expected in ("Note de renseignement urbanistique", "TF 1001/C", "Mohamed Alaoui",
                     "Propriétaire", "Construction d'un immeuble", "Zone C", "70,00 %",
                     "Nadia Bennani", "Directrice de l'Agence urbaine",
                     "Document d'urbanisme approuvé", "ne crée aucun droit",
                     "Signé électroniquement", "Agence urbaine de Casablanca (test)"):
        assert expected in text, expected
    assert OBSERVATION in text.replace("\n", " ")
    assert "BK987654" not in text and "requester@example.ma" not in text  # never on the note


def test_the_qr_code_of_every_page_decodes_to_the_verification_url(
        issued: tuple[NruRequest, dict[str, object], bytes], note_file: Path,
        tmp_path: Path) -> None:
    url = f"http://testserver/verify/{issued[0].number}"
    for page in range(1, pages(note_file) + 1):
        image = tmp_path / f"page-{page}"
        subprocess.run(["pdftoppm", "-png", "-r", "150", "-f", str(page), "-l", str(page),
                        "-singlefile", str(note_file), str(image)], check=True)
        decoded = subprocess.run(["zbarimg", "--raw", "-q", f"{image}.png"],
                                 capture_output=True, text=True, check=False).stdout.split()
        assert decoded == [url], (page, decoded)


def stored(world: NruWorld, number: str) -> tuple[dict[str, object], bytes]:
    with psycopg.connect(world.roles.owner) as conn:
        row = conn.execute("SELECT document, pdf FROM nru_notes WHERE number = %s",
                           (number,)).fetchone()
    assert row is not None
    return row[0], bytes(row[1])


def test_the_stored_twin_renders_the_same_unsigned_pdf_the_signature_was_made_on(
        issued: tuple[NruRequest, dict[str, object], bytes], world: NruWorld,
        tmp_path: Path) -> None:
    twin, pdf = stored(world, issued[0].number)
    document = NoteDocument.model_validate(twin)
    unsigned = unsigned_pdf(document)
    assert unsigned == unsigned_pdf(NoteDocument.model_validate(twin))  # byte for byte
    assert pdf.startswith(unsigned) and len(pdf) > len(unsigned)  # the signature is appended
    assert to_html(document) == to_html(NoteDocument.model_validate_json(
        document.model_dump_json()))
    path = tmp_path / "unsigned.pdf"
    path.write_bytes(unsigned)
    info = subprocess.run(["pdfinfo", "-isodates", str(path)], capture_output=True, text=True,
                          check=True).stdout
    moment = document.issued_at.strftime("%Y-%m-%dT%H:%M:%S")
    assert re.search(rf"CreationDate:\s+{moment}", info) and re.search(
        rf"ModDate:\s+{moment}", info), info


def test_the_json_twin_holds_the_same_content_and_the_hash_of_the_signed_pdf(
        client: TestClient, issued: tuple[NruRequest, dict[str, object], bytes]) -> None:
    request, answer, _ = issued
    pdf = client.get(f"/renseignement/notes/{request.number}.pdf",
                     params={"token": request.token})
    twin = client.get(f"/renseignement/notes/{request.number}.json",
                      params={"token": request.token})
    assert pdf.status_code == 200 and twin.status_code == 200
    assert pdf.headers["cache-control"] == "private, no-store"
    content = twin.json()
    assert content["pdf"]["sha256"] == hashlib.sha256(pdf.content).hexdigest() == answer["sha256"]
    assert content["number"] == request.number
    assert content["subject"]["ref"] == "TF 1001/C"
    assert content["requester"] == {"name": "Mohamed Alaoui", "capacity": "owner",
                                    "capacity_label": "Propriétaire"}
    assert content["observations"][0]["text"] == OBSERVATION
    assert content["signatory"]["name"] == "Nadia Bennani"
    assert [z["code"] for z in content["answer"]["zones"]] == ["C", "D"]
    assert content["verify_url"] == f"http://testserver/verify/{request.number}"


@pytest.mark.parametrize("token", ["x" * 43, None])
def test_the_requester_needs_the_tracking_token(
        client: TestClient, issued: tuple[NruRequest, dict[str, object], bytes],
        token: str | None) -> None:
    number = issued[0].number
    for suffix in ("pdf", "json"):
        response = client.get(f"/renseignement/notes/{number}.{suffix}",
                              params={"token": token} if token else {})
        assert response.status_code == (404 if token else 400)
        assert response.json()["description"]


def test_a_request_not_ready_to_sign_is_a_409_in_french_or_english(
        client: TestClient, world: NruWorld,
        issued: tuple[NruRequest, dict[str, object], bytes]) -> None:
    pending = insert_request(world.roles.owner, parcel_ref="TF 1005/C", status="under_review")
    url = f"/renseignement/admin/requests/{pending.id}/sign"
    french = client.post(url, headers=bearer(world.keys["signataire"]))
    english = client.post(url, headers=bearer(world.keys["signataire"],
                                              **{"Accept-Language": "en"}))
    assert french.status_code == english.status_code == 409
    assert "en cours d'instruction" in french.json()["description"]
    assert "prête à signer" in french.json()["description"]
    assert "ready to sign" in english.json()["description"]
    again = client.post(f"/renseignement/admin/requests/{issued[0].id}/sign",
                        headers=bearer(world.keys["signataire"]))
    assert again.status_code == 409 and "délivrée" in again.json()["description"]
    unknown = client.post("/renseignement/admin/requests/999999/sign",
                          headers=bearer(world.keys["signataire"]))
    assert unknown.status_code == 404 and unknown.json()["description"]


@pytest.mark.parametrize(("role", "status"), [("instructeur", 403), ("editor", 403),
                                              (None, 401)])
def test_only_a_signatory_or_an_admin_may_sign(client: TestClient, world: NruWorld,
                                               role: str | None, status: int) -> None:
    request = insert_request(world.roles.owner, parcel_ref="TF 1006/C")
    headers = bearer(world.keys[role]) if role else {}
    response = client.post(f"/renseignement/admin/requests/{request.id}/sign", headers=headers)
    assert response.status_code == status
    assert response.json()["description"]
    with psycopg.connect(world.roles.owner) as conn:
        assert conn.execute("SELECT status FROM nru_requests WHERE id = %s",
                            (request.id,)).fetchone() == ("ready_to_sign",)


def verification(client: TestClient, number: str) -> dict[str, object]:
    response = client.get(f"/verify/{number}", params={"f": "json"})
    assert response.status_code == 200
    answer: dict[str, object] = response.json()
    return answer


def test_a_later_note_for_the_same_land_title_supersedes_the_earlier_one(
        client: TestClient, world: NruWorld,
        issued: tuple[NruRequest, dict[str, object], bytes]) -> None:
    first = issued[0]
    later = insert_request(world.roles.owner, parcel_ref=" tf1001/c ")
    answer = sign(client, world, later.id)
    assert answer["superseded"] == [first.number]
    old = verification(client, first.number)
    assert old["status"] == "superseded" and old["superseded_by"] == later.number
    assert verification(client, later.number)["status"] == "valid"
    # a neighbour sharing a boundary with the plot supersedes nothing
    neighbour = insert_request(world.roles.owner, parcel_ref="TF 1011/C")
    assert sign(client, world, neighbour.id)["superseded"] == []
    assert verification(client, later.number)["status"] == "valid"


def test_an_outline_request_is_issued_on_the_surveyed_outline_and_supersedes_that_plot(
        client: TestClient, world: NruWorld, tmp_path: Path) -> None:
    by_ref = insert_request(world.roles.owner, parcel_ref="TF 1002/C")
    sign(client, world, by_ref.id)
    # a new survey of TF 1002/C, a metre off: the same land
    survey = insert_request(world.roles.owner, parcel_ref=None, capacity="architect",
                            outline_wkt="POLYGON((299501 330100, 299541 330100, 299546 330130, "
                                        "299501 330130, 299501 330100))")
    answer = sign(client, world, survey.id, role="admin")
    assert answer["superseded"] == [by_ref.number]
    note = verification(client, survey.number)
    assert note["plot"] == {"ref": None, "label": "Terrain levé", "area_m2": 1275.0,
                            "commune": "Casablanca-Anfa",
                            "prefecture": "Préfecture de Casablanca"}
    path = tmp_path / "outline.pdf"
    path.write_bytes(staff_pdf(client, world, survey.number))
    text = plain(subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                                check=True).stdout)
    assert "Terrain levé" in text and "Architecte" in text and "École primaire" in text


def test_the_template_follows_the_status_of_the_plan(
        issued: tuple[NruRequest, dict[str, object], bytes], world: NruWorld) -> None:
    answer = NoteDocument.model_validate(stored(world, issued[0].number)[0]).answer
    assert template_for(answer) == "approved"
    study = [plan.model_copy(update={"applies": False, "situation": "à l'étude"})
             for plan in answer.plans]
    assert template_for(answer.model_copy(update={"plans": study})) == "under_study"
    assert template_for(answer.model_copy(update={"plans": []})) == "no_plan"


def test_a_signatory_revokes_a_note_with_a_reason_and_the_revocation_is_recorded(
        client: TestClient, world: NruWorld) -> None:
    request = insert_request(world.roles.owner, parcel_ref="TF 1003/C")
    number = str(sign(client, world, request.id)["number"])
    url = f"/renseignement/admin/notes/{number}/revoke"
    refused = client.post(url, headers=bearer(world.keys["instructeur"]),
                          json={"reason": "Erreur de plan"})
    empty = client.post(url, headers=bearer(world.keys["signataire"]), json={"reason": "  "})
    assert refused.status_code == 403 and empty.status_code == 422
    assert "motif" in empty.json()["description"]
    done = client.post(url, headers=bearer(world.keys["signataire"]),
                       json={"reason": "Plan d'aménagement mal reporté"})
    assert done.status_code == 200 and done.json()["status"] == "revoked"
    again = client.post(url, headers=bearer(world.keys["admin"]), json={"reason": "encore"})
    assert again.status_code == 409 and "déjà révoquée" in again.json()["description"]
    note = verification(client, number)
    assert note["status"] == "revoked"
    assert note["revocation_reason"] == "Plan d'aménagement mal reporté"
    with psycopg.connect(world.roles.owner) as conn:
        event = conn.execute("SELECT actor, detail FROM nru_events WHERE request_id = %s "
                             "AND action = 'revoked'", (request.id,)).fetchone()
    assert event is not None and event[0] == "key:signataire-issue"
    assert event[1]["reason"] == "Plan d'aménagement mal reporté"


def test_the_cli_revokes_a_note_and_refuses_an_unknown_one_clearly(
        client: TestClient, world: NruWorld) -> None:
    request = insert_request(world.roles.owner, parcel_ref="TF 1004/C")
    number = str(sign(client, world, request.id)["number"])
    env = {"GEOPORTAL_DATABASE_URL": world.roles.app,
           "GEOPORTAL_WRITE_DATABASE_URL": world.roles.writer}
    done = geoportal_cli(world.home, "notes", "revoke", number, "--reason",
                         "Demande retirée par le propriétaire", env=env)
    assert done.returncode == 0, done.stderr
    assert f"note {number} revoked" in done.stdout
    assert verification(client, number)["status"] == "revoked"
    unknown = geoportal_cli(world.home, "notes", "revoke", "NRU-NOPE", "--reason", "test",
                            env=env)
    assert unknown.returncode == 1 and "No note has the number" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    with psycopg.connect(world.roles.owner) as conn:
        actor = conn.execute("SELECT actor FROM nru_events WHERE request_id = %s AND "
                             "action = 'revoked'", (request.id,)).fetchone()
    assert actor is not None and actor[0].startswith("cli:")


def test_observations_given_at_signature_are_on_the_note_and_recorded(
        client: TestClient, world: NruWorld, tmp_path: Path) -> None:
    request = insert_request(world.roles.owner, parcel_ref="TF 1008/C",
                             observations=("Première observation de l'instructeur.",))
    sign(client, world, request.id, body={"observations": ["Seconde observation, à la "
                                                           "signature."]})
    twin, _ = stored(world, request.number)
    assert [o["text"] for o in twin["observations"]] == [  # type: ignore[index,union-attr]
        "Première observation de l'instructeur.", "Seconde observation, à la signature."]
    with psycopg.connect(world.roles.owner) as conn:
        actors = conn.execute("SELECT actor FROM nru_events WHERE request_id = %s AND "
                              "action = 'observation' ORDER BY id", (request.id,)).fetchall()
    assert actors == [("key:instructeur-test",), ("key:signataire-issue",)]


def test_a_request_whose_plot_is_gone_is_a_409_not_a_500(client: TestClient, world: NruWorld
                                                         ) -> None:
    request = insert_request(world.roles.owner, parcel_ref="TF 4040/C")
    response = client.post(f"/renseignement/admin/requests/{request.id}/sign",
                           headers=bearer(world.keys["signataire"]))
    assert response.status_code == 409
    assert "ne peut être établie" in response.json()["description"]


def test_a_malformed_signatory_is_a_422(client: TestClient, world: NruWorld) -> None:
    request = insert_request(world.roles.owner, parcel_ref="TF 1007/C")
    response = client.post(f"/renseignement/admin/requests/{request.id}/sign",
                           headers=bearer(world.keys["signataire"]),
                           json={"name": "", "unexpected": 1})
    assert response.status_code == 422 and response.json()["description"]


async def test_a_batch_is_issued_by_render_and_sign_processes(world: NruWorld) -> None:
    requests = [insert_request(world.roles.owner, parcel_ref=ref)
                for ref in ("TF 1012/C", "TF 1005/C")]
    settings = world.settings()
    maker = ProcessPdfMaker(1)
    issuer = Issuer(key=KeySource.from_settings(settings), public_base="https://auc.example",
                    style=NoteStyle.from_registry(load_registry(settings.layers_dir)),
                    make_pdf=maker)
    pool = await create_pool(settings, write=True)
    try:
        results = await issue_batch(pool, [r.id for r in requests],
                                    Identity("lot", "signataire", None, "api_key"), issuer)
    finally:
        await close_pool(pool)
        maker.close()
    assert [r.number for r in results if isinstance(r, IssuedNote)] == [
        r.number for r in requests]
    _, pdf = stored(world, requests[0].number)
    signature = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0]
    certificate = load_key_material(settings).certificate
    status = await async_validate_pdf_signature(signature, ValidationContext(
        trust_roots=[asn1_certificate(certificate)]))
    assert status.bottom_line
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True,
                          check=True).stdout.decode()
    assert f"https://auc.example/verify/{requests[0].number}" in text


def test_the_signature_fills_the_room_stated_for_it_and_a_room_too_small_falls_back(
        issued: tuple[NruRequest, dict[str, object], bytes], world: NruWorld) -> None:
    material = load_key_material(world.settings())
    signer = LoadedKeySigner(material)
    pdf = issued[2]  # the issued note: its /Contents is the room stated, no dry run
    contents = re.search(rb"/Contents\s*<([0-9A-Fa-f]*)>", pdf)
    assert contents is not None and len(contents.group(1)) == signer.bytes_reserved
    signer.bytes_reserved = 64  # far too small for any certificate: pyHanko measures again
    small = pades.sign(render.pdf_bytes("<p lang='fr'>Essai</p>", b"0" * 32), signer,
                 "Essai", "Nadia Bennani", "Casablanca")
    signature = PdfFileReader(io.BytesIO(small)).embedded_signatures[0]
    status = validate_pdf_signature(signature, ValidationContext(
        trust_roots=[asn1_certificate(material.certificate)]))
    assert status.intact and status.valid and status.bottom_line
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
