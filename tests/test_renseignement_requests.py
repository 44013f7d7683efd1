"""e-renseignement, the request: by land title or surveyed outline, pieces checked by
content, the capacity rule, the private tracking link, the acknowledgement, abuse limits."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from fastapi.testclient import TestClient
from nru_world import (
    EXE,
    HTML,
    JPEG,
    PDF,
    PNG,
    Inbox,
    body,
    demo_world,
    dxf_file,
    form_fields,
    path_of,
    person,
    plot_polygon,
    plot_under,
    settings_for,
    shapefile_zip,
    smtp_server,
    token_of,
)
from pyproj import Transformer
from shapely import affinity
from shapely.geometry import Polygon, mapping

from geoportal.app import create_app
from geoportal.renseignement.pages import HERE

APPROVED_PLAN = "PA-CAS-ANFA-2018"
STUDY_PLAN = "PA-CAS-HH-REV"  # Hay Hassani's revision, under study
JSON_ONLY = {"Accept": "application/json"}
STATIC = HERE / "static"
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture(scope="module")
def world(fresh_database: Callable[..., str], tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[str, Path]:
    folder = tmp_path_factory.mktemp("nru-requests")
    return demo_world(fresh_database, folder, "nru_requests"), folder


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[int, Inbox]]:
    with smtp_server() as server:
        yield server


@pytest.fixture(scope="module")
def client(world: tuple[str, Path], smtp: tuple[int, Inbox]) -> Iterator[TestClient]:
    url, folder = world
    settings = settings_for(url, folder, smtp[0], nru_requests_per_hour=1000)
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def anfa_plot(world: tuple[str, Path]) -> str:
    return plot_under(world[0], APPROVED_PLAN)


@pytest.fixture(scope="module")
def study_plot(world: tuple[str, Path]) -> str:
    return plot_under(world[0], STUDY_PLAN)


def ask(client: TestClient, **fields: Any) -> Any:
    document = {"requester": person(), "capacity": "notary", "purpose": "Vente", **fields}
    return client.post("/renseignement/requests", json=document, headers=JSON_ONLY)


def stored(url: str, number: str) -> dict[str, Any]:
    with psycopg.connect(url) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        row = cur.execute("SELECT *, ST_AsText(outline) AS outline_wkt FROM nru_requests "
                          "WHERE number = %s", (number,)).fetchone()
    assert row is not None
    return row


def test_a_request_by_land_title_is_numbered_committed_and_acknowledged_by_mail(
        client: TestClient, world: tuple[str, Path], smtp: tuple[int, Inbox],
        anfa_plot: str) -> None:
    response = ask(client, parcel=anfa_plot.lower().replace(" ", ""),
                   requester=person("notaire.alami@example.ma"))
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["number"].startswith("NRU-2026-") and len(answer["number"]) == 15
    assert answer["status"] == "submitted" and answer["plan_approved"] is True
    assert response.headers["location"] == answer["tracking_url"]
    row = stored(world[0], answer["number"])
    assert row["parcel_ref"] == anfa_plot  # the cadastre's spelling, not the one typed
    assert row["commune_code"] == "CAS-ANFA" and APPROVED_PLAN in row["plan_refs"]
    assert (row["due_at"] - row["submitted_at"]).days == 10
    mail = smtp[1].wait_for("notaire.alami@example.ma")[0]
    assert answer["number"] in mail["Subject"]
    assert answer["tracking_url"] in body(mail)
    assert "تم تسجيل طلبكم" in body(mail)


def test_only_the_hash_of_the_tracking_token_is_stored(
        client: TestClient, world: tuple[str, Path], smtp: tuple[int, Inbox],
        anfa_plot: str) -> None:
    answer = ask(client, parcel=anfa_plot, requester=person("hash@example.ma")).json()
    token = token_of(answer["tracking_url"])
    smtp[1].wait_for("hash@example.ma")
    row = stored(world[0], answer["number"])
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    with psycopg.connect(world[0]) as conn:
        dumped = conn.execute(
            "SELECT coalesce(string_agg(t::text, ' '), '') FROM (SELECT r::text AS t FROM "
            "nru_requests r UNION ALL SELECT e::text FROM nru_events e UNION ALL SELECT "
            "l::text FROM nru_links l UNION ALL SELECT j::text FROM procrastinate_jobs j) s"
        ).fetchone()
    assert dumped is not None and token not in dumped[0]  # the sent mail's job is gone too


def test_the_tracking_link_shows_the_status_in_french_and_arabic_and_the_due_date(
        client: TestClient, anfa_plot: str) -> None:
    answer = ask(client, parcel=anfa_plot).json()
    page = client.get(path_of(answer["tracking_url"]), headers=BROWSER)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "Déposée" in page.text and "مودعة" in page.text and answer["number"] in page.text
    assert 'dir="rtl"' in page.text and "Échéance de l'Agence" in page.text
    document = client.get(path_of(answer["tracking_url"]), headers=JSON_ONLY).json()
    assert document["status_fr"] == "Déposée" and document["status_ar"] == "مودعة"
    assert document["target_days"] == 10 and document["age_days"] == 0
    assert [e["action"] for e in document["history"]] == ["submitted"]
    assert "requester_email" not in document and "BE123456" not in json.dumps(document)


def test_an_unknown_tracking_token_is_a_404_in_french(client: TestClient) -> None:
    response = client.get("/renseignement/suivi/" + "x" * 43)
    assert response.status_code == 404
    assert "Lien de suivi inconnu" in response.json()["description"]
    english = client.get("/renseignement/suivi/short", headers={"Accept-Language": "en"})
    assert english.status_code == 404
    assert english.json()["description"].startswith("Unknown tracking link")


def test_a_geojson_outline_in_merchich_is_located_by_the_rules_and_kept(
        client: TestClient, world: tuple[str, Path], anfa_plot: str) -> None:
    polygon = plot_polygon(world[0], anfa_plot)
    geojson = orjson.dumps({"type": "Feature", "properties": {}, "geometry": mapping(polygon)})
    response = client.post("/renseignement/requests", data=form_fields("geo@example.ma"),
                           files={"outline": ("levé.geojson", geojson, "application/json")},
                           headers=JSON_ONLY)
    assert response.status_code == 201, response.text
    row = stored(world[0], response.json()["number"])
    assert row["parcel_ref"] is None and row["commune_code"] == "CAS-ANFA"
    assert shape_of(row).symmetric_difference(polygon).area < 0.01
    with psycopg.connect(world[0]) as conn:
        kinds = conn.execute("SELECT kind, media_type FROM nru_attachments WHERE request_id = "
                             "%s", (row["id"],)).fetchall()
    assert kinds == [("outline", "application/geo+json")]


def shape_of(row: dict[str, Any]) -> Polygon:
    import shapely

    geometry = shapely.from_wkt(row["outline_wkt"])
    return geometry.geoms[0]  # type: ignore[no-any-return]


def test_a_zipped_shapefile_outline_in_wgs84_is_reprojected_to_merchich(
        client: TestClient, world: tuple[str, Path], anfa_plot: str, tmp_path: Path) -> None:
    polygon = plot_polygon(world[0], anfa_plot)
    to_wgs84 = Transformer.from_crs("EPSG:26191", "EPSG:4326", always_xy=True)
    lonlat = Polygon([to_wgs84.transform(x, y) for x, y in polygon.exterior.coords])
    archive = shapefile_zip(lonlat, tmp_path, crs="EPSG:4326")
    response = client.post("/renseignement/requests", data=form_fields("shp@example.ma"),
                           files={"outline": ("plan.zip", archive, "application/zip")},
                           headers=JSON_ONLY)
    assert response.status_code == 201, response.text
    row = stored(world[0], response.json()["number"])
    back = shape_of(row)
    assert back.symmetric_difference(polygon).area < 0.05 * polygon.area
    assert abs(back.area - polygon.area) < 0.01 * polygon.area


def test_a_dxf_outline_without_crs_is_read_in_merchich(
        client: TestClient, world: tuple[str, Path], anfa_plot: str, tmp_path: Path) -> None:
    polygon = plot_polygon(world[0], anfa_plot)
    drawing = dxf_file(polygon, tmp_path)
    response = client.post("/renseignement/requests", data=form_fields("dxf@example.ma"),
                           files={"outline": ("plan.dxf", drawing, "application/dxf")},
                           headers=JSON_ONLY)
    assert response.status_code == 201, response.text
    row = stored(world[0], response.json()["number"])
    assert shape_of(row).symmetric_difference(polygon).area < 0.01
    assert row["commune_code"] == "CAS-ANFA"


def test_an_outline_outside_the_agency_area_is_refused_in_french(
        client: TestClient, world: tuple[str, Path], anfa_plot: str) -> None:
    far = affinity.translate(plot_polygon(world[0], anfa_plot), xoff=120_000)  # near Rabat
    response = client.post("/renseignement/requests", data=form_fields("far@example.ma"),
                           files={"outline": ("far.geojson", orjson.dumps(mapping(far)))},
                           headers=JSON_ONLY)
    assert response.status_code == 422
    assert "hors du territoire de l'Agence urbaine" in response.json()["description"]


def test_an_outline_that_is_not_a_valid_polygon_is_refused(client: TestClient) -> None:
    bowtie = {"type": "Polygon", "coordinates": [[[296600, 332700], [296640, 332740],
                                                  [296640, 332700], [296600, 332740],
                                                  [296600, 332700]]]}
    response = ask(client, outline=bowtie)
    assert response.status_code == 422
    assert "n'est pas valide" in response.json()["description"]
    garbage = client.post("/renseignement/requests", data=form_fields("junk@example.ma"),
                          files={"outline": ("plan.dxf", b"not a drawing at all")},
                          headers=JSON_ONLY)
    assert garbage.status_code == 422
    assert "ni du GeoJSON" in garbage.json()["description"]


def test_an_unknown_land_title_is_refused_in_french_and_in_english(client: TestClient) -> None:
    response = ask(client, parcel="TF 99999999/Z")
    assert response.status_code == 422
    assert "Aucune parcelle immatriculée" in response.json()["description"]
    english = client.post("/renseignement/requests", headers={**JSON_ONLY,
                                                              "Accept-Language": "en"},
                          json={"parcel": "TF 99999999/Z", "requester": person(),
                                "capacity": "owner", "purpose": "x"})
    assert "No registered plot" in english.json()["description"]


def test_both_or_neither_plot_and_outline_is_refused(client: TestClient, anfa_plot: str
                                                     ) -> None:
    square = {"type": "Polygon", "coordinates": [[[296600, 332700], [296640, 332700],
                                                  [296640, 332740], [296600, 332700]]]}
    for fields in ({}, {"parcel": anfa_plot, "outline": square}):
        response = ask(client, **fields)
        assert response.status_code == 422
        assert "soit la référence foncière" in response.json()["description"]


def test_missing_or_malformed_fields_are_named_in_french(client: TestClient,
                                                         anfa_plot: str) -> None:
    response = client.post("/renseignement/requests", headers=JSON_ONLY, json={
        "parcel": anfa_plot, "requester": {"name": "A"}, "capacity": "cousin"})
    assert response.status_code == 422
    description = response.json()["description"]
    assert "numéro de CIN" in description and "adresse électronique" in description
    assert "qualité du demandeur" in description and "objet de la demande" in description
    bad_mail = ask(client, parcel=anfa_plot, requester={**person(), "email": "a@b"})
    assert bad_mail.status_code == 422
    assert bad_mail.json()["description"] == "Adresse électronique invalide."
    not_json = client.post("/renseignement/requests", content=b"{", headers={
        **JSON_ONLY, "Content-Type": "application/json"})
    assert not_json.status_code == 422
    text = client.post("/renseignement/requests", content=b"hello",
                       headers={**JSON_ONLY, "Content-Type": "text/plain"})
    assert text.status_code == 400


def test_attachments_are_typed_by_content_and_kept_by_sha256_outside_the_web_root(
        client: TestClient, world: tuple[str, Path], anfa_plot: str) -> None:
    files = [("ownership", ("certificat.pdf", PDF, "application/octet-stream")),
             ("plan", ("plan.pdf", PNG, "application/pdf")),  # a PNG named .pdf: a PNG
             ("plan", ("photo", JPEG, "text/plain"))]
    response = client.post("/renseignement/requests", headers=JSON_ONLY, files=files,
                           data=form_fields("pieces@example.ma", parcel=anfa_plot))
    assert response.status_code == 201, response.text
    row = stored(world[0], response.json()["number"])
    with psycopg.connect(world[0]) as conn:
        pieces = conn.execute("SELECT kind, filename, media_type, size_bytes, sha256 FROM "
                              "nru_attachments WHERE request_id = %s ORDER BY id",
                              (row["id"],)).fetchall()
    assert [(k, f, m) for k, f, m, _, _ in pieces] == [
        ("ownership", "certificat.pdf", "application/pdf"), ("plan", "plan.pdf", "image/png"),
        ("plan", "photo", "image/jpeg")]
    for (_, _, _, size, sha), data in zip(pieces, (PDF, PNG, JPEG), strict=True):
        assert sha == hashlib.sha256(data).hexdigest() and size == len(data)
        kept = world[1] / "files" / "attachments" / sha[:2] / sha
        assert kept.read_bytes() == data
        assert not kept.resolve().is_relative_to(STATIC.resolve())  # never served as is


@pytest.mark.parametrize(("name", "content", "declared"), [
    ("certificat.pdf", EXE, "application/pdf"),
    ("plan.png", HTML, "image/png"),
    ("mandat.jpg", b"", "image/jpeg"),
])
def test_a_renamed_executable_or_html_is_refused_and_nothing_is_kept(
        client: TestClient, world: tuple[str, Path], anfa_plot: str, name: str,
        content: bytes, declared: str) -> None:
    before = count_requests(world[0])
    response = client.post("/renseignement/requests", headers=JSON_ONLY,
                           files={"ownership": (name, content or b"\x00", declared)},
                           data=form_fields("renamed@example.ma", parcel=anfa_plot))
    assert response.status_code == 422
    assert "seuls les PDF, JPEG et PNG sont acceptés" in response.json()["description"]
    assert count_requests(world[0]) == before
    stored_files = list((world[1] / "files").rglob("*"))
    assert not any(p.is_file() and p.read_bytes() == content for p in stored_files)


def count_requests(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM nru_requests").fetchone()
    assert row is not None
    return int(row[0])


def test_an_attachment_over_the_size_limit_is_a_413(client: TestClient, anfa_plot: str
                                                    ) -> None:
    big = PDF + b"0" * 2_100_000
    response = client.post("/renseignement/requests", headers=JSON_ONLY,
                           files={"plan": ("plan.pdf", big, "application/pdf")},
                           data=form_fields("big@example.ma", parcel=anfa_plot))
    assert response.status_code == 413
    assert "dépasse" in response.json()["description"] or "plus de" in \
        response.json()["description"]


def test_json_attachments_in_base64_are_checked_the_same_way(
        client: TestClient, study_plot: str) -> None:
    mandate = {"kind": "mandate", "filename": "mandat.pdf",
               "content_base64": base64.b64encode(PDF).decode()}
    ok = ask(client, parcel=study_plot, capacity="mandated", attachments=[mandate])
    assert ok.status_code == 201, ok.text
    assert ok.json()["plan_approved"] is False
    forged = {**mandate, "content_base64": base64.b64encode(EXE).decode()}
    refused = ask(client, parcel=study_plot, capacity="mandated", attachments=[forged])
    assert refused.status_code == 422


@pytest.mark.parametrize(("capacity", "with_mandate", "status"), [
    ("notary", False, 422), ("architect", True, 422), ("other", False, 422),
    ("mandated", False, 422), ("mandated", True, 201), ("owner", False, 201),
])
def test_under_a_plan_not_yet_approved_only_the_owner_or_a_mandated_person_may_ask(
        client: TestClient, study_plot: str, capacity: str, with_mandate: bool,
        status: int) -> None:
    files = {"mandate": ("mandat.pdf", PDF, "application/pdf")} if with_mandate else None
    response = client.post("/renseignement/requests", headers=JSON_ONLY, files=files,
                           data=form_fields("capacity@example.ma", capacity=capacity,
                                            parcel=study_plot))
    assert response.status_code == status, response.text
    if status == 422:
        assert "plan d'aménagement non encore approuvé" in response.json()["description"]


@pytest.mark.parametrize("capacity", ["notary", "architect", "other"])
def test_under_approved_plans_anyone_may_ask(client: TestClient, anfa_plot: str,
                                             capacity: str) -> None:
    assert ask(client, parcel=anfa_plot, capacity=capacity).status_code == 201


def test_the_browser_form_gets_a_confirmation_page_or_its_error_in_the_form(
        client: TestClient, anfa_plot: str) -> None:
    form = client.get("/renseignement", headers=BROWSER)
    assert form.status_code == 200 and 'enctype="multipart/form-data"' in form.text
    assert "المرجع العقاري" in form.text and "<script" not in form.text
    done = client.post("/renseignement/requests", headers=BROWSER,
                       data=form_fields("form@example.ma", parcel=anfa_plot))
    assert done.status_code == 201 and "Demande enregistrée" in done.text
    assert 'id="tracking-link"' in done.text
    wrong = client.post("/renseignement/requests", headers=BROWSER,
                        data=form_fields("form@example.ma", parcel="TF 0/0"))
    assert wrong.status_code == 422 and "Aucune parcelle immatriculée" in wrong.text
    assert 'value="form@example.ma"' in wrong.text  # what was typed is kept


def test_the_eleventh_request_of_the_hour_from_one_address_is_a_429(
        world: tuple[str, Path], smtp: tuple[int, Inbox], anfa_plot: str) -> None:
    url, folder = world
    app = create_app(settings_for(url, folder, smtp[0], worker_in_service=False))
    with TestClient(app, client=("198.51.100.23", 4000)) as client:
        answers = [ask(client, parcel=anfa_plot).status_code for _ in range(11)]
        assert answers == [201] * 10 + [429]
        refused = ask(client, parcel=anfa_plot)
        assert 3000 < int(refused.headers["retry-after"]) <= 3600
        assert "Au plus 10 demandes par heure" in refused.json()["description"]
    with TestClient(app, client=("198.51.100.24", 4000)) as neighbour:
        assert ask(neighbour, parcel=anfa_plot).status_code == 201


def test_a_request_whose_transaction_fails_keeps_no_file_no_row_and_no_mail(
        client: TestClient, world: tuple[str, Path], anfa_plot: str) -> None:
    unique = PDF + b"% a piece only this test sends\n"
    sha = hashlib.sha256(unique).hexdigest()
    before = count_requests(world[0])
    with psycopg.connect(world[0], autocommit=True) as conn:
        jobs_before = conn.execute("SELECT count(*) FROM procrastinate_jobs").fetchone()
        # The next number cannot be drawn: the insert fails after the files were written.
        conn.execute("SELECT setval('nru_number_seq', nextval('nru_number_seq'))")
        last = conn.execute("SELECT last_value FROM nru_number_seq").fetchone()
        assert last is not None
        conn.execute(f"ALTER SEQUENCE nru_number_seq MAXVALUE {int(last[0])}")
    try:
        response = client.post("/renseignement/requests", headers=JSON_ONLY,
                               files={"ownership": ("titre.pdf", unique, "application/pdf")},
                               data=form_fields("lost@example.ma", parcel=anfa_plot))
    finally:
        with psycopg.connect(world[0], autocommit=True) as conn:
            conn.execute("ALTER SEQUENCE nru_number_seq NO MAXVALUE")
    assert 400 <= response.status_code < 600 and response.status_code != 500
    assert "Traceback" not in response.text and "nru_number_seq" not in response.text
    assert count_requests(world[0]) == before
    assert not (world[1] / "files" / "attachments" / sha[:2] / sha).exists()
    with psycopg.connect(world[0]) as conn:
        assert conn.execute("SELECT count(*) FROM procrastinate_jobs").fetchone() == jobs_before


def test_the_openapi_documents_the_request_api_in_json_and_multipart(client: TestClient
                                                                      ) -> None:
    spec = client.get("/openapi.json").json()
    body_types = spec["paths"]["/renseignement/requests"]["post"]["requestBody"]["content"]
    assert set(body_types) == {"application/json", "multipart/form-data"}
    schema = body_types["application/json"]["schema"]
    assert set(schema["required"]) >= {"requester", "capacity", "purpose"}
    assert "$ref" not in json.dumps(schema)  # inlined: valid where it is placed
    assert schema["properties"]["capacity"]["enum"] == ["owner", "mandated", "notary",
                                                        "architect", "other"]
    assert "/renseignement/admin/requests/{request_id}/approve" in spec["paths"]
    assert "/renseignement/admin/requests/{request_id}/sign" in spec["paths"]  # issue.py
